"""Maintenance (docs/lifecycle.md): rescue expired leases, fail timed-out tracked jobs,
delete expired login codes, WebSocket tickets and sessions, bring the text-search
index up to date. (Retention,
``JOBDECK_RETENTION_DAYS``, is a daily ``cleanup`` schedule: :mod:`jobdeck.retention`.)

Every pass is a few conditional updates, so any number of processes may run it at
once: a job is rescued or failed by exactly one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from jobdeck.clock import Clock
from jobdeck.config import Settings
from jobdeck.store.base import Store

logger = logging.getLogger("jobdeck.maintenance")

PURGE_EVERY = 60.0  # seconds between purges of expired grants: not urgent


@dataclass(frozen=True)
class MaintenanceReport:
    rescued: int = 0
    timed_out: int = 0
    grants_purged: int = 0
    text_indexed: int = 0


class Maintenance:
    def __init__(self, store: Store, *, settings: Settings, clock: Clock) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self._last_purge: float | None = None

    async def run_once(self, *, purge: bool = True) -> MaintenanceReport:
        now = self.clock.now()
        rescued = await self.store.rescue_expired(now)
        timed_out = await self.store.fail_timed_out_tracked(now)
        purged = await self.store.purge_grants(now) if purge else 0
        # Off the enqueue path: new jobs join the text-search index here (docs/ui.md).
        # The clock again: the steps above may have taken a while, and a backend may
        # leave the jobs due by then to their claim.
        indexed = await self.store.index_text(now=self.clock.now())  # the store's pass size
        if rescued or timed_out or purged:
            logger.info(
                "maintenance: rescued=%d timed_out=%d grants_purged=%d",
                len(rescued),
                len(timed_out),
                purged,
            )
        return MaintenanceReport(len(rescued), len(timed_out), purged, indexed)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Every ``maintenance_seconds`` until ``stop`` is set or the task is cancelled."""
        loop = asyncio.get_running_loop()
        while stop is None or not stop.is_set():
            due = self._last_purge is None or (loop.time() - self._last_purge >= PURGE_EVERY)
            try:
                await self.run_once(purge=due)
                if due:
                    self._last_purge = loop.time()
            except Exception:
                logger.exception("maintenance pass failed")
            await _pause(self.settings.maintenance_seconds, stop)


async def _pause(seconds: float, stop: asyncio.Event | None) -> None:
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):  # not wait_for: see Signals.wait
            await stop.wait()
