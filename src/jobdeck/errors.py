"""Every error jobdeck raises derives from :class:`JobdeckError`.

    JobdeckError
    ├── ValidationError        bad input (HTTP 400/422)
    │   └── UnknownJobType     no handler registered for a queued job's type
    ├── JobNotFound            no job with that id (HTTP 404)
    ├── CronJobNotFound        no cron schedule with that id (HTTP 404)
    ├── CronJobExists          a schedule already has this name (HTTP 409)
    ├── InvalidTransition      the job's status does not allow it (HTTP 409)
    │   └── StaleWrite         a worker wrote for an attempt it no longer owns
    ├── DuplicateJobType       a type was registered twice
    ├── JobCancelled           raised inside a handler whose job is being cancelled
    ├── PermanentFailure       raised by a handler: the job fails now, without retries
    └── StoreError             the database failed (driver errors are chained)

The class docstring is the default message.
"""

from __future__ import annotations

from typing import Any


class JobdeckError(Exception):
    """A jobdeck error."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class ValidationError(JobdeckError):
    """Invalid input."""


class UnknownJobType(ValidationError):
    """No handler is registered for this job type."""


class JobNotFound(JobdeckError):
    """No job with this id."""


class CronJobNotFound(JobdeckError):
    """No cron schedule with this id."""


class CronJobExists(JobdeckError):
    """A cron schedule with this name already exists for this plugin and store."""

    def __init__(self, existing: Any, message: str | None = None) -> None:
        super().__init__(message)
        self.existing = existing  # the CronJob holding the name


class InvalidTransition(JobdeckError):
    """The job's current status does not allow this transition."""


class StaleWrite(InvalidTransition):
    """The attempt's lease was lost; the write was rejected."""


class DuplicateJobType(JobdeckError):
    """This job type is already registered."""


class JobCancelled(JobdeckError):
    """The job was cancelled."""


class PermanentFailure(JobdeckError):
    """The job failed and retrying cannot help."""


class StoreError(JobdeckError):
    """The job store failed."""
