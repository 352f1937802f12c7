"""One attempt of one claimed job → an outcome value the worker applies (docs/lifecycle.md).

The executor never writes the outcome itself: it returns :class:`Completed`,
:class:`Failed` (with the retry decision already made), :class:`Cancelled`,
:class:`Released` (shutdown: give the attempt back) or :class:`Lost` (the lease is
gone; nothing may be written). Progress and log lines are written during the
attempt through :class:`Attempt`, the handler's context, fenced on the attempt.

An attempt is interrupted for one reason, the first that happens: ``cancel`` (the
job is cancelling), ``timeout``, ``lost`` or ``shutdown``. From then on
``check_cancelled`` raises, an async handler's task is cancelled (it sees
``CancelledError``), and the handler has ``grace`` seconds to stop before it is
abandoned. A sync handler cannot be stopped from outside: after the grace its thread
is left to finish alone, and any write it still makes is rejected by the fence.

Everything an attempt stores (result, error, progress, log lines) leaves through
here, so this is where the secrets a handler resolved (``redact``) are scrubbed; a
:class:`PermanentFailure` fails the job without a retry (docs/builtin-types.md).
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from jobdeck.clock import Clock
from jobdeck.domain.job import Fence, Job, Status
from jobdeck.domain.redaction import Redactor
from jobdeck.domain.retry import backoff, retries_left
from jobdeck.domain.values import RESULT_LIMIT, check_json, storable
from jobdeck.errors import (
    InvalidTransition,
    JobCancelled,
    JobdeckError,
    PermanentFailure,
    StaleWrite,
    ValidationError,
)
from jobdeck.handlers.base import BaseJobHandler, is_async_handler
from jobdeck.store.base import Store

if TYPE_CHECKING:
    from jobdeck.handlers.services import Services

logger = logging.getLogger("jobdeck.worker")

T = TypeVar("T")
_Turn = tuple[asyncio.Future[None] | None, asyncio.Future[None]]

# --- outcomes ---------------------------------------------------------------


@dataclass(frozen=True)
class Completed:
    result: Any


@dataclass(frozen=True)
class Failed:
    error: str
    retry_at: datetime | None = None  # None: no retries left, the job fails
    timed_out: bool = False


@dataclass(frozen=True)
class Cancelled:
    requested: bool = True  # False: the handler raised JobCancelled on its own


@dataclass(frozen=True)
class Released:
    pass


@dataclass(frozen=True)
class Lost:
    pass


Outcome = Completed | Failed | Cancelled | Released | Lost


@dataclass
class WorkerStats:
    claimed: int = 0
    completed: int = 0
    failed: int = 0
    retried: int = 0
    cancelled: int = 0
    released: int = 0
    lost: int = 0
    stale_writes: int = 0  # writes rejected because this worker no longer owned the attempt
    heartbeats: int = 0


# --- the handler's context --------------------------------------------------


class Attempt:
    """One attempt's context: what a handler sees (see HandlerContext), plus control."""

    def __init__(
        self,
        job: Job,
        fence: Fence,
        store: Store,
        clock: Clock,
        stats: WorkerStats,
        services: Services | None = None,
    ):
        self._job = job
        self.fence = fence
        self._store = store
        self._clock = clock
        self._stats = stats
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._reason: str | None = None  # why the attempt was interrupted, the first one
        # Resolved when the attempt is interrupted or its handler is done: what
        # run_attempt waits on (one future, not asyncio.wait: docs/postgres.md, "The
        # worker's own CPU").
        self._woken: asyncio.Future[None] = self._loop.create_future()
        self._tail: asyncio.Future[None] | None = None  # the last queued write
        self._logs: set[asyncio.Task[None]] = set()
        self.ended = False
        self._services = services
        self.redactor = Redactor()

    @property
    def job(self) -> Job:
        return self._job

    @property
    def services(self) -> Services:
        if self._services is None:
            raise JobdeckError("this attempt was started without services")
        return self._services

    def redact(self, value: str) -> None:
        self.redactor.add(value)

    @property
    def cancel_requested(self) -> bool:
        return self.ended or self._reason is not None

    @property
    def reason(self) -> str | None:
        return self._reason

    def interrupt(self, reason: str) -> None:
        """Ask the attempt to stop; the first reason wins. Loop thread only."""
        if self._reason is None:
            self._reason = reason
            self._wake()

    def _wake(self, _: object = None) -> None:
        if not self._woken.done():
            self._woken.set_result(None)

    async def until_done_or_interrupted(self, work: asyncio.Future[Any]) -> None:
        """Wait until ``work`` (the handler) is done or the attempt is interrupted."""
        work.add_done_callback(self._wake)
        await self._woken

    def on_loop_thread(self) -> bool:
        return threading.get_ident() == self._thread

    async def update_progress(
        self, progress: float, metadata: dict[str, Any] | None, message: str | None
    ) -> None:
        if self.cancel_requested:
            raise JobCancelled()
        if self.redactor:
            message = self.redactor.text(message) if message is not None else None
            metadata = self.redactor.json(metadata)
        store, fence = self._store, self.fence
        now = self._clock.now()
        try:
            job = await self._in_order(
                lambda: store.update_progress(
                    fence.job_id, progress, metadata, message, now, fence=fence
                )
            )
        except InvalidTransition as exc:
            # Rescued by maintenance or stopped elsewhere: this attempt no longer owns the job.
            if isinstance(exc, StaleWrite):
                self._stats.stale_writes += 1
            self.interrupt("lost")
            raise JobCancelled("the job's lease was lost") from None
        self._job = job
        if job.status is Status.CANCELLING:
            self.interrupt("cancel")
            raise JobCancelled()

    def run_blocking(self, write: Coroutine[Any, Any, None]) -> None:
        if self.ended or self._loop.is_closed():
            write.close()
            raise JobCancelled("the attempt has ended")
        asyncio.run_coroutine_threadsafe(write, self._loop).result()

    def log(self, message: str) -> None:
        if self.ended:
            return
        message = storable(self.redactor.text(message))
        now = self._clock.now()
        if self.on_loop_thread():
            self._queue_log(message, now)
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._queue_log, message, now)

    def _queue_log(self, message: str, now: datetime) -> None:
        job_id = self.fence.job_id
        turn = self._take_turn()  # now, so the line keeps its place among other writes
        task = self._loop.create_task(
            self._write_log(
                turn, lambda: self._store.add_history(job_id, "log", message, None, now)
            )
        )
        self._logs.add(task)
        task.add_done_callback(self._logs.discard)

    async def _write_log(self, turn: _Turn, write: Callable[[], Awaitable[None]]) -> None:
        try:
            await self._in_turn(turn, write)
        except Exception:
            logger.exception("could not write a log line of job %s", self.fence.job_id)

    async def _in_order(self, write: Callable[[], Awaitable[T]]) -> T:
        """Run writes one after the other, in the order they were asked for."""
        return await self._in_turn(self._take_turn(), write)

    def _take_turn(self) -> _Turn:
        previous = self._tail
        mine: asyncio.Future[None] = self._loop.create_future()
        self._tail = mine
        return previous, mine

    async def _in_turn(self, turn: _Turn, write: Callable[[], Awaitable[T]]) -> T:
        previous, mine = turn
        try:
            if previous is not None:
                await asyncio.shield(previous)
            return await write()
        finally:
            if not mine.done():
                mine.set_result(None)

    async def settle(self) -> None:
        """End the attempt: later log lines are dropped; wait for queued ones."""
        self.ended = True
        while self._logs:
            await asyncio.wait(list(self._logs))


