"""Checks of a cron schedule's fields (docs/api-cron.md): each raises ValidationError naming
the field. The API, the CLI, plugins and the Python API all build a
:class:`CronDefinition` here, so a bad schedule gets the same message everywhere."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields, replace
from typing import TYPE_CHECKING, Any

from jobdeck import inputs
from jobdeck.domain.job import Priority
from jobdeck.domain.schedule import (
    CRON_SORT_KEYS,
    CronDefinition,
    CronFilter,
    MisfirePolicy,
    OverlapPolicy,
)
from jobdeck.domain.values import PAYLOAD_LIMIT, json_text
from jobdeck.errors import ValidationError

if TYPE_CHECKING:
    from jobdeck.domain import cron

FIELDS = frozenset(f.name for f in fields(CronDefinition))
STATUSES = ("active", "paused", "inactive")
MAX_TAGS = 50


def _choice(kind: Any, what: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        try:
            return kind(value)
        except ValueError:
            names = ", ".join(item.value for item in kind)
            raise ValidationError(f"{what} must be one of {names}, not {value!r}") from None

    return check


def _configuration(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError("configuration must be an object")
    copy = dict(value)
    json_text(copy, "configuration", PAYLOAD_LIMIT)
    return copy


def _tags(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ValidationError("tags must be a list of strings")
    if len(value) > MAX_TAGS:
        raise ValidationError(f"tags: at most {MAX_TAGS}")
    return tuple(inputs.required(tag, "tags[]") for tag in value)


MAX_GRACE = 7 * 24 * 3600  # a week: later than that, a tick is missed


def _bounded(what: str, low: int = 0, high: int = inputs.MAX_SETTING) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        number = inputs.count(value, what)
        if not low <= number <= high:
            raise ValidationError(f"{what} must be from {low} to {high}")
        return number

    return check


def _max_failures(value: Any) -> int | None:
    """0 means never pause."""
    return _bounded("max_failures")(value) or None


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "name": lambda value: inputs.required(value, "name"),
    "cron_expression": lambda value: inputs.required(value, "cron_expression").strip(),
    "job_type": lambda value: inputs.required(value, "job_type"),
    "configuration": _configuration,
    "description": lambda value: inputs.text(value, "description"),
    "timezone": lambda value: inputs.text(value, "timezone") or "UTC",
    "plugin_id": lambda value: inputs.text(value, "plugin_id"),
    "store_id": lambda value: inputs.text(value, "store_id"),
    "is_active": lambda value: inputs.flag(value, "is_active"),
    "max_runs": _bounded("max_runs", low=1),
    "max_failures": _max_failures,
    "timeout_seconds": _bounded("timeout_seconds"),
    "misfire_policy": _choice(MisfirePolicy, "misfire_policy"),
    "misfire_grace_seconds": _bounded("misfire_grace_seconds", high=MAX_GRACE),
    "overlap_policy": _choice(OverlapPolicy, "overlap_policy"),
    "tags": _tags,
    "priority": Priority.parse,
    "max_retries": _bounded("max_retries"),
    "show_notification": lambda value: inputs.flag(value, "show_notification"),
}
assert _CHECKS.keys() == FIELDS, "every field has its check"
_REQUIRED = ("name", "cron_expression", "job_type")


def parse(expression: str, timezone: str) -> cron.CronExpression:
    """``expression`` in ``timezone``; ValidationError naming the problem.

    The one way in to :mod:`jobdeck.domain.cron` outside the scheduler: it imports
    croniter and dateutil (about 25 ms of CPU) when a schedule is first parsed, not with
    the deck, which a worker opens and never parses a schedule with (docs/internals.md,
    "Imports that wait until used")."""
    from jobdeck.domain import cron

    return cron.parse(expression, timezone)


def definition(
    given: Mapping[str, Any], base: CronDefinition | None = None
) -> tuple[CronDefinition, cron.CronExpression]:
    """A checked definition from ``given`` (over ``base`` for an update: fields not
    given keep their value), with its parsed expression. Fields given as None take
    their default."""
    unknown = sorted(set(given) - FIELDS)
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(unknown)}")
    if base is None:
        for name in _REQUIRED:
            if given.get(name) is None:
                raise ValidationError(f"{name} is required")
    defaults = CronDefinition(name="", cron_expression="", job_type="")
    values: dict[str, Any] = {}
    for name, value in given.items():
        if value is None and name in _REQUIRED:
            raise ValidationError(f"{name} is required")
        values[name] = getattr(defaults, name) if value is None else _CHECKS[name](value)
    checked = replace(base, **values) if base is not None else CronDefinition(**values)
    expression = parse(checked.cron_expression, checked.timezone)
    return checked, expression


def cron_filter(
    status: Any = None,
    job_type: Any = None,
    search: Any = None,
    tags: Any = None,
    plugin_id: Any = None,
    store_id: Any = None,
) -> CronFilter:
    if status is not None and status not in STATUSES:
        raise ValidationError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    return CronFilter(
        status=status,
        job_type=inputs.text(job_type, "job_type"),
        search=inputs.text(search, "search"),
        plugin_id=inputs.text(plugin_id, "plugin_id"),
        store_id=inputs.text(store_id, "store_id"),
        tags=_tags(tags),
    )


def sort(sort_by: Any, sort_order: Any) -> tuple[str, bool]:
    """(column, descending); defaults: created_at, descending."""
    column = sort_by or "created_at"
    if column not in CRON_SORT_KEYS:
        raise ValidationError(f"sort_by must be one of {', '.join(CRON_SORT_KEYS)}")
    order = (sort_order or "desc").lower() if isinstance(sort_order, str | None) else sort_order
    if order not in ("asc", "desc"):
        raise ValidationError("sort_order must be asc or desc")
    return column, order == "desc"
