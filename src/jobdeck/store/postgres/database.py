"""The PostgreSQL store's plumbing: the pool, migrations, retries, the feed horizon and
coalesced wake-ups.

:class:`Database` is what every group of verbs builds on (``store.py``: jobs and
tokens, ``schedules.py``: cron schedules and executions).

Connection failures (server restart, killed backend) are retried with bounded backoff.
Re-running a verb is safe because each one is a single conditional transaction: either
its first try rolled back, or it committed and the retry is refused by its own status
or fence check (see :meth:`Database._run`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection
from datetime import timedelta
from typing import Any, LiteralString, TypeVar

import psycopg
from psycopg.rows import DictRow, TupleRow, dict_row, tuple_row
from psycopg_pool import AsyncConnectionPool

from jobdeck.errors import StoreError, ValidationError
from jobdeck.events.signals import CHANNELS as SIGNALS
from jobdeck.events.signals import Signals
from jobdeck.events.tasks import stop_tasks
from jobdeck.store.postgres.listener import CHANNELS, Listener, connection_defaults
from jobdeck.store.postgres.queries import MIGRATIONS, Q
from jobdeck.store.postgres.rows import JsonbLoader

log = logging.getLogger("jobdeck.store.postgres")

T = TypeVar("T")


# Expression statistics (schema version 11) came with PostgreSQL 14.
MIN_POSTGRES = 140000


def require_server(version: int) -> None:
    """Refuse, saying why, a server older than the schema needs (``server_version``
    as libpq reports it: 150004 for 15.4), before a migration fails on its syntax."""
    if version < MIN_POSTGRES:
        raise StoreError(
            f"jobdeck needs PostgreSQL {MIN_POSTGRES // 10000} or newer; "
            f"this server is {version // 10000}.{version % 10000}"
        )


class Conn(psycopg.AsyncConnection[DictRow]):
    """A pooled connection, which keeps one cursor for its hottest statement.

    psycopg looks up the dumper of each parameter's type once per cursor, and
    ``execute`` on the connection makes a new cursor every time: for the 24 parameters
    of an enqueue (queries.sql, insert_job) that was about a tenth of its client CPU.
    Its rows are tuples: a dict row reads the column names anew for every statement.
    """

    _kept_cursor: psycopg.AsyncCursor[TupleRow] | None = None

    def kept_cursor(self) -> psycopg.AsyncCursor[TupleRow]:
        """This connection's kept cursor: for one statement at a time, whose rows are
        read before the next statement on this connection."""
        if self._kept_cursor is None:
            self._kept_cursor = self.cursor(row_factory=tuple_row)
        return self._kept_cursor


# Retries of a verb whose connection failed: 0.05 s doubling to 2 s, about 15 s in all,
# long enough to ride out a server restart, short enough to report a dead database.
RETRIES = 11
BACKOFF_FIRST, BACKOFF_MAX = 0.05, 2.0

# A feed write in flight for longer than this is passed over by followers and given a
# new seq once it ends (queries.sql, feed_horizon: the late path). Below the 200 ms in
# which other commits must reach followers while one transaction stays open.
FEED_LATE_SECONDS = 0.1
# Per channel, the pace of the NOTIFYs of one process (Notifier). enqueue and cron wake
# idle workers and schedulers: at most one per 5 ms, the first after a quiet spell at
# once, so idle pickup stays within a few ms. jobs is what a busy process asks for on
# every write, and each NOTIFY costs a commit plus a transaction in every listening
# backend and a wake-up in every listening process (docs/postgres.md, "Wake-ups"): after
# a quiet spell the first goes at once and the next at most 5 ms later (a job claimed
# and completed at once is heard as before), then at most one per 25 ms while writes
# keep coming. 25 ms, the hub's 0.065 s rounds and the feed read stay within the 100 ms
# of docs/feed.md.
NOTIFY_INTERVAL = 0.005
NOTIFY_INTERVALS = {"jobdeck_jobs": 0.025}  # channels not named here: NOTIFY_INTERVAL
# How long a connection may serve verbs out of the pool (Database._take).
KEEP_SECONDS = 60.0
# A timer may fire this much before its time (uvloop's are in whole milliseconds):
# waiting again for the rest would spin.
_TIMER_SLACK = 0.001

_PG_CHANNEL = {signal: channel for channel, signal in CHANNELS.items()}


def idle(conn: psycopg.AsyncConnection[Any]) -> bool:
    """Whether ``conn`` is outside any transaction (and not in a failed one)."""
    return conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE


class Horizon:
    """What ``feed_horizon`` found: the highest seq a follower may read, whether an
    in-flight writer held it back, and how many late seqs wait for a restamp."""

    __slots__ = ("held", "restamps", "seq")

    def __init__(self, row: DictRow) -> None:
        self.seq: int = int(row["horizon"])
        self.held: bool = bool(row["held"])
        self.restamps: int = int(row["restamps"])


class _SchemaChanged(psycopg.InterfaceError):
    """A pooled connection's prepared statements no longer match the schema."""


