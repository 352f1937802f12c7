"""The change feed's records (SPEC §5.4): one sequence of typed records.

Every write of a job, a schedule or an execution gives the record a new sequence
number; records written in one transaction may share it. A follower reads each
record's current state after ``seq`` (``Store.changes_since``), in sequence order.
"""

from __future__ import annotations

from dataclasses import dataclass

from jobdeck.domain.job import Job
from jobdeck.domain.schedule import CronJob, Execution

Record = Job | CronJob | Execution

JOBS, CRON = "jobs", "cron"
TOPICS = (JOBS, CRON)


@dataclass(frozen=True)
class Change:
    """One entry of the change feed: a record's state after write number ``seq``."""

    seq: int
    record: Record

    @property
    def topic(self) -> str:
        """``jobs`` for jobs; ``cron`` for schedules and executions."""
        return JOBS if isinstance(self.record, Job) else CRON

    @property
    def job(self) -> Job | None:
        """The job of a job change, else None."""
        return self.record if isinstance(self.record, Job) else None
