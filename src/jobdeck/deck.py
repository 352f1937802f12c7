"""JobDeck: the facade plugins, the API and the CLI use (SPEC §3, docs/internals.md).

It validates input, asks the store for transitions and wraps jobs in
:class:`JobHandle`. It opens its store lazily on first use; ``async with deck``
or ``open()``/``close()`` make that explicit.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict, Unpack

from jobdeck.clock import Clock, SystemClock
from jobdeck.config import Settings
from jobdeck.domain.job import (
    Change,
    HistoryEvent,
    Job,
    JobFilter,
    Mode,
    NewJob,
    Priority,
    Status,
    construct,
)
from jobdeck.domain.progress import clamp_progress, split_progress_args
from jobdeck.errors import JobdeckError, JobNotFound, ValidationError
from jobdeck.events.feed import follow
from jobdeck.handlers.base import BaseJobHandler
from jobdeck.handlers.registry import Registry
from jobdeck.runtime.executor import METADATA_LIMIT, RESULT_LIMIT, check_json, json_text
from jobdeck.runtime.maintenance import Maintenance, MaintenanceReport
from jobdeck.runtime.worker import Worker
from jobdeck.store import open_store
from jobdeck.store.base import Store
from jobdeck.tokens import Tokens

PAYLOAD_LIMIT = 1024 * 1024
JOB_FIELDS = frozenset(f.name for f in fields(Job))


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


class ScheduleOptions(TypedDict, total=False):
    """The keyword options of :meth:`JobDeck.schedule_job` (and of each dict given to
    ``schedule_jobs``); defaults: priority "normal", max_retries 3, delay 0, notification on."""

    priority: str | int | Priority
    max_retries: int
    delay: float | timedelta
    run_at: datetime | None
    name: str | None
    description: str | None
    source: str | None
    metadata: Mapping[str, Any] | None
    store_id: str | None
    user_id: str | None
    plugin_id: str | None
    retry_delays: Sequence[float] | None
    timeout: int | None
    icon_svg: str | None
    show_notification: bool
    cron_job_id: int | None


SCHEDULE_OPTIONS = frozenset(ScheduleOptions.__annotations__)


class JobDeck:
    def __init__(
        self,
        database_url: str | None = None,
        *,
        settings: Settings | None = None,
        clock: Clock | None = None,
        store: Store | None = None,
    ) -> None:
        """``store``: an already open store to use (the caller opens and closes it)."""
        settings = settings or Settings.from_env()
        if database_url is not None:
            settings = settings.with_(database_url=database_url)
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.registry = Registry()
        self._store = store
        self._owns_store = store is None
        self._opening: asyncio.Lock | None = None
        self._workers: set[Worker] = set()
        self.tokens = Tokens(self._opened, lambda: self.clock.now())

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
                    self.settings.database_url, history_limit=self.settings.history_limit
                )
        return self._store

    # --- handlers -------------------------------------------------------

    def register_job_type(self, type: str, handler: type[BaseJobHandler]) -> None:
        """Raises DuplicateJobType when ``type`` already has a handler."""
        self.registry.register(type, handler)

    def job_types(self) -> list[str]:
        return self.registry.types()

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
    ) -> JobHandle:
        """A tracked job: its creator drives it (start, progress, complete/fail)."""
        meta, meta_json = _metadata(metadata)
        new = NewJob(
            name=_required(name, "name"),
            type=_required(type, "type"),
            mode=Mode.TRACKED,
            description=_text(description, "description"),
            metadata=meta,
            icon_svg=_icon(icon_svg),
            source=_text(source, "source"),
            plugin_id=_text(plugin_id, "plugin_id"),
            store_id=_text(store_id, "store_id"),
            user_id=_text(user_id, "user_id"),
            show_notification=_flag(show_notification, "show_notification"),
            max_retries=0,
            timeout=_timeout(timeout, self.settings.tracked_timeout_seconds),
            metadata_json=meta_json,
        )
        [job] = await self._insert([new])
        return job

    async def schedule_job(
        self,
        type: str,
        payload: Mapping[str, Any] | None = None,
        **options: Unpack[ScheduleOptions],
    ) -> JobHandle:
        """A queued job, run by a worker with the handler registered for ``type``.

        Raises UnknownJobType when no handler is registered for it.
        """
        [job] = await self._insert([self._queued(type, payload, options)])
        return job

    async def schedule_jobs(self, jobs: Sequence[Mapping[str, Any]]) -> list[JobHandle]:
        """Schedule many queued jobs (each a dict of schedule_job's arguments) in one
        transaction: all are valid and written, or none is."""
        prepared = []
        for index, spec in enumerate(jobs):
            if not isinstance(spec, Mapping):
                raise ValidationError(f"job {index}: must be an object")
            options = {k: v for k, v in spec.items() if k not in ("type", "payload")}
            try:
                prepared.append(self._queued(spec.get("type"), spec.get("payload"), options))
            except ValidationError as exc:
                raise type(exc)(f"job {index}: {exc.message}") from None
        return await self._insert(prepared)

    def _queued(
        self, type: Any, payload: Mapping[str, Any] | None, options: Mapping[str, Any]
    ) -> NewJob:
        unknown = sorted(set(options) - SCHEDULE_OPTIONS)
        if unknown:
            raise ValidationError(f"unknown argument(s): {', '.join(unknown)}")
        delay, run_at = options.get("delay", 0), options.get("run_at")
        job_type = _required(type, "type")
        handler = self.registry.get(job_type)
        if run_at is not None and delay not in (0, timedelta(0)):
            raise ValidationError("give either delay or run_at, not both")
        default_timeout = (
            handler.timeout if handler.timeout is not None else self.settings.queued_timeout_seconds
        )
        body, body_json = _payload(payload)
        meta, meta_json = _metadata(options.get("metadata"))
        # Every field is given: construct skips the frozen dataclass's per-field setattr.
        return construct(
            NewJob,
            {
                "name": _text(options.get("name"), "name") or job_type,
                "type": job_type,
                "mode": Mode.QUEUED,
                "priority": Priority.parse(options.get("priority", "normal")),
                "description": _text(options.get("description"), "description"),
                "payload": body,
                "metadata": meta,
                "icon_svg": _icon(options.get("icon_svg")),
                "source": _text(options.get("source"), "source"),
                "plugin_id": _text(options.get("plugin_id"), "plugin_id"),
                "store_id": _text(options.get("store_id"), "store_id"),
                "user_id": _text(options.get("user_id"), "user_id"),
                "show_notification": _flag(
                    options.get("show_notification", True), "show_notification"
                ),
                "run_at": _run_at(delay, run_at, self.clock.now()),
                "max_retries": _count(options.get("max_retries", 3), "max_retries"),
                "timeout": _timeout(options.get("timeout"), default_timeout),
                "retry_delays": _retry_delays(options.get("retry_delays")),
                "cron_job_id": options.get("cron_job_id"),
                "payload_json": body_json,
                "metadata_json": meta_json,
            },
        )

    async def _insert(self, new: list[NewJob]) -> list[JobHandle]:
        store = await self._opened()
        jobs = await store.insert_jobs(new, self.clock.now())
        return [JobHandle(self, job) for job in jobs]

    # --- reading ----------------------------------------------------------

    async def get_job(self, job_id: str) -> JobHandle | None:
        store = await self._opened()
        job = await store.get_job(job_id) if isinstance(job_id, str) else None
        return JobHandle(self, job) if job is not None else None

    async def get_jobs(
        self,
        *,
        status: str | Sequence[str] | None = None,
        type: str | None = None,
        source: str | None = None,
        store_id: str | None = None,
        plugin_id: str | None = None,
        mode: str | None = None,
        q: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[JobHandle]:
        """Filters first, then newest first, then ``limit``/``offset``."""
        where = _filter(status, type, source, store_id, plugin_id, mode, q)
        store = await self._opened()
        jobs = await store.list_jobs(where, _count(limit, "limit"), _count(offset, "offset"))
        return [JobHandle(self, job) for job in jobs]

    async def count_jobs(
        self,
        *,
        status: str | Sequence[str] | None = None,
        type: str | None = None,
        source: str | None = None,
        store_id: str | None = None,
        plugin_id: str | None = None,
        mode: str | None = None,
        q: str | None = None,
    ) -> int:
        where = _filter(status, type, source, store_id, plugin_id, mode, q)
        return await (await self._opened()).count_jobs(where)

    async def count_by_status(
        self,
        *,
        status: str | Sequence[str] | None = None,
        type: str | None = None,
        source: str | None = None,
        store_id: str | None = None,
        plugin_id: str | None = None,
        mode: str | None = None,
        q: str | None = None,
    ) -> dict[str, int]:
        """Every status (zero when absent) → its count."""
        where = _filter(status, type, source, store_id, plugin_id, mode, q)
        counts = await (await self._opened()).count_by_status(where)
        return {s.value: int(counts.get(s, 0)) for s in Status}

    async def get_history(self, job_id: str, limit: int = 500) -> list[HistoryEvent]:
        """Oldest first. JobNotFound for an unknown job."""
        store = await self._opened()
        if await store.get_job(job_id) is None:
            raise JobNotFound(f"no job {job_id!r}")
        return await store.get_history(job_id, _count(limit, "limit"))

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
        """``metadata`` may be the message instead (seed 2's ``update_progress(10, "…")``)."""
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
        message = _text(error if isinstance(error, str) else str(error), "error") or "Failed"
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

    # --- change feed --------------------------------------------------------

    async def subscribe(self, since: int = 0) -> AsyncGenerator[Change, None]:
        """Every change after ``since``: catch-up first, then live, until cancelled."""
        store = await self._opened()
        async for change in follow(store, since, poll_seconds=self.settings.poll_seconds):
            yield change

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
        store = await self._opened()
        worker = Worker(
            store,
            self.registry,
            settings=self.settings,
            clock=self.clock,
            concurrency=concurrency,
        )
        upkeep = None
        if maintenance:
            loop = Maintenance(store, settings=self.settings, clock=self.clock)
            upkeep = asyncio.create_task(loop.run())
        self._workers.add(worker)
        try:
            await worker.run(stop)
        finally:
            self._workers.discard(worker)
            if upkeep is not None:
                upkeep.cancel()
                await asyncio.gather(upkeep, return_exceptions=True)

    async def drain(self, concurrency: int | None = None) -> int:
        """Run jobs that are ready now (run_at <= now) until none is left, including
        retries whose backoff has already passed; returns how many attempts ran.
        Jobs due later are left pending."""
        store = await self._opened()
        worker = Worker(
            store,
            self.registry,
            settings=self.settings,
            clock=self.clock,
            concurrency=concurrency,
        )
        self._workers.add(worker)
        try:
            return await worker.drain()
        finally:
            self._workers.discard(worker)

    async def run_maintenance(self) -> MaintenanceReport:
        """One maintenance pass (rescue expired leases, time out tracked jobs, retention)."""
        store = await self._opened()
        return await Maintenance(store, settings=self.settings, clock=self.clock).run_once()


# --- input validation ---------------------------------------------------------


def _text(value: Any, what: str, *, required: bool = False) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationError(f"{what} is required")
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be a string")
    return value


def _required(value: Any, what: str) -> str:
    text = _text(value, what, required=True)
    assert text is not None
    return text


def _flag(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"{what} must be true or false")
    return value


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(f"{what} must be an integer >= 0")
    return value


def _timeout(value: Any, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return _count(value, "timeout")


def _metadata(value: Mapping[str, Any] | None) -> tuple[dict[str, Any], str]:
    return _json_object(value, "metadata", METADATA_LIMIT)


def _payload(value: Mapping[str, Any] | None) -> tuple[dict[str, Any], str]:
    return _json_object(value, "payload", PAYLOAD_LIMIT)


def _json_object(
    value: Mapping[str, Any] | None, what: str, limit: int
) -> tuple[dict[str, Any], str]:
    """A copy of ``value`` and its JSON text (checked for size; kept on NewJob so the
    store does not encode it again)."""
    if value is None:
        return {}, "{}"
    if not isinstance(value, Mapping):
        raise ValidationError(f"{what} must be an object")
    copy = dict(value)
    return copy, json_text(copy, what, limit)


def _icon(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    from jobdeck.domain.svg import sanitize_svg

    return sanitize_svg(value)


def _run_at(delay: Any, run_at: Any, now: datetime) -> datetime:
    if run_at is None and delay == 0 and not isinstance(delay, bool | timedelta):
        return now  # the common case, kept cheap for bulk enqueue
    if run_at is not None:
        if not isinstance(run_at, datetime):
            raise ValidationError("run_at must be a datetime")
        return run_at if run_at.tzinfo is not None else run_at.replace(tzinfo=UTC)
    if isinstance(delay, timedelta):
        seconds = delay.total_seconds()
    elif isinstance(delay, int | float) and not isinstance(delay, bool):
        seconds = float(delay)
    else:
        raise ValidationError("delay must be a number of seconds or a timedelta")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValidationError("delay must be >= 0 seconds")
    return now + timedelta(seconds=seconds)


def _retry_delays(value: Sequence[float] | None) -> tuple[float, ...] | None:
    if value is None:
        return None
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or not value:
        raise ValidationError("retry_delays must be a non-empty list of seconds")
    delays = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float) or not item >= 0:
            raise ValidationError("retry_delays must be numbers of seconds >= 0")
        delays.append(float(item))
    return tuple(delays)


def _filter(
    status: str | Sequence[str] | None,
    type: str | None,
    source: str | None,
    store_id: str | None,
    plugin_id: str | None,
    mode: str | None,
    q: str | None,
) -> JobFilter:
    names = [status] if isinstance(status, str) else list(status or ())
    try:
        statuses = tuple(Status(name) for name in names)
        job_mode = Mode(mode) if mode else None
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    return JobFilter(
        status=statuses,
        type=_text(type, "type"),
        source=_text(source, "source"),
        store_id=_text(store_id, "store_id"),
        plugin_id=_text(plugin_id, "plugin_id"),
        mode=job_mode,
        text=_text(q, "q"),
    )
