"""Maintenance (SPEC §2.3, §2.4, §2.6): rescue expired leases, fail timed-out tracked
jobs, prune old jobs when retention is configured, delete expired login codes,
WebSocket tickets and sessions.

Every pass is a few conditional updates, so any number of processes may run it at
once: a job is rescued or failed by exactly one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta

from jobdeck.clock import Clock
from jobdeck.config import Settings
from jobdeck.store.base import Store

logger = logging.getLogger("jobdeck.maintenance")

RETENTION_EVERY = 60.0  # seconds between prunes (old jobs, expired grants): not urgent


@dataclass(frozen=True)
class MaintenanceReport:
    rescued: int = 0
    timed_out: int = 0
    deleted: int = 0
    grants_purged: int = 0


class Maintenance:
    def __init__(self, store: Store, *, settings: Settings, clock: Clock) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self._last_retention: float | None = None

    async def run_once(self, *, retention: bool = True) -> MaintenanceReport:
        now = self.clock.now()
        rescued = await self.store.rescue_expired(now)
        timed_out = await self.store.fail_timed_out_tracked(now)
        deleted = purged = 0
        days = self.settings.retention_days
        if retention and days is not None and days > 0:
            deleted = await self.store.cleanup(now - timedelta(days=days))
        if retention:
            purged = await self.store.purge_grants(now)
        if rescued or timed_out or deleted or purged:
            logger.info(
                "maintenance: rescued=%d timed_out=%d deleted=%d grants_purged=%d",
                len(rescued),
                len(timed_out),
                deleted,
                purged,
            )
        return MaintenanceReport(len(rescued), len(timed_out), deleted, purged)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Every ``maintenance_seconds`` until ``stop`` is set or the task is cancelled."""
        loop = asyncio.get_running_loop()
        while stop is None or not stop.is_set():
            due = self._last_retention is None or (
                loop.time() - self._last_retention >= RETENTION_EVERY
            )
            try:
                await self.run_once(retention=due)
                if due:
                    self._last_retention = loop.time()
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
