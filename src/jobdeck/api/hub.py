"""Fan-out of the change feed to WebSocket clients (docs/feed.md).

One feed consumer per process (``deck.subscribe``) — not one database follower
per socket — writes each change onto a shared :class:`Board`: the latest state of
every recently changed job, in seq order, encoded to JSON (and to a WebSocket
frame, see ``wsframes.py``) at most once. Each client has a cursor into the board
and its own writer task, which sends what changed since its cursor. So publishing
costs the same for 1 or 1,000 sockets, and a client that is a little behind skips
a job's intermediate progress but always gets its latest state.

Writers wake in rounds: an update after a quiet spell at once, a stream of them
at most every ``flush_interval`` (default 0.065 s; ``batch_window``, 0.05 s, for a
client that takes its updates in ``job_updates`` frames), so that a round carries
many updates per socket rather than one (see :meth:`Hub.publish`).

Per client the server keeps a cursor and a bounded queue of control messages
(pongs, errors, catch-up requests). A client that stops reading is closed, never
waited for: when a send stalls longer than ``send_timeout`` or its control queue
overflows. A burst of more distinct jobs than the board holds (``queue_size``)
is not a slow client: whoever missed part of it catches up from the store.

Topics: every socket gets the ``jobs`` topic unless it subscribes otherwise; the
``cron`` topic (schedules and executions, ``cronfeed.py``) sits on the board beside
the jobs, in its own table, so a jobs-only socket reads exactly what it read before
cron existed, and a socket with both merges the two by seq (one sequence, in order).

Revocation: a revoked token's revocation is a record of the feed
(:class:`~jobdeck.domain.feed.Revocation`), whichever process made it (this one, the
CLI, another API server). The hub handles it in sequence order: it closes the token's
sockets with 1008 before it puts any later record on the board, so none of them is
sent a message with a higher seq (docs/feed.md, "Revocations"). A catch-up read from
the store stops at the revocation too, and a socket that registers after the hub read
it is closed at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from jobdeck.api.cronfeed import CronEntry, CronFeed
from jobdeck.api.frames import text_frame
from jobdeck.api.metrics import Metrics
from jobdeck.api.schemas import job_camel
from jobdeck.domain.feed import CRON, JOBS, Change, Revocation
from jobdeck.domain.job import Job, Mode, parse_statuses
from jobdeck.errors import ValidationError
from jobdeck.events.tasks import stop_tasks
from jobdeck.tokens import Principal

log = logging.getLogger("jobdeck.ws")

QUEUE_SIZE = 1024
BATCH_WINDOW = 0.05  # seconds between wake-ups of a batching client while changes stream in
# The same for every other client. With another PostgreSQL process's NOTIFY of the jobs
# channel (at most 25 ms under load) that leaves 10 ms for its delivery and the feed
# read: a change reaches a socket within the 100 ms of docs/feed.md.
FLUSH_INTERVAL = 0.065
SEND_TIMEOUT = 5.0
CATCH_UP_PAGE = 1000

CLOSE_SHUTDOWN = 1001
CLOSE_REVOKED = 1008
CLOSE_TOO_SLOW = 1013


def encode_change(change: Change) -> str:
    assert change.job is not None
    message = {"type": "job_update", "seq": change.seq, "job": job_camel(change.job)}
    return json.dumps(message, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class JobMatch:
    """A subscription filter.

    Keys: ``status``, ``type``, ``source``, ``jobId``, ``storeId``, ``pluginId``, ``mode``.
    """

    status: frozenset[str] = frozenset()
    job_ids: frozenset[str] = frozenset()
    type: str | None = None
    source: str | None = None
    store_id: str | None = None
    plugin_id: str | None = None
    mode: str | None = None

    @classmethod
    def parse(cls, raw: Any) -> JobMatch | None:
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise ValidationError("filter must be an object")
        known = {"status", "type", "source", "jobId", "storeId", "pluginId", "mode"}
        unknown = set(raw) - known
        if unknown:
            raise ValidationError(f"filter: unknown key {sorted(unknown)[0]!r}")
        statuses = frozenset(str(s) for s in parse_statuses(raw.get("status"), "filter.status"))
        mode = raw.get("mode")
        if mode is not None and mode not in {str(m) for m in Mode}:
            raise ValidationError(f"filter.mode: unknown mode {mode!r}")
        singles = {}
        for key in ("type", "source", "storeId", "pluginId"):
            value = raw.get(key)
            if value is not None and not isinstance(value, str):
                raise ValidationError(f"filter.{key} must be a string")
            singles[key] = value
        return cls(
            status=statuses,
            job_ids=_strings("jobId", raw.get("jobId")),
            type=singles["type"],
            source=singles["source"],
            store_id=singles["storeId"],
            plugin_id=singles["pluginId"],
            mode=mode,
        )

    def __call__(self, job: Job) -> bool:
        return (
            (not self.status or str(job.status) in self.status)
            and (not self.job_ids or job.job_id in self.job_ids)
            and (self.type is None or job.type == self.type)
            and (self.source is None or job.source == self.source)
            and (self.store_id is None or job.store_id == self.store_id)
            and (self.plugin_id is None or job.plugin_id == self.plugin_id)
            and (self.mode is None or str(job.mode) == self.mode)
        )


def _strings(key: str, value: Any) -> frozenset[str]:
    if value is None:
        return frozenset()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ValidationError(f"filter.{key} must be a string or a list of strings")
    return frozenset(i.strip() for i in items if i.strip())


CONTROL_LIMIT = 64  # pongs and errors waiting to be sent; more means a flooding client


class Message(Protocol):
    """A board entry as a socket sends it: a job's (:class:`Entry`) or a schedule's or
    execution's (:class:`CronEntry`)."""

    @property
    def seq(self) -> int: ...

    @property
    def text(self) -> str: ...

    @property
    def frame(self) -> bytes: ...


