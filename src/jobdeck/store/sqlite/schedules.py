"""Cron schedules and their executions in the SQLite store (ScheduleStore in
jobdeck.store.base; schema in migrations/0002_cron.sql).

Every write is one ``Tx`` (BEGIN IMMEDIATE): SQLite's single writer makes each
read-then-write below atomic, and every row written takes the transaction's feed
seq. How an execution follows its job is not here: the ``jobs_mirror_execution``
trigger does it inside whichever job verb changes the job's status.

Signals after each commit: ``jobs`` (a feed record changed), ``cron`` when a
schedule's next fire time may have changed (the scheduler sleeps on it), ``enqueue``
when jobs were inserted.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from jobdeck.domain.ids import new_job_ids
from jobdeck.domain.job import NewJob
from jobdeck.domain.schedule import (
    CRON_SORT_KEYS,
    CronDefinition,
    CronFilter,
    CronJob,
    Execution,
    ExecutionStatus,
    TriggeredBy,
    check_declarations,
    decide,
)
from jobdeck.errors import CronJobExists, CronJobNotFound, ValidationError
from jobdeck.events.signals import Signals
from jobdeck.store.sqlite.connection import Database, Tx
from jobdeck.store.sqlite.cron_rows import (
    definition_params,
    key_params,
    to_cron_job,
    to_execution,
)
from jobdeck.store.sqlite.inserts import NewRows
from jobdeck.store.sqlite.queries import Q
from jobdeck.store.sqlite.rows import dumps, fetch, fetch_one, from_ts, to_ts

CRON_STATUSES = ("active", "paused", "inactive")
CLEANUP_BATCH = 5000  # executions per cleanup transaction


class ScheduleVerbs:
    _db: Database
    signals: Signals

    # --- schedules --------------------------------------------------------
    async def insert_cron_job(
        self,
        definition: CronDefinition,
        created_by: str,
        next_run_at: datetime | None,
        now: datetime,
        declared_by: str | None = None,
    ) -> CronJob:
        def run(conn: sqlite3.Connection) -> CronJob:
            with Tx(conn) as t:
                return _insert(conn, t, definition, created_by, declared_by, next_run_at, now)

        cron = await self._db.run(run)
        self.signals.fire("jobs", "cron")
        return cron

    async def get_cron_job(self, cron_job_id: int) -> CronJob | None:
        def run(conn: sqlite3.Connection) -> CronJob | None:
            row = fetch_one(conn.execute(Q["get_cron_job"], (cron_job_id,)))
            return None if row is None else to_cron_job(row)

        return await self._db.run(run)

    async def find_cron_jobs(self, name: str) -> list[CronJob]:
        rows = await self._db.run(lambda c: fetch(c.execute(Q["find_cron_jobs"], (name,))))
        return [to_cron_job(row) for row in rows]

    async def list_cron_jobs(
        self,
        where: CronFilter,
        limit: int,
        offset: int,
        sort_by: str = "created_at",
        descending: bool = True,
    ) -> list[CronJob]:
        if sort_by not in CRON_SORT_KEYS:
            raise ValidationError(
                f"sort_by must be one of {', '.join(CRON_SORT_KEYS)}, not {sort_by!r}"
            )
        params = _filter_params(where)
        params.update(
            sort_by=sort_by, descending=int(descending), limit=max(0, limit), offset=max(0, offset)
        )
        rows = await self._db.run(lambda c: fetch(c.execute(Q["list_cron_jobs"], params)))
        return [to_cron_job(row) for row in rows]

    async def count_cron_jobs(self, where: CronFilter) -> int:
        params = _filter_params(where)
        return await self._db.run(
            lambda c: int(c.execute(Q["count_cron_jobs"], params).fetchone()[0])
        )

    async def update_cron_job(
        self,
        cron_job_id: int,
        definition: CronDefinition,
        next_run_at: datetime | None,
        now: datetime,
    ) -> CronJob:
        def run(conn: sqlite3.Connection) -> CronJob:
            with Tx(conn) as t:
                _existing(conn, cron_job_id)
                _check_key(conn, definition, cron_job_id)
                return _update(conn, t, cron_job_id, definition, next_run_at, now)

        cron = await self._db.run(run)
        self.signals.fire("jobs", "cron")
        return cron

    async def set_paused(
        self, cron_job_id: int, paused: bool, next_run_at: datetime | None, now: datetime
    ) -> CronJob:
        def run(conn: sqlite3.Connection) -> CronJob:
            with Tx(conn) as t:
                params = {
                    "id": cron_job_id,
                    "paused": int(paused),
                    "next_run_at": _ts_or_none(next_run_at),
                    "now": to_ts(now),
                    "seq": t.seq(),
                }
                row = fetch_one(conn.execute(Q["set_paused"], params))
                if row is None:
                    raise CronJobNotFound(f"no cron job {cron_job_id}")
                return to_cron_job(row)

        cron = await self._db.run(run)
        self.signals.fire("jobs", "cron")
        return cron

    async def delete_cron_job(self, cron_job_id: int) -> None:
        def run(conn: sqlite3.Connection) -> None:
            with Tx(conn):
                if not conn.execute(Q["delete_cron_job"], (cron_job_id,)).fetchall():
                    raise CronJobNotFound(f"no cron job {cron_job_id}")
                conn.execute(Q["delete_executions_of"], (cron_job_id,))

        await self._db.run(run)
        self.signals.fire("jobs", "cron")

    async def due_cron_jobs(self, now: datetime, limit: int = 100) -> list[CronJob]:
        params = {"now": to_ts(now), "limit": max(0, limit)}
        rows = await self._db.run(lambda c: fetch(c.execute(Q["due_cron_jobs"], params)))
        return [to_cron_job(row) for row in rows]

    async def next_cron_at(self) -> datetime | None:
        value = await self._db.run(lambda c: c.execute(Q["next_cron_at"]).fetchone()[0])
        return from_ts(value)

    # --- runs -------------------------------------------------------------
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
        template = replace(job, cron_job_id=cron_job_id)
        at = to_ts(now)
        claim = {
            "id": cron_job_id,
            "expected": _ts_or_none(expected.next_run_at),
            "updated_at": _ts_or_none(expected.updated_at),
        }

        def run(conn: sqlite3.Connection) -> tuple[list[Execution], int] | None:
            with Tx(conn) as t:
                row = fetch_one(conn.execute(Q["fire_claim"], claim))
                if row is None:
                    return None  # fired by another scheduler, or changed since it was read
                cron = to_cron_job(row)
                running = conn.execute(Q["cron_running"], (cron_job_id,)).fetchone() is not None
                ticks, _ = decide(cron, list(due), running)
                seq = t.seq()
                job_ids = iter(new_job_ids(len(ticks)))
                executions: list[Execution] = []
                fired: list[str] = []
                for tick in ticks:
                    job_id = next(job_ids) if tick.fire else None
                    params = {
                        "cron_job_id": cron_job_id,
                        "scheduled_for": to_ts(tick.scheduled_for),
                        "status": (
                            ExecutionStatus.RUNNING if tick.fire else ExecutionStatus.SKIPPED
                        ).value,
                        "triggered_by": TriggeredBy.SCHEDULER.value,
                        "triggered_by_user": None,
                        "server_instance": server_instance,
                        "now": at,
                        "completed_at": None if tick.fire else at,
                        "job_id": job_id,
                        "seq": seq,
                    }
                    inserted = fetch_one(conn.execute(Q["insert_execution"], params))
                    if inserted is None:
                        continue  # this tick is already recorded
                    executions.append(to_execution(inserted))
                    if job_id is not None:
                        fired.append(job_id)
                NewRows([template] * len(fired), now, fired).write(conn, seq)
                # max_runs from what was really inserted (decide assumed every tick was).
                limit = cron.definition.max_runs
                exhausted = limit is not None and cron.run_count + len(fired) >= limit
                params = {
                    "id": cron_job_id,
                    "next_run_at": _ts_or_none(next_run_at),
                    "exhausted": int(exhausted),
                    "runs": len(fired),
                    "now": at,
                    "seq": seq,
                }
                conn.execute(Q["fired"], params)
                return executions, len(fired)

        outcome = await self._db.run(run)
        if outcome is None:
            return None
        executions, runs = outcome
        self.signals.fire("jobs", "cron", *(("enqueue",) if runs else ()))
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
        [job_id] = new_job_ids(1)
        rows = NewRows([replace(job, cron_job_id=cron_job_id)], now, [job_id])
        at = to_ts(now)

        def run(conn: sqlite3.Connection) -> Execution:
            with Tx(conn) as t:
                _existing(conn, cron_job_id)
                params = {
                    "cron_job_id": cron_job_id,
                    "scheduled_for": at,
                    "status": ExecutionStatus.RUNNING.value,
                    "triggered_by": TriggeredBy(triggered_by).value,
                    "triggered_by_user": triggered_by_user,
                    "server_instance": server_instance,
                    "now": at,
                    "completed_at": None,
                    "job_id": job_id,
                    "seq": t.seq(),
                }
                # Not a scheduler tick: outside the unique tick index, never a conflict.
                execution = fetch(conn.execute(Q["insert_execution"], params))[0]
                rows.write(conn, t.seq())
                return to_execution(execution)

        execution = await self._db.run(run)
        self.signals.fire("jobs", "enqueue")
        return execution

    async def list_executions(self, cron_job_id: int, limit: int, offset: int) -> list[Execution]:
        params = {"id": cron_job_id, "limit": max(0, limit), "offset": max(0, offset)}
        rows = await self._db.run(lambda c: fetch(c.execute(Q["list_executions"], params)))
        return [to_execution(row) for row in rows]

    async def count_executions(self, cron_job_id: int) -> int:
        return await self._db.run(
            lambda c: int(c.execute(Q["count_executions"], (cron_job_id,)).fetchone()[0])
        )

    async def get_execution(self, execution_id: int) -> Execution | None:
        def run(conn: sqlite3.Connection) -> Execution | None:
            row = fetch_one(conn.execute(Q["get_execution"], (execution_id,)))
            return None if row is None else to_execution(row)

        return await self._db.run(run)

    async def cleanup_executions(self, before: datetime) -> int:
        params = {"before": to_ts(before), "batch": CLEANUP_BATCH}

        # Batches, each its own short transaction, so workers never wait long.
        def run(conn: sqlite3.Connection) -> int:
            with Tx(conn):
                return int(conn.execute(Q["cleanup_executions"], params).rowcount)

        total = 0
        while True:
            deleted = await self._db.run(run)
            total += deleted
            if deleted < CLEANUP_BATCH:
                return total

    # --- code-defined schedules ----------------------------------------------
    async def upsert_declared(
        self,
        plugin: str,
        declared: Sequence[tuple[CronDefinition, datetime | None]],
        now: datetime,
    ) -> list[CronJob]:
        def run(conn: sqlite3.Connection) -> list[CronJob]:
            # One write transaction: a concurrent upsert (another process starting with
            # the same plugin) waits for the write lock, then finds these rows and
            # updates them, so each name key ends up with one schedule.
            with Tx(conn) as t:
                result: list[CronJob] = []
                check_declarations(plugin, (definition for definition, _ in declared))
                for definition, next_run_at in declared:
                    row = fetch_one(conn.execute(Q["cron_job_by_key"], key_params(definition)))
                    if row is None:
                        result.append(
                            _insert(
                                conn, t, definition, f"plugin:{plugin}", plugin, next_run_at, now
                            )
                        )
                        continue
                    existing = to_cron_job(row)
                    if existing.declared_by != plugin:
                        raise CronJobExists(existing, _clash(definition))
                    result.append(_redeclare(conn, t, existing, definition, next_run_at, now))
                kept = {cron.id for cron in result}
                gone = [
                    row["id"]
                    for row in fetch(conn.execute(Q["declared_by"], (plugin,)))
                    if row["id"] not in kept and row["is_active"]
                ]
                if gone:
                    params = {"ids": dumps(gone), "now": to_ts(now), "seq": t.seq()}
                    conn.execute(Q["deactivate_cron_jobs"], params)
                return result

        crons = await self._db.run(run)
        self.signals.fire("jobs", "cron")
        return crons


# --- helpers (run on the store's thread, inside a Tx) ------------------------
def _insert(
    conn: sqlite3.Connection,
    t: Tx,
    definition: CronDefinition,
    created_by: str,
    declared_by: str | None,
    next_run_at: datetime | None,
    now: datetime,
) -> CronJob:
    # Checked before the INSERT (under the write lock, so nothing slips in between)
    # to name the holder; the unique index cron_jobs_name_key is the backstop.
    _check_key(conn, definition, None)
    params = {
        **definition_params(definition),
        "created_by": created_by,
        "declared_by": declared_by,
        "next_run_at": _ts_or_none(next_run_at),
        "now": to_ts(now),
        "seq": t.seq(),
    }
    return to_cron_job(fetch(conn.execute(Q["insert_cron_job"], params))[0])


def _update(
    conn: sqlite3.Connection,
    t: Tx,
    cron_job_id: int,
    definition: CronDefinition,
    next_run_at: datetime | None,
    now: datetime,
) -> CronJob:
    params = {
        **definition_params(definition),
        "id": cron_job_id,
        "next_run_at": _ts_or_none(next_run_at),
        "now": to_ts(now),
        "seq": t.seq(),
    }
    return to_cron_job(fetch(conn.execute(Q["update_cron_definition"], params))[0])


def _redeclare(
    conn: sqlite3.Connection,
    t: Tx,
    existing: CronJob,
    definition: CronDefinition,
    next_run_at: datetime | None,
    now: datetime,
) -> CronJob:
    """A declaration already stored: its definition changes, its is_active (a user may
    have disabled it), is_paused and counters stay; a retired one comes back (the
    ``redeclare_cron_job`` statement decides next_run_at and activity). Unchanged and
    not retired, nothing is written (no feed entry on every restart)."""
    if not existing.retired and replace(definition, is_active=existing.definition.is_active) == (
        existing.definition
    ):
        return existing
    params = {
        **definition_params(definition),
        "id": existing.id,
        "next_run_at": _ts_or_none(next_run_at),
        "now": to_ts(now),
        "seq": t.seq(),
    }
    return to_cron_job(fetch(conn.execute(Q["redeclare_cron_job"], params))[0])


def _existing(conn: sqlite3.Connection, cron_job_id: int) -> CronJob:
    row = fetch_one(conn.execute(Q["get_cron_job"], (cron_job_id,)))
    if row is None:
        raise CronJobNotFound(f"no cron job {cron_job_id}")
    return to_cron_job(row)


def _check_key(conn: sqlite3.Connection, definition: CronDefinition, own: int | None) -> None:
    row = fetch_one(conn.execute(Q["cron_job_by_key"], key_params(definition)))
    if row is not None and row["id"] != own:
        raise CronJobExists(to_cron_job(row), _clash(definition))


def _clash(definition: CronDefinition) -> str:
    where = ", ".join(
        f"{label} {value!r}"
        for label, value in (("plugin", definition.plugin_id), ("store", definition.store_id))
        if value is not None
    )
    return f"a cron job named {definition.name!r} already exists" + (
        f" for {where}" if where else ""
    )


def _filter_params(where: CronFilter) -> dict[str, Any]:
    if where.status is not None and where.status not in CRON_STATUSES:
        raise ValidationError(
            f"status must be one of {', '.join(CRON_STATUSES)}, not {where.status!r}"
        )
    return {
        "status": where.status,
        "job_type": where.job_type,
        "plugin_id": where.plugin_id,
        "store_id": where.store_id,
        "text": where.search.lower() if where.search else None,
        "tags": dumps(list(where.tags)),
    }


def _ts_or_none(when: datetime | None) -> int | None:
    return None if when is None else to_ts(when)
