"""The ScheduleStore verbs on PostgreSQL (docs/cron.md; contract in ``store/base.py``).

Every write takes its registered seq from ``jobdeck_seq`` like a job write, so
schedules and executions join the one change feed under the same guarantee
(``queries.sql``, "Cron schedules and their executions"). The jobs trigger of migration
0002 mirrors a job's status into its execution and the schedule in the job's own
transaction. ``fire`` is the only verb of two round trips: it locks and compares the
schedule, asks :func:`jobdeck.domain.schedule.decide` what the due ticks become, and
records them, all in one transaction.

Retries after a lost connection stay safe: ``fire`` re-run after a COMMIT whose answer
was lost finds next_run_at and updated_at moved and records nothing (None, as for a
scheduler that lost the race); ``run_now`` is idempotent by the job_id chosen before
the first try; the upserts and updates write the same values again (updated_at may
move on by a microsecond).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from jobdeck.domain.ids import new_job_ids
from jobdeck.domain.job import NewJob
from jobdeck.domain.schedule import (
    CRON_SORT_KEYS,
    CronDefinition,
    CronFilter,
    CronJob,
    Execution,
    TriggeredBy,
    check_declarations,
    decide,
)
from jobdeck.errors import CronJobExists, CronJobNotFound, StoreError, ValidationError
from jobdeck.store.postgres.database import Conn, Database
from jobdeck.store.postgres.queries import Q
from jobdeck.store.postgres.rows import (
    cron_job_of,
    definition_json,
    execution_of,
    job_entry,
)

CRON_STATUSES = ("active", "paused", "inactive")


def _like(text: str | None) -> str | None:
    if not text:
        return None
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _cron_filter(where: CronFilter) -> dict[str, Any]:
    if where.status is not None and where.status not in CRON_STATUSES:
        raise ValidationError(f"status must be one of {', '.join(CRON_STATUSES)}")
    return {
        "status": where.status,
        "job_type": where.job_type,
        "plugin_id": where.plugin_id,
        "store_id": where.store_id,
        "q": _like(where.search),
        "tags": list(where.tags),
    }


def _key(d: CronDefinition) -> tuple[str, str, str]:
    """The name key, a NULL plugin or store as one value (migration 0002)."""
    return d.name, d.plugin_id or "", d.store_id or ""


def _key_params(d: CronDefinition) -> dict[str, Any]:
    return {"name": d.name, "plugin_id": d.plugin_id, "store_id": d.store_id}


def _exists(holder: CronJob) -> CronJobExists:
    return CronJobExists(holder, f"a cron job named {holder.name!r} already exists")


class ScheduleVerbs(Database):
    """Cron schedules and executions: the :class:`~jobdeck.store.base.ScheduleStore` part."""

    def _cron_written(self, enqueued: bool = False) -> None:
        """Own schedule writes wake local waiters at once (NOTIFY reaches the others)."""
        self._announce("jobs", "cron", *(("enqueue",) if enqueued else ()))

    async def _holder(self, definition: CronDefinition) -> CronJob | None:
        """The schedule holding the name key of ``definition``, if any."""
        params = _key_params(definition)
        rows = await self._run(lambda c: self._rows(c, "cron_job_by_key", params))
        return cron_job_of(rows[0]) if rows else None

    # --- schedules ------------------------------------------------------
    async def insert_cron_job(
        self,
        definition: CronDefinition,
        created_by: str,
        next_run_at: datetime | None,
        now: datetime,
        declared_by: str | None = None,
    ) -> CronJob:
        params = {
            "definition": Jsonb(definition_json(definition)),
            "created_by": created_by,
            "declared_by": declared_by,
            "next_run_at": next_run_at,
            "now": now,
        }
        tries = 0

        async def go(conn: Conn) -> tuple[CronJob, bool] | None:
            nonlocal tries
            tries += 1
            rows = await self._write(conn, Q["insert_cron_job"], params)
            if rows:
                return cron_job_of(rows[0]), True
            rows = await self._rows(conn, "cron_job_by_key", _key_params(definition))
            return (cron_job_of(rows[0]), False) if rows else None

        for _ in range(3):  # the holder may be deleted between our insert and our read
            outcome = await self._run(go)
            if outcome is None:
                continue
            cron, inserted = outcome
            # A retry after a lost COMMIT answer finds our own row: same definition,
            # creator and creation time. Report it as inserted, not as a clash.
            ours = tries > 1 and (
                cron.definition == definition
                and cron.created_by == created_by
                and cron.declared_by == declared_by
                and cron.created_at == now
            )
            if inserted or ours:
                self._cron_written()
                return cron
            raise _exists(cron)
        raise StoreError(f"cannot insert cron job {definition.name!r}: its name keeps changing")

    async def get_cron_job(self, cron_job_id: int) -> CronJob | None:
        rows = await self._run(lambda c: self._rows(c, "get_cron_job", {"id": cron_job_id}))
        return cron_job_of(rows[0]) if rows else None

    async def find_cron_jobs(self, name: str) -> list[CronJob]:
        rows = await self._run(lambda c: self._rows(c, "find_cron_jobs", {"name": name}))
        return [cron_job_of(r) for r in rows]

    async def list_cron_jobs(
        self,
        where: CronFilter,
        limit: int,
        offset: int,
        sort_by: str = "created_at",
        descending: bool = True,
    ) -> list[CronJob]:
        if sort_by not in CRON_SORT_KEYS:
            raise ValidationError(f"sort_by must be one of {', '.join(CRON_SORT_KEYS)}")
        params = _cron_filter(where) | {
            "sort": sort_by,
            "desc": bool(descending),
            "limit": max(0, limit),
            "offset": max(0, offset),
        }
        rows = await self._run(lambda c: self._search(c, "list_cron_jobs", params))
        return [cron_job_of(r) for r in rows]

    async def count_cron_jobs(self, where: CronFilter) -> int:
        params = _cron_filter(where)
        rows = await self._run(lambda c: self._search(c, "count_cron_jobs", params))
        return int(rows[0]["n"])

    async def update_cron_job(
        self,
        cron_job_id: int,
        definition: CronDefinition,
        next_run_at: datetime | None,
        now: datetime,
    ) -> CronJob:
        params = {
            "id": cron_job_id,
            "definition": Jsonb(definition_json(definition)),
            "next_run_at": next_run_at,
            "now": now,
        }
        try:
            rows = await self._run(lambda c: self._write(c, Q["update_cron_job"], params))
        except StoreError as exc:
            if not isinstance(exc.__cause__, psycopg.errors.UniqueViolation):
                raise
            holder = await self._holder(definition)
            if holder is None:  # deleted since: the caller may try again
                raise
            raise _exists(holder) from exc
        if not rows:
            raise CronJobNotFound(f"cron job {cron_job_id} not found")
        self._cron_written()
        return cron_job_of(rows[0])

    async def set_paused(
        self, cron_job_id: int, paused: bool, next_run_at: datetime | None, now: datetime
    ) -> CronJob:
        params = {"id": cron_job_id, "paused": paused, "next_run_at": next_run_at, "now": now}
        rows = await self._run(lambda c: self._write(c, Q["set_paused"], params))
        if not rows:
            raise CronJobNotFound(f"cron job {cron_job_id} not found")
        self._cron_written()
        return cron_job_of(rows[0])

    async def delete_cron_job(self, cron_job_id: int) -> None:
        params = {"id": cron_job_id}

        async def go(conn: Conn) -> list[Any]:
            # BEGIN; the schedule's row lock; the delete; COMMIT: one round trip.
            async with conn.pipeline():
                await conn.execute(Q["begin"])
                await conn.execute(Q["cron_row_lock"], params)
                cur = await conn.execute(Q["delete_cron_job"], params)
                await conn.execute(Q["commit"])
            return await cur.fetchall()

        rows = await self._run(go)
        if not rows:
            raise CronJobNotFound(f"cron job {cron_job_id} not found")
        self._announce("cron")

    async def due_cron_jobs(self, now: datetime, limit: int = 100) -> list[CronJob]:
        params = {"now": now, "limit": max(0, limit)}
        rows = await self._run(lambda c: self._rows(c, "due_cron_jobs", params))
        return [cron_job_of(r) for r in rows]

    async def next_cron_at(self) -> datetime | None:
        value: datetime | None = await self._run(lambda c: self._scalar(c, "next_cron_at", {}))
        return value

    # --- runs -----------------------------------------------------------
    async def fire(
        self,
        expected: CronJob,
        due: Sequence[datetime],
        next_run_at: datetime | None,
        job: NewJob,
        now: datetime,
        server_instance: str,
    ) -> list[Execution] | None:
        cron_job_id = expected.id
        due = list(due)
        job_ids = new_job_ids(len(due))  # at most one job per tick
        lock = {
            "id": cron_job_id,
            "expected": expected.next_run_at,
            "updated_at": expected.updated_at,
        }
        cron_job = replace(job, cron_job_id=cron_job_id)

        async def go(conn: Conn) -> tuple[list[Execution], bool] | None:
            # BEGIN; compare-and-set (fire_lock): one round trip.
            async with conn.pipeline():
                await conn.execute(Q["begin"])
                cur = await conn.execute(Q["fire_lock"], lock)
            row = await cur.fetchone()
            if row is None:
                await conn.execute(Q["rollback"])
                return None
            ticks, reached = decide(cron_job_of(row), due, running=bool(row["_running"]))
            fired = iter(job_ids)
            entries = [
                {"scheduled_for": t.scheduled_for.isoformat(), "job_id": next(fired)}
                if t.fire
                else {"scheduled_for": t.scheduled_for.isoformat(), "job_id": None}
                for t in ticks
            ]
            jobs = [job_entry(e["job_id"], cron_job) for e in entries if e["job_id"]]
            params = {
                "id": cron_job_id,
                "ticks": Jsonb(entries),
                "jobs": Jsonb(jobs),
                "next_run_at": None if reached else next_run_at,
                "reached": reached,
                "now": now,
                "server_instance": server_instance,
            }
            # The records and COMMIT: the second round trip.
            async with conn.pipeline():
                cur = await conn.execute(Q["fire"], params)
                await conn.execute(Q["commit"])
            executions = [execution_of(r) for r in await cur.fetchall()]
            return executions, any(e.job_id is not None for e in executions)

        outcome = await self._run(go)
        if outcome is None:
            return None
        executions, enqueued = outcome
        self._cron_written(enqueued)
        return executions

    async def run_now(
        self,
        cron_job_id: int,
        job: NewJob,
        triggered_by: TriggeredBy,
        triggered_by_user: str | None,
        now: datetime,
        server_instance: str,
    ) -> Execution:
        [job_id] = new_job_ids(1)  # chosen once: a retry inserts nothing twice
        cron_job = replace(job, cron_job_id=cron_job_id)
        params = {
            "id": cron_job_id,
            "job_id": job_id,
            "jobs": Jsonb([job_entry(job_id, cron_job)]),
            "triggered_by": TriggeredBy(triggered_by).value,
            "user": triggered_by_user,
            "now": now,
            "server_instance": server_instance,
        }

        async def go(conn: Conn) -> Execution | None:
            rows = await self._write(conn, Q["run_now"], params)
            if not rows:  # no schedule, or a retry after a lost answer: read it back
                rows = await self._rows(conn, "execution_by_job", {"job_id": job_id})
            return execution_of(rows[0]) if rows else None

        execution = await self._run(go)
        if execution is None:
            raise CronJobNotFound(f"cron job {cron_job_id} not found")
        self._announce("jobs", "enqueue")
        return execution

    # --- executions -----------------------------------------------------
    async def list_executions(self, cron_job_id: int, limit: int, offset: int) -> list[Execution]:
        params = {"id": cron_job_id, "limit": max(0, limit), "offset": max(0, offset)}
        rows = await self._run(lambda c: self._rows(c, "list_executions", params))
        return [execution_of(r) for r in rows]

    async def count_executions(self, cron_job_id: int) -> int:
        params = {"id": cron_job_id}
        return int(await self._run(lambda c: self._scalar(c, "count_executions", params)))

    async def get_execution(self, execution_id: int) -> Execution | None:
        rows = await self._run(lambda c: self._rows(c, "get_execution", {"id": execution_id}))
        return execution_of(rows[0]) if rows else None

    async def cleanup_executions(self, before: datetime) -> int:
        params = {"before": before}
        return int(await self._run(lambda c: self._scalar(c, "cleanup_executions", params)))

    # --- code-declared schedules -----------------------------------------
    async def upsert_declared(
        self,
        plugin: str,
        declared: Sequence[tuple[CronDefinition, datetime | None]],
        now: datetime,
    ) -> list[CronJob]:
        check_declarations(plugin, (d for d, _ in declared))
        keys = [_key(d) for d, _ in declared]
        if len(set(keys)) != len(keys):  # only a NULL and an empty plugin_id/store_id left
            raise ValidationError(f"plugin {plugin!r} declares a cron job name key twice")
        entries = [
            definition_json(d) | {"next_run_at": at.isoformat() if at is not None else None}
            for d, at in declared
        ]
        params = {"plugin": plugin, "declared": Jsonb(entries), "now": now}

        async def go(conn: Conn) -> list[CronJob] | CronJob:
            async with conn.pipeline():
                await conn.execute(Q["begin"])
                await conn.execute(Q["declare_lock"], {"plugin": plugin})
                cur = await conn.execute(Q["upsert_declared"], params)
            rows = await cur.fetchall()
            found = {_key(c.definition): c for c in map(cron_job_of, rows)}
            for key in keys:
                if found[key].declared_by != plugin:  # a name this plugin did not declare
                    await conn.execute(Q["rollback"])
                    return found[key]
            await conn.execute(Q["commit"])
            return [found[key] for key in keys]

        outcome = await self._run(go)
        if isinstance(outcome, CronJob):
            raise _exists(outcome)
        self._cron_written()
        return outcome