@dataclass(eq=False)
class Entry:
    seq: int
    job: Job
    _text: str | None = None
    _frame: bytes | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = encode_change(Change(self.seq, self.job))  # once, for every client
        return self._text

    @property
    def frame(self) -> bytes:
        if self._frame is None:
            self._frame = text_frame(self.text.encode())  # once, for every socket
        return self._frame


class Board:
    """The latest state of up to ``capacity`` recently changed jobs, oldest seq first;
    beside them, in a table of their own, as many schedules and executions."""

    def __init__(self, capacity: int = QUEUE_SIZE) -> None:
        self.capacity = capacity
        self.entries: dict[str, Entry] = {}
        self.last_seq = 0
        self.evicted_seq = 0  # a cursor below this may have missed an evicted job
        self.cron: dict[str, CronEntry] = {}
        self.cron_seq = 0
        self.cron_evicted_seq = 0

    def put(self, change: Change) -> None:
        if change.seq < self.last_seq:
            return  # a replay after the feed resumed: already here
        job = change.job
        if job is None:
            return
        job_id = job.job_id
        self.entries.pop(job_id, None)  # re-inserted at the end: order stays by seq
        self.entries[job_id] = Entry(change.seq, job)
        self.last_seq = change.seq
        if len(self.entries) > self.capacity:
            oldest = self.entries.pop(next(iter(self.entries)))
            self.evicted_seq = max(self.evicted_seq, oldest.seq)

    def put_cron(self, entry: CronEntry) -> None:
        """Like :meth:`put`, for the cron topic. Its own replay check: the hub puts a
        batch's cron entries after its jobs, so ``last_seq`` may already be past them."""
        if entry.seq < self.cron_seq:
            return
        self.cron.pop(entry.key, None)
        self.cron[entry.key] = entry
        self.cron_seq = entry.seq
        self.last_seq = max(self.last_seq, entry.seq)
        if len(self.cron) > self.capacity:
            oldest = self.cron.pop(next(iter(self.cron)))
            self.cron_evicted_seq = max(self.cron_evicted_seq, oldest.seq)

    def since(self, cursor: int) -> list[Entry]:
        """Entries changed after ``cursor``, in seq order (walks back from the newest)."""
        return _since(self.entries, cursor)

    def cron_since(self, cursor: int) -> list[CronEntry]:
        return _since(self.cron, cursor)


