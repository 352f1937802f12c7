"""Job lists, counts, history pages, finished jobs per minute and worker presence in
the SQLite store (the UI's reads; docs/ui.md).

A list statement is put together from the filters actually given (the ``jobs_where_*``
pieces of queries.sql joined by AND), so each filter can use its index: SQLite plans a
statement without its parameters' values, and a filter written as optional
(``:x IS NULL OR col = :x``) would make every list a full scan.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from jobdeck.domain.job import HistoryEvent, Job, JobFilter, Status
from jobdeck.domain.listing import NEWEST_FIRST, FinishedCount, JobSort, WorkerPresence
from jobdeck.store.sqlite.connection import Database, Tx
from jobdeck.store.sqlite.queries import Q
from jobdeck.store.sqlite.rows import (
    Row,
    dumps,
    fetch,
    status_of,
    to_event,
    to_job,
    to_ts,
    ts_at,
)

# Sort key → the column it orders by (the id follows in the same direction).
_COLUMN = {
    "created_at": "id",
    "updated_at": "updated_at",
    "priority": "priority",
    "name": "name",
    "status": "status",
    "progress": "progress",
}
# The shortest search the trigram index can answer; shorter ones scan.
# Jobs a maintenance pass adds to the text index unless told otherwise: the index is
# filled after the insert (migration 0007), one transaction per pass.
TEXT_PASS = 10_000
TRIGRAM = 3


def _where(where: JobFilter) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The names of the pieces that apply, and their parameters."""
    pieces: list[str] = []
    params: dict[str, Any] = {}
    if where.status:
        pieces.append("status")
        params["statuses"] = dumps([Status(s).value for s in where.status])
    for key in ("type", "source", "store_id", "plugin_id"):
        value = getattr(where, key)
        if value is not None:
            pieces.append(key)
            params[key] = value
    if where.mode is not None:
        pieces.append("mode")
        params["mode"] = where.mode.value
    if where.text:
        text = where.text.lower()
        if len(text) >= TRIGRAM:
            pieces.append("trigrams")
            params["trigrams"] = '"' + text.replace('"', '""') + '"'
        pieces.append("text")
        params["text"] = text
    return tuple(pieces) or ("all",), params


@functools.cache
def _statement(
    name: str, pieces: tuple[str, ...], order: str = "", rows_as_json: bool = True
) -> str:
    clause = " AND ".join(Q[f"jobs_where_{piece}"].strip() for piece in pieces)
    sql = Q[name].replace("{where}", clause).replace("{order}", order)
    if name == "jobs_page" and rows_as_json:
        # Every row in one value (rows.fetch_many explains why).
        return Q["json_rows"].replace("{rows}", sql.strip().rstrip(";"))
    return sql


def _order(sort: JobSort) -> str:
    direction = "DESC" if sort.descending else "ASC"
    column = _COLUMN[sort.key]
    return f"id {direction}" if column == "id" else f"{column} {direction}, id {direction}"


def _sort_key(sort: JobSort) -> Callable[[Row], Any]:
    column = _COLUMN[sort.key]
    if column == "id":
        return lambda row: row["id"]
    if column == "progress":
        return lambda row: (float(row["progress"]), row["id"])
    return lambda row: (row[column], row["id"])


def _read_page(conn: sqlite3.Connection, sql: str, plain: str, params: dict[str, Any]) -> list[Row]:
    try:
        rows: list[Row] = json.loads(conn.execute(sql, params).fetchone()[0])
    except sqlite3.DataError:  # a page over SQLite's value limit: one step per row
        return fetch(conn.execute(plain, params))
    return rows


def _worker(row: Row) -> WorkerPresence:
    return WorkerPresence(
        worker_id=row["worker_id"],
        host=row["host"],
        pid=int(row["pid"]),
        concurrency=int(row["concurrency"]),
        running=tuple(json.loads(row["running"])),
        started_at=ts_at(row["started_at"]),
        last_seen_at=ts_at(row["last_seen_at"]),
    )


