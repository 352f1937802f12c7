"""Shared fixtures: a store of every backend for the conformance suite.

``store`` (and ``open_store`` for more instances on the same database) run each test
on SQLite (a file in tmp_path, so WAL and several connections are real) and on
PostgreSQL (a fresh database per test: a copy of one the store migrated once per
session, or an empty one the store migrates itself for a test marked
``empty_database``). PostgreSQL is skipped when the server is unreachable — except in
CI (``CI=true``), where that is a failure.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

import pg
from jobdeck.store.base import Store

OpenStore = Callable[..., Awaitable[Store]]

# The suite starts a few hundred Python processes (jobdeck serve, worker, scheduler and
# every CLI command). Where the environment says not to write bytecode, each of them
# compiled jobdeck's modules from source again (about 0.1 s of CPU a start): they
# cache it under the temporary folder instead, never in the work tree. This process
# (sys.dont_write_bytecode, read at its start) is unaffected.
if os.environ.get("PYTHONDONTWRITEBYTECODE") and "PYTHONPYCACHEPREFIX" not in os.environ:
    del os.environ["PYTHONDONTWRITEBYTECODE"]
    os.environ["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "jobdeck-tests-pycache")


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'jobdeck.db'}"
        return
    migrated = request.node.get_closest_marker("empty_database") is None
    async with pg.database(migrated=migrated) as url:
        yield url


def pytest_sessionfinish(session: pytest.Session) -> None:
    pg.shutdown()  # the last drops, and the databases made ahead of need


def _store_for(url: str, history_limit: int) -> Store:
    if url.startswith("sqlite:"):
        from jobdeck.store.sqlite.store import SQLiteStore

        return SQLiteStore(url, history_limit=history_limit)
    from jobdeck.store.postgres.store import PostgresStore

    return PostgresStore(url, history_limit=history_limit)


@pytest.fixture
async def open_store(database_url: str) -> AsyncIterator[OpenStore]:
    """``await open_store(history_limit=500)``: another open store on the same database."""
    opened: list[Store] = []

    async def make(history_limit: int = 500) -> Store:
        store = _store_for(database_url, history_limit)
        await store.open()
        opened.append(store)
        return store

    yield make
    for store in reversed(opened):
        await store.close()


@pytest.fixture
async def store(open_store: OpenStore) -> Store:
    return await open_store()
