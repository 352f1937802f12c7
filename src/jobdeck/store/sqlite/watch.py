"""Notice commits of other processes on the same file, cheaply.

``PRAGMA data_version`` changes on a connection whenever another connection has
committed since it last asked; it reads the WAL index in shared memory, no disk I/O.
Polled every couple of milliseconds, it tells a worker that an API process enqueued
a job (and an API process that a worker progressed one) within a few milliseconds.
The watch connection lives on the event loop thread; with a zero busy timeout it
never waits, a busy answer just means "ask again next tick".
"""

from __future__ import annotations

import asyncio
import sqlite3

from jobdeck.events.signals import Signals
from jobdeck.events.tasks import stop_tasks
from jobdeck.store.sqlite.queries import Q, statements

POLL_SECONDS = 0.002


class CommitWatcher:
    def __init__(self, path: str, signals: Signals, interval: float = POLL_SECONDS) -> None:
        self._path = path
        self._signals = signals
        self._interval = interval
        self._conn: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None)
        for statement in statements(Q["watch_setup"]):
            conn.execute(statement).fetchall()
        self._conn = conn
        # The baseline is taken now, not when the task first runs: a commit made in
        # between must count as a change.
        baseline = self._version(conn)
        self._task = asyncio.get_running_loop().create_task(
            self._run(conn, baseline), name="jobdeck-sqlite-watch"
        )

    async def stop(self) -> None:
        task, self._task = self._task, None
        await stop_tasks(task)
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    async def _run(self, conn: sqlite3.Connection, last: int | None) -> None:
        while True:
            await asyncio.sleep(self._interval)
            version = self._version(conn)
            if version is not None and version != last:
                last = version
                # Own commits change it too (this is a separate connection): a spare
                # wake-up costs one query, a missed one would cost latency. Every
                # channel: the scheduler learns of schedules another process changed,
                # a worker of cancels.
                self._signals.fire()

    @staticmethod
    def _version(conn: sqlite3.Connection) -> int | None:
        try:
            return int(conn.execute(Q["data_version"]).fetchone()[0])
        except sqlite3.OperationalError:
            return None  # busy for an instant: ask again next tick