# --- running one attempt ----------------------------------------------------

# Seconds an interrupted handler gets to stop at shutdown. The worker interrupts its
# handlers this long and a little more before the end of its shutdown grace
# (worker.SHUTDOWN_RESERVE), so the process exits within the grace (docs/lifecycle.md).
SHUTDOWN_STOP = 0.5


async def run_attempt(
    attempt: Attempt,
    handler_class: type[BaseJobHandler],
    *,
    timeout: float,
    cancel_grace: float,
    pool: Executor,
    clock: Clock,
    rng: random.Random | None = None,
) -> Outcome:
    if attempt.cancel_requested:
        return _interrupted(attempt)
    loop = asyncio.get_running_loop()
    try:
        handler = handler_class(attempt)
    except Exception as exc:
        await attempt.settle()
        return failure(attempt.job, describe(exc, attempt), clock, rng, handler_class)
    work: asyncio.Future[Any]
    if is_async_handler(handler_class):
        work = loop.create_task(handler.execute())
    else:
        work = loop.run_in_executor(pool, handler.execute)
    timer = loop.call_later(timeout, attempt.interrupt, "timeout") if timeout > 0 else None
    try:
        await attempt.until_done_or_interrupted(work)
        if not work.done():
            if isinstance(work, asyncio.Task):
                work.cancel()  # the handler sees CancelledError at its next await
            grace = SHUTDOWN_STOP if attempt.reason == "shutdown" else cancel_grace
            await asyncio.wait([work], timeout=min(grace, cancel_grace))
    except asyncio.CancelledError:
        # The worker itself is being torn down: stop the handler and let the caller decide.
        attempt.interrupt("shutdown")
        work.cancel()
        raise
    finally:
        if timer is not None:
            timer.cancel()
        if not work.done():
            logger.warning("job %s: handler did not stop in time; abandoned", attempt.fence.job_id)
            work.add_done_callback(_consume)
    outcome = _outcome(attempt, work, timeout, clock, rng, type(handler))
    await attempt.settle()
    return outcome


