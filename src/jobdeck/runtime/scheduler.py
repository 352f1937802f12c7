"""The cron scheduler (docs/cron.md): fires due ticks as queued jobs.

Any number of schedulers may run against one database. None of them leads: each
fires a due schedule with ``store.fire``, one transaction that records the ticks and
their jobs only if the schedule is still as it read it (same ``next_run_at`` and
``updated_at``, so a job is never built from an outdated definition), and whose
executions are unique per (schedule, tick). Two schedulers racing for one tick
therefore fire it once: the loser's compare-and-set finds nothing to do.

It sleeps until the earliest ``next_run_at`` and wakes early on the store's ``cron``
signal (a schedule was created, changed or resumed, here or in another process).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging

from jobdeck.clock import Clock
from jobdeck.domain import cron
from jobdeck.domain.schedule import CronJob, job_of
from jobdeck.errors import JobdeckError
from jobdeck.store.base import Store

logger = logging.getLogger("jobdeck.scheduler")

IDLE_SECONDS = 30.0  # the longest sleep: a backstop should a signal be lost
ERROR_BACKOFF = 1.0
RECHECK = 0.05
BATCH = 100


@functools.lru_cache(maxsize=4096)
def _expression(expression: str, timezone: str) -> cron.CronExpression:
    return cron.parse(expression, timezone)


class Scheduler:
    def __init__(self, store: Store, *, clock: Clock, instance: str) -> None:
        self.store = store
        self.clock = clock
        self.instance = instance
        self.fired = 0  # executions this scheduler recorded (for stats and tests)

    async def run_once(self) -> int:
        """Fire every schedule due now; how many executions were recorded."""
        recorded = 0
        while True:
            due = await self.store.due_cron_jobs(self.clock.now(), BATCH)
            for cron_job in due:
                recorded += await self._fire(cron_job)
            if len(due) < BATCH:
                break
        self.fired += recorded
        return recorded

    async def _fire(self, cron_job: CronJob) -> int:
        d = cron_job.definition
        assert cron_job.next_run_at is not None  # due_cron_jobs only returns scheduled ones
        now = self.clock.now()
        try:
            expression = _expression(d.cron_expression, d.timezone)
            due, next_run_at = cron.due_ticks(
                expression, cron_job.next_run_at, now, d.misfire_grace_seconds, d.misfire_policy
            )
        except (JobdeckError, ArithmeticError, ValueError) as exc:
            # Stored before a rule changed (a timezone gone from the system's data, a
            # limit tightened): it can never fire, and left due it would hold up the
            # schedules behind it. Pausing shows it in every list; resuming re-checks.
            logger.error("cron job %d (%s): %s; paused", cron_job.id, d.name, exc)
            await self.store.set_paused(cron_job.id, True, None, now)
            return 0
        executions = await self.store.fire(
            cron_job, due, next_run_at, job_of(cron_job), now, self.instance
        )
        return len(executions or ())

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Fire due ticks until ``stop`` is set or the task is cancelled."""
        signals = self.store.signals
        while stop is None or not stop.is_set():
            mark = signals.mark("cron")
            try:
                recorded = await self.run_once()
                delay = await self._until_next()
                if delay <= 0 and not recorded:
                    # Still due yet nothing fired (a schedule changed under us): look
                    # again soon, never spin.
                    delay = RECHECK
            except Exception:
                logger.exception("scheduler pass failed")
                delay = ERROR_BACKOFF
            if delay > 0:
                await self._sleep(mark, delay, stop)

    async def _until_next(self) -> float:
        upcoming = await self.store.next_cron_at()
        if upcoming is None:
            return IDLE_SECONDS
        return min(IDLE_SECONDS, (upcoming - self.clock.now()).total_seconds())

    async def _sleep(self, mark: int, delay: float, stop: asyncio.Event | None) -> None:
        waits = [asyncio.ensure_future(self.store.signals.wait("cron", mark, delay))]
        if stop is not None:
            waits.append(asyncio.ensure_future(stop.wait()))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await wait
