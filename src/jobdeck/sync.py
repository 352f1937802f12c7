"""SyncJobDeck: the JobDeck for sync code (Django, Flask, scripts).

The same methods with the same names, blocking. A private event loop runs in a
background thread; every call is handed to it and waited for. Handlers registered
here run in that loop (async ones) or in its thread pool (sync ones) when
``run_worker`` or ``drain`` is called. Close the deck (or use ``with``) to stop the
thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Collection, Coroutine, Iterator, Mapping, Sequence
from typing import Any, TypeVar, Unpack

from jobdeck.clock import Clock
from jobdeck.config import Settings
from jobdeck.deck import JOB_FIELDS, JobDeck, JobHandle
from jobdeck.domain.feed import JOBS, Change
from jobdeck.domain.job import HistoryEvent, Job
from jobdeck.errors import JobdeckError
from jobdeck.handlers.base import BaseJobHandler
from jobdeck.inputs import JobFilters, ScheduleOptions
from jobdeck.runtime.maintenance import MaintenanceReport

T = TypeVar("T")


class SyncJobHandle:
    """The blocking twin of :class:`JobHandle`."""

    __slots__ = ("_handle", "_sync")

    def __init__(self, sync: SyncJobDeck, handle: JobHandle) -> None:
        self._sync = sync
        self._handle = handle

    @property
    def snapshot(self) -> Job:
        return self._handle.snapshot

    def __getattr__(self, name: str) -> Any:
        if name in JOB_FIELDS:
            return getattr(self._handle.snapshot, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | JOB_FIELDS)

    def __repr__(self) -> str:
        return "<Sync" + repr(self._handle)[1:]

    def start(self) -> SyncJobHandle:
        self._sync._call(self._handle.start())
        return self

    def update_progress(
        self,
        progress: float,
        metadata_or_message: Mapping[str, Any] | str | None = None,
        message: str | None = None,
    ) -> SyncJobHandle:
        self._sync._call(self._handle.update_progress(progress, metadata_or_message, message))
        return self

    def complete(self, result: Any = None) -> SyncJobHandle:
        self._sync._call(self._handle.complete(result))
        return self

    def fail(self, error: str) -> SyncJobHandle:
        self._sync._call(self._handle.fail(error))
        return self

    def cancel(self) -> SyncJobHandle:
        self._sync._call(self._handle.cancel())
        return self

    def retry(self) -> SyncJobHandle:
        self._sync._call(self._handle.retry())
        return self

    def refresh(self) -> SyncJobHandle:
        self._sync._call(self._handle.refresh())
        return self


class SyncJobDeck:
    def __init__(
        self,
        database_url: str | None = None,
        *,
        settings: Settings | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.deck = JobDeck(database_url, settings=settings, clock=clock)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="jobdeck-sync", daemon=True
        )
        self._thread.start()
        self._closed = False

    @classmethod
    def from_env(cls, **overrides: Any) -> SyncJobDeck:
        return cls(settings=Settings.from_env(**overrides))

    @property
    def settings(self) -> Settings:
        return self.deck.settings

    @property
    def clock(self) -> Clock:
        return self.deck.clock

    def _call(self, work: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            work.close()
            raise JobdeckError("the deck is closed")
        if threading.current_thread() is self._thread:
            work.close()
            raise JobdeckError("SyncJobDeck cannot be used from its own event loop")
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()

    def _wrap(self, handle: JobHandle) -> SyncJobHandle:
        return SyncJobHandle(self, handle)

    # --- lifecycle ----------------------------------------------------------

    def open(self) -> None:
        self._call(self.deck.open())

    def close(self) -> None:
        if self._closed:
            return
        try:
            self._call(self.deck.close())
        finally:
            self._closed = True
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    def __enter__(self) -> SyncJobDeck:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- the JobDeck methods, blocking ------------------------------------

    def register_job_type(self, type: str, handler: type[BaseJobHandler]) -> None:
        self.deck.register_job_type(type, handler)

    def job_types(self) -> list[str]:
        return self.deck.job_types()

    def create_job(self, **options: Any) -> SyncJobHandle:
        """Same arguments as :meth:`JobDeck.create_job`."""
        return self._wrap(self._call(self.deck.create_job(**options)))

    def schedule_job(
        self,
        type: str,
        payload: Mapping[str, Any] | None = None,
        **options: Unpack[ScheduleOptions],
    ) -> SyncJobHandle:
        """Same arguments as :meth:`JobDeck.schedule_job`."""
        return self._wrap(self._call(self.deck.schedule_job(type, payload, **options)))

    def schedule_jobs(self, jobs: Sequence[Mapping[str, Any]]) -> list[SyncJobHandle]:
        return [self._wrap(handle) for handle in self._call(self.deck.schedule_jobs(jobs))]

    def get_job(self, job_id: str) -> SyncJobHandle | None:
        handle = self._call(self.deck.get_job(job_id))
        return self._wrap(handle) if handle is not None else None

    def get_jobs(
        self, *, limit: int = 100, offset: int = 0, **filters: Unpack[JobFilters]
    ) -> list[SyncJobHandle]:
        jobs = self._call(self.deck.get_jobs(limit=limit, offset=offset, **filters))
        return [self._wrap(handle) for handle in jobs]

    def count_jobs(self, **filters: Unpack[JobFilters]) -> int:
        return self._call(self.deck.count_jobs(**filters))

    def count_by_status(self, **filters: Unpack[JobFilters]) -> dict[str, int]:
        return self._call(self.deck.count_by_status(**filters))

    def get_history(self, job_id: str, limit: int = 500) -> list[HistoryEvent]:
        return self._call(self.deck.get_history(job_id, limit))

    def start_job(self, job_id: str) -> SyncJobHandle:
        return self._wrap(self._call(self.deck.start_job(job_id)))

    def update_progress(
        self,
        job_id: str,
        progress: float,
        metadata: Mapping[str, Any] | str | None = None,
        message: str | None = None,
    ) -> SyncJobHandle:
        return self._wrap(
            self._call(self.deck.update_progress(job_id, progress, metadata, message))
        )

    def complete_job(self, job_id: str, result: Any = None) -> SyncJobHandle:
        return self._wrap(self._call(self.deck.complete_job(job_id, result)))

    def fail_job(self, job_id: str, error: str) -> SyncJobHandle:
        return self._wrap(self._call(self.deck.fail_job(job_id, error)))

    def cancel_job(self, job_id: str) -> SyncJobHandle:
        return self._wrap(self._call(self.deck.cancel_job(job_id)))

    def retry_job(self, job_id: str) -> SyncJobHandle:
        return self._wrap(self._call(self.deck.retry_job(job_id)))

    def delete_job(self, job_id: str) -> None:
        self._call(self.deck.delete_job(job_id))

    def cleanup_old_jobs(self, days: float = 30) -> int:
        return self._call(self.deck.cleanup_old_jobs(days))

    def subscribe(
        self, since: int = 0, *, topics: Collection[str] | None = (JOBS,)
    ) -> Iterator[Change]:
        """Blocks for each next change (jobs only unless ``topics`` says otherwise, as
        :meth:`JobDeck.subscribe`); close the iterator to stop following."""
        feed = self.deck.subscribe(since, topics=topics)
        try:
            while True:
                try:
                    yield self._call(feed.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            if not self._closed:
                self._call(feed.aclose())

    def last_seq(self) -> int:
        return self._call(self.deck.last_seq())

    def drain(self, concurrency: int | None = None) -> int:
        return self._call(self.deck.drain(concurrency))

    def run_maintenance(self) -> MaintenanceReport:
        return self._call(self.deck.run_maintenance())

    def run_worker(
        self,
        concurrency: int | None = None,
        *,
        stop: threading.Event | None = None,
        maintenance: bool = True,
    ) -> None:
        """Block running jobs until ``stop`` is set or Ctrl-C (both graceful)."""
        if self._closed:
            raise JobdeckError("the deck is closed")
        loop = self._loop
        stopping = asyncio.Event()

        def ask_stop() -> None:
            if not loop.is_closed():
                loop.call_soon_threadsafe(stopping.set)

        def watch(stop: threading.Event) -> None:
            stop.wait()
            ask_stop()

        if stop is not None:
            threading.Thread(target=watch, args=(stop,), daemon=True).start()
        work = asyncio.run_coroutine_threadsafe(
            self.deck.run_worker(concurrency, stop=stopping, maintenance=maintenance), loop
        )
        try:
            work.result()
        except KeyboardInterrupt:
            ask_stop()
            work.result()
            raise
