"""Checks of what callers pass to the deck: each raises ValidationError naming the field.

:class:`QueuedJobs` is on the bulk-enqueue path (``schedule_jobs``), so it starts from
the defaults and checks only the options a caller gave: most jobs give none.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

from jobdeck.domain.job import (
    LOCAL_CREATOR,
    JobFilter,
    Mode,
    NewJob,
    Priority,
    construct,
    parse_statuses,
)
from jobdeck.domain.values import METADATA_LIMIT, PAYLOAD_LIMIT, check_text, json_text
from jobdeck.errors import ValidationError


class ScheduleOptions(TypedDict, total=False):
    """The keyword options of :meth:`JobDeck.schedule_job` (and of each dict given to
    ``schedule_jobs``); defaults: priority "normal", max_retries 3, delay 0, notification on."""

    priority: str | int | Priority
    max_retries: int
    delay: float | timedelta
    run_at: datetime | None
    name: str | None
    description: str | None
    source: str | None
    metadata: Mapping[str, Any] | None
    store_id: str | None
    user_id: str | None
    plugin_id: str | None
    retry_delays: Sequence[float] | None
    timeout: int | None
    icon_svg: str | None
    show_notification: bool
    cron_job_id: int | None


def text(value: Any, what: str, *, required: bool = False) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationError(f"{what} is required")
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be a string")
    check_text(what, value)
    return value


def required(value: Any, what: str) -> str:
    checked = text(value, what, required=True)
    assert checked is not None
    return checked


def flag(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"{what} must be true or false")
    return value


MAX_COUNT = 2**63 - 1  # a bigint column (an id)
MAX_SETTING = 2**31 - 1  # an integer column of PostgreSQL (max_retries, timeouts, …)


def count(value: Any, what: str, limit: int = MAX_COUNT) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise ValidationError(f"{what} must be an integer from 0 to {limit}")
    return value


def timeout(value: Any, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return count(value, "timeout", MAX_SETTING)


def metadata(value: Mapping[str, Any] | None) -> tuple[dict[str, Any], str]:
    return _json_object(value, "metadata", METADATA_LIMIT)


def _json_object(
    value: Mapping[str, Any] | None, what: str, limit: int
) -> tuple[dict[str, Any], str]:
    """A copy of ``value`` and its JSON text (checked for size; kept on NewJob so the
    store does not encode it again)."""
    if value is None:
        return {}, "{}"
    if type(value) is dict:  # most are: no abstract-class check
        copy = value.copy()
    elif isinstance(value, Mapping):
        copy = dict(value)
    else:
        raise ValidationError(f"{what} must be an object")
    return copy, json_text(copy, what, limit)


def icon(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    from jobdeck.domain.svg import sanitize_svg

    return sanitize_svg(value)


def run_at(delay: Any, when: Any, now: datetime) -> datetime:
    if when is not None:
        if delay not in (0, timedelta(0)):
            raise ValidationError("give either delay or run_at, not both")
        if not isinstance(when, datetime):
            raise ValidationError("run_at must be a datetime")
        return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    if isinstance(delay, timedelta):
        seconds = delay.total_seconds()
    elif isinstance(delay, int | float) and not isinstance(delay, bool):
        seconds = float(delay)
    else:
        raise ValidationError("delay must be a number of seconds or a timedelta")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValidationError("delay must be >= 0 seconds")
    return now + timedelta(seconds=seconds)


def retry_delays(value: Sequence[float] | None) -> tuple[float, ...] | None:
    if value is None:
        return None
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or not value:
        raise ValidationError("retry_delays must be a non-empty list of seconds")
    delays = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float) or not item >= 0:
            raise ValidationError("retry_delays must be numbers of seconds >= 0")
        delays.append(float(item))
    return tuple(delays)


def _optional_text(what: str) -> Callable[[Any], str | None]:
    return lambda value: text(value, what)


def _cron_job_id(value: Any) -> int | None:
    return None if value is None else count(value, "cron_job_id")


# The options that set one NewJob field of the same name, each with its check; the
# others (name, metadata, timeout, delay/run_at) have defaults that depend on more.
_CHECKS: dict[str, Callable[[Any], Any]] = {
    "priority": Priority.parse,
    "max_retries": lambda value: count(value, "max_retries", MAX_SETTING),
    "description": _optional_text("description"),
    "source": _optional_text("source"),
    "plugin_id": _optional_text("plugin_id"),
    "store_id": _optional_text("store_id"),
    "user_id": _optional_text("user_id"),
    "icon_svg": icon,
    "show_notification": lambda value: flag(value, "show_notification"),
    "retry_delays": retry_delays,
    "cron_job_id": _cron_job_id,
}
_SPECIAL = frozenset({"name", "metadata", "timeout", "delay", "run_at"})
SCHEDULE_OPTIONS = frozenset(ScheduleOptions.__annotations__)
assert _CHECKS.keys() | _SPECIAL == SCHEDULE_OPTIONS, "every option has its check"

_QUEUED_DEFAULTS: dict[str, Any] = {
    "mode": Mode.QUEUED,
    "priority": Priority.NORMAL,
    "description": None,
    "icon_svg": None,
    "source": None,
    "plugin_id": None,
    "store_id": None,
    "user_id": None,
    "created_by": LOCAL_CREATOR,
    "show_notification": True,
    "max_retries": 3,
    "retry_delays": None,
    "cron_job_id": None,
    "metadata_json": "{}",
}


class QueuedJobs:
    """The NewJobs ``schedule_job(job_type, body, **options)`` asks for at ``now``.

    What every job of one type shares (the checked ``created_by``, the defaults) is set
    up once, so that ``schedule_jobs`` pays per job only for the payload and the
    options it gives (deck.py keeps one per type in a call). ``check``: the type's own
    check of a payload (its handler's). ``created_by`` is the server's to set
    (docs/api.md), never an option.
    """

    __slots__ = ("_check", "_default_timeout", "_defaults", "_now")

    def __init__(
        self,
        job_type: str,
        *,
        default_timeout: int,
        now: datetime,
        check: Callable[[dict[str, Any]], object],
        created_by: str = LOCAL_CREATOR,
    ) -> None:
        defaults = dict(_QUEUED_DEFAULTS)
        if created_by != LOCAL_CREATOR:
            defaults["created_by"] = required(created_by, "created_by")
        defaults["type"] = defaults["name"] = job_type
        defaults["timeout"] = default_timeout
        defaults["run_at"] = now
        self._defaults = defaults
        self._default_timeout = default_timeout
        self._now = now
        self._check = check

    def __call__(self, body: Mapping[str, Any] | None, options: Mapping[str, Any]) -> NewJob:
        values = self._defaults.copy()
        values["payload"], values["payload_json"] = _json_object(body, "payload", PAYLOAD_LIMIT)
        values["metadata"] = {}
        if options:
            unknown = options.keys() - SCHEDULE_OPTIONS
            if unknown:
                raise ValidationError(f"unknown argument(s): {', '.join(sorted(unknown))}")
            for key, value in options.items():
                check = _CHECKS.get(key)
                if check is not None:
                    values[key] = check(value)
            values["name"] = text(options.get("name"), "name") or values["type"]
            values["metadata"], values["metadata_json"] = metadata(options.get("metadata"))
            values["timeout"] = timeout(options.get("timeout"), self._default_timeout)
            if "delay" in options or "run_at" in options:
                values["run_at"] = run_at(options.get("delay", 0), options.get("run_at"), self._now)
        self._check(values["payload"])
        # Every field is given: construct skips the frozen dataclass's per-field setattr.
        return construct(NewJob, values)


class JobFilters(TypedDict, total=False):
    """The filters of ``get_jobs``, ``count_jobs`` and ``count_by_status``; each
    narrows the jobs (``status``: one name or several, ``q``: text in the name,
    description or type)."""

    status: str | Sequence[str] | None
    type: str | None
    source: str | None
    store_id: str | None
    plugin_id: str | None
    mode: str | None
    q: str | None


FILTERS = frozenset(JobFilters.__annotations__)


def job_filter(filters: Mapping[str, Any]) -> JobFilter:
    unknown = sorted(set(filters) - FILTERS)
    if unknown:
        raise ValidationError(f"unknown filter(s): {', '.join(unknown)}")
    status, mode = filters.get("status"), filters.get("mode")
    statuses = parse_statuses(status)
    try:
        job_mode = Mode(mode) if mode else None
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    return JobFilter(
        status=statuses,
        type=text(filters.get("type"), "type"),
        source=text(filters.get("source"), "source"),
        store_id=text(filters.get("store_id"), "store_id"),
        plugin_id=text(filters.get("plugin_id"), "plugin_id"),
        mode=job_mode,
        text=text(filters.get("q"), "q"),
    )
