"""Code-defined schedules of plugins (docs/cron.md).

``hooks.scheduler.call(fn, name).daily_at("02:00")`` registers ``fn`` as the job type
``plugin:{plugin}:cron:{name}`` and declares a schedule running it;
``hooks.add_cron_job(...)`` declares one from the fields of ``POST /api/cron-jobs``.
Declarations are only collected during ``setup``: the plugin manager upserts them
once every plugin has loaded (``Crons.declare``), by name, so restarts and
processes starting together never duplicate a schedule.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

from jobdeck.domain.schedule import OverlapPolicy
from jobdeck.errors import ValidationError
from jobdeck.handlers.base import BaseJobHandler

_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def call_handler(fn: Callable[..., Any], type_name: str) -> type[BaseJobHandler]:
    """A handler class whose ``execute`` calls ``fn`` (sync or async), giving it the
    handler when it takes an argument (for progress and logging)."""
    wants_handler = bool(inspect.signature(fn).parameters)
    doc = (fn.__doc__ or f"Runs {getattr(fn, '__qualname__', type_name)}").strip()

    if inspect.iscoroutinefunction(fn):

        class AsyncCall(BaseJobHandler):
            async def execute(self) -> Any:
                return await (fn(self) if wants_handler else fn())

        handler: type[BaseJobHandler] = AsyncCall
    else:

        class SyncCall(BaseJobHandler):
            def execute(self) -> Any:
                return fn(self) if wants_handler else fn()

        handler = SyncCall
    handler.__doc__ = doc
    handler.__qualname__ = handler.__name__ = f"Scheduled[{type_name}]"
    return handler


class ScheduledCall:
    """The fluent declaration ``call(fn, name)`` returns; every method returns it."""

    def __init__(self, name: str, job_type: str, plugin: str) -> None:
        self.fields: dict[str, Any] = {
            "name": name,
            "job_type": job_type,
            "plugin_id": plugin,
            "cron_expression": None,
        }

    def cron(self, expression: str) -> ScheduledCall:
        self.fields["cron_expression"] = expression
        return self

    def every_minute(self) -> ScheduledCall:
        return self.cron("* * * * *")

    def hourly(self) -> ScheduledCall:
        return self.cron("@hourly")

    def daily_at(self, time: str) -> ScheduledCall:
        match = _TIME.match(time) if isinstance(time, str) else None
        if match is None:
            raise ValidationError(f"daily_at: expected HH:MM, not {time!r}")
        return self.cron(f"{int(match[2])} {int(match[1])} * * *")

    def daily(self) -> ScheduledCall:
        return self.cron("@daily")

    def weekly(self) -> ScheduledCall:
        return self.cron("@weekly")

    def monthly(self) -> ScheduledCall:
        return self.cron("@monthly")

    def timezone(self, name: str) -> ScheduledCall:
        self.fields["timezone"] = name
        return self

    def allow_overlapping(self) -> ScheduledCall:
        self.fields["overlap_policy"] = OverlapPolicy.ALLOW.value
        return self

    def with_options(self, **fields: Any) -> ScheduledCall:
        """Any other field of ``POST /api/cron-jobs`` (description, max_runs, …)."""
        self.fields.update(fields)
        return self


class PluginScheduler:
    """``hooks.scheduler``: declarations of one plugin."""

    def __init__(self, plugin: str, register: Callable[[str, type[BaseJobHandler]], None]) -> None:
        self.plugin = plugin
        self._register = register
        self.declared: list[ScheduledCall | dict[str, Any]] = []

    def call(self, fn: Callable[..., Any], name: str) -> ScheduledCall:
        if not callable(fn):
            raise ValidationError(f"scheduler.call({name!r}): fn must be callable")
        if not isinstance(name, str) or not name.strip():
            raise ValidationError("scheduler.call: give the schedule a name")
        job_type = f"plugin:{self.plugin}:cron:{name}"
        self._register(job_type, call_handler(fn, job_type))
        declared = ScheduledCall(name, job_type, self.plugin)
        self.declared.append(declared)
        return declared

    def add(self, fields: dict[str, Any]) -> None:
        self.declared.append({"plugin_id": self.plugin, **fields})

    def definitions(self) -> list[dict[str, Any]]:
        """Every declaration's fields (an expression missing from a ``call`` is
        reported when they are checked)."""
        return [d.fields if isinstance(d, ScheduledCall) else d for d in self.declared]
