"""A fresh PostgreSQL database per test, dropped afterwards (``async with pg.database()``)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

ADMIN_URL = os.environ.get(
    "JOBDECK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
PREFIX = "jobdeck_test_"


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def _database_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


async def unavailable() -> str | None:
    """Why the server cannot be used, or None when it can."""
    try:
        conn = await psycopg.AsyncConnection.connect(ADMIN_URL, connect_timeout=3)
    except psycopg.Error as exc:
        return f"PostgreSQL server at {ADMIN_URL} is unreachable: {exc}"
    await conn.close()
    return None


async def fresh_database() -> str:
    """Create an empty, uniquely named database and return its URL."""
    name = PREFIX + uuid.uuid4().hex[:16]
    async with await psycopg.AsyncConnection.connect(ADMIN_URL, autocommit=True) as conn:
        await conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return _with_database(ADMIN_URL, name)


async def drop_database(url: str) -> None:
    name = _database_of(url)
    assert name.startswith(PREFIX), f"refusing to drop {name!r}"
    async with await psycopg.AsyncConnection.connect(ADMIN_URL, autocommit=True) as conn:
        # FORCE: a store that failed to close must not keep the database alive.
        await conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


async def terminate_connections(url: str) -> int:
    """pg_terminate_backend every connection to the database ``url`` names; how many."""
    async with await psycopg.AsyncConnection.connect(ADMIN_URL, autocommit=True) as admin:
        cur = await admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            [_database_of(url)],
        )
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


@contextlib.asynccontextmanager
async def database() -> AsyncIterator[str]:
    """A fresh database for one test, dropped afterwards. Skips when the server is
    unreachable, but fails in CI (``CI=true``), where a missing server is a broken run."""
    reason = await unavailable()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    url = await fresh_database()
    try:
        yield url
    finally:
        await drop_database(url)
