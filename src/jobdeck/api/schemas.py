"""Request models, response models (for the OpenAPI document) and job serialisers.

``/api/v1`` speaks camelCase, ``/api/background-jobs`` snake_case (docs/api.md); both
come from one field table so the two shapes cannot drift apart.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from jobdeck.domain.job import HistoryEvent, Job
from jobdeck.domain.values import METADATA_LIMIT, RESULT_LIMIT, check_text, check_tree
from jobdeck.errors import ValidationError

SHORT = 500  # max length of names, types, ids
LONG = 10_000  # max length of descriptions and messages

PriorityName = Literal["low", "normal", "high", "urgent"]
ScopeName = Literal["admin", "jobs:read", "jobs:write", "cron:read", "cron:write"]


class PayloadTooLarge(ValidationError):
    """A JSON value is larger than its cap (HTTP 413)."""


# --- serialisers --------------------------------------------------------------


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def number(value: float | None) -> float | int | None:
    """45.0 reads better as 45; JSON does not care."""
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


def snapshot(job: Any) -> Job:
    """A deck JobHandle or a Job → the Job."""
    return job if isinstance(job, Job) else job.snapshot


def _fields(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "job_id": job.job_id,
        "name": job.name,
        "description": job.description,
        "type": job.type,
        "mode": str(job.mode),
        "status": str(job.status),
        "priority": job.priority.label,
        "progress": number(job.progress),
        "progress_message": job.progress_message,
        "payload": job.payload,
        "metadata": job.metadata,
        "result": job.result,
        "error_message": job.error_message,
        "icon_svg": job.icon_svg,
        "source": job.source,
        "plugin_id": job.plugin_id,
        "store_id": job.store_id,
        "user_id": job.user_id,
        "created_by": job.created_by,
        "show_notification": job.show_notification,
        "attempt": job.attempt,
        "max_retries": job.max_retries,
        "run_at": iso(job.run_at),
        "started_at": iso(job.started_at),
        "completed_at": iso(job.completed_at),
        "created_at": iso(job.created_at),
        "updated_at": iso(job.updated_at),
        "cron_job_id": job.cron_job_id,
        "eta_seconds": number(job.eta_seconds),
        "rate": job.rate,
        "timeout_seconds": job.timeout,
    }


@functools.cache  # field names only: a few dozen, and every job JSON needs them all
def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def job_camel(job: Any) -> dict[str, Any]:
    """The camelCase Job JSON of ``/api/v1`` (also sent over the WebSocket)."""
    return {camel(k): v for k, v in _fields(snapshot(job)).items()}


def job_snake(job: Any) -> dict[str, Any]:
    """The snake_case Job JSON of ``/api/background-jobs``: ``id`` is the job UUID, as
    in the schedule answer; the integer is ``internal_id``."""
    data = _fields(snapshot(job))
    data["internal_id"] = data["id"]
    data["id"] = data["job_id"]
    data["last_error"] = data["error_message"]
    data["scheduled_at"] = data["run_at"]
    return data


def event_camel(event: HistoryEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "jobId": event.job_id,
        "kind": event.kind,
        "message": event.message,
        "data": event.data,
        "createdAt": iso(event.created_at),
    }


def event_snake(event: HistoryEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "job_id": event.job_id,
        "kind": event.kind,
        "message": event.message,
        "data": event.data,
        "created_at": iso(event.created_at),
    }


# --- input checks -------------------------------------------------------------


def check_json(field: str, value: Any, limit: int) -> None:
    """Storable JSON (:func:`check_tree`) of at most ``limit`` bytes in UTF-8 (413 above)."""
    check_tree(field, value)
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > limit:
        raise PayloadTooLarge(f"{field} is larger than {limit // 1024} KiB")


class Input(BaseModel):
    """Base of request bodies: unknown fields ignored, every value checked for the stores."""

    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="after")
    def _clean(self) -> Input:
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, str):
                check_text(name, value)
            elif name in ("metadata", "payload"):
                check_json(name, value, METADATA_LIMIT if name == "metadata" else RESULT_LIMIT)
            elif name == "result":
                check_json(name, value, RESULT_LIMIT)
        return self


# --- /api/v1 request bodies --------------------------------------------------


class CreateJob(Input):
    name: str = Field(min_length=1, max_length=SHORT)
    type: str = Field(min_length=1, max_length=SHORT)
    description: str | None = Field(None, max_length=LONG)
    source: str | None = Field(None, max_length=SHORT)
    metadata: dict[str, Any] | None = None
    iconSvg: str | None = Field(None, max_length=64 * 1024)
    showNotification: bool = True
    timeoutSeconds: int | None = Field(None, ge=0, le=10_000_000)
    storeId: str | None = Field(None, max_length=SHORT)
    pluginId: str | None = Field(None, max_length=SHORT)
    userId: str | None = Field(None, max_length=SHORT)


class ProgressBody(Input):
    progress: float = Field(allow_inf_nan=False)
    metadata: dict[str, Any] | None = None
    message: str | None = Field(None, max_length=LONG)


class CompleteBody(Input):
    result: Any = None


class FailBody(Input):
    errorMessage: str = Field(min_length=1, max_length=LONG)


# --- /api/background-jobs request bodies -------------------------------------


class ScheduleJob(Input):
    type: str = Field(min_length=1, max_length=SHORT)
    payload: dict[str, Any] | None = None
    priority: PriorityName = "normal"
    delay: int = Field(0, ge=0, le=10 * 365 * 24 * 3600 * 1000, description="milliseconds")
    maxRetries: int = Field(3, ge=0, le=100)
    storeId: str | None = Field(None, max_length=SHORT)
    userId: str | None = Field(None, max_length=SHORT)
    name: str | None = Field(None, min_length=1, max_length=SHORT)
    description: str | None = Field(None, max_length=LONG)
    metadata: dict[str, Any] | None = None


# --- auth bodies --------------------------------------------------------------


class LoginBody(BaseModel):
    """Not an Input: any string is just a wrong token (401), never a 400."""

    token: str = Field(min_length=1, max_length=512)


class CreateTokenBody(Input):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[ScopeName] = Field(min_length=1, max_length=10)
    plugin: str | None = Field(None, max_length=SHORT)
    store: str | None = Field(None, max_length=SHORT)


# --- response models (documentation and schema checks) ------------------------

_JOB_TYPES: dict[str, Any] = {
    "id": int,
    "job_id": str,
    "name": str,
    "description": str | None,
    "type": str,
    "mode": Literal["tracked", "queued"],
    "status": Literal["pending", "running", "cancelling", "completed", "failed", "cancelled"],
    "priority": PriorityName,
    "progress": float,
    "progress_message": str | None,
    "payload": dict[str, Any],
    "metadata": dict[str, Any],
    "result": Any,
    "error_message": str | None,
    "icon_svg": str | None,
    "source": str | None,
    "plugin_id": str | None,
    "store_id": str | None,
    "user_id": str | None,
    "created_by": str,
    "show_notification": bool,
    "attempt": int,
    "max_retries": int,
    "run_at": str | None,
    "started_at": str | None,
    "completed_at": str | None,
    "created_at": str | None,
    "updated_at": str | None,
    "cron_job_id": int | None,
    "eta_seconds": float | None,
    "rate": float | None,
    "timeout_seconds": int,
}

JobOut: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "Job", **{camel(k): (v, ...) for k, v in _JOB_TYPES.items()}
)
JobSnakeOut: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "JobSnake",
    **{k: (v, ...) for k, v in _JOB_TYPES.items() if k != "id"},
    id=(str, ...),
    internal_id=(int, ...),
    last_error=(str | None, ...),
    scheduled_at=(str | None, ...),
)


class EventOut(BaseModel):
    id: int
    jobId: str
    kind: str
    message: str | None
    data: dict[str, Any] | None
    createdAt: str | None


class EventSnakeOut(BaseModel):
    id: int
    job_id: str
    kind: str
    message: str | None
    data: dict[str, Any] | None
    created_at: str | None


class ErrorOut(BaseModel):
    success: Literal[False]
    message: str


class OkOut(BaseModel):
    success: Literal[True]
    message: str | None = None


class JobEnvelope(BaseModel):
    success: Literal[True]
    data: JobOut  # type: ignore[valid-type]


class JobList(BaseModel):
    success: Literal[True]
    data: list[JobOut]  # type: ignore[valid-type]
    total: int
    limit: int
    offset: int


class EventList(BaseModel):
    success: Literal[True]
    data: list[EventOut]


class CleanupOut(BaseModel):
    success: Literal[True]
    message: str
    deleted: int


class TicketOut(BaseModel):
    success: Literal[True]
    ticket: str
    expiresIn: int


class ScheduledJob(BaseModel):
    id: str
    type: str
    priority: PriorityName
    status: str
    scheduled_at: str | None
    store_id: str | None


class ScheduleOut(BaseModel):
    success: Literal[True]
    message: str
    job: ScheduledJob


class StatusJob(BaseModel):
    id: str
    type: str
    status: str
    progress: float
    progress_message: str | None
    result: Any
    last_error: str | None


class StatusOut(BaseModel):
    success: Literal[True]
    job: StatusJob


class JobDetail(JobSnakeOut):  # type: ignore[misc, valid-type]
    history: list[EventSnakeOut]


class DetailOut(BaseModel):
    success: Literal[True]
    job: JobDetail


class CancelledJob(BaseModel):
    id: str
    status: str
    cancelled_at: str | None


class CancelOut(BaseModel):
    success: Literal[True]
    message: str
    job: CancelledJob


class HistoryOut(BaseModel):
    success: Literal[True]
    job_id: str
    history: list[EventSnakeOut]


class QueueStatusOut(BaseModel):
    success: Literal[True]
    queue: dict[str, int]
    running_jobs: list[JobSnakeOut]  # type: ignore[valid-type]
    job_types: list[str]


class JobsPage(BaseModel):
    success: Literal[True]
    jobs: list[JobSnakeOut]  # type: ignore[valid-type]
    total: int
    limit: int
    offset: int
    store_id: str | None = None


class StatsOut(BaseModel):
    success: Literal[True]
    stats: dict[str, Any]


class TokenOut(BaseModel):
    name: str
    scopes: list[str]
    plugin: str | None
    store: str | None
    createdAt: str | None
    lastUsedAt: str | None


class TokenList(BaseModel):
    success: Literal[True]
    data: list[TokenOut]


class TokenCreated(BaseModel):
    success: Literal[True]
    token: str
    data: TokenOut


# A job id in a route path.
JobId = Annotated[str, Path(max_length=200, description="the job UUID")]


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorOut} for code in codes}
