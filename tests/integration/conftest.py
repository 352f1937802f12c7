"""PostgreSQL stores of the integration tests.

``postgres_url`` is an empty database of its own per test (the store migrates it on its
first ``open()``); ``make_store`` opens a store on it, each with its own pool and
listener, as separate processes would, and closes them after the test. PostgreSQL only:
not the root conftest's ``database_url``, which runs a test on each backend.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

import pg
from jobdeck.store.postgres.store import PostgresStore

Factory = Callable[..., Awaitable[PostgresStore]]


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    async with pg.database() as url:
        yield url


@pytest.fixture
async def make_store(postgres_url: str) -> AsyncIterator[Factory]:
    """``await make_store(**options)``: another open store on the test's database."""
    opened: list[PostgresStore] = []

    async def make(cls: type[PostgresStore] = PostgresStore, **options: Any) -> PostgresStore:
        store = cls(postgres_url, **options)
        await store.open()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()
