"""Notice commits of other processes on the same file, cheaply.

``PRAGMA data_version`` changes on a connection whenever another connection has
committed since it last asked; it reads the WAL index in shared memory, no disk I/O.
Polled every couple of milliseconds, it tells a worker that an API process enqueued
a job (and an API process that a worker progressed one) within a few milliseconds.
The watch connection lives on the event loop thread; with a zero busy timeout it
never waits, a busy answer just means "ask again next tick".

Any commit fires the cheap channels (a spare wake-up costs a waiter one query).
``"cancel"`` makes every worker beat, so it fires only when the count of writes that
wake workers (schema version 8) moved: otherwise a worker's own heartbeats and
completions would keep bringing its next heartbeat forward.
"""

from __future__ import annotations

import asyncio
import sqlite3

from jobdeck.events.signals import CHANNELS, Signals
from jobdeck.events.tasks import stop_tasks
from jobdeck.store.sqlite.queries import Q, statements

POLL_SECONDS = 0.002
CHEAP = tuple(channel for channel in CHANNELS if channel != "cancel")


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
        # The baselines are taken now, not when the task first runs: a commit made in
        # between must count as a change. data_version first: a wake committed after
        # the count's read moves it, so the next tick reads the count again; one
        # committed between the two reads counts as made before this store opened.
        baseline = self._version(conn), self._wakes(conn)
        self._task = asyncio.get_running_loop().create_task(
            self._run(conn, *baseline), name="jobdeck-sqlite-watch"
        )

    async def stop(self) -> None:
        task, self._task = self._task, None
        await stop_tasks(task)
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    async def _run(self, conn: sqlite3.Connection, last: int | None, wakes: int | None) -> None:
        while True:
            await asyncio.sleep(self._interval)
            version = self._version(conn)
            if version is None or version == last:
                continue
            last = version
            # Own commits change it too (this is a separate connection). Every cheap
            # channel: the scheduler learns of schedules another process changed.
            self._signals.fire(*CHEAP)
            now = self._wakes(conn)
            if now is None or now != wakes:
                wakes = now  # unknown (busy) counts as moved: a spare beat, never a lost one
                self._signals.fire("cancel")

    @staticmethod
    def _version(conn: sqlite3.Connection) -> int | None:
        return _one(conn, Q["data_version"])

    @staticmethod
    def _wakes(conn: sqlite3.Connection) -> int | None:
        return _one(conn, Q["worker_wakes"])


def _one(conn: sqlite3.Connection, query: str) -> int | None:
    try:
        return int(conn.execute(query).fetchone()[0])
    except sqlite3.OperationalError:
        return None  # busy for an instant: ask again next tick
