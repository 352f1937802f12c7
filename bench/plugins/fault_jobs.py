"""Handlers of the fault battery (bench/faults.py).

``fault:record`` writes ``start <job_id> <pid>`` and ``end <job_id> <pid>`` lines to
``$JOBDECK_FAULT_RECORDS/<pid>.log`` with one unbuffered write each, so a worker
killed with SIGKILL leaves exactly the lines of what it started. ``fault:sync``
does the same from a thread (a sync handler), sleeping ``payload.sleep`` seconds.
``$JOBDECK_FAULT_SLEEP``, where set, replaces ``payload.sleep`` (a worker that should
finish what another one left, quickly).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jobdeck import BaseJobHandler

_fd: int | None = None


def record(event: str, job_id: str) -> None:
    global _fd
    folder = os.environ.get("JOBDECK_FAULT_RECORDS")
    if not folder:
        return
    if _fd is None:
        path = Path(folder) / f"{os.getpid()}.log"
        _fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.write(_fd, f"{event} {job_id} {os.getpid()}\n".encode())


def sleep_seconds(payload: Mapping[str, Any]) -> float:
    return float(os.environ.get("JOBDECK_FAULT_SLEEP", payload.get("sleep", 0)))


class Record(BaseJobHandler):
    async def execute(self) -> Any:
        record("start", self.job.job_id)
        seconds = sleep_seconds(self.job.payload)
        if seconds:
            await asyncio.sleep(seconds)
        record("end", self.job.job_id)
        return None


class SyncRecord(BaseJobHandler):
    def execute(self) -> Any:
        record("start", self.job.job_id)
        time.sleep(sleep_seconds(self.job.payload))
        record("end", self.job.job_id)
        return None


def setup(hooks: Any) -> None:
    hooks.register_job_type("fault:record", Record)
    hooks.register_job_type("fault:sync", SyncRecord)
