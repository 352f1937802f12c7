"""Conversions between cron records (domain.schedule) and SQLite rows (0002_cron.sql)."""

from __future__ import annotations

import json
from typing import Any

from jobdeck.domain.job import Priority
from jobdeck.domain.schedule import (
    CronDefinition,
    CronJob,
    Execution,
    ExecutionStatus,
    MisfirePolicy,
    OverlapPolicy,
    TriggeredBy,
)
from jobdeck.store.sqlite.rows import Row, dumps, from_ts, loads_or_none, ts_at


def definition_params(d: CronDefinition) -> dict[str, Any]:
    """The named parameters of a definition's columns (``cron_definition_columns``)."""
    return {
        "name": d.name,
        "description": d.description,
        "cron_expression": d.cron_expression,
        "timezone": d.timezone,
        "job_type": d.job_type,
        "configuration": dumps(d.configuration),
        "plugin_id": d.plugin_id,
        "store_id": d.store_id,
        "is_active": int(d.is_active),
        "max_runs": d.max_runs,
        "max_failures": d.max_failures,
        "timeout_seconds": d.timeout_seconds,
        "misfire_policy": MisfirePolicy(d.misfire_policy).value,
        "misfire_grace_seconds": d.misfire_grace_seconds,
        "overlap_policy": OverlapPolicy(d.overlap_policy).value,
        "tags": dumps(list(d.tags)),
        "priority": int(d.priority),
        "max_retries": d.max_retries,
        "show_notification": int(d.show_notification),
    }


def key_params(d: CronDefinition) -> dict[str, Any]:
    return {"name": d.name, "plugin_id": d.plugin_id, "store_id": d.store_id}


def to_cron_job(row: Row) -> CronJob:
    definition = CronDefinition(
        name=row["name"],
        cron_expression=row["cron_expression"],
        job_type=row["job_type"],
        configuration=json.loads(row["configuration"]),
        description=row["description"],
        timezone=row["timezone"],
        plugin_id=row["plugin_id"],
        store_id=row["store_id"],
        is_active=bool(row["is_active"]),
        max_runs=row["max_runs"],
        max_failures=row["max_failures"],
        timeout_seconds=row["timeout_seconds"],
        misfire_policy=MisfirePolicy(row["misfire_policy"]),
        misfire_grace_seconds=row["misfire_grace_seconds"],
        overlap_policy=OverlapPolicy(row["overlap_policy"]),
        tags=tuple(json.loads(row["tags"])),
        priority=Priority(row["priority"]),
        max_retries=row["max_retries"],
        show_notification=bool(row["show_notification"]),
    )
    last_status = row["last_status"]
    return CronJob(
        id=row["id"],
        definition=definition,
        created_by=row["created_by"],
        declared_by=row["declared_by"],
        retired=bool(row["retired"]),
        is_paused=bool(row["is_paused"]),
        next_run_at=from_ts(row["next_run_at"]),
        last_run_at=from_ts(row["last_run_at"]),
        last_status=None if last_status is None else ExecutionStatus(last_status),
        last_error=row["last_error"],
        run_count=row["run_count"],
        success_count=row["success_count"],
        failure_count=row["failure_count"],
        consecutive_failures=row["consecutive_failures"],
        created_at=from_ts(row["created_at"]),
        updated_at=from_ts(row["updated_at"]),
        seq=row["seq"],
    )


def to_execution(row: Row) -> Execution:
    return Execution(
        id=row["id"],
        cron_job_id=row["cron_job_id"],
        scheduled_for=ts_at(row["scheduled_for"]),
        status=ExecutionStatus(row["status"]),
        triggered_by=TriggeredBy(row["triggered_by"]),
        started_at=from_ts(row["started_at"]),
        completed_at=from_ts(row["completed_at"]),
        duration_ms=row["duration_ms"],
        result=loads_or_none(row["result"]),
        error_message=row["error_message"],
        triggered_by_user=row["triggered_by_user"],
        server_instance=row["server_instance"],
        job_id=row["job_id"],
        seq=row["seq"],
    )
