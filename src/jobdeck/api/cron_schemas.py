"""Cron JSON (docs/api-cron.md, snake_case): schedules, executions, and the models that
document them in the OpenAPI document.

The serialisers walk the record dataclasses, so a field added to
:class:`CronDefinition` or :class:`Execution` shows up in the JSON without an edit here.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from enum import Enum
from typing import Any, Literal, Optional

from pydantic import BaseModel, Field, create_model

from jobdeck.api.schemas import LONG, SHORT, JobSnakeOut, PriorityName, iso, job_snake
from jobdeck.domain.job import Priority
from jobdeck.domain.schedule import CronDefinition, CronJob, Execution
from jobdeck.errors import JobdeckError

DEFINITION_FIELDS = tuple(f.name for f in fields(CronDefinition))
EXECUTION_FIELDS = tuple(f.name for f in fields(Execution) if f.name != "seq")

# CronJob JSON keys a client cannot set. A PUT (or POST) that sends them back, as a
# form that edits what GET returned does, has them ignored rather than refused.
READ_ONLY = frozenset(
    {
        "id",
        "is_paused",
        "description_human",
        "next_run_at",
        "last_run_at",
        "last_status",
        "last_error",
        "run_count",
        "success_count",
        "failure_count",
        "consecutive_failures",
        "created_by",
        "declared_by",
        "created_at",
        "updated_at",
        "next_runs",
    }
)


def _plain(value: Any) -> Any:
    if isinstance(value, Priority):
        return value.label
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def cron_job_json(cron: CronJob, crons: Any) -> dict[str, Any]:
    """The CronJob JSON; ``crons`` (the deck's :class:`jobdeck.crons.Crons`) describes
    the expression and lists the next fire times."""
    definition = cron.definition
    data: dict[str, Any] = {"id": cron.id}
    data.update((name, _plain(getattr(definition, name))) for name in DEFINITION_FIELDS)
    try:
        described, upcoming = crons.describe(cron), crons.next_runs(cron)
    except JobdeckError:
        # A stored expression the current parser refuses: still listable, fixable by PUT.
        described, upcoming = None, []
    data.update(
        is_paused=cron.is_paused,
        description_human=described,
        next_run_at=iso(cron.next_run_at),
        last_run_at=iso(cron.last_run_at),
        last_status=_plain(cron.last_status),
        last_error=cron.last_error,
        run_count=cron.run_count,
        success_count=cron.success_count,
        failure_count=cron.failure_count,
        consecutive_failures=cron.consecutive_failures,
        created_by=cron.created_by,
        declared_by=cron.declared_by,
        created_at=iso(cron.created_at),
        updated_at=iso(cron.updated_at),
        next_runs=[iso(at) for at in upcoming],
    )
    return data


def execution_json(execution: Execution, job: Any) -> dict[str, Any]:
    """The Execution JSON: every field of an execution (docs/cron.md, "Executions mirror
    their jobs"), and ``job``, the job's current state (null once the job was cleaned
    up)."""
    data = {name: _plain(getattr(execution, name)) for name in EXECUTION_FIELDS}
    data["job"] = job_snake(job) if job is not None else None
    return data


def pagination(page: int, limit: int, total: int) -> dict[str, int]:
    """The pagination object of cron lists (docs/api-cron.md)."""
    return {
        "current_page": page,
        "per_page": limit,
        "total": total,
        "total_pages": (total + limit - 1) // limit,
    }


# --- request bodies (documentation: deck.crons checks them, see cron_inputs.py) ---


class CronJobIn(BaseModel):
    """``POST /api/cron-jobs``. Checked by the cron service, so a bad value is a 400
    naming the field, with the same message as in the CLI."""

    name: str = Field(max_length=SHORT)
    cron_expression: str = Field(examples=["0 2 * * *"])
    job_type: str = Field(max_length=SHORT, examples=["webhook"])
    configuration: dict[str, Any] = Field(default_factory=dict)
    description: str | None = Field(None, max_length=LONG)
    timezone: str = "UTC"
    plugin_id: str | None = None
    store_id: str | None = None
    is_active: bool = True
    max_runs: int | None = Field(None, ge=1)
    max_failures: int | None = Field(5, ge=1)
    timeout_seconds: int = Field(300, ge=0)
    misfire_policy: Literal["skip", "fire_once", "catch_up"] = "fire_once"
    misfire_grace_seconds: int = Field(60, ge=0)
    overlap_policy: Literal["skip", "allow"] = "skip"
    tags: list[str] = Field(default_factory=list)
    priority: PriorityName = "normal"
    max_retries: int = Field(0, ge=0)
    show_notification: bool = False


# Every field optional: the fields to change (the others keep their value).
CronJobUpdate: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "CronJobUpdate",
    __doc__="``PUT /api/cron-jobs/{id}``: the fields to change; a CronJob's read-only "
    "fields are ignored.",
    **{name: (Optional[info.annotation], None) for name, info in CronJobIn.model_fields.items()},  # noqa: UP045
)


class PreviewIn(BaseModel):
    cron_expression: str = Field(examples=["*/15 9-17 * * mon-fri"])
    timezone: str = "UTC"


# --- response models ----------------------------------------------------------


class CronJobOut(CronJobIn):
    id: int
    is_paused: bool
    description_human: str | None
    next_run_at: str | None
    last_run_at: str | None
    last_status: str | None
    last_error: str | None
    run_count: int
    success_count: int
    failure_count: int
    consecutive_failures: int
    created_by: str
    declared_by: str | None
    created_at: str | None
    updated_at: str | None
    next_runs: list[str]


class ExecutionOut(BaseModel):
    id: int
    cron_job_id: int
    scheduled_for: str
    started_at: str | None
    completed_at: str | None
    duration_ms: int | None
    status: Literal["running", "success", "failed", "timeout", "skipped", "cancelled"]
    result: Any
    error_message: str | None
    triggered_by: Literal["scheduler", "manual", "api"]
    triggered_by_user: str | None
    server_instance: str | None
    job_id: str | None
    job: JobSnakeOut | None  # type: ignore[valid-type]


class CronJobEnvelope(BaseModel):
    success: Literal[True]
    job: CronJobOut


class CronJobExistsOut(BaseModel):
    success: Literal[False]
    message: str
    job: CronJobOut


class CronJobDetail(CronJobEnvelope):
    executions: list[ExecutionOut]


class Pagination(BaseModel):
    current_page: int
    per_page: int
    total: int
    total_pages: int


class CronJobPage(BaseModel):
    cron_jobs: list[CronJobOut]
    pagination: Pagination


class CronJobList(BaseModel):
    success: Literal[True]
    data: CronJobPage


class ExecutionPage(BaseModel):
    executions: list[ExecutionOut]
    pagination: Pagination


class ExecutionList(BaseModel):
    success: Literal[True]
    data: ExecutionPage


class ExecutionEnvelope(BaseModel):
    success: Literal[True]
    execution: ExecutionOut


class JobTypeOut(BaseModel):
    type: str
    description: str
    schema_: dict[str, Any] = Field(alias="schema")
    admin_only: bool


class JobTypeList(BaseModel):
    success: Literal[True]
    data: list[JobTypeOut]


class PreviewOut(BaseModel):
    success: Literal[True]
    description_human: str
    next_runs: list[str]
