"""Conversions between Python values and SQLite columns.

Timestamps are integer microseconds since the Unix epoch, UTC: exact for every
datetime, and they compare and index as plain integers.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

from jobdeck.domain.job import HistoryEvent, Job, Mode, Priority, Status
from jobdeck.store.base import Token

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_STATUS = {s.value: s for s in Status}
_MODE = {m.value: m for m in Mode}
_PRIORITY = {int(p): p for p in Priority}


def to_ts(when: datetime) -> int:
    if when.tzinfo is None:  # naive datetimes are taken as UTC
        when = when.replace(tzinfo=UTC)
    return (when - _EPOCH) // _MICROSECOND


def from_ts(value: int | None) -> datetime | None:
    return None if value is None else _EPOCH + timedelta(microseconds=value)


def ts_at(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def dumps_or_none(value: Any) -> str | None:
    return None if value is None else dumps(value)


def loads_or_none(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _float_or_none(value: float | None) -> float | None:
    return None if value is None else float(value)


def status_of(value: str) -> Status:
    return _STATUS[value]


def to_job(row: sqlite3.Row) -> Job:
    delays = row["retry_delays"]
    return Job(
        id=row["id"],
        job_id=row["job_id"],
        name=row["name"],
        type=row["type"],
        mode=_MODE[row["mode"]],
        status=_STATUS[row["status"]],
        priority=_PRIORITY[row["priority"]],
        description=row["description"],
        progress=float(row["progress"]),
        progress_message=row["progress_message"],
        payload=json.loads(row["payload"]),
        metadata=json.loads(row["metadata"]),
        result=loads_or_none(row["result"]),
        error_message=row["error_message"],
        icon_svg=row["icon_svg"],
        source=row["source"],
        plugin_id=row["plugin_id"],
        store_id=row["store_id"],
        user_id=row["user_id"],
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
    )


def to_event(row: sqlite3.Row) -> HistoryEvent:
    return HistoryEvent(
        id=row["id"],
        job_id=row["job_id"],
        kind=row["kind"],
        message=row["message"],
        data=loads_or_none(row["data"]),
        created_at=ts_at(row["created_at"]),
    )


def to_token(row: sqlite3.Row) -> Token:
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
