"""The worker: claims queued jobs, runs N at once, heartbeats, applies outcomes (docs/lifecycle.md).

* Claims in batches (``limit`` = free slots), in the store's priority order.
* Waits for work on the store's ``enqueue`` signal (``mark()`` before the claim, so
  a job enqueued in between wakes it at once), polls every ``poll_seconds`` as a
  fallback, and sleeps no longer than until the next delayed job is due.
* Heartbeats every ``heartbeat_seconds``; the answer says which jobs are still ours
  and which are being cancelled. A running job asked to stop, or ended by someone
  else (the ``cancel`` signal, store/base.py ``wakes_workers``), brings the next
  heartbeat forward, so cancels are seen quickly without a query per job.
* Completions are written in batches (``complete_many``) a few milliseconds apart, or
  sooner with the next claim (``complete_and_claim``), in the same write.
* Writes rejected by the fence are counted in :attr:`Worker.stats`, never applied.

Timers here use the event loop's monotonic time; the injected clock only dates
what is written to the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from jobdeck.clock import Clock
from jobdeck.config import Settings
from jobdeck.domain.job import Fence, Job, Status
from jobdeck.domain.listing import WorkerPresence
from jobdeck.errors import InvalidTransition, StaleWrite, UnknownJobType
from jobdeck.events.tasks import stop_tasks
from jobdeck.handlers.registry import Registry
from jobdeck.handlers.services import Services
from jobdeck.runtime.executor import (
    Attempt,
    Cancelled,
    Completed,
    Failed,
    Lost,
    Outcome,
    Released,
    WorkerStats,
    failure,
    run_attempt,
)
from jobdeck.store.base import Store

logger = logging.getLogger("jobdeck.worker")

HANDLER_THREAD = "jobdeck-handler"  # sync handlers' threads (cli: exit_abandoning_handlers)

QUICK_BEAT = 0.5  # seconds: the earliest a job change brings the next heartbeat
COMPLETE_DELAY = 0.005  # seconds completions may wait to share one write
GATHER_DELAY = 0.002  # seconds a busy worker may wait for its latest jobs before claiming
# Seconds at the end of the shutdown grace (at most half of it) kept for interrupting
# the handlers still running (executor.SHUTDOWN_STOP) and releasing their jobs.
SHUTDOWN_RESERVE = 1.0
BATCH_SIZE = 256
FORGET_AFTER = timedelta(hours=1)  # a presence row this old belongs to a dead worker
FORGET_EVERY = 60  # presence writes between two sweeps of such rows


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class _Slot:
    attempt: Attempt
    task: asyncio.Task[None]
    claim: int  # the worker's claim that handed the job out (Worker._claims)


class Worker:
    def __init__(
        self,
        store: Store,
        registry: Registry,
        *,
        settings: Settings,
        clock: Clock,
        concurrency: int | None = None,
        worker_id: str | None = None,
        rng: random.Random | None = None,
        services: Services | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.settings = settings
        self.clock = clock
        self.concurrency = max(1, concurrency or settings.concurrency)
        self.id = worker_id or default_worker_id()
        self.stats = WorkerStats()
        # What handlers reach the outside through (docs/builtin-types.md).
        self.services = services or Services(settings, clock, _given(store))
        self._rng = rng
        # Keyed by attempt: a rescued job may be claimed again while its old attempt lingers.
        self._running: dict[Attempt, _Slot] = {}
        self._claims = 0  # claims that handed out jobs so far
        self._wake = asyncio.Event()  # a slot freed, or stop was asked
        self._stopping = False
        self._pool: ThreadPoolExecutor | None = None
        self._completions: _Completions | None = None

    @property
    def running(self) -> list[Job]:
        return [slot.attempt.job for slot in self._running.values()]

    def stop(self) -> None:
        """Stop claiming; ``run`` then finishes gracefully."""
        self._stopping = True
        self._wake.set()

    def cancelling(self, job_id: str) -> None:
        """The job was just moved to cancelling in this process: stop it now rather
        than at the next heartbeat."""
        for slot in self._running.values():
            if slot.attempt.fence.job_id == job_id:
                slot.attempt.interrupt("cancel")

    def wake(self) -> None:
        """Look for work now (e.g. after moving a test clock)."""
        self._wake.set()

    # --- the two ways to run --------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run until ``stop`` is set (graceful) or this task is cancelled (prompt)."""
        async with self._session():
            watcher = asyncio.create_task(self._watch(stop)) if stop is not None else None
            try:
                await self._claim_loop()
            except asyncio.CancelledError:
                await self._give_back(grace=0.0)
                raise
            finally:
                if watcher is not None:
                    watcher.cancel()
            await self._give_back(grace=self.settings.shutdown_grace_seconds)

    async def drain(self) -> int:
        """Run ready jobs (run_at <= now) until none is left; returns how many ran.

        Retries due later than now are not waited for.
        """
        ran = 0
        async with self._session():
            while True:
                self._wake.clear()
                free = self.concurrency - len(self._running)
                if free > 0:
                    if free < self.concurrency:
                        free = await self._gather_slots()
                    jobs = await self._claim(free)
                    ran += len(jobs)
                    if jobs:
                        continue
                    if not self._running:
                        return ran
                await self._wake.wait()

    # --- internals --------------------------------------------------------

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[None]:
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix=HANDLER_THREAD)
        self._completions = _Completions(self.store, self.clock, self.stats)
        beats = asyncio.create_task(self._heartbeat_loop())
        presence = asyncio.create_task(self._presence_loop())
        try:
            yield
        finally:
            await stop_tasks(beats, presence)
            await self._leave()
            await self._completions.flush()
            # Abandoned sync handlers may still run: do not wait for their threads.
            self._pool.shutdown(wait=False, cancel_futures=True)

    async def _watch(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.stop()

    async def _claim_loop(self) -> None:
        signals = self.store.signals
        while not self._stopping:
            self._wake.clear()
            free = self.concurrency - len(self._running)
            if free <= 0:
                await self._wake.wait()
                continue
            if free < self.concurrency:
                free = await self._gather_slots()
                if self._stopping:
                    break
            mark = signals.mark("enqueue")
            if await self._claim(free):
                # Fewer than asked need not mean the queue is empty: on PostgreSQL a
                # row another worker claimed meanwhile is dropped from ours. Only an
                # empty claim makes the worker idle (and look up the next due job).
                continue
            timeout = await self._idle_timeout()
            enqueued = asyncio.ensure_future(signals.wait("enqueue", mark, timeout))
            woken = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait([enqueued, woken], return_when=asyncio.FIRST_COMPLETED)
            finally:
                enqueued.cancel()
                woken.cancel()

    async def _gather_slots(self) -> int:
        """Wait a moment (:data:`GATHER_DELAY`) for the jobs of the latest claim to end:
        one claim of many jobs costs about as much as a claim of one, and busy workers
        free their slots in bursts. Claiming as soon as half the slots were free split
        a drain of short jobs into claims of half the slots each, every claim made
        while the jobs it had just handed out were still starting. Jobs of earlier
        claims are not waited for: one that outlived a claim is a long one, and every
        claim would wait in vain for its slot (docs/postgres.md, "What one job costs")."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GATHER_DELAY
        while not self._stopping:
            latest = self._claims
            remaining = deadline - loop.time()
            if remaining <= 0 or all(s.claim != latest for s in self._running.values()):
                break
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):  # not wait_for: see Signals.wait
                    await self._wake.wait()
        return self.concurrency - len(self._running)

    async def _idle_timeout(self) -> float:
        """Poll interval, shortened to when the next delayed job is due."""
        now = self.clock.now()
        due = await self.store.next_run_at(now)
        timeout = self.settings.poll_seconds
        if due is not None:
            timeout = min(timeout, max(0.0, (due - now).total_seconds()))
        return timeout

    async def _claim(self, limit: int) -> list[Job]:
        assert self._completions is not None
        now, lease = self.clock.now(), self.settings.lease_seconds
        finished = self._completions.take()
        jobs: list[Job] | None = None
        if finished:
            # The completions waiting for their batch go with this claim: one write.
            try:
                written, jobs = await self.store.complete_and_claim(
                    finished, self.id, limit, now, lease
                )
            except BaseException as exc:
                # The completions are written on their own (complete_many, which logs
                # and drops what it cannot write) and, unless cancelled, the claim is
                # tried alone. (A database that is down fails that claim too, after
                # its own retries.)
                self._completions.write_alone(finished)
                if not isinstance(exc, Exception):
                    raise
                logger.warning("completions could not go with a claim", exc_info=True)
            else:
                self._completions.count(finished, written)
        if jobs is None:
            jobs = await self.store.claim(self.id, limit, now, lease)
        self.stats.claimed += len(jobs)
        if jobs:
            self._claims += 1
        # Attempts under way and not told to stop (a "lost" one is winding down).
        live = {s.attempt.fence for s in self._running.values() if not s.attempt.cancel_requested}
        for job in jobs:
            fence = Fence(job.job_id, job.attempt, self.id)
            if fence in live:
                # The claim that handed this attempt out was undone by a crash of the
                # database (a worker's claims do not wait for the disk:
                # docs/postgres.md, "Commits that do not wait for the disk") and this
                # claim made the same one: the run under way holds it again.
                continue
            attempt = Attempt(job, fence, self.store, self.clock, self.stats, self.services)
            task = asyncio.create_task(self._run_one(attempt))
            self._running[attempt] = _Slot(attempt, task, self._claims)
        return jobs

    async def _run_one(self, attempt: Attempt) -> None:
        job = attempt.job
        try:
            outcome: Outcome
            try:
                handler_class = self.registry.get(job.type)
            except UnknownJobType as exc:
                await attempt.settle()
                outcome = failure(
                    job, f"{exc.message} (in this worker)", self.clock, self._rng, None
                )
            else:
                timeout = job.timeout if job.timeout is not None else 0
                assert self._pool is not None
                outcome = await run_attempt(
                    attempt,
                    handler_class,
                    timeout=float(timeout),
                    cancel_grace=self.settings.cancel_grace_seconds,
                    pool=self._pool,
                    clock=self.clock,
                    rng=self._rng,
                )
            await self._apply(attempt.fence, outcome)
        except Exception:
            # The lease expires and maintenance re-runs the job: at-least-once.
            logger.exception("job %s: could not record the outcome", job.job_id)
        finally:
            self._running.pop(attempt, None)
            self._wake.set()

    async def _apply(self, fence: Fence, outcome: Outcome) -> None:
        if isinstance(outcome, Completed):  # written with others (_Completions)
            assert self._completions is not None
            self._completions.add(fence, outcome.result)
            return
        store, now = self.store, self.clock.now()
        try:
            if isinstance(outcome, Failed):
                if outcome.retry_at is not None:
                    try:
                        await store.retry_later(fence, outcome.error, outcome.retry_at, now)
                    except StaleWrite:
                        raise
                    except InvalidTransition:
                        # Cancelled while failing, before the heartbeat told us: never retried.
                        await store.mark_cancelled(fence, now)
                        self.stats.cancelled += 1
                        return
                    self.stats.retried += 1
                else:
                    await store.fail(fence.job_id, outcome.error, now, fence=fence)
                    self.stats.failed += 1
            elif isinstance(outcome, Cancelled):
                if not outcome.requested:
                    # The handler gave up on its own: running → cancelling first.
                    await store.cancel(fence.job_id, now)
                await store.mark_cancelled(fence, now)
                self.stats.cancelled += 1
            elif isinstance(outcome, Released):
                await store.release([fence], now)
                self.stats.released += 1
            elif isinstance(outcome, Lost):
                self.stats.lost += 1
        except StaleWrite:
            self.stats.stale_writes += 1
        except InvalidTransition as exc:
            logger.info("job %s: outcome not applied: %s", fence.job_id, exc)

    async def _give_back(self, grace: float) -> None:
        """Shutdown: let running jobs finish within ``grace``, then release the rest.

        Handlers still running ``SHUTDOWN_RESERVE`` before the end are interrupted, so
        that stopping them and releasing their jobs also fits in ``grace``."""
        self._stopping = True
        tasks = [slot.task for slot in self._running.values()]
        if tasks and grace > 0:
            await asyncio.wait(tasks, timeout=grace - min(SHUTDOWN_RESERVE, grace / 2))
        for slot in list(self._running.values()):
            slot.attempt.interrupt("shutdown")
        tasks = [slot.task for slot in self._running.values()]
        if tasks:
            await asyncio.wait(tasks)

    async def _heartbeat_loop(self) -> None:
        loop = asyncio.get_running_loop()
        signals = self.store.signals
        interval = self.settings.heartbeat_seconds
        last = loop.time()
        mark = signals.mark("cancel")
        while True:
            remaining = last + interval - loop.time()
            if remaining > 0 and await signals.wait("cancel", mark, remaining) and self._running:
                # A job is being stopped (maybe one of ours): beat soon.
                await asyncio.sleep(max(0.0, last + min(QUICK_BEAT, interval) - loop.time()))
            # Marked before the beat reads the jobs: a cancel after it wakes the next wait.
            mark = signals.mark("cancel")
            if self._running:
                await self.beat()
            last = loop.time()

    async def _presence_loop(self) -> None:
        """Tell the store this worker is alive and what it runs, every heartbeat
        (``GET /api/v1/workers``; docs/ui.md, "Workers"). Bookkeeping: a failed write
        is logged, never a reason to stop running jobs."""
        started = self.clock.now()
        host, pid = socket.gethostname(), os.getpid()
        beats = 0
        while True:
            now = self.clock.now()
            running = tuple(slot.attempt.fence.job_id for slot in self._running.values())
            presence = WorkerPresence(self.id, host, pid, self.concurrency, running, started, now)
            try:
                await self.store.record_worker(presence)
                if beats % FORGET_EVERY == 0:  # rows of workers that died without leaving
                    await self.store.remove_workers((), now - FORGET_AFTER)
            except Exception as exc:
                logger.warning("could not record this worker's presence: %s", exc)
            beats += 1
            await asyncio.sleep(self.settings.heartbeat_seconds)

    async def _leave(self) -> None:
        try:
            await self.store.remove_workers((self.id,), self.clock.now() - FORGET_AFTER)
        except Exception as exc:  # its row ages out instead
            logger.warning("could not remove this worker's presence: %s", exc)

    async def beat(self) -> None:
        """Extend our leases; learn which jobs are cancelling and which were lost."""
        slots = [slot for slot in self._running.values() if not slot.attempt.ended]
        if not slots:
            return
        fences = [slot.attempt.fence for slot in slots]
        try:
            answer = await self.store.heartbeat(
                self.id, fences, self.clock.now(), self.settings.lease_seconds
            )
        except Exception:
            logger.exception("heartbeat failed")
            return
        self.stats.heartbeats += 1
        for slot in slots:
            status = answer.get(slot.attempt.fence.job_id)
            if status is None:
                slot.attempt.interrupt("lost")
            elif status is Status.CANCELLING:
                slot.attempt.interrupt("cancel")


def _given(store: Store) -> Callable[[], Awaitable[Store]]:
    async def opened() -> Store:
        return store

    return opened


class _Completions:
    """Completes jobs in batches: one transaction for many finished attempts."""

    def __init__(self, store: Store, clock: Clock, stats: WorkerStats) -> None:
        self._store = store
        self._clock = clock
        self._stats = stats
        self._items: list[tuple[Fence, Any]] = []
        self._lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, fence: Fence, result: Any) -> None:
        self._items.append((fence, result))
        if len(self._items) >= BATCH_SIZE:
            self._start_flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(COMPLETE_DELAY, self._start_flush)

    def take(self) -> list[tuple[Fence, Any]]:
        """The completions not yet on their way, for the caller to write."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        items, self._items = self._items, []
        return items

    def write_alone(self, items: list[tuple[Fence, Any]]) -> None:
        """Completions a claim could not carry: written on their own, now."""
        self._spawn(self._write(items))

    def count(self, items: list[tuple[Fence, Any]], written: list[bool]) -> None:
        stale = written.count(False)
        self._stats.completed += len(items) - stale
        self._stats.stale_writes += stale

    def _start_flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._spawn(self._write())

    def _spawn(self, write: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(write)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        """Write everything pending, including batches already on their way."""
        self._start_flush()
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    async def _write(self, items: list[tuple[Fence, Any]] | None = None) -> None:
        """Write ``items``, or else everything pending."""
        async with self._lock:
            if items is None:
                items, self._items = self._items, []
            if not items:
                return
            try:
                written = await self._store.complete_many(items, self._clock.now())
            except Exception:
                # Their leases expire and maintenance re-runs them: at-least-once.
                logger.exception("could not record %d completions", len(items))
                return
        self.count(items, written)
