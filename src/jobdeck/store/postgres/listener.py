"""LISTEN/NOTIFY → :class:`Signals`, on a dedicated connection that heals itself.

After a transaction that wrote a feed record (job, schedule, execution) commits, its
process NOTIFYs ``jobdeck_jobs``; after one that made a queued job claimable,
``jobdeck_enqueue``; after one that changed a schedule, ``jobdeck_cron`` (schedulers
re-read their next fire time); after one that asked a running job to stop,
``jobdeck_cancel``. Each process coalesces them per channel (``Notifier`` in
``database.py``; payloads are empty). The listener turns each into a local signal, so
an idle worker in another process (or on another host) wakes at once.

A process listens only to the channels it was opened for (``listen``): a
``jobdeck worker`` follows no feed and runs no scheduler, so it hears ``enqueue`` and
``cancel`` only. Every NOTIFY costs each listening backend a transaction, and the
busiest channel, ``jobdeck_jobs``, is then not read by the processes that do the most
writing (docs/postgres.md, "Wake-ups"). It is sent at all only while a process listens
to it: listening to it takes the follower lock (queries.sql, ``listen_jobs``); the cron
mirror trigger's own NOTIFY is the exception (docs/postgres.md, "Wake-ups").

A signal carries no data, so losing notifications only costs a query: after every
(re)connect the listener fires every channel, and followers catch up by seq from the
store. A dead connection (server restart, ``pg_terminate_backend``, network loss) is
noticed by the read failing or by the periodic health check, and replaced with
exponential backoff; the listener never gives up and never raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from jobdeck.events.signals import Signals
from jobdeck.events.tasks import stop_tasks
from jobdeck.store.postgres.queries import Q

log = logging.getLogger("jobdeck.store.postgres")

CHANNELS = {
    "jobdeck_jobs": "jobs",
    "jobdeck_enqueue": "enqueue",
    "jobdeck_cron": "cron",
    "jobdeck_cancel": "cancel",
}
HEALTH_CHECK_SECONDS = 10.0  # a silent half-open connection is found within this time
BACKOFF_FIRST, BACKOFF_MAX = 0.05, 5.0


# Used unless the database URL sets them: a dead server or a silent network is noticed
# in seconds (connect timeout, TCP keepalives), not after the kernel's minutes.
CONNECTION_DEFAULTS = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}


def connection_defaults(conninfo: str) -> dict[str, Any]:
    """The entries of :data:`CONNECTION_DEFAULTS` that ``conninfo`` does not set itself."""
    given = conninfo_to_dict(conninfo)
    return {key: value for key, value in CONNECTION_DEFAULTS.items() if key not in given}


class Listener:
    """Turns NOTIFYs into :class:`Signals` on its own connection; reconnects forever."""

    def __init__(self, conninfo: str, signals: Signals, listen: Collection[str]) -> None:
        """``listen``: the signals (values of :data:`CHANNELS`) to hear from other processes."""
        self._conninfo = conninfo
        self._signals = signals
        self._listen = [name for name in CHANNELS.values() if name in listen]
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self.connects = 0  # how many times a LISTEN connection was established

    async def start(self, timeout: float = 10.0) -> None:
        """Start listening; wait (bounded) for the first connection, so that other
        processes' writes after ``open()`` returns are announced to this one."""
        self._task = asyncio.create_task(self._run(), name="jobdeck-pg-listener")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):  # not wait_for: see Signals.wait
                await self._connected.wait()

    async def stop(self) -> None:
        task, self._task = self._task, None
        await stop_tasks(task)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def _run(self) -> None:
        delay = BACKOFF_FIRST
        while True:
            conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True, **connection_defaults(self._conninfo)
                )
                for name in self._listen:
                    await conn.execute(Q["listen_" + name], prepare=False)
                self.connects += 1
                self._connected.set()
                delay = BACKOFF_FIRST
                # Anything committed while we were not listening is found by seq.
                self._signals.fire()
                await self._pump(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: reconnect, never die
                self._connected.clear()
                log.warning(
                    "jobdeck listener: connection lost (%s); reconnecting in %.2fs",
                    exc.__class__.__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()

    async def _pump(self, conn: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
        fire = self._signals.fire
        while True:
            async for notify in conn.notifies(timeout=HEALTH_CHECK_SECONDS):
                channel = CHANNELS.get(notify.channel)
                if channel is not None:
                    fire(channel)
            # No notification for a while: make sure the connection is still alive
            # (a half-open TCP connection would otherwise stay silent forever).
            await conn.execute(Q["ping"])
