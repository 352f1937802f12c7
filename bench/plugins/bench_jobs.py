"""Handlers the benchmarks run (JOBDECK_PLUGINS_DIR=bench/plugins)."""

from __future__ import annotations

import asyncio
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


class Steps(BaseJobHandler):
    """Reports progress ``payload.steps`` times, ``payload.every`` seconds apart."""

    async def execute(self) -> Any:
        steps = int(self.job.payload.get("steps", 10))
        for step in range(1, steps + 1):
            await asyncio.sleep(float(self.job.payload.get("every", 0.1)))
            await self.update_progress(100 * step / steps, f"step {step} of {steps}")
        return {"steps": steps}


class Fail(BaseJobHandler):
    """Raises: a failure (retried while the job has retries left)."""

    async def execute(self) -> Any:
        raise RuntimeError("bench:fail fails on purpose")


def setup(hooks: Any) -> None:
    hooks.register_job_type("bench:noop", Noop)
    hooks.register_job_type("bench:start_time", StartTime)
    hooks.register_job_type("bench:progress", ProgressBurst)
    hooks.register_job_type("bench:steps", Steps)
    hooks.register_job_type("bench:fail", Fail)
