"""Rows ↔ records: the PostgreSQL columns of jobs, schedules and executions as domain
objects, and new records as the JSON parameters and COPY rows the statements take."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from psycopg import postgres
from psycopg.adapt import Buffer, Dumper, Loader
from psycopg.pq import Format
from psycopg.types.json import Jsonb

from jobdeck.domain.job import (
    MODE_OF,
    PRIORITY_OF,
    STATUS_OF,
    Job,
    Mode,
    NewJob,
    Priority,
    construct,
    inserted_job,
)
from jobdeck.domain.jsontext import checked_encoder, object_text
from jobdeck.domain.schedule import (
    CronDefinition,
    CronJob,
    Execution,
    ExecutionStatus,
    MisfirePolicy,
    OverlapPolicy,
    TriggeredBy,
)

Row = Mapping[str, Any]


def json_param(value: Any) -> Jsonb | None:
    """SQL NULL for None, else the JSON value (jsonb keeps numbers and nesting)."""
    return None if value is None else Jsonb(value)


# The fenced verbs' arrays (job ids, attempts, workers) go as array literals that the
# statement casts (``%(job_ids)s::text[]``), built in one join: psycopg's list dumper
# costs about 2 µs an element, several of a worker's CPU per job in its completions
# (docs/postgres.md, "The worker's own CPU"). Every text element is quoted, with its
# backslashes and double quotes escaped, as array_in reads them.
def text_array(values: list[str]) -> str:
    joined = "".join(values)
    if '"' in joined or "\\" in joined:
        values = [v.replace("\\", "\\\\").replace('"', '\\"') for v in values]
    return '{"' + '","'.join(values) + '"}' if values else "{}"


def int_array(values: list[int]) -> str:
    return "{" + ",".join(map(str, values)) + "}"


class JsonbLoader(Loader):
    """jsonb columns (text format) as psycopg's own loader reads them, for less: it
    hands ``json.loads`` bytes, which first guesses their encoding from their first
    bytes, and jsonb text never starts with a BOM nor holds a NUL, so the guess is
    always UTF-8. An empty object (most payloads and metadata) is not parsed at all.
    Each claimed job has two such columns (docs/postgres.md, "The worker's own CPU")."""

    def load(self, data: Buffer) -> Any:
        if data == b"{}":
            return {}
        return json.loads(str(data, "utf-8", "surrogatepass"))


# The columns a Job is read from: its fields, named alike (construct checks they all are).
_JOB_COLUMNS = tuple(f.name for f in fields(Job))


def job_of(r: Row) -> Job:
    values = {name: r[name] for name in _JOB_COLUMNS}
    values["mode"] = MODE_OF[values["mode"]]
    values["status"] = STATUS_OF[values["status"]]
    values["priority"] = PRIORITY_OF[values["priority"]]
    if values["retry_delays"] is not None:
        values["retry_delays"] = tuple(values["retry_delays"])
    return construct(Job, values)


def job_entry(job_id: str, j: NewJob) -> dict[str, Any]:
    """One element of the ``%(jobs)s`` array (queries.sql ``new_job_input``)."""
    return {
        "job_id": job_id,
        "name": j.name,
        "type": j.type,
        "mode": Mode(j.mode).value,
        "priority": int(Priority.parse(j.priority)),
        "description": j.description,
        "payload": j.payload if j.payload is not None else {},
        "metadata": j.metadata if j.metadata is not None else {},
        "icon_svg": j.icon_svg,
        "source": j.source,
        "plugin_id": j.plugin_id,
        "store_id": j.store_id,
        "user_id": j.user_id,
        "created_by": j.created_by,
        "show_notification": bool(j.show_notification),
        "run_at": j.run_at.isoformat() if j.run_at is not None else None,
        "max_retries": j.max_retries,
        "timeout": j.timeout,
        "retry_delays": list(j.retry_delays) if j.retry_delays is not None else None,
        "cron_job_id": j.cron_job_id,
    }


def utc(when: datetime) -> datetime:
    """``when`` as a timestamptz reads back in the session's UTC (a naive one is UTC)."""
    if when.tzinfo is UTC:
        return when
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def new_row_job(new: NewJob, pk: int, job_id: str, seq: int, now: datetime) -> Job:
    """The Job a row insert_jobs or copy_jobs has just written reads back as, built from
    what was sent: the statements return only what the server chose (id, seq), as
    sending and decoding whole rows cost more (queries.sql, insert_jobs)."""
    created = utc(now)
    run_at = created if new.run_at is None or new.run_at is now else utc(new.run_at)
    return inserted_job(new, pk, job_id, seq, run_at, created)


_dumps = checked_encoder(ensure_ascii=False, allow_nan=False)  # jsonb holds no NaN


# The columns of queries.sql ``copy_jobs``, in order, as COPY's binary types.
COPY_TYPES = [
    "int8", "text", "text", "text", "text", "text", "int2", "text", "jsonb", "jsonb",
    "text", "text", "text", "text", "text", "text", "bool", "timestamptz", "int4", "int4",
    "int4", "jsonb", "int8", "timestamptz", "timestamptz", "int8", "int4", "int8",
]  # fmt: skip
SEQ_COLUMN = 25  # copy_row's seq


class JsonbText(Dumper):
    """JSON text already encoded, as binary jsonb (format version 1, then the text):
    the jsonb columns of ``copy_jobs`` without encoding each value a second time."""

    format = Format.BINARY
    oid = postgres.types["jsonb"].oid

    def dump(self, obj: Any) -> bytes:
        return b"\x01" + str(obj).encode()


