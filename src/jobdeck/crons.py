"""Cron schedule verbs over the deck's store (docs/api-cron.md; docs/cron.md); the deck owns one
(``deck.crons``), so the API, the CLI and plugins never reach into the store.

Every definition is checked by :mod:`jobdeck.cron_inputs` (expression, timezone,
fields) and its job type against the deck's registry, so a bad schedule is refused
when it is made, never when it fires.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from jobdeck import cron_inputs, inputs, retention
from jobdeck.domain.job import LOCAL_CREATOR
from jobdeck.domain.schedule import (
    CronDefinition,
    CronJob,
    Execution,
    TriggeredBy,
    job_of,
)
from jobdeck.errors import CronJobNotFound, ValidationError
from jobdeck.handlers.registry import Registry
from jobdeck.handlers.services import Services
from jobdeck.store.base import Store

if TYPE_CHECKING:
    from jobdeck.domain import cron

LOCAL = LOCAL_CREATOR  # created_by for the CLI and the Python API (docs/api.md)
PREVIEW_RUNS = 5


def server_instance() -> str:
    """Which process fired or ran something: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Page:
    items: list[Any]
    total: int


class Crons:
    def __init__(
        self,
        store: Callable[[], Awaitable[Store]],
        registry: Registry,
        services: Services,
        now: Callable[[], datetime],
    ) -> None:
        self._store = store  # opens the store lazily, like the deck's own verbs
        self._registry = registry
        self._services = services
        self._now = now

    # --- definitions --------------------------------------------------------

    def check(
        self, given: Mapping[str, Any], base: CronDefinition | None = None
    ) -> tuple[CronDefinition, cron.CronExpression]:
        """The checked definition and its expression; ValidationError / UnknownJobType."""
        definition, expression = cron_inputs.definition(given, base)
        handler = self._registry.get(definition.job_type)
        try:
            handler.check_config(definition.configuration, self._services)
        except ValidationError as exc:
            # The handler names the job's payload; a schedule calls it its configuration.
            message = exc.message
            if message.startswith("payload"):
                message = "configuration" + message.removeprefix("payload")
            raise type(exc)(message) from None
        return definition, expression

    def _next(self, definition: CronDefinition, expression: cron.CronExpression) -> datetime | None:
        return expression.next_after(self._now()) if definition.is_active else None

    async def create(self, *, created_by: str = LOCAL, **fields: Any) -> CronJob:
        """A new schedule; CronJobExists (``.existing``) when its name key is taken."""
        definition, expression = self.check(fields)
        if definition.plugin_id == retention.OWNER:
            raise ValidationError(
                f"plugin_id: {retention.OWNER!r} is reserved for jobdeck's own schedules"
            )
        store = await self._store()
        return await store.insert_cron_job(
            definition, created_by, self._next(definition, expression), self._now()
        )

    async def update(self, cron_job_id: int, **fields: Any) -> CronJob:
        """Change the given fields. The store keeps the stored next fire time unless the
        expression, timezone or activity changed (then the next one after now)."""
        current = await self.get(cron_job_id)
        definition, expression = self.check(fields, current.definition)
        store = await self._store()
        # Always the next fire time after now: the store decides, from the row as it is
        # when it writes (paused or inactive: none), whether it applies.
        now = self._now()
        return await store.update_cron_job(cron_job_id, definition, expression.next_after(now), now)

    async def pause(self, cron_job_id: int) -> CronJob:
        store = await self._store()
        return await store.set_paused(cron_job_id, True, None, self._now())

    async def resume(self, cron_job_id: int) -> CronJob:
        current = await self.get(cron_job_id)
        expression = cron_inputs.parse(
            current.definition.cron_expression, current.definition.timezone
        )
        store = await self._store()
        next_run = self._next(current.definition, expression)
        return await store.set_paused(cron_job_id, False, next_run, self._now())

    async def delete(self, cron_job_id: int) -> None:
        await (await self._store()).delete_cron_job(cron_job_id)

    async def declare(self, plugin: str, declared: Sequence[Mapping[str, Any]]) -> list[CronJob]:
        """Upsert the schedules ``plugin`` declares in code (docs/cron.md); its declared
        schedules missing from ``declared`` are deactivated."""
        checked = []
        for fields in declared:
            try:
                definition, expression = self.check(fields)
            except ValidationError as exc:
                raise type(exc)(f"schedule {fields.get('name')!r}: {exc.message}") from None
            checked.append((definition, self._next(definition, expression)))
        store = await self._store()
        return await store.upsert_declared(plugin, checked, self._now())

    # --- reading ------------------------------------------------------------

    async def get(self, cron_job_id: int) -> CronJob:
        """CronJobNotFound when unknown."""
        store = await self._store()
        found = await store.get_cron_job(inputs.count(cron_job_id, "id"))
        if found is None:
            raise CronJobNotFound(f"no cron job {cron_job_id}")
        return found

    async def resolve(self, ref: str) -> CronJob:
        """A schedule by id (digits) or by name (the CLI's argument); a name held by
        several schedules (other plugins or stores) is an error listing them."""
        if ref.isdigit():
            return await self.get(int(ref))
        matches = await (await self._store()).find_cron_jobs(ref)
        if not matches:
            raise CronJobNotFound(f"no cron job named {ref!r}")
        if len(matches) > 1:
            listed = "; ".join(
                f"id {c.id} (plugin {c.plugin_id or '-'}, store {c.store_id or '-'})"
                for c in matches
            )
            raise ValidationError(f"{len(matches)} cron jobs are named {ref!r}: {listed}")
        return matches[0]

    async def search(
        self,
        *,
        page: int = 1,
        limit: int = 20,
        sort_by: str | None = None,
        sort_order: str | None = None,
        **filters: Any,
    ) -> Page:
        where = cron_inputs.cron_filter(**filters)
        column, descending = cron_inputs.sort(sort_by, sort_order)
        page, limit = _paging(page, limit)
        store = await self._store()
        items = await store.list_cron_jobs(where, limit, (page - 1) * limit, column, descending)
        return Page(items, await store.count_cron_jobs(where))

    async def executions(self, cron_job_id: int, *, page: int = 1, limit: int = 20) -> Page:
        await self.get(cron_job_id)
        page, limit = _paging(page, limit)
        store = await self._store()
        items = await store.list_executions(cron_job_id, limit, (page - 1) * limit)
        return Page(items, await store.count_executions(cron_job_id))

    async def get_execution(self, execution_id: int) -> Execution | None:
        return await (await self._store()).get_execution(execution_id)

    def next_runs(self, cron_job: CronJob, count: int = PREVIEW_RUNS) -> list[datetime]:
        """The next fire times; none while paused or inactive."""
        if not cron_job.scheduled:
            return []
        d = cron_job.definition
        return cron_inputs.parse(d.cron_expression, d.timezone).next_runs(self._now(), count)

    def describe(self, cron_job: CronJob) -> str:
        d = cron_job.definition
        return cron_inputs.parse(d.cron_expression, d.timezone).describe()

    def preview(self, expression: Any, timezone: Any = None) -> tuple[str, list[datetime]]:
        """A human description and the next fire times of an expression (the UI
        previews as you type); ValidationError naming the problem."""
        parsed = cron_inputs.parse(
            inputs.required(expression, "cron_expression"),
            inputs.text(timezone, "timezone") or "UTC",
        )
        return parsed.describe(), parsed.next_runs(self._now(), PREVIEW_RUNS)

    # --- running ------------------------------------------------------------

    async def run_now(
        self,
        cron_job_id: int,
        *,
        triggered_by: TriggeredBy = TriggeredBy.MANUAL,
        user: str | None = None,
    ) -> Execution:
        """Run the schedule's job now, whatever its overlap policy (docs/cron.md)."""
        current = await self.get(cron_job_id)
        self._registry.get(current.definition.job_type)
        store = await self._store()
        return await store.run_now(
            current.id, job_of(current), triggered_by, user, self._now(), server_instance()
        )


MAX_PAGE = 1000


def _paging(page: Any, limit: Any) -> tuple[int, int]:
    page = inputs.count(page, "page")
    limit = inputs.count(limit, "limit")
    if page < 1:
        raise ValidationError("page must be at least 1")
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit must be from 1 to {MAX_PAGE}")
    return page, limit
