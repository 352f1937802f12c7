"""Cron schedules and their executions as records (docs/api-cron.md; docs/cron.md).

Pure data: the expression logic (next fire times, DST, descriptions) is in
:mod:`jobdeck.domain.cron`; what a due schedule does at a tick is :func:`decide`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from jobdeck.domain.job import Mode, NewJob, Priority
from jobdeck.errors import ValidationError


class MisfirePolicy(StrEnum):
    SKIP = "skip"  # missed ticks leave no rows
    FIRE_ONCE = "fire_once"  # one run stands for all missed ticks (default)
    CATCH_UP = "catch_up"  # each missed tick runs, at most CATCH_UP_LIMIT


class OverlapPolicy(StrEnum):
    SKIP = "skip"  # a tick whose previous run is still going is recorded as skipped
    ALLOW = "allow"


class ExecutionStatus(StrEnum):
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    TIMEOUT = "timeout"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self is not ExecutionStatus.RUNNING


class TriggeredBy(StrEnum):
    SCHEDULER = "scheduler"
    MANUAL = "manual"  # the UI or the CLI
    API = "api"  # a bearer token


CATCH_UP_LIMIT = 100


@dataclass(frozen=True)
class CronDefinition:
    """What a caller defines (the create/update fields of ``POST /api/cron-jobs``)."""

    name: str
    cron_expression: str
    job_type: str
    configuration: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    timezone: str = "UTC"
    plugin_id: str | None = None
    store_id: str | None = None
    is_active: bool = True
    max_runs: int | None = None
    max_failures: int | None = 5
    timeout_seconds: int = 300
    misfire_policy: MisfirePolicy = MisfirePolicy.FIRE_ONCE
    misfire_grace_seconds: int = 60
    overlap_policy: OverlapPolicy = OverlapPolicy.SKIP
    tags: tuple[str, ...] = ()
    priority: Priority = Priority.NORMAL
    max_retries: int = 0
    show_notification: bool = False


@dataclass(frozen=True)
class CronJob:
    """A stored schedule: its definition, its state and its counters.

    ``declared_by``: the plugin whose code declares it (docs/cron.md), None for schedules
    made through the API, the CLI or the Python API. ``retired``: deactivated because its
    declaration disappeared from the plugin's code (not by a user); a later declaration
    of it makes it active again (``ScheduleStore.upsert_declared``).
    """

    id: int
    definition: CronDefinition
    created_by: str
    declared_by: str | None = None
    retired: bool = False
    is_paused: bool = False
    next_run_at: datetime | None = None
    last_run_at: datetime | None = None
    last_status: ExecutionStatus | None = None
    last_error: str | None = None
    run_count: int = 0
    success_count: int = 0
    failure_count: int = 0
    consecutive_failures: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    seq: int = 0

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def plugin_id(self) -> str | None:
        return self.definition.plugin_id

    @property
    def store_id(self) -> str | None:
        return self.definition.store_id

    @property
    def scheduled(self) -> bool:
        """Whether the scheduler fires it (active and not paused)."""
        return self.definition.is_active and not self.is_paused


@dataclass(frozen=True)
class Execution:
    """One run of a schedule; it mirrors its job's status (docs/cron.md)."""

    id: int
    cron_job_id: int
    scheduled_for: datetime
    status: ExecutionStatus
    triggered_by: TriggeredBy
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_ms: int | None = None
    result: Any = None
    error_message: str | None = None
    triggered_by_user: str | None = None
    server_instance: str | None = None
    job_id: str | None = None
    seq: int = 0


@dataclass(frozen=True)
class CronFilter:
    """List filters of ``GET /api/cron-jobs`` (applied before paging)."""

    status: str | None = None  # active | paused | inactive
    job_type: str | None = None
    search: str | None = None  # case-insensitive substring of name or description
    plugin_id: str | None = None
    store_id: str | None = None
    tags: tuple[str, ...] = ()  # schedules carrying every one of them


CRON_SORT_KEYS = ("name", "next_run_at", "last_run_at", "created_at")


@dataclass(frozen=True)
class Tick:
    """A due tick as the store records it: a run (an execution and a job) or, when
    ``fire`` is false, an execution with status ``skipped`` (overlap) and no job."""

    scheduled_for: datetime
    fire: bool = True


def decide(cron: CronJob, due: list[datetime], running: bool) -> tuple[list[Tick], bool]:
    """What the due ticks of ``cron`` become (docs/cron.md): each fires, or is skipped while
    a previous run is still going under the ``skip`` overlap policy; no run past
    ``max_runs``. ``running``: a run of this schedule has not reached a terminal status.
    Returns the ticks to record and whether ``max_runs`` is now reached (the schedule
    then becomes inactive)."""
    limit = cron.definition.max_runs
    overlap_skip = cron.definition.overlap_policy is OverlapPolicy.SKIP
    runs = cron.run_count
    ticks: list[Tick] = []
    for at in due:
        if limit is not None and runs >= limit:
            break
        if running and overlap_skip:
            ticks.append(Tick(at, fire=False))
            continue
        ticks.append(Tick(at))
        runs += 1
        running = True
    return ticks, limit is not None and runs >= limit


def job_of(cron: CronJob) -> NewJob:
    """The queued job one run of ``cron`` creates (docs/api-cron.md: it takes the schedule's
    name, store, plugin, creator and settings; its attempt is bounded by
    ``timeout_seconds``)."""
    d = cron.definition
    return NewJob(
        name=d.name,
        type=d.job_type,
        mode=Mode.QUEUED,
        priority=d.priority,
        description=d.description,
        payload=dict(d.configuration),
        source=cron.declared_by,
        plugin_id=d.plugin_id,
        store_id=d.store_id,
        created_by=cron.created_by,
        show_notification=d.show_notification,
        max_retries=d.max_retries,
        timeout=d.timeout_seconds,
        cron_job_id=cron.id,
    )


def check_declarations(plugin: str, definitions: Iterable[CronDefinition]) -> None:
    """ValidationError naming the first name key ``plugin`` declares twice (one call of
    ``ScheduleStore.upsert_declared`` holds each name key at most once)."""
    seen: set[tuple[str, str | None, str | None]] = set()
    for d in definitions:
        key = (d.name, d.plugin_id, d.store_id)
        if key in seen:
            where = f" for store {d.store_id!r}" if d.store_id is not None else ""
            raise ValidationError(
                f"plugin {plugin!r} declares the cron job {d.name!r}{where} twice"
            )
        seen.add(key)