class Database:
    """The pool, the schema and the transaction plumbing every verb shares."""

    def __init__(
        self,
        database_url: str,
        history_limit: int = 500,
        *,
        min_connections: int = 1,
        max_connections: int = 8,
        listen: bool | Collection[str] = True,
    ) -> None:
        """``listen``: the signals to hear from other processes (``events/signals.py``
        CHANNELS): True, all of them; False, none (no listener connection)."""
        if history_limit < 1:
            raise ValidationError("history_limit must be at least 1")
        self.database_url = database_url
        self.history_limit = history_limit
        self.signals = Signals()
        self._keep = history_limit - 1  # old rows kept when a verb adds one
        self._pool = AsyncConnectionPool(
            database_url,
            connection_class=Conn,
            kwargs={
                **connection_defaults(database_url),
                "autocommit": True,
                "row_factory": dict_row,
                "prepare_threshold": 0,
            },
            configure=self._configure,
            min_size=min_connections,
            max_size=max_connections,
            timeout=10.0,
            open=False,
            name="jobdeck",
        )
        if not isinstance(listen, bool) and (
            isinstance(listen, str) or not set(listen) <= set(SIGNALS)
        ):
            raise ValidationError(f"listen: names among {', '.join(SIGNALS)}, not {listen!r}")
        heard = SIGNALS if listen is True else () if listen is False else listen
        self._listener = Listener(database_url, self.signals, heard) if heard else None
        self._opened = False
        self._notifier = Notifier(database_url)
        self._recheck: asyncio.TimerHandle | None = None
        # A pooled connection kept for the next verb, and when it left the pool (_run).
        self._kept: tuple[Conn, float] | None = None
        self._verbs = 0  # in _run: holding a connection, waiting for one or backing off

    @staticmethod
    async def _configure(conn: Conn) -> None:
        conn.adapters.register_loader("jsonb", JsonbLoader)
        # All datetimes come back timezone-aware in UTC, whatever the server's setting;
        # generic plans for the prepared statements (see queries.sql "session").
        await conn.execute(Q["session"], prepare=False)

    # --- lifecycle -------------------------------------------------------
    async def open(self) -> None:
        if self._opened:
            return
        try:
            await self._pool.open(wait=True, timeout=15.0)
        except psycopg.Error as exc:
            await self._pool.close()
            raise StoreError(f"cannot connect to PostgreSQL: {exc}") from exc
        self._opened = True
        try:
            await self._run(self._migrate)
            self._notifier.start()
            if self._listener is not None:
                await self._listener.start()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._recheck is not None:
            self._recheck.cancel()
        if self._listener is not None:
            await self._listener.stop()
        if self._opened:
            await self._notifier.stop()  # what it still owes goes out first
            self._opened = False
            kept, self._kept = self._kept, None
            if kept is not None:
                await self._pool.putconn(kept[0])
            await self._pool.close()

    async def _migrate(self, conn: Conn) -> None:
        require_server(conn.info.server_version)
        # One transaction under an advisory lock: processes starting together queue up
        # here, and each one after the first finds the schema already current.
        async with conn.transaction():
            await conn.execute(Q["schema_lock"])
            await conn.execute(Q["schema_table"])
            current = await self._scalar(conn, "schema_current", {})
            for version, sql in MIGRATIONS:
                if version > current:
                    log.info("jobdeck: migrating PostgreSQL schema to version %d", version)
                    await conn.execute(sql, prepare=False)  # many statements
                    await conn.execute(Q["schema_record"], {"version": version})

    async def schema_version(self) -> int:
        return await self._run(lambda c: self._scalar(c, "schema_current", {}))

    # --- plumbing --------------------------------------------------------
    async def _run(self, fn: Callable[[Conn], Awaitable[T]]) -> T:
        """Run ``fn`` on a pooled connection; retry it when the connection fails.

        Only OperationalError is retried (lost connection, server shutdown, pool
        timeout, deadlock or serialization rollback). That is safe because every verb
        is one conditional transaction: when the answer to a COMMIT is lost, the first
        try either rolled back or landed, and a re-run of a landed write is refused by
        its own status or fence check (so the caller may then see InvalidTransition,
        StaleWrite or a None from complete_many for a write that did land; the job is
        in the state it asked for). Inserts are made idempotent by their job_ids.
        """
        if not self._opened:
            raise StoreError("the store is not open")
        delay = BACKOFF_FIRST
        for attempt in range(RETRIES + 1):
            self._verbs += 1
            try:
                conn, since = await self._take()
                try:
                    return await fn(conn)
                except psycopg.errors.FeatureNotSupported as exc:
                    if "cached plan" not in str(exc):
                        raise
                    # Another process migrated the schema (a newer version added
                    # columns): this connection's prepared statements are stale.
                    # Drop the connection; the retry prepares them afresh.
                    await conn.close()
                    raise _SchemaChanged(str(exc)) from exc
                finally:
                    await self._give_back(conn, since)
            except _SchemaChanged as exc:
                if attempt == RETRIES:
                    raise StoreError(f"PostgreSQL error: {exc}") from exc
                log.info("jobdeck: schema changed under a pooled connection; reconnecting")
            except psycopg.OperationalError as exc:
                _reraise_cancellation(exc)
                if attempt == RETRIES or not self._opened:
                    raise StoreError(f"PostgreSQL unavailable: {exc}") from exc
                log.warning(
                    "jobdeck: PostgreSQL call failed (%s); retry %d in %.2fs",
                    exc.__class__.__name__,
                    attempt + 1,
                    delay,
                )
                # After a restart every idle pooled connection is dead: drop them all
                # now rather than failing once per connection.
                await asyncio.sleep(delay)
                await self._drop_dead_connections()
                delay = min(delay * 2, BACKOFF_MAX)
            except psycopg.Error as exc:
                _reraise_cancellation(exc)
                raise StoreError(f"PostgreSQL error: {exc}") from exc
            finally:
                self._verbs -= 1
        raise AssertionError("unreachable")  # pragma: no cover

    async def _take(self) -> tuple[Conn, float]:
        """A verb's connection, and the loop time it left the pool: the kept one unless
        it left the pool :data:`KEEP_SECONDS` ago or more (it then goes back, for the
        pool's own upkeep: its connections' lifetime and checks), else one from the pool.
        """
        now = asyncio.get_running_loop().time()
        kept, self._kept = self._kept, None
        if kept is not None:
            if now - kept[1] < KEEP_SECONDS:
                return kept
            await self._pool.putconn(kept[0])
        return await self._pool.getconn(), now

    async def _give_back(self, conn: Conn, since: float) -> None:
        """After a verb: keep ``conn`` (taken from the pool at loop time ``since``) for
        the next one when no other verb is running or waiting and it is idle, else
        return it to the pool.

        A verb then takes a connection without the pool's lock, queue and checks in the
        usual case of one verb at a time (docs/postgres.md, "One job per call").
        Concurrent verbs take theirs from the pool as before, and find there every
        connection not in use: none stays kept while another verb waits for one.
        """
        if self._verbs == 1 and self._kept is None and self._opened and idle(conn):
            self._kept = (conn, since)
        else:
            await self._pool.putconn(conn)

    async def _drop_dead_connections(self) -> None:
        try:
            await asyncio.wait_for(self._pool.check(), 5.0)
        except Exception as exc:  # the next try reports the real failure
            log.debug("jobdeck: pool check failed: %s", exc)

    @staticmethod
    async def _scalar(conn: Conn, name: str, params: dict[str, Any]) -> Any:
        cur = await conn.execute(Q[name], params)
        row = await cur.fetchone()
        return None if row is None else next(iter(row.values()))

    @staticmethod
    async def _rows(conn: Conn, name: str, params: dict[str, Any]) -> list[DictRow]:
        cur = await conn.execute(Q[name], params)
        return await cur.fetchall()

    @staticmethod
    async def _search(conn: Conn, name: str, params: dict[str, Any]) -> list[DictRow]:
        """A list query, planned for its actual filters (one pipelined round trip).

        Its optional filters (``%(type)s IS NULL OR type = …``) can only use an index
        once the planner sees the values, which the session's generic plans never do.
        """
        async with conn.pipeline():
            await conn.execute(Q["begin"])
            await conn.execute(Q["custom_plans"])
            cur = await conn.execute(Q[name], params, prepare=False)
            await conn.execute(Q["commit"])
        return await cur.fetchall()

    async def _write(self, conn: Conn, sql: LiteralString, params: dict[str, Any]) -> list[DictRow]:
        """One verb statement in autocommit: one transaction, one round trip.

        The statement takes its registered seq itself (fragment ``feed_seq``) and waits
        for no other writer; wake-ups go out after it (:meth:`_announce`).
        """
        cur = await conn.execute(sql, params)
        return await cur.fetchall()

    def _announce(self, *signals: str) -> None:
        """A write committed: wake local waiters now, and other processes through a
        coalesced NOTIFY (``signals``: names of :data:`listener.CHANNELS`' values)."""
        self.signals.fire(*signals)
        self._notifier.send(*(_PG_CHANNEL[s] for s in signals))

    async def _horizon(self, conn: Conn) -> Horizon:
        """The feed horizon, left in the session for the next statement (queries.sql,
        ``feed_horizon``). First gives late records that can be their new seq."""
        late = {"late": timedelta(seconds=FEED_LATE_SECONDS)}
        cur = await conn.execute(Q["feed_horizon"], late)
        row = await cur.fetchone()
        assert row is not None
        horizon = Horizon(row)
        if horizon.restamps:
            cur = await conn.execute(Q["feed_restamp"])
            restamped = await cur.fetchone()
            if restamped is not None and restamped["seq"] is not None:
                self._announce("jobs")
        if horizon.held:
            # A writer in flight held the horizon back: ask again once it would count
            # as late, even if no wake-up comes (it may never commit).
            self._recheck_later()
        return horizon

    def _recheck_later(self) -> None:
        if self._recheck is not None and not self._recheck.cancelled():
            return
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._recheck = None
            self.signals.fire("jobs")

        self._recheck = loop.call_later(FEED_LATE_SECONDS * 1.2, fire)

    async def _after_horizon(self, conn: Conn, name: str, params: dict[str, Any]) -> list[DictRow]:
        """``name`` (changes_since, last_seq) below the feed horizon, computed first by
        its own statement (its snapshot must come after the horizon's lock read)."""
        await self._horizon(conn)
        return await self._durable_rows(conn, name, params)

    @staticmethod
    async def _durable_rows(conn: Conn, name: str, params: dict[str, Any]) -> list[DictRow]:
        """``name``'s rows, made durable before they are handed out (queries.sql,
        ``durable``, in the same round trip): a worker's writes commit without waiting
        for the disk."""
        async with conn.pipeline():
            cur = await conn.execute(Q[name], params)
            await conn.execute(Q["durable"])
        return await cur.fetchall()


