"""The Job record (docs/api.md), its statuses, modes and priorities."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any, TypeVar

from jobdeck.errors import ValidationError

LOCAL_CREATOR = "local"
"""``created_by`` of jobs made through the CLI or the Python API (docs/api.md); HTTP callers
give ``token:{id}:{name}``, plugin hooks ``plugin:{name}``."""


class Status(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    CANCELLING = "cancelling"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})


def parse_statuses(value: object, field: str = "status") -> tuple[Status, ...]:
    """Status names given by a caller: one name, names separated by commas, or a list of
    either; an unknown name is a ValidationError naming ``field``. The one place every
    entry point (HTTP filters, WebSocket filters, the Python API, cleanup) reads them."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple | set | frozenset):
        raise ValidationError(f"{field} must be a status name or a list of them")
    found: list[Status] = []
    for item in items:
        if not isinstance(item, str):
            raise ValidationError(f"{field} must be a status name or a list of them")
        for name in (part.strip() for part in item.split(",")):
            if not name:
                continue
            try:
                status = Status(name)
            except ValueError:
                known = ", ".join(Status)
                raise ValidationError(
                    f"{field}: unknown status {name!r} (known: {known})"
                ) from None
            if status not in found:
                found.append(status)
    return tuple(found)


class Mode(StrEnum):
    TRACKED = "tracked"
    QUEUED = "queued"


class Priority(IntEnum):
    """Stored as an integer so the claim orders numerically (higher first)."""

    LOW = 0
    NORMAL = 1
    HIGH = 2
    URGENT = 3

    @classmethod
    def parse(cls, value: str | int | Priority) -> Priority:
        if isinstance(value, Priority):
            return value
        if isinstance(value, str):
            try:
                return cls[value.upper()]
            except KeyError:
                pass
        elif isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 3:
            return cls(value)
        names = ", ".join(p.name.lower() for p in sorted(cls, reverse=True))
        raise ValidationError(f"priority must be one of {names}, not {value!r}")

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Job:
    """A snapshot of one job as the store last saw it."""

    id: int
    job_id: str
    name: str
    type: str
    mode: Mode
    status: Status
    priority: Priority = Priority.NORMAL
    description: str | None = None
    progress: float = 0.0
    progress_message: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    result: Any = None
    error_message: str | None = None
    icon_svg: str | None = None
    source: str | None = None
    plugin_id: str | None = None
    store_id: str | None = None
    user_id: str | None = None
    created_by: str = LOCAL_CREATOR
    show_notification: bool = True
    run_at: datetime | None = None
    attempt: int = 0
    max_retries: int = 3
    timeout: int = 300
    retry_delays: tuple[float, ...] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    cron_job_id: int | None = None
    locked_by: str | None = None
    lease_expires_at: datetime | None = None
    seq: int = 0
    eta_seconds: float | None = None
    rate: float | None = None


@dataclass(frozen=True)
class NewJob:
    """What a caller asks the store to insert (ids and timestamps are the store's).

    ``payload_json`` / ``metadata_json``: the same objects already encoded as JSON text
    by whoever checked their size, so that a store writing text need not encode them a
    second time (bulk enqueue); None, the store encodes them itself.
    """

    name: str
    type: str
    mode: Mode
    priority: Priority = Priority.NORMAL
    description: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    icon_svg: str | None = None
    source: str | None = None
    plugin_id: str | None = None
    store_id: str | None = None
    user_id: str | None = None
    created_by: str = LOCAL_CREATOR
    show_notification: bool = True
    run_at: datetime | None = None
    max_retries: int = 3
    timeout: int = 300
    retry_delays: tuple[float, ...] | None = None
    cron_job_id: int | None = None
    payload_json: str | None = field(default=None, repr=False, compare=False)
    metadata_json: str | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Fence:
    """Identifies one attempt of a claimed job; every write of that attempt carries it."""

    job_id: str
    attempt: int
    worker_id: str


@dataclass(frozen=True)
class JobFilter:
    """Filters applied before paging (README.md; docs/api.md)."""

    status: tuple[Status, ...] = ()
    type: str | None = None
    source: str | None = None
    store_id: str | None = None
    plugin_id: str | None = None
    mode: Mode | None = None
    text: str | None = None  # case-insensitive substring of name, description or type


@dataclass(frozen=True)
class HistoryEvent:
    id: int
    job_id: str
    kind: str  # created, started, progress, log, retry, error, completed, failed, cancelled, ...
    message: str | None
    data: dict[str, Any] | None
    created_at: datetime


_Record = TypeVar("_Record", Job, NewJob)
_FIELD_COUNT = {cls: len(fields(cls)) for cls in (Job, NewJob)}


def construct(cls: type[_Record], values: dict[str, Any]) -> _Record:
    """``cls(**values)`` without the frozen dataclass's one ``object.__setattr__`` per
    field (most of the cost of building one: reading rows, bulk enqueue). ``values``
    names every field (the conformance suite compares whole Jobs, so a misspelt key
    fails it); if the class ever gains a field the caller does not set, the
    constructor and its defaults take over."""
    if len(values) != _FIELD_COUNT[cls]:
        return cls(**values)
    record: _Record = object.__new__(cls)
    record.__dict__.update(values)
    return record


# The members by stored value, for the stores reading rows: a dict lookup costs less
# than the enum's own constructor, three times per row read.
STATUS_OF = {s.value: s for s in Status}
MODE_OF = {m.value: m for m in Mode}
PRIORITY_OF = {int(p): p for p in Priority}

# The columns of a fresh row that NewJob does not carry (inserted_job).
_FRESH = {
    "status": Status.PENDING, "progress": 0.0, "progress_message": None, "result": None,
    "error_message": None, "attempt": 0, "started_at": None, "completed_at": None,
    "locked_by": None, "lease_expires_at": None, "eta_seconds": None, "rate": None,
}  # fmt: skip


def inserted_job(
    new: NewJob, pk: int, job_id: str, seq: int, run_at: datetime, created: datetime
) -> Job:
    """The Job a freshly inserted row of ``new`` reads back as, built without reading it
    back (the stores' enqueue): NewJob's fields are Job's, less the encoded forms, plus
    those of a fresh row. A mode, priority or retry delays given loosely (text, a list)
    come back typed, as a stored row reads."""
    values = new.__dict__.copy()
    del values["payload_json"], values["metadata_json"]
    values.update(_FRESH)
    values["id"] = pk
    values["job_id"] = job_id
    if type(new.mode) is not Mode:
        values["mode"] = Mode(new.mode)
    if type(new.priority) is not Priority:
        values["priority"] = Priority.parse(new.priority)
    values["payload"] = dict(new.payload) if new.payload else {}
    values["metadata"] = dict(new.metadata) if new.metadata else {}
    if type(new.show_notification) is not bool:
        values["show_notification"] = bool(new.show_notification)
    if new.retry_delays is not None and type(new.retry_delays) is not tuple:
        values["retry_delays"] = tuple(new.retry_delays)
    values["run_at"] = run_at
    values["created_at"] = values["updated_at"] = created
    values["seq"] = seq
    return construct(Job, values)