def _since(table: dict[str, Any], cursor: int) -> list[Any]:
    found = []
    for key in reversed(table):
        entry = table[key]
        if entry.seq <= cursor:
            break
        found.append(entry)
    found.reverse()
    return found


JOBS_ONLY = frozenset({JOBS})


def _seq(message: Message) -> int:
    return message.seq


@dataclass(eq=False)
class Client:
    """One socket: its cursor into the board, its filter, and pending control messages."""

    principal: Principal
    cursor: int = 0  # board entries at or below this seq were sent (or caught up)
    match: JobMatch | None = None
    topics: frozenset[str] = JOBS_ONLY
    batch: bool = False  # opted in to job_updates frames (see ws.py)
    control: deque[tuple[str, Any]] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    woken_at: float = float("-inf")  # loop time the hub last woke it for updates
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    close_code: int = 1000
    close_reason: str = ""

    @property
    def sees_all(self) -> bool:
        return self.match is None and not self.principal.bound

    @property
    def jobs(self) -> bool:
        return JOBS in self.topics

    @property
    def cron(self) -> bool:
        return CRON in self.topics

    def wants(self, job: Job) -> bool:
        return self.principal.sees(job) and (self.match is None or self.match(job))

    def pending(self, board: Board) -> Sequence[Message] | None:
        """What to send now, advancing the cursor. None when the board no longer holds
        everything the client has not seen (a burst of more distinct jobs than it
        keeps): the client then catches up from the store instead."""
        cursor = self.cursor
        if (self.jobs and board.evicted_seq > cursor) or (
            self.cron and board.cron_evicted_seq > cursor
        ):
            return None
        # Everything up to the board's last seq is read now, whatever the topics: a
        # jobs-only socket is not woken again for a cron change it skipped.
        self.cursor = max(cursor, board.last_seq)
        if self.topics == JOBS_ONLY:  # the common case, as before topics existed
            entries = board.since(cursor)
            return entries if self.sees_all else [e for e in entries if self.wants(e.job)]
        found: list[Message] = []
        if self.jobs:
            found.extend(e for e in board.since(cursor) if self.wants(e.job))
        cron = [e for e in board.cron_since(cursor) if e.visible_to(self.principal)]
        if cron:
            found.extend(cron)
            found.sort(key=_seq)  # stable: jobs first within a seq
        return found

    def send(self, message: dict[str, Any]) -> None:
        self._control(("text", json.dumps(message, separators=(",", ":"))))

    def request_catch_up(self, since: int) -> None:
        self._control(("catch_up", since))

    def _control(self, item: tuple[str, Any]) -> None:
        if self.closed.is_set():
            return
        if len(self.control) >= CONTROL_LIMIT:
            self.drop(CLOSE_TOO_SLOW, "client too slow")
            return
        self.control.append(item)
        self.wake.set()

    def drop(self, code: int, reason: str) -> None:
        if not self.closed.is_set():
            self.close_code, self.close_reason = code, reason
            self.closed.set()
            self.wake.set()


