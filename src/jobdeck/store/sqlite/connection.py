"""The SQLite connection: one dedicated thread, write transactions, lock retries.

Every blocking sqlite3 call runs on one thread per store (the connection is opened in
it and never leaves it), so the event loop never blocks and statements never
interleave. Write transactions start with ``BEGIN IMMEDIATE``: a deferred transaction
that reads and then writes can fail to upgrade its lock with SQLITE_BUSY at once,
which the busy timeout does not cover. Anything "locked"/"busy" that still gets
through is retried with backoff, so it never reaches a user.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import stat
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from jobdeck.errors import StoreError, ValidationError
from jobdeck.store.sqlite.queries import Q, migrations, statements

T = TypeVar("T")

LOCK_RETRY_SECONDS = 120.0  # give up (StoreError) only after this long


def database_path(url: str) -> str:
    """``sqlite:///relative/path`` or ``sqlite:////absolute/path`` → a file path."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise ValidationError(f"not a SQLite URL: {url!r} (use sqlite:///path)")
    path = url[len(prefix) :].split("?", 1)[0]
    if path == ":memory:":
        raise ValidationError("an in-memory SQLite database cannot be shared: use a file")
    return path


def _is_lock_error(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _is_read_only_error(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return bool(code & 0xFF == sqlite3.SQLITE_READONLY)
    return "readonly database" in str(exc).lower()


MIN_SQLITE = (3, 35)  # RETURNING (3.35), UPDATE … FROM (3.33), 32766 bound parameters


def connect(path: str) -> sqlite3.Connection:
    if sqlite3.sqlite_version_info < MIN_SQLITE:
        raise StoreError(
            f"jobdeck needs SQLite {'.'.join(map(str, MIN_SQLITE))} or newer; "
            f"this Python has {sqlite3.sqlite_version}"
        )
    # isolation_level=None: the sqlite3 module issues no implicit BEGIN/COMMIT; we do.
    conn = sqlite3.connect(path, isolation_level=None, cached_statements=256)
    try:
        # journal_mode=WAL can meet a lock when several processes create the file at
        # once: the caller retries the whole open.
        for statement in statements(Q["connection_setup"]):
            conn.execute(statement).fetchall()
    except BaseException:
        conn.close()
        raise
    return conn


class Tx:
    """A write transaction (``with Tx(conn) as t``): BEGIN IMMEDIATE … COMMIT, or ROLLBACK
    when the body raises.

    Change-feed sequence: ``t.seq()`` is the counter's value + 1, read under the write
    lock; it is stored back just before COMMIT if the transaction changed any row.
    SQLite has a single writer, so transactions commit in the order they take the
    write lock, and each one reads the value its predecessor committed: seq order is
    commit order, across every process sharing the file, and a follower that has
    seen seq n can never later see a commit with a seq <= n.
    """

    __slots__ = ("_changes", "_seq", "conn")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._seq: int | None = None
        self._changes = 0

    def __enter__(self) -> Tx:
        self.conn.execute(Q["begin_immediate"])
        self._changes = self.conn.total_changes
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            if self.conn.in_transaction:
                self.conn.execute(Q["rollback"])
            return
        if self._seq is not None and self.conn.total_changes != self._changes:
            self.conn.execute(Q["set_seq"], (self._seq,))
        self.conn.execute(Q["commit"])

    def seq(self) -> int:
        if self._seq is None:
            self._seq = int(self.conn.execute(Q["next_seq"]).fetchone()[0])
        return self._seq


class Database:
    """A file, its writer thread and its connection."""

    def __init__(self, url: str) -> None:
        self.path = database_path(url)
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    async def open(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jobdeck-sqlite")
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._call, self._open_in_thread)
        except BaseException:
            self._executor.shutdown(wait=True)
            self._executor = None
            raise

    def _open_in_thread(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = connect(self.path)
        try:
            self._migrate(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        # Several processes may open a new file at once: BEGIN IMMEDIATE makes the
        # check-and-apply atomic, so each migration runs exactly once.
        with Tx(conn) as t:
            t.conn.execute(Q["create_schema_version"])
            current = int(t.conn.execute(Q["schema_version"]).fetchone()[0])
            for version, script in migrations():
                if version <= current:
                    continue
                for statement in statements(script):
                    t.conn.execute(statement)
                t.conn.execute(Q["record_schema_version"], (version,))

    async def close(self) -> None:
        if self._executor is None:
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._close_in_thread)
        finally:
            self._executor.shutdown(wait=True)
            self._executor = None

    def _close_in_thread(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` on the store's thread. A whole ``fn`` is retried on lock
        errors, so it must do its writes inside ``Tx`` (rolled back before a retry)."""
        if self._executor is None:
            raise StoreError("the store is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, lambda: fn(self._live()))

    def _live(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("the store is not open")
        return self._conn

    def _rollback(self) -> None:
        if self._conn is not None and self._conn.in_transaction:
            self._conn.execute(Q["rollback"])

    def _reopen(self) -> None:
        """A new connection in place of the current one (on the store's thread).

        SQLite creates the ``-wal`` and ``-shm`` files with the database file's
        permissions: opened while the file was read-only, it made them read-only too,
        and they would keep the database read-only once the file is writable again.
        Ours (we created them) get the file's permissions back first."""
        with contextlib.suppress(OSError):
            if os.access(self.path, os.W_OK):
                mode = stat.S_IMODE(os.stat(self.path).st_mode)
                for side in (self.path + "-wal", self.path + "-shm"):
                    if os.path.exists(side) and not os.access(side, os.W_OK):
                        os.chmod(side, mode)
        conn = connect(self.path)
        old, self._conn = self._conn, conn
        if old is not None:
            old.close()

    def _call(self, fn: Callable[[], T]) -> T:
        deadline = time.monotonic() + LOCK_RETRY_SECONDS
        delay = 0.001
        reopened = False
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                self._rollback()
                if _is_read_only_error(exc) and self._conn is not None:
                    # SQLite opens a file it may not write read-only, and the connection
                    # stays so: once, reopen and retry, so that writing resumes as soon
                    # as the file (or its folder) is writable again.
                    if not reopened:
                        reopened = True
                        self._reopen()
                        continue
                    raise StoreError(
                        f"cannot write to {self.path}: the database is read-only "
                        f"(check the permissions of the file and its folder): {exc}"
                    ) from exc
                if not _is_lock_error(exc) or time.monotonic() > deadline:
                    raise StoreError(f"SQLite error: {exc}") from exc
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
            except sqlite3.Error as exc:
                self._rollback()
                raise StoreError(f"SQLite error: {exc}") from exc
            except BaseException:
                # JobdeckError from a verb, or a bug: never leave a transaction (and
                # perhaps the write lock) open behind us.
                self._rollback()
                raise
