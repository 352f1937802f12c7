"""JobDeck: the facade plugins, the API and the CLI use (README.md; docs/internals.md).

It validates input, asks the store for transitions and wraps jobs in
:class:`JobHandle`. It opens its store lazily on first use; ``async with deck``
or ``open()``/``close()`` make that explicit.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncGenerator, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any, Unpack, overload

from jobdeck import inputs
from jobdeck.clock import Clock, SystemClock
from jobdeck.config import Settings
from jobdeck.crons import Crons, server_instance
from jobdeck.domain.feed import JOBS, Change
from jobdeck.domain.job import (
    LOCAL_CREATOR,
    HistoryEvent,
    Job,
    Mode,
    NewJob,
    Status,
)
from jobdeck.domain.listing import FinishedCount, JobSort, WorkerPresence
from jobdeck.domain.progress import clamp_progress, split_progress_args
from jobdeck.domain.schedule import CronJob
from jobdeck.domain.values import METADATA_LIMIT, RESULT_LIMIT, check_json, storable
from jobdeck.errors import JobdeckError, JobNotFound, ValidationError
from jobdeck.events.feed import follow
from jobdeck.events.tasks import stop_tasks
from jobdeck.handlers.base import BaseJobHandler
from jobdeck.handlers.builtin import register_builtins
from jobdeck.handlers.registry import Registry
from jobdeck.handlers.services import CleanupTarget, Services
from jobdeck.inputs import JobFilters, ScheduleOptions
from jobdeck.runtime.maintenance import Maintenance, MaintenanceReport
from jobdeck.runtime.worker import Worker
from jobdeck.store import open_store
from jobdeck.store.base import Store
from jobdeck.tokens import Tokens

JOB_FIELDS = frozenset(f.name for f in fields(Job))
_JOB_KEYS = ("type", "payload")  # of a schedule_jobs spec; the other keys are options


class JobHandle:
    """A job and the verbs that drive it. Every :class:`Job` field is an attribute
    (of the last snapshot); each verb refreshes the snapshot and returns the handle."""

    __slots__ = ("_deck", "_job")

    def __init__(self, deck: JobDeck, job: Job) -> None:
        self._deck = deck
        self._job = job

    @property
    def snapshot(self) -> Job:
        return self._job

    def __getattr__(self, name: str) -> Any:
        if name in JOB_FIELDS:
            return getattr(self._job, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | JOB_FIELDS)

    def __repr__(self) -> str:
        job = self._job
        return f"<JobHandle {job.job_id} type={job.type!r} status={job.status.value}>"

    async def start(self) -> JobHandle:
        return self._take(await self._deck.start_job(self._job.job_id))

    async def update_progress(
        self,
        progress: float,
        metadata_or_message: Mapping[str, Any] | str | None = None,
        message: str | None = None,
    ) -> JobHandle:
        handle = await self._deck.update_progress(
            self._job.job_id, progress, metadata_or_message, message
        )
        return self._take(handle)

    async def complete(self, result: Any = None) -> JobHandle:
        return self._take(await self._deck.complete_job(self._job.job_id, result))

    async def fail(self, error: str) -> JobHandle:
        return self._take(await self._deck.fail_job(self._job.job_id, error))

    async def cancel(self) -> JobHandle:
        return self._take(await self._deck.cancel_job(self._job.job_id))

    async def retry(self) -> JobHandle:
        return self._take(await self._deck.retry_job(self._job.job_id))

    async def refresh(self) -> JobHandle:
        handle = await self._deck.get_job(self._job.job_id)
        if handle is None:
            raise JobNotFound(f"job {self._job.job_id} no longer exists")
        return self._take(handle)

    def _take(self, other: JobHandle) -> JobHandle:
        self._job = other._job
        return self


class _Scheduled(Sequence[NewJob]):
    """The NewJobs of one ``schedule_jobs`` call, each checked and made when the store
    first reads it, in order.

    PostgreSQL's bulk insert reads them while the server takes the transaction's seq
    and ids (docs/postgres.md, "What one job costs"), so their checks cost the call no
    time of their own. A job that fails them raises ValidationError from that read,
    before anything commits: all are written, or none is.
    """

    __slots__ = ("_created_by", "_deck", "_kinds", "_made", "_now", "_specs")

    def __init__(
        self, deck: JobDeck, specs: Iterable[Mapping[str, Any]], now: datetime, created_by: str
    ) -> None:
        self._deck = deck
        self._specs = list(specs)  # as given now, whatever the caller does meanwhile
        self._now = now
        self._created_by = created_by
        self._made: list[NewJob] = []
        # The type's checks, handler and defaults, once per type given (most calls
        # give one): a type that is not a string has none, and fails its check.
        self._kinds: dict[str, inputs.QueuedJobs] = {}

    def __len__(self) -> int:
        return len(self._specs)

    @overload
    def __getitem__(self, index: int) -> NewJob: ...

    @overload
    def __getitem__(self, index: slice) -> list[NewJob]: ...

    def __getitem__(self, index: int | slice) -> NewJob | list[NewJob]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("job index out of range")
        made = self._made
        while len(made) <= index:
            made.append(self._make(len(made)))
        return made[index]

    def __iter__(self) -> Iterator[NewJob]:
        if len(self._made) == len(self._specs):
            return iter(self._made)  # all made: a list's iterator (SQLite reads them often)
        return self._making()

    def _making(self) -> Iterator[NewJob]:
        # By index, so readers that overlap make each job once (for one thread).
        for index in range(len(self._specs)):
            yield self[index]

    def _make(self, index: int) -> NewJob:
        spec = self._specs[index]
        if type(spec) is not dict and not isinstance(spec, Mapping):
            raise ValidationError(f"job {index}: must be an object")
        # Most specs hold only a type and a payload: no options dict to build then.
        given = len(spec) - ("type" in spec) - ("payload" in spec)
        options = {k: v for k, v in spec.items() if k not in _JOB_KEYS} if given else {}
        job_type = spec.get("type")
        try:
            kind = self._kinds.get(job_type) if type(job_type) is str else None
            if kind is None:
                kind = self._deck._queued_kind(job_type, self._now, self._created_by)
                if type(job_type) is str:
                    self._kinds[job_type] = kind
            return kind(spec.get("payload"), options)
        except ValidationError as exc:
            raise type(exc)(f"job {index}: {exc.message}") from None


@contextlib.contextmanager
def _collection_paused() -> Iterator[None]:
    """The garbage collector off during one bulk. A bulk's jobs and handles are
    thousands of tracked objects that outlive the call: collected every 700 of them,
    a bulk went through a dozen young collections, was promoted into the older
    generations and set off a full collection every few calls (docs/postgres.md,
    "Garbage collection during a bulk"). Paused, a bulk costs about one young
    collection after it, and the older ones come about a fifth as often, when most
    bulks are long freed. Left as it is when it was off already (the application's
    choice, or another bulk's pause)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class JobDeck:
    def __init__(
        self,
        database_url: str | None = None,
        *,
        settings: Settings | None = None,
        clock: Clock | None = None,
        store: Store | None = None,
        listen: Collection[str] | None = None,
    ) -> None:
        """``store``: an already open store to use (the caller opens and closes it).
        ``listen``: the wake-ups this process needs from other processes on PostgreSQL
        (``jobs``, ``enqueue``, ``cron``, ``cancel``; None: all; ignored with ``store``).
        Without ``jobs``, a feed subscriber here learns of other processes' writes only
        by polling (``jobdeck worker`` listens for ``enqueue`` and ``cancel`` only;
        docs/postgres.md, "Wake-ups")."""
        settings = settings or Settings.from_env()
        if database_url is not None:
            settings = settings.with_(database_url=database_url)
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.registry = Registry()
        register_builtins(self.registry)
        self._store = store
        self._owns_store = store is None
        self._listen = listen
        self._opening: asyncio.Lock | None = None
        self._workers: set[Worker] = set()
        self.tokens = Tokens(self._opened, lambda: self.clock.now())
        # Handed to every handler through its context (docs/builtin-types.md).
        self.services = Services(
            self.settings, self.clock, self._opened, identities=self.tokens.principal_for
        )
        self.crons = Crons(self._opened, self.registry, self.services, lambda: self.clock.now())

    @classmethod
    def from_env(cls, **overrides: Any) -> JobDeck:
        """Settings from ``JOBDECK_*`` variables; keyword arguments override them."""
        return cls(settings=Settings.from_env(**overrides))

    # --- lifecycle --------------------------------------------------------

    @property
    def store(self) -> Store:
        if self._store is None:
            raise JobdeckError("the deck is not open yet: await deck.open() first")
        return self._store

    @property
    def workers(self) -> list[Worker]:
        """Workers running in this process through :meth:`run_worker` or :meth:`drain`
        (for their stats; a cancel made through this deck reaches them at once)."""
        return list(self._workers)

    async def open(self) -> None:
        await self._opened()

    async def close(self) -> None:
        await self.services.aclose()
        if self._store is not None and self._owns_store:
            store, self._store = self._store, None
            await store.close()

    async def __aenter__(self) -> JobDeck:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def schema_version(self) -> int:
        """The schema version of the open database (opening it migrates it)."""
        return await (await self._opened()).schema_version()

    async def _opened(self) -> Store:
        if self._store is not None:
            return self._store
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._store is None:
                self._store = await open_store(
                    self.settings.database_url,
                    history_limit=self.settings.history_limit,
                    commit_watch_seconds=self.settings.commit_watch_seconds,
                    listen=self._listen,
                )
        return self._store

    # --- handlers -------------------------------------------------------

    def register_job_type(self, type: str, handler: type[BaseJobHandler]) -> None:
        """Raises DuplicateJobType when ``type`` already has a handler."""
        self.registry.register(type, handler)

    def job_types(self) -> list[str]:
        return self.registry.types()

    def register_cleanup_target(self, name: str, target: CleanupTarget) -> None:
        """A ``cleanup`` job target: ``await target(before, statuses)`` → rows removed."""
        self.services.add_cleanup_target(name, target)

    def add_template_dir(self, path: str) -> None:
        """A folder of ``email`` templates, searched after JOBDECK_TEMPLATES_DIR."""
        self.services.add_template_dir(path)

    # --- creating jobs ----------------------------------------------------

    async def create_job(
        self,
        *,
        name: str,
        type: str,
        description: str | None = None,
        source: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        icon_svg: str | None = None,
        show_notification: bool = True,
        timeout: int | None = None,
        store_id: str | None = None,
        plugin_id: str | None = None,
        user_id: str | None = None,
        created_by: str = LOCAL_CREATOR,
    ) -> JobHandle:
        """A tracked job: its creator drives it (start, progress, complete/fail).

        ``created_by`` is for servers (the API passes the calling token's, plugin hooks
        ``plugin:{name}``); jobs of the Python API are ``local`` (docs/api.md)."""
        meta, meta_json = inputs.metadata(metadata)
        new = NewJob(
            name=inputs.required(name, "name"),
            type=inputs.required(type, "type"),
            mode=Mode.TRACKED,
            description=inputs.text(description, "description"),
            metadata=meta,
            icon_svg=inputs.icon(icon_svg),
            source=inputs.text(source, "source"),
            plugin_id=inputs.text(plugin_id, "plugin_id"),
            store_id=inputs.text(store_id, "store_id"),
            user_id=inputs.text(user_id, "user_id"),
            created_by=inputs.required(created_by, "created_by"),
            show_notification=inputs.flag(show_notification, "show_notification"),
            max_retries=0,
            timeout=inputs.timeout(timeout, self.settings.tracked_timeout_seconds),
            metadata_json=meta_json,
        )
        [job] = await self._insert([new], self.clock.now())
        return job

    async def schedule_job(
        self,
        type: str,
        payload: Mapping[str, Any] | None = None,
        *,
        created_by: str = LOCAL_CREATOR,
        **options: Unpack[ScheduleOptions],
    ) -> JobHandle:
        """A queued job, run by a worker with the handler registered for ``type``.

        Raises UnknownJobType when no handler is registered for it. ``created_by``: as
        for :meth:`create_job`.
        """
        now = self.clock.now()
        new = self._queued(type, payload, options, now, created_by)
        [job] = await self._insert([new], now)
        return job

    async def schedule_jobs(
        self, jobs: Sequence[Mapping[str, Any]], *, created_by: str = LOCAL_CREATOR
    ) -> list[JobHandle]:
        """Schedule many queued jobs (each a dict of schedule_job's arguments) in one
        transaction: all are valid and written, or none is."""
        now = self.clock.now()
        with _collection_paused():
            return await self._insert(_Scheduled(self, jobs, now, created_by), now)

    def _queued(
        self,
        type: Any,
        payload: Mapping[str, Any] | None,
        options: Mapping[str, Any],
        now: datetime,
        created_by: str = LOCAL_CREATOR,
    ) -> NewJob:
        return self._queued_kind(type, now, created_by)(payload, options)

    def _queued_kind(self, type: Any, now: datetime, created_by: str) -> inputs.QueuedJobs:
        """The queued jobs of ``type`` made at ``now`` (UnknownJobType without a handler)."""
        job_type = inputs.required(type, "type")
        handler = self.registry.get(job_type)
        timeout = handler.timeout
        if timeout is None:
            timeout = self.settings.queued_timeout_seconds
        services = self.services
        return inputs.QueuedJobs(
            job_type,
            default_timeout=timeout,
            now=now,
            check=lambda payload: handler.check_config(payload, services),
            created_by=created_by,
        )

    async def _insert(self, new: Sequence[NewJob], now: datetime) -> list[JobHandle]:
        store = await self._opened()
        jobs = await store.insert_jobs(new, now)
        return [JobHandle(self, job) for job in jobs]

    # --- reading ----------------------------------------------------------

    async def get_job(self, job_id: str) -> JobHandle | None:
        store = await self._opened()
        job = await store.get_job(job_id) if isinstance(job_id, str) else None
        return JobHandle(self, job) if job is not None else None

    async def get_jobs(
        self,
        *,
        limit: int = 100,
        offset: int = 0,
        sort: str | None = None,
        **filters: Unpack[JobFilters],
    ) -> list[JobHandle]:
        """Filters first, then ``sort`` (default newest first; a key of
        ``domain.listing.JOB_SORT_KEYS``, ``-key`` for descending), then
        ``limit``/``offset``."""
        where = inputs.job_filter(filters)
        order = JobSort.parse(sort)
        store = await self._opened()
        jobs = await store.list_jobs(
            where, inputs.count(limit, "limit"), inputs.count(offset, "offset"), order
        )
        return [JobHandle(self, job) for job in jobs]

    async def count_jobs(self, **filters: Unpack[JobFilters]) -> int:
        where = inputs.job_filter(filters)
        return await (await self._opened()).count_jobs(where)

    async def count_by_status(self, **filters: Unpack[JobFilters]) -> dict[str, int]:
        """Every status (zero when absent) → its count."""
        where = inputs.job_filter(filters)
        counts = await (await self._opened()).count_by_status(where)
        return {s.value: int(counts.get(s, 0)) for s in Status}

    async def get_history(
        self, job_id: str, limit: int = 500, after: int | None = None
    ) -> list[HistoryEvent]:
        """Oldest first: the newest ``limit`` events, or with ``after`` (an event id)
        the first ``limit`` events after it. JobNotFound for an unknown job."""
        store = await self._opened()
        if await store.get_job(job_id) is None:
            raise JobNotFound(f"no job {job_id!r}")
        since = None if after is None else inputs.count(after, "after")
        return await store.get_history(job_id, inputs.count(limit, "limit"), since)

    async def finished_per_minute(
        self, minutes: int = 60, **filters: Unpack[JobFilters]
    ) -> list[FinishedCount]:
        """Jobs that finished (completed, failed, cancelled) in the last ``minutes``,
        per minute and status (only minutes with some)."""
        where = inputs.job_filter(filters)
        minute = self.clock.now().replace(second=0, microsecond=0)
        since = minute - timedelta(minutes=inputs.count(minutes, "minutes") - 1)
        return await (await self._opened()).finished_per_minute(where, since)

    async def workers_alive(self) -> list[WorkerPresence]:
        """Workers of any process on this database seen within three heartbeats."""
        since = self.clock.now() - timedelta(seconds=3 * self.settings.heartbeat_seconds)
        return await (await self._opened()).list_workers(since)

    # --- driving jobs -------------------------------------------------------

    async def start_job(self, job_id: str) -> JobHandle:
        store = await self._opened()
        return JobHandle(self, await store.start(job_id, self.clock.now()))

    async def update_progress(
        self,
        job_id: str,
        progress: float,
        metadata: Mapping[str, Any] | str | None = None,
        message: str | None = None,
    ) -> JobHandle:
        """``metadata`` may be the message instead: ``update_progress(10, "…")``
        (docs/progress.md)."""
        value = clamp_progress(progress)
        patch, text = split_progress_args(metadata, message)
        if patch is not None:
            check_json(patch, "metadata", METADATA_LIMIT)
        store = await self._opened()
        job = await store.update_progress(job_id, value, patch, text, self.clock.now())
        return JobHandle(self, job)

    async def complete_job(self, job_id: str, result: Any = None) -> JobHandle:
        check_json(result, "the result", RESULT_LIMIT)
        store = await self._opened()
        return JobHandle(self, await store.complete(job_id, result, self.clock.now()))

    async def fail_job(self, job_id: str, error: str) -> JobHandle:
        # Sanitised, not refused: recording a failure must not fail.
        message = inputs.text(storable(error if isinstance(error, str) else str(error)), "error")
        message = message or "Failed"
        store = await self._opened()
        return JobHandle(self, await store.fail(job_id, message, self.clock.now()))

    async def cancel_job(self, job_id: str) -> JobHandle:
        """Pending → cancelled; a running queued job → cancelling (its worker stops it)."""
        store = await self._opened()
        job = await store.cancel(job_id, self.clock.now())
        if job.status is Status.CANCELLING:
            for worker in self._workers:
                worker.cancelling(job_id)
        return JobHandle(self, job)

    async def retry_job(self, job_id: str) -> JobHandle:
        """A failed or cancelled queued job → pending, to run again now."""
        store = await self._opened()
        return JobHandle(self, await store.retry(job_id, self.clock.now()))

    async def delete_job(self, job_id: str) -> None:
        await (await self._opened()).delete_job(job_id)

    async def cleanup_old_jobs(self, days: float = 30) -> int:
        """Delete terminal jobs completed more than ``days`` ago; returns how many."""
        if isinstance(days, bool) or not isinstance(days, int | float) or not days >= 0:
            raise ValidationError("days must be a number >= 0")
        store = await self._opened()
        return await store.cleanup(self.clock.now() - timedelta(days=days))

    # --- cron schedules (more verbs on deck.crons) ----------------------------

    async def add_cron_job(self, **fields: Any) -> CronJob:
        """A cron schedule from the fields of ``POST /api/cron-jobs`` (name,
        cron_expression, job_type, configuration, timezone, …). ValidationError or
        UnknownJobType naming the problem; CronJobExists when the name is taken."""
        return await self.crons.create(**fields)

    async def run_scheduler(self, stop: asyncio.Event | None = None) -> None:
        """Fire due cron ticks until ``stop`` is set or the task is cancelled; any
        number of schedulers may run against one database."""
        # Here, not at the top: the scheduler imports croniter and dateutil, which a
        # worker never needs (docs/internals.md, "Imports that wait until used").
        from jobdeck.runtime.scheduler import Scheduler

        scheduler = Scheduler(await self._opened(), clock=self.clock, instance=server_instance())
        await scheduler.run(stop)

    # --- change feed --------------------------------------------------------

    async def subscribe(
        self, since: int = 0, *, topics: Collection[str] | None = (JOBS,)
    ) -> AsyncGenerator[Change, None]:
        """Every change after ``since``: catch-up first, then live, until cancelled.
        Jobs only by default; ``topics`` may add ``"cron"`` (schedules and executions),
        None means every record of the feed."""
        store = await self._opened()
        async for change in follow(store, since, poll_seconds=self.settings.poll_seconds):
            if topics is None or change.topic in topics:
                yield change

    async def changes_since(self, seq: int, limit: int) -> list[Change]:
        """One page of the change feed: records (jobs, schedules, executions) changed
        after ``seq``, in seq order, each in its current state (records written by one
        transaction may share a seq)."""
        return await (await self._opened()).changes_since(seq, limit)

    async def last_seq(self) -> int:
        return await (await self._opened()).last_seq()

    # --- running ------------------------------------------------------------

    async def run_worker(
        self,
        concurrency: int | None = None,
        *,
        stop: asyncio.Event | None = None,
        maintenance: bool = True,
    ) -> None:
        """Run queued jobs until cancelled (prompt: running attempts are released) or
        until ``stop`` is set (graceful: running jobs get ``shutdown_grace_seconds``).
        With ``maintenance`` it also rescues expired leases and fails timed-out tracked
        jobs every ``maintenance_seconds``."""
        worker = await self._worker(concurrency)
        upkeep = None
        if maintenance:
            upkeep = asyncio.create_task(self.run_maintenance_loop())
        self._workers.add(worker)
        try:
            await worker.run(stop)
        finally:
            self._workers.discard(worker)
            await stop_tasks(upkeep)

    async def drain(self, concurrency: int | None = None) -> int:
        """Run jobs that are ready now (run_at <= now) until none is left, including
        retries whose backoff has already passed; returns how many attempts ran.
        Jobs due later are left pending."""
        worker = await self._worker(concurrency)
        self._workers.add(worker)
        try:
            return await worker.drain()
        finally:
            self._workers.discard(worker)

    async def run_maintenance(self) -> MaintenanceReport:
        """One maintenance pass (rescue expired leases, time out tracked jobs, retention)."""
        return await (await self._maintenance()).run_once()

    async def run_maintenance_loop(self, stop: asyncio.Event | None = None) -> None:
        """Maintenance passes until ``stop`` is set, for a process that runs no worker
        (a worker runs them itself)."""
        await (await self._maintenance()).run(stop)

    async def _worker(self, concurrency: int | None) -> Worker:
        store = await self._opened()
        return Worker(
            store,
            self.registry,
            settings=self.settings,
            clock=self.clock,
            concurrency=concurrency,
            services=self.services,
        )

    async def _maintenance(self) -> Maintenance:
        return Maintenance(await self._opened(), settings=self.settings, clock=self.clock)