class Notifier:
    """Coalesced NOTIFYs, paced per channel (:data:`NOTIFY_INTERVALS`).

    A write asks after it has committed (:meth:`send`), so a process woken by it finds
    the change. A channel asked for goes at once when its interval is up, else when it
    is; asks meanwhile (and during a NOTIFY in flight) join it. The interval after a
    NOTIFY is :data:`NOTIFY_INTERVAL` when its ask came after a quiet spell (at least
    the channel's own interval after its last NOTIFY), else the channel's own. One
    statement (``queries.sql``, notify) carries every channel due, and also those due
    within :data:`NOTIFY_INTERVAL`, which would otherwise need a statement of their own
    moments later. A failed NOTIFY is dropped: followers and workers also poll, and a
    listener that reconnects fires every channel.

    An ask costs a few dict look-ups: the sender task wakes only when something is due,
    from the one timer armed for the first channel owed.
    """

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._conn: psycopg.AsyncConnection[Any] | None = None  # its own: never queued
        self._pending: dict[str, float] = {}  # channel owed -> loop time first asked
        self._sent: dict[str, float] = {}  # channel -> loop time of its last NOTIFY
        self._next: dict[str, float] = {}  # channel -> loop time it may go again
        self._wake = asyncio.Event()  # something owed is due
        self._timer: asyncio.TimerHandle | None = None  # when the first owed is due
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="jobdeck-pg-notifier")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await stop_tasks(task)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending:  # what it still owes goes out now, whatever the pace
            channels = sorted(self._pending)
            self._pending.clear()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._notify(channels), 5.0)
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    def send(self, *channels: str) -> None:
        """A write committed: NOTIFY ``channels`` when they are due. Only a channel not
        owed yet may move the timer (asks for one already owed join it)."""
        pending = self._pending
        now: float | None = None
        for channel in channels:
            if channel not in pending:
                if now is None:
                    now = asyncio.get_running_loop().time()
                pending[channel] = now
        if now is not None:
            self._arm(now)

    def _arm(self, now: float) -> None:
        """Wake the sender when the first channel owed is due."""
        first = min(self._next.get(channel, now) for channel in self._pending)
        if first <= now + _TIMER_SLACK:
            self._wake.set()
            return
        timer = self._timer
        if timer is not None:
            if timer.when() <= first:
                return  # it wakes the sender before then, which arms it again
            timer.cancel()
        self._timer = asyncio.get_running_loop().call_at(first, self._due)

    def _due(self) -> None:
        self._timer = None
        self._wake.set()

    def _take(self, now: float) -> list[str]:
        """The channels that go now, counted as sent; none unless one of them is due."""
        pending = self._pending
        if not pending:
            return []
        due = {channel: self._next.get(channel, now) for channel in pending}
        if min(due.values()) > now + _TIMER_SLACK:
            return []
        soon = now + NOTIFY_INTERVAL
        channels = sorted(channel for channel, at in due.items() if at <= soon)
        for channel in channels:
            asked_at, last = pending.pop(channel), self._sent.get(channel)
            pace = NOTIFY_INTERVALS.get(channel, NOTIFY_INTERVAL)
            quiet = last is None or asked_at - last >= pace
            self._next[channel] = now + (NOTIFY_INTERVAL if quiet else pace)
            self._sent[channel] = now
        return channels

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            channels = self._take(loop.time())
            if channels:
                try:
                    await self._notify(channels)
                except asyncio.CancelledError:
                    self._pending.update(dict.fromkeys(channels, loop.time()))  # stop() sends them
                    raise
                except Exception as exc:
                    log.debug("jobdeck: NOTIFY failed (%s); followers poll", exc)
                    conn, self._conn = self._conn, None
                    if conn is not None:
                        with contextlib.suppress(Exception):
                            await conn.close()
            # Asked during the NOTIFY, or woken a little early.
            if self._pending:
                self._arm(loop.time())

    async def _notify(self, channels: list[str]) -> None:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, **connection_defaults(self._conninfo)
            )
            await self._conn.execute(Q["async_commit"])  # it only ever notifies
        await self._conn.execute(Q["notify"], {"channels": channels})


def _reraise_cancellation(exc: psycopg.Error) -> None:
    """When the calling task was cancelled mid-query, psycopg cancels the query on the
    server and raises that error instead of CancelledError. Turning it into a retry or
    a StoreError would swallow the cancellation: a task that logs store errors and goes
    on (a worker's presence loop) would then never stop."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError() from exc