def copy_row(
    pk: int, job_id: str, j: NewJob, now: datetime, seq: int, event: int
) -> tuple[Any, ...]:
    """One row of ``copy_jobs``: what insert_new_jobs writes; ``event``: the id of its
    `created` event (queries.sql, derived_events)."""
    mode, priority, delays, run_at = j.mode, j.priority, j.retry_delays, j.run_at
    return (
        pk, job_id, j.name, j.type, mode.value if type(mode) is Mode else Mode(mode).value,
        "pending", priority if type(priority) is Priority else Priority.parse(priority),
        j.description, object_text(j.payload, j.payload_json, _dumps),
        object_text(j.metadata, j.metadata_json, _dumps), j.icon_svg, j.source, j.plugin_id,
        j.store_id, j.user_id, j.created_by, bool(j.show_notification),
        now if run_at is None or run_at is now else utc(run_at), 0, j.max_retries,
        j.timeout, None if delays is None else _dumps(list(delays)), j.cron_job_id, now,
        now, seq, 1, event,
    )  # fmt: skip


def insert_params(job_id: str, j: NewJob, now: datetime) -> list[Any]:
    """The parameters of ``insert_job``: copy_row's columns less the id, the seq and the
    `created` event's id (the server takes all three), the priority as a plain int."""
    row = list(copy_row(0, job_id, j, now, 0, 0))
    del row[-1], row[SEQ_COLUMN], row[0]
    row[5] = int(row[5])
    return row


def definition_json(d: CronDefinition) -> dict[str, Any]:
    """A definition as the JSON object the cron statements read with
    ``jsonb_populate_record(NULL::jobdeck_cron_jobs, …)`` (one key per column)."""
    return {
        "name": d.name,
        "cron_expression": d.cron_expression,
        "job_type": d.job_type,
        "configuration": d.configuration if d.configuration is not None else {},
        "description": d.description,
        "timezone": d.timezone,
        "plugin_id": d.plugin_id,
        "store_id": d.store_id,
        "is_active": bool(d.is_active),
        "max_runs": d.max_runs,
        "max_failures": d.max_failures,
        "timeout_seconds": d.timeout_seconds,
        "misfire_policy": MisfirePolicy(d.misfire_policy).value,
        "misfire_grace_seconds": d.misfire_grace_seconds,
        "overlap_policy": OverlapPolicy(d.overlap_policy).value,
        "tags": list(d.tags),
        "priority": int(Priority.parse(d.priority)),
        "max_retries": d.max_retries,
        "show_notification": bool(d.show_notification),
    }


def cron_job_of(r: Row) -> CronJob:
    last_status = r["last_status"]
    return CronJob(
        id=r["id"],
        definition=CronDefinition(
            name=r["name"],
            cron_expression=r["cron_expression"],
            job_type=r["job_type"],
            configuration=r["configuration"],
            description=r["description"],
            timezone=r["timezone"],
            plugin_id=r["plugin_id"],
            store_id=r["store_id"],
            is_active=r["is_active"],
            max_runs=r["max_runs"],
            max_failures=r["max_failures"],
            timeout_seconds=r["timeout_seconds"],
            misfire_policy=MisfirePolicy(r["misfire_policy"]),
            misfire_grace_seconds=r["misfire_grace_seconds"],
            overlap_policy=OverlapPolicy(r["overlap_policy"]),
            tags=tuple(r["tags"]),
            priority=Priority(r["priority"]),
            max_retries=r["max_retries"],
            show_notification=r["show_notification"],
        ),
        created_by=r["created_by"],
        declared_by=r["declared_by"],
        retired=r["retired"],
        is_paused=r["is_paused"],
        next_run_at=r["next_run_at"],
        last_run_at=r["last_run_at"],
        last_status=ExecutionStatus(last_status) if last_status is not None else None,
        last_error=r["last_error"],
        run_count=r["run_count"],
        success_count=r["success_count"],
        failure_count=r["failure_count"],
        consecutive_failures=r["consecutive_failures"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        seq=r["seq"],
    )


def execution_of(r: Row) -> Execution:
    return Execution(
        id=r["id"],
        cron_job_id=r["cron_job_id"],
        scheduled_for=r["scheduled_for"],
        status=ExecutionStatus(r["status"]),
        triggered_by=TriggeredBy(r["triggered_by"]),
        started_at=r["started_at"],
        completed_at=r["completed_at"],
        duration_ms=r["duration_ms"],
        result=r["result"],
        error_message=r["error_message"],
        triggered_by_user=r["triggered_by_user"],
        server_instance=r["server_instance"],
        job_id=r["job_id"],
        seq=r["seq"],
    )


# The timestamp columns of the cron tables: to_jsonb (changes_since) writes them as ISO
# 8601 text, in UTC since every session's time zone is UTC (queries.sql "session").
_CRON_TIMES = ("next_run_at", "last_run_at", "created_at", "updated_at")
_EXECUTION_TIMES = ("scheduled_for", "started_at", "completed_at")


def _times(record: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    decoded = dict(record)
    for name in names:
        value = decoded[name]
        if value is not None:
            decoded[name] = datetime.fromisoformat(value)
    return decoded


def cron_job_of_json(record: Mapping[str, Any]) -> CronJob:
    """A schedule row as ``to_jsonb`` gave it."""
    return cron_job_of(_times(record, _CRON_TIMES))


def execution_of_json(record: Mapping[str, Any]) -> Execution:
    """An execution row as ``to_jsonb`` gave it."""
    return execution_of(_times(record, _EXECUTION_TIMES))
