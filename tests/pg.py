"""A fresh PostgreSQL database per test, dropped afterwards (``async with pg.database()``).

``database()`` is empty: the test's store migrates it. ``database(migrated=True)`` is a
copy (``CREATE DATABASE … TEMPLATE``) of a database the store migrated once per test
session: the same schema and rows as a store's first ``open()`` leaves, without running
the migrations again for each test.

Creating a database mostly waits for the server's disk flushes, and each drop for a
checkpoint, so both happen off the tests' path: a few threads make databases ahead of
the tests that take them, and used ones are dropped 16 or more at a time, together
(drops running together share a checkpoint). Every database is still used by one test only.
``shutdown()`` (the root conftest's ``pytest_sessionfinish``) drops what is left.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import os
import threading
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
AHEAD = {False: 1, True: 3}  # databases made ahead of need, empty and migrated
DROP_BATCH, DROP_AT_ONCE = 16, 32  # used databases dropped together: at least, at most


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def _database_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _new_name() -> str:
    return PREFIX + uuid.uuid4().hex[:16]


async def unavailable() -> str | None:
    """Why the server cannot be used, or None when it can."""
    try:
        conn = await psycopg.AsyncConnection.connect(ADMIN_URL, connect_timeout=3)
    except psycopg.Error as exc:
        return f"PostgreSQL server at {ADMIN_URL} is unreachable: {exc}"
    await conn.close()
    return None


def _admin(statement: sql.Composable) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(statement)


def _create(template: str | None = None) -> str:
    name = _new_name()
    if template is None:
        _admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    else:
        _admin(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    return _with_database(ADMIN_URL, name)


def _drop(url: str) -> None:
    name = _database_of(url)
    assert name.startswith(PREFIX), f"refusing to drop {name!r}"
    # FORCE: a store that failed to close must not keep the database alive.
    _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _make_template() -> str:
    """An empty database the store migrates (listen=False: no listener connection)."""
    from jobdeck.store.postgres.store import PostgresStore

    url = _create()

    async def migrate() -> None:
        store = PostgresStore(url, listen=False)
        await store.open()
        await store.close()

    try:
        asyncio.run(migrate())
    except BaseException:
        _drop(url)
        raise
    return url


def _drop_all(urls: list[str]) -> None:
    """Drop the databases at once: each drop waits for a checkpoint, and drops running
    together share one (16 take about as long as one)."""
    with concurrent.futures.ThreadPoolExecutor(max(1, len(urls))) as pool:
        running = [pool.submit(_drop, url) for url in urls]
        for done in running:
            with contextlib.suppress(Exception):
                done.result()


class _Supply:
    """Databases made ahead by a few threads; used ones dropped together by another."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.makers = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="pg-create")
        self.template: concurrent.futures.Future[str] | None = None
        self.ready: dict[bool, collections.deque[concurrent.futures.Future[str]]] = {
            False: collections.deque(),
            True: collections.deque(),
        }
        self.used: list[str] = []
        self.closing = False
        self.dropper = threading.Thread(target=self._drop_used, name="pg-drop", daemon=True)
        self.dropper.start()

    def _from_template(self) -> str:
        assert self.template is not None
        # Submitted before any copy, so a thread is already making it (no deadlock).
        return _create(_database_of(self.template.result()))

    def _submit(self, migrated: bool) -> concurrent.futures.Future[str]:
        if not migrated:
            return self.makers.submit(_create)
        if self.template is None:
            self.template = self.makers.submit(_make_template)
        return self.makers.submit(self._from_template)

    def take(self, migrated: bool) -> concurrent.futures.Future[str]:
        with self.lock:
            queue = self.ready[migrated]
            while len(queue) < AHEAD[migrated] + 1:
                queue.append(self._submit(migrated))
            return queue.popleft()

    def drop(self, url: str) -> None:
        with self.lock:
            self.used.append(url)
            self.lock.notify()

    def _drop_used(self) -> None:
        """Whatever was used while the last drops ran, up to DROP_AT_ONCE, together."""
        while True:
            with self.lock:
                self.lock.wait_for(lambda: len(self.used) >= DROP_BATCH or self.closing)
                urls, self.used = self.used[:DROP_AT_ONCE], self.used[DROP_AT_ONCE:]
                if not urls:
                    return
            _drop_all(urls)

    def close(self) -> None:
        with self.lock:
            unused = [f for queue in self.ready.values() for f in queue]
            for queue in self.ready.values():
                queue.clear()
        self.makers.shutdown(cancel_futures=True)
        left = [f.result() for f in unused if not f.cancelled() and f.exception() is None]
        template = self.template
        if template is not None and not template.cancelled() and template.exception() is None:
            left.append(template.result())
        with self.lock:
            self.used += left
            self.closing = True
            self.lock.notify()
        self.dropper.join()


_supply: _Supply | None = None
_reachable = False


def _the_supply() -> _Supply:
    global _supply
    if _supply is None:
        _supply = _Supply()
    return _supply


def shutdown() -> None:
    """Wait for the drops still running and drop the databases made ahead."""
    global _supply
    if _supply is not None:
        supply, _supply = _supply, None
        supply.close()


async def fresh_database(*, migrated: bool = False) -> str:
    """Create a uniquely named database (empty, or migrated) and return its URL."""
    return await asyncio.wrap_future(_the_supply().take(migrated))


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
async def database(*, migrated: bool = False) -> AsyncIterator[str]:
    """A fresh database for one test, dropped afterwards (empty, or a copy of the
    session's migrated one). Skips when the server is unreachable, but fails in CI
    (``CI=true``), where a missing server is a broken run."""
    global _reachable
    if not _reachable:
        reason = await unavailable()
        if reason is not None:
            if os.environ.get("CI") == "true":
                pytest.fail(reason)
            pytest.skip(reason)
        _reachable = True
    url = await fresh_database(migrated=migrated)
    try:
        yield url
    finally:
        _the_supply().drop(url)
