"""Conversions between Python values and SQLite columns.

Timestamps are integer microseconds since the Unix epoch, UTC: exact for every
datetime, and they compare and index as plain integers.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

from jobdeck.domain.job import (
    MODE_OF,
    PRIORITY_OF,
    STATUS_OF,
    HistoryEvent,
    Job,
    NewJob,
    Status,
    construct,
)
from jobdeck.domain.jsontext import checked_encoder
from jobdeck.store.base import Token
from jobdeck.store.sqlite.queries import Q, json_rows

Row = dict[str, Any]


def fetch(cursor: sqlite3.Cursor) -> list[Row]:
    """All rows as dicts. (sqlite3.Row finds a column by a case-insensitive scan of
    the names: ~30 µs for the 36 columns of a job, a dict costs ~3 µs.)"""
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def fetch_many(conn: sqlite3.Connection, name: str, params: dict[str, Any]) -> list[Row]:
    """The job rows of query ``name``, in ONE sqlite3_step (``json_rows`` in
    queries.sql), in no particular order. The sqlite3 module releases the GIL around
    every step, and while the event loop is busy each step can wait a millisecond to
    win it back. When the one value would pass SQLite's length limit (1 GB: a page of
    jobs with huge payloads), the rows are read one step each instead."""
    try:
        rows: list[Row] = json.loads(conn.execute(json_rows(name), params).fetchone()[0])
    except sqlite3.DataError:
        return fetch(conn.execute(Q[name], params))
    return rows


def fetch_one(cursor: sqlite3.Cursor) -> Row | None:
    rows = fetch(cursor)
    return rows[0] if rows else None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_ts(when: datetime) -> int:
    if when.tzinfo is None:  # naive datetimes are taken as UTC
        when = when.replace(tzinfo=UTC)
    return (when - _EPOCH) // _MICROSECOND


def from_ts(value: int | None) -> datetime | None:
    return None if value is None else _EPOCH + timedelta(microseconds=value)


def ts_at(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


dumps = checked_encoder(ensure_ascii=False, allow_nan=True)


def dumps_or_none(value: Any) -> str | None:
    return None if value is None else dumps(value)


def loads_or_none(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def as_read(when: datetime) -> datetime:
    """``when`` as it reads back once stored (UTC); as is when it already is."""
    return when if when.tzinfo is UTC else ts_at(to_ts(when))


def _float_or_none(value: float | None) -> float | None:
    return None if value is None else float(value)


def _object(text: str) -> Any:
    return {} if text == "{}" else json.loads(text)


def status_of(value: str) -> Status:
    return STATUS_OF[value]


def to_job(row: Row) -> Job:
    delays = row["retry_delays"]
    return construct(Job, dict(
        id=row["id"],
        job_id=row["job_id"],
        name=row["name"],
        type=row["type"],
        mode=MODE_OF[row["mode"]],
        status=STATUS_OF[row["status"]],
        priority=PRIORITY_OF[row["priority"]],
        description=row["description"],
        progress=float(row["progress"]),
        progress_message=row["progress_message"],
        payload=_object(row["payload"]),
        metadata=_object(row["metadata"]),
        result=loads_or_none(row["result"]),
        error_message=row["error_message"],
        icon_svg=row["icon_svg"],
        source=row["source"],
        plugin_id=row["plugin_id"],
        store_id=row["store_id"],
        user_id=row["user_id"],
        created_by=row["created_by"],
        show_notification=bool(row["show_notification"]),
        run_at=from_ts(row["run_at"]),
        attempt=row["attempt"],
        max_retries=row["max_retries"],
        timeout=row["timeout"],
        retry_delays=None if delays is None else tuple(json.loads(delays)),
        created_at=from_ts(row["created_at"]),
        updated_at=from_ts(row["updated_at"]),
        started_at=from_ts(row["started_at"]),
        completed_at=from_ts(row["completed_at"]),
        cron_job_id=row["cron_job_id"],
        locked_by=row["locked_by"],
        lease_expires_at=from_ts(row["lease_expires_at"]),
        seq=row["seq"],
        eta_seconds=_float_or_none(row["eta_seconds"]),
        rate=_float_or_none(row["rate"]),
    ))  # fmt: skip


def insert_row(
    new: NewJob,
    rowid: int,
    job_id: str,
    payload: str,
    metadata: str,
    run_at: int,
    at: int,
    seq: int,
) -> tuple[str, tuple[Any, ...]]:
    """The statement (``insert_job_bare`` when it can, else ``insert_job``) and its
    parameters that insert one new job."""
    if (
        new.description is None
        and new.icon_svg is None
        and new.plugin_id is None
        and new.store_id is None
        and new.user_id is None
        and new.retry_delays is None
        and new.cron_job_id is None
    ):
        return "insert_job_bare", (
            rowid, job_id, new.name, new.type, new.mode.value, int(new.priority), payload,
            metadata, new.source, new.created_by, int(new.show_notification), run_at,
            new.max_retries, new.timeout, at, at, seq,
        )  # fmt: skip
    delays = None if new.retry_delays is None else dumps(list(new.retry_delays))
    return "insert_job", (
        rowid, job_id, new.name, new.description, new.type, new.mode.value,
        int(new.priority), payload, metadata, new.icon_svg, new.source, new.plugin_id,
        new.store_id, new.user_id, new.created_by, int(new.show_notification), run_at,
        new.max_retries, new.timeout, delays, at, at, new.cron_job_id, seq,
    )  # fmt: skip


def to_event(row: Row) -> HistoryEvent:
    return HistoryEvent(
        id=row["id"],
        job_id=row["job_id"],
        kind=row["kind"],
        message=row["message"],
        data=loads_or_none(row["data"]),
        created_at=ts_at(row["created_at"]),
    )


def to_token(row: Row) -> Token:
    return Token(
        id=row["id"],
        name=row["name"],
        scopes=tuple(json.loads(row["scopes"])),
        plugin=row["plugin"],
        store=row["store"],
        created_at=ts_at(row["created_at"]),
        revoked_at=from_ts(row["revoked_at"]),
        last_used_at=from_ts(row["last_used_at"]),
    )
