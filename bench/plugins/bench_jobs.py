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


class ProgressFlood(BaseJobHandler):
    """Reports progress as fast as it can for ``payload.seconds``: update n carries
    metadata ``{"n": n}`` and, every ``payload.every``-th, the message ``update n``; a
    last update says ``final n``. Returns what a checker needs to know what it wrote
    (bench/progress_many.py)."""

    async def execute(self) -> Any:
        seconds = float(self.job.payload.get("seconds", 3.0))
        every = int(self.job.payload.get("every", 10))
        started = time.time()
        n = messages = 0
        while (elapsed := time.time() - started) < seconds:
            n += 1
            message = f"update {n}" if n % every == 0 else None
            messages += message is not None
            await self.update_progress(min(99.0, 100 * elapsed / seconds), {"n": n}, message)
        n += 1
        final = 99.5
        await self.update_progress(final, {"n": n}, f"final {n}")
        ended = time.time()
        return {"updates": n, "messages": messages + 1, "final": final, "started": started,
                "ended": ended}  # fmt: skip


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
    hooks.register_job_type("bench:progress_flood", ProgressFlood)
    hooks.register_job_type("bench:steps", Steps)
    hooks.register_job_type("bench:fail", Fail)
