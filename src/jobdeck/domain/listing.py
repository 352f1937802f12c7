"""What the UI's pages ask of the store beyond filters: sort orders, worker presence and
finished jobs per minute (docs/ui.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from jobdeck.domain.job import Status
from jobdeck.errors import ValidationError

# The job list's sort keys (snake_case; the HTTP API takes them in camelCase). Every
# order ends with the id in the same direction, so pages never overlap or skip a job.
JOB_SORT_KEYS = ("created_at", "updated_at", "priority", "name", "status", "progress")


@dataclass(frozen=True)
class JobSort:
    key: str = "created_at"
    descending: bool = True

    @classmethod
    def parse(cls, text: str | None) -> JobSort:
        """``"name"`` ascending, ``"-name"`` descending; None or empty: newest first."""
        if not text:
            return NEWEST_FIRST
        descending = text.startswith("-")
        key = text.removeprefix("-")
        if key not in JOB_SORT_KEYS:
            raise ValidationError(
                f"sort must be one of {', '.join(JOB_SORT_KEYS)} (prefix - for descending), "
                f"not {text!r}"
            )
        return cls(key, descending)


NEWEST_FIRST = JobSort()


@dataclass(frozen=True)
class WorkerPresence:
    """A worker process as it last reported itself (``record_worker``)."""

    worker_id: str
    host: str
    pid: int
    concurrency: int
    running: tuple[str, ...]  # job_ids of the attempts it runs
    started_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True)
class FinishedCount:
    """How many jobs reached ``status`` (a terminal one) during the minute ``minute``."""

    minute: datetime
    status: Status
    count: int
