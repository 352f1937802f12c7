"""jobdeck: durable background jobs, cron schedules and live progress tracking.

from jobdeck import JobDeck, BaseJobHandler

deck = JobDeck("sqlite:///jobdeck.db")
job = await deck.create_job(name="Import Products", type="import")
"""

from jobdeck.config import Settings
from jobdeck.deck import JobDeck, JobHandle
from jobdeck.domain.job import Job, Mode, Priority, Status
from jobdeck.domain.schedule import CronJob, Execution
from jobdeck.errors import (
    CronJobExists,
    CronJobNotFound,
    DuplicateJobType,
    InvalidTransition,
    JobCancelled,
    JobdeckError,
    JobNotFound,
    PermanentFailure,
    StaleWrite,
    StoreError,
    UnknownJobType,
    ValidationError,
)
from jobdeck.handlers.base import BaseJobHandler
from jobdeck.sync import SyncJobDeck, SyncJobHandle

__all__ = [
    "BaseJobHandler",
    "CronJob",
    "CronJobExists",
    "CronJobNotFound",
    "DuplicateJobType",
    "Execution",
    "InvalidTransition",
    "Job",
    "JobCancelled",
    "JobDeck",
    "JobHandle",
    "JobNotFound",
    "JobdeckError",
    "Mode",
    "PermanentFailure",
    "Priority",
    "Settings",
    "StaleWrite",
    "Status",
    "StoreError",
    "SyncJobDeck",
    "SyncJobHandle",
    "UnknownJobType",
    "ValidationError",
]