def _outcome(
    attempt: Attempt,
    work: asyncio.Future[Any],
    timeout: float,
    clock: Clock,
    rng: random.Random | None,
    handler_class: type[BaseJobHandler],
) -> Outcome:
    reason = attempt.reason
    error: BaseException | None = None
    if work.done() and not work.cancelled():
        error = work.exception()
        if error is None and reason != "lost":
            try:
                result = attempt.redactor.json(work.result())
                check_json(result, "the result", RESULT_LIMIT)
            except ValidationError as exc:
                return failure(attempt.job, describe(exc, attempt), clock, rng, handler_class)
            return Completed(result)
    if reason == "timeout":
        message = f"Job timed out after {_seconds(timeout)} seconds"
        return failure(attempt.job, message, clock, rng, handler_class, timed_out=True)
    if reason is not None:
        return _interrupted(attempt)
    if isinstance(error, JobCancelled):
        return Cancelled(requested=False)
    if error is None:  # the task was cancelled though nobody asked: count it as a failure
        error = asyncio.CancelledError()
    message = describe(error, attempt)
    fence = attempt.fence
    if attempt.redactor:  # a traceback could carry a resolved secret: the message only
        logger.info("job %s attempt %d failed: %s", fence.job_id, fence.attempt, message)
    else:
        logger.info("job %s attempt %d failed", fence.job_id, fence.attempt, exc_info=error)
    if isinstance(error, PermanentFailure):
        return Failed(message, None)
    return failure(attempt.job, message, clock, rng, handler_class)


def _interrupted(attempt: Attempt) -> Outcome:
    reason = attempt.reason
    if reason == "lost":
        return Lost()
    if reason == "shutdown":
        return Released()
    return Cancelled()


def failure(
    job: Job,
    error: str,
    clock: Clock,
    rng: random.Random | None,
    handler_class: type[BaseJobHandler] | None,
    *,
    timed_out: bool = False,
) -> Failed:
    """The retry decision: back to pending after a backoff while retries are left."""
    if not retries_left(job.attempt, job.max_retries):
        return Failed(error, None, timed_out)
    delays = job.retry_delays or (handler_class.retry_delays if handler_class else None)
    delay = backoff(job.attempt, delays, rng)
    return Failed(error, clock.now() + timedelta(seconds=delay), timed_out)


def describe(error: BaseException, attempt: Attempt | None = None) -> str:
    text = str(error) if attempt is None else attempt.redactor.text(str(error))
    return storable(text) or type(error).__name__


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _consume(future: asyncio.Future[Any]) -> None:
    """Retrieve an abandoned handler's exception so asyncio does not report it."""
    if not future.cancelled():
        future.exception()