class ListingVerbs:
    _db: Database

    async def list_jobs(
        self, where: JobFilter, limit: int, offset: int, sort: JobSort = NEWEST_FIRST
    ) -> list[Job]:
        pieces, params = _where(where)
        params["limit"] = max(0, limit)
        params["offset"] = max(0, offset)
        order = _order(sort)
        sql = _statement("jobs_page", pieces, order)
        plain = Q["jobs_page"].replace("{order}", order)
        plain = plain.replace("{where}", " AND ".join(Q[f"jobs_where_{p}"].strip() for p in pieces))
        rows = await self._db.run(lambda c: _read_page(c, sql, plain, params))
        # The JSON array's order is not guaranteed: sort as the statement did.
        rows.sort(key=_sort_key(sort), reverse=sort.descending)
        return [to_job(row) for row in rows]

    async def count_jobs(self, where: JobFilter) -> int:
        pieces, params = _where(where)
        sql = _statement("jobs_count", pieces)
        return await self._db.run(lambda c: int(c.execute(sql, params).fetchone()[0]))

    async def count_by_status(self, where: JobFilter) -> dict[Status, int]:
        pieces, params = _where(where)
        sql = _statement("jobs_count_by_status", pieces)
        rows = await self._db.run(lambda c: c.execute(sql, params).fetchall())
        return {status_of(row[0]): int(row[1]) for row in rows}

    async def get_history(
        self, job_id: str, limit: int = 500, after: int | None = None
    ) -> list[HistoryEvent]:
        query = Q["get_history"] if after is None else Q["history_after"]
        args: tuple[Any, ...] = (job_id, max(0, limit))
        if after is not None:
            args = (job_id, after, max(0, limit))
        rows = await self._db.run(lambda c: fetch(c.execute(query, args)))
        return [to_event(row) for row in rows]

    async def finished_per_minute(self, where: JobFilter, since: datetime) -> list[FinishedCount]:
        pieces, params = _where(where)
        params["since"] = to_ts(since)
        sql = _statement("finished_per_minute", pieces)
        rows = await self._db.run(lambda c: c.execute(sql, params).fetchall())
        return [
            FinishedCount(
                minute=datetime.fromtimestamp(int(minute) * 60, UTC),
                status=status_of(status),
                count=int(n),
            )
            for minute, status, n in rows
        ]

    async def index_text(self, limit: int | None = None, now: datetime | None = None) -> int:
        # `now` is not needed here: indexing a job later costs the same as now.
        params = {"limit": TEXT_PASS if limit is None else limit}

        def run(conn: sqlite3.Connection) -> int:
            with Tx(conn):
                after, last = conn.execute(Q["index_text_next"], params).fetchone()
                if last is None:
                    return 0
                conn.execute(Q["index_text"], {"after": after, "up_to": last})
                conn.execute(Q["index_text_done"], {"up_to": last})
                return int(last) - int(after)

        return await self._db.run(run)

    # --- worker presence ---------------------------------------------------
    async def record_worker(self, worker: WorkerPresence) -> None:
        args = (
            worker.worker_id,
            worker.host,
            worker.pid,
            worker.concurrency,
            dumps(list(worker.running)),
            to_ts(worker.started_at),
            to_ts(worker.last_seen_at),
        )

        def run(conn: sqlite3.Connection) -> None:
            with Tx(conn):
                conn.execute(Q["record_worker"], args)

        await self._db.run(run)

    async def list_workers(self, seen_after: datetime) -> list[WorkerPresence]:
        since = to_ts(seen_after)
        rows = await self._db.run(lambda c: fetch(c.execute(Q["list_workers"], (since,))))
        return [_worker(row) for row in rows]

    async def remove_workers(self, worker_ids: Sequence[str], seen_before: datetime) -> int:
        params = {"ids": dumps(list(worker_ids)), "before": to_ts(seen_before)}

        def run(conn: sqlite3.Connection) -> int:
            with Tx(conn):
                return conn.execute(Q["remove_workers"], params).rowcount

        return await self._db.run(run)