class Hub:
    def __init__(
        self,
        deck: Any,
        metrics: Metrics,
        *,
        queue_size: int = QUEUE_SIZE,
        send_timeout: float = SEND_TIMEOUT,
        batch_window: float = BATCH_WINDOW,
        flush_interval: float = FLUSH_INTERVAL,
    ) -> None:
        self.deck = deck
        self.metrics = metrics
        self.board = Board(queue_size)
        # Tokens whose revocation the hub has read: a socket authenticated just before
        # the revocation committed may register after the hub handled it.
        self.revoked: set[int] = set()
        self.send_timeout = send_timeout
        self.batch_window = batch_window
        self.flush_interval = flush_interval
        self.clients: set[Client] = set()
        self.cron_feed = CronFeed(deck)
        self._tasks: list[asyncio.Task[None]] = []
        self._wake: asyncio.Handle | None = None

    @property
    def seq(self) -> int:
        return self.board.last_seq

    # --- lifecycle -------------------------------------------------------
    async def start(self) -> None:
        self.board.last_seq = await self.deck.last_seq()
        self._tasks = [asyncio.create_task(self._follow(), name="jobdeck-ws-feed")]

    async def stop(self) -> None:
        for client in list(self.clients):
            client.drop(CLOSE_SHUTDOWN, "server shutting down")
        if self._wake is not None:
            self._wake.cancel()
            self._wake = None
        await stop_tasks(*self._tasks)
        self._tasks = []

    # --- clients ---------------------------------------------------------
    def new_client(self, principal: Principal) -> Client:
        client = Client(principal, cursor=self.board.last_seq)
        self.clients.add(client)
        self.metrics.ws_clients.set(len(self.clients))
        if principal.token_id in self.revoked:
            client.drop(CLOSE_REVOKED, "token revoked")
        return client

    def remove(self, client: Client) -> None:
        self.clients.discard(client)
        self.metrics.ws_clients.set(len(self.clients))
        if client.close_code in (CLOSE_TOO_SLOW, CLOSE_REVOKED):
            self.metrics.ws_dropped.labels(reason=client.close_reason).inc()

    def revoke(self, revocation: Revocation) -> int:
        """Close every socket of a revoked token; how many. Called in sequence order:
        nothing later than the revocation has reached the board yet."""
        self.revoked.add(revocation.token_id)
        closed = 0
        for client in list(self.clients):
            if client.principal.token_id == revocation.token_id:
                client.drop(CLOSE_REVOKED, "token revoked")
                closed += 1
        if closed:
            log.info("token %s revoked: %d socket(s) closed", revocation.name, closed)
        return closed

    # --- the feed --------------------------------------------------------
    def publish(
        self, changes: Iterable[Change], cron: Mapping[int, CronEntry] | None = None
    ) -> None:
        """Put a batch on the board: its jobs, then ``cron``, its schedules and
        executions encoded (:meth:`CronFeed.entries`); no socket reads in between.
        A revocation closes its token's sockets before any later record goes on."""
        for change in changes:
            revocation = change.revocation
            if revocation is not None:
                self.revoke(revocation)
                continue
            self.board.put(change)
            self.metrics.feed_changes.inc()
        for entry in (cron or {}).values():
            self.board.put_cron(entry)
        if self._wake is None and self.clients:
            # The pending wake-up, if any, carries these changes too.
            loop = asyncio.get_running_loop()
            due = min(self._due(client) for client in self.clients)
            self._wake = loop.call_at(max(due, loop.time()), self._wake_due)

    def _due(self, client: Client) -> float:
        """When the client may wake again. An update after a quiet spell goes out at
        once (on the next loop turn, with whatever else the feed reads in this one).
        While changes stream in, a client wakes at most once per pace: each round
        then carries many updates per socket, instead of a round of tiny writes per
        feed read (the SQLite feed reads every few ms), which costs CPU and, once the
        loop is busy, latency too."""
        pace = self.batch_window if client.batch else self.flush_interval
        return client.woken_at + pace

    def _wake_due(self) -> None:
        self._wake = None
        loop = asyncio.get_running_loop()
        now, later = loop.time(), float("inf")
        for client in self.clients:
            if client.cursor >= self.board.last_seq:
                continue  # nothing new for it
            due = self._due(client)
            if due <= now:
                client.woken_at = now
                client.wake.set()
            else:
                later = min(later, due)
        if later != float("inf"):
            self._wake = loop.call_at(later, self._wake_due)

    async def _follow(self) -> None:
        """Publish the feed a batch at a time.

        A reader task queues what the feed yields. The feed yields a store page without
        awaiting in between, and a page never splits the records that share a seq (one
        transaction), so what is queued when this loop wakes is whole seq groups.
        Schedules and executions need lookups before they can be encoded; they are done
        before any change of the batch reaches the board, so a socket never reads half
        a group (its cursor would pass the rest). A batch without cron records, the
        job fan-out, publishes as before, without a lookup."""
        queue: asyncio.Queue[Change] = asyncio.Queue()
        reader = asyncio.create_task(self._read(queue), name="jobdeck-ws-feed-reader")
        try:
            while True:
                batch = [await queue.get()]
                while not queue.empty():
                    batch.append(queue.get_nowait())
                cron = None
                if any(change.job is None for change in batch):
                    cron = await self._encode_cron(batch)
                self.publish(batch, cron)
        finally:
            await stop_tasks(reader)

    async def _encode_cron(self, batch: list[Change]) -> dict[int, CronEntry]:
        try:
            return await self.cron_feed.entries(batch)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the jobs of the batch still go out
            log.warning("cron topic: could not encode a batch (%s)", exc)
            return {}

    async def _read(self, queue: asyncio.Queue[Change]) -> None:
        seq = self.seq
        while True:
            # Resume one seq back: records written in one transaction share a seq, and
            # the feed may have stopped half-way through such a group (replays are
            # harmless: the board keeps one entry per record).
            since = max(0, seq - 1)
            try:
                async for change in self.deck.subscribe(since=since, topics=None):
                    queue.put_nowait(change)
                    seq = change.seq
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("change feed interrupted (%s); resuming from seq %s", exc, seq)
            await asyncio.sleep(1.0)

    async def catch_up(self, client: Client, since: int) -> list[str]:
        """Current state of every record the client may see that changed after
        ``since``, in seq order (every topic it subscribed to)."""
        messages: list[str] = []
        cursor, limit = since, CATCH_UP_PAGE
        while True:
            changes = await self.deck.changes_since(cursor, limit)
            full = len(changes) >= limit
            if full:
                # Jobs of one transaction share a seq: never split such a group
                # across pages; refetch the trailing group whole next time.
                last = changes[-1].seq
                whole = [c for c in changes if c.seq != last]
                if not whole:
                    limit *= 2
                    continue
                changes = whole
            revoked = _own_revocation(changes, client.principal.token_id)
            if revoked is not None:
                # The store may already hold what was written after the revocation;
                # the client gets nothing past it.
                changes = changes[:revoked]
                client.drop(CLOSE_REVOKED, "token revoked")
                full = False
            if client.cron:
                cron = await self._encode_cron(changes)
                for index, change in enumerate(changes):
                    job = change.job
                    if job is not None:
                        if client.jobs and client.wants(job):
                            messages.append(encode_change(change))
                    elif index in cron and cron[index].visible_to(client.principal):
                        messages.append(cron[index].text)
            elif client.jobs:
                messages.extend(
                    encode_change(c) for c in changes if c.job is not None and client.wants(c.job)
                )
            if changes:
                cursor = changes[-1].seq
            if not full:
                break
        # Board entries up to here are covered by what the store just returned.
        client.cursor = max(client.cursor, cursor)
        return messages


def _own_revocation(changes: Sequence[Change], token_id: int | None) -> int | None:
    """The index of the revocation of ``token_id`` among ``changes``, or None."""
    if token_id is None:
        return None
    for index, change in enumerate(changes):
        revocation = change.revocation
        if revocation is not None and revocation.token_id == token_id:
            return index
    return None
