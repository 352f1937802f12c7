"""Maintenance verbs of the SQLite store: rescue lost leases, time out tracked jobs,
retention. Each looks before it takes the write lock, so an idle system's
maintenance loop commits nothing (and wakes no other process)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from jobdeck.domain.job import TERMINAL, Job, Status
from jobdeck.errors import ValidationError
from jobdeck.events.signals import Signals
from jobdeck.store.sqlite import history
from jobdeck.store.sqlite.connection import Database, Tx
from jobdeck.store.sqlite.queries import Q
from jobdeck.store.sqlite.rows import Row, dumps, fetch, from_ts, to_job, to_ts

LOST_LEASE = "Worker lost: lease expired"
CLEANUP_BATCH = 5000  # rows per cleanup/prune transaction, so workers never wait long


class MaintenanceVerbs:
    _db: Database
    signals: Signals
    history_limit: int

    # --- maintenance ----------------------------------------------------
    async def rescue_expired(self, now: datetime) -> list[Job]:
        at = to_ts(now)

        def record(conn: sqlite3.Connection, rows: list[Row]) -> None:
            history.append(
                conn, self.history_limit, rows, "rescued", LOST_LEASE, None, at,
                data_of=_rescue_data,
            )  # fmt: skip

        jobs = await self._sweep(
            "any_expired", "rescue_expired", {"now": at, "lost": LOST_LEASE}, record
        )
        if jobs:
            self.signals.fire("jobs", "enqueue")
        return jobs

    async def fail_timed_out_tracked(self, now: datetime) -> list[Job]:
        at = to_ts(now)

        def record(conn: sqlite3.Connection, rows: list[Row]) -> None:
            history.append(
                conn, self.history_limit, rows, "timeout", None, None, at, message_of=_error_of
            )

        jobs = await self._sweep(
            "any_timed_out_tracked", "fail_timed_out_tracked", {"now": at}, record
        )
        if jobs:
            self.signals.fire("jobs")
        return jobs

    async def _sweep(
        self,
        probe: str,
        statement: str,
        params: dict[str, Any],
        record: Callable[[sqlite3.Connection, list[Row]], None],
    ) -> list[Job]:
        """Run ``statement`` (with its history ``record``) in a write transaction, but
        only when the read-only ``probe`` finds something to do; the jobs it changed."""

        def run(conn: sqlite3.Connection) -> list[Job]:
            if conn.execute(Q[probe], (params["now"],)).fetchone() is None:
                return []
            with Tx(conn) as t:
                rows = fetch(conn.execute(Q[statement], {**params, "seq": t.seq()}))
                if rows:
                    record(conn, rows)
            rows.sort(key=lambda r: r["id"])
            return [to_job(row) for row in rows]

        return await self._db.run(run)

    async def cleanup(self, before: datetime, statuses: Sequence[Status] = ()) -> int:
        chosen = {Status(s) for s in statuses} if statuses else set(TERMINAL)
        if not chosen <= TERMINAL:
            bad = ", ".join(sorted(s.value for s in chosen - TERMINAL))
            raise ValidationError(f"cleanup only deletes terminal jobs, not {bad}")
        params = {
            "before": to_ts(before),
            "statuses": dumps(sorted(s.value for s in chosen)),
            "batch": CLEANUP_BATCH,
        }

        # Batches of CLEANUP_BATCH, each its own short transaction.
        def run(conn: sqlite3.Connection) -> int:
            with Tx(conn):
                ids = [row[0] for row in conn.execute(Q["cleanup_batch"], params)]
                if ids:
                    conn.execute(Q["delete_history_of_jobs"], (dumps(ids),))
                    conn.execute(Q["delete_jobs"], (dumps(ids),))
            return len(ids)

        total = 0
        while True:
            deleted = await self._db.run(run)
            total += deleted
            if deleted < CLEANUP_BATCH:
                break
        if total:
            self.signals.fire("jobs")
        return total

    async def prune_history(self, before: datetime) -> int:
        params = {"before": to_ts(before), "batch": CLEANUP_BATCH}

        def run(conn: sqlite3.Connection) -> int:
            with Tx(conn):
                return int(conn.execute(Q["prune_history"], params).rowcount)

        total = 0
        while True:
            deleted = await self._db.run(run)
            total += deleted
            if deleted < CLEANUP_BATCH:
                return total

    async def next_run_at(self, now: datetime) -> datetime | None:
        value = await self._db.run(lambda c: c.execute(Q["next_run_at"]).fetchone()[0])
        return from_ts(value)


def _rescue_data(row: Row) -> str:
    return dumps({"status": row["status"], "attempt": row["attempt"]})


def _error_of(row: Row) -> str | None:
    value: str | None = row["error_message"]
    return value
