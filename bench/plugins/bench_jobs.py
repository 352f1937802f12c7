"""Handlers the benchmarks run (JOBDECK_PLUGINS_DIR=bench/plugins)."""

from __future__ import annotations

import time
from typing import Any

from jobdeck import BaseJobHandler


class Noop(BaseJobHandler):
    async def execute(self) -> Any:
        return None


class StartTime(BaseJobHandler):
    """Returns the wall-clock time at which the handler started (pickup latency)."""

    async def execute(self) -> Any:
        return {"started": time.time()}


class ProgressBurst(BaseJobHandler):
    """Reports progress as fast as it can for ``payload.seconds``; returns the count."""

    async def execute(self) -> Any:
        seconds = float(self.job.payload.get("seconds", 2.0))
        count = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            count += 1
            await self.update_progress(count % 100, {"n": count})
        return {"updates": count, "seconds": time.perf_counter() - start}


def setup(hooks: Any) -> None:
    hooks.register_job_type("bench:noop", Noop)
    hooks.register_job_type("bench:start_time", StartTime)
    hooks.register_job_type("bench:progress", ProgressBurst)
