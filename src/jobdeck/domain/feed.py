"""The change feed's records (docs/feed.md): one sequence of typed records.

Every write of a job, a schedule or an execution, and every token revocation, gives
the record a new sequence number; records written in one transaction may share it.
A follower reads each record's current state after ``seq``
(``Store.changes_since``), in sequence order.
"""

from __future__ import annotations

from dataclasses import dataclass

from jobdeck.domain.job import Job
from jobdeck.domain.schedule import CronJob, Execution


@dataclass(frozen=True)
class Revocation:
    """A token was revoked. Nothing a follower sends on behalf of that token may carry
    a higher seq: the API closes the token's sockets when it reads this record."""

    token_id: int
    name: str


Record = Job | CronJob | Execution | Revocation

JOBS, CRON = "jobs", "cron"
TOPICS = (JOBS, CRON)
TOKENS = "tokens"  # revocations: read by every follower, never a subscribable topic


@dataclass(frozen=True)
class Change:
    """One entry of the change feed: a record's state after write number ``seq``."""

    seq: int
    record: Record

    @property
    def topic(self) -> str:
        """``jobs`` for jobs; ``cron`` for schedules and executions; ``tokens`` for
        revocations."""
        if isinstance(self.record, Job):
            return JOBS
        return TOKENS if isinstance(self.record, Revocation) else CRON

    @property
    def job(self) -> Job | None:
        """The job of a job change, else None."""
        return self.record if isinstance(self.record, Job) else None

    @property
    def revocation(self) -> Revocation | None:
        """The revocation of a token change, else None."""
        return self.record if isinstance(self.record, Revocation) else None
