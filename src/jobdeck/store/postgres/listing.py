"""History pages and worker presence in the PostgreSQL store (the UI's reads;
docs/ui.md). The job list and finished jobs per minute are in store.py, beside the
job filter."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from psycopg.rows import DictRow

from jobdeck.domain.job import HistoryEvent
from jobdeck.domain.listing import WorkerPresence
from jobdeck.store.postgres.database import Conn, Database
from jobdeck.store.postgres.queries import Q

# A maintenance pass leaves jobs younger than this to their claim, which indexes them
# at no extra cost (queries.sql, index_text; docs/postgres.md, "The trigram index after
# the insert").
TEXT_SETTLE = timedelta(seconds=30)
# Rows a pass reads unless told otherwise: it holds the locks of those it marks until
# it commits.
TEXT_PASS = 1_000


def _worker(r: DictRow) -> WorkerPresence:
    return WorkerPresence(
        worker_id=r["worker_id"],
        host=r["host"],
        pid=int(r["pid"]),
        concurrency=int(r["concurrency"]),
        running=tuple(r["running"]),
        started_at=r["started_at"],
        last_seen_at=r["last_seen_at"],
    )


def event_of(r: DictRow) -> HistoryEvent:
    return HistoryEvent(
        id=r["id"],
        job_id=r["job_id"],
        kind=r["kind"],
        message=r["message"],
        data=r["data"],
        created_at=r["created_at"],
    )


class ListingVerbs(Database):
    _text_after = 0  # where the next index_text pass resumes: the last id one read

    async def get_history(
        self, job_id: str, limit: int = 500, after: int | None = None
    ) -> list[HistoryEvent]:
        # Capped at the history limit: a job's stored rows and its derived events
        # (queries.sql, derived_events) together may be a few more.
        params = {"job_id": job_id, "limit": max(0, limit), "history_limit": self.history_limit}
        if after is None:
            name = "get_history"
        else:
            name = "history_after"
            params["after"] = after
        rows = await self._run(lambda c: self._durable_rows(c, name, params))
        return [event_of(r) for r in rows]

    async def index_text(self, limit: int | None = None, now: datetime | None = None) -> int:
        # New jobs join the trigram index at their claim, or here (migration 0011). A
        # pass resumes after the last row the one before read, and starts from the
        # first again once one reads fewer than its batch (queries.sql, index_text).
        # Without `now` every row read is marked: none is left behind to come back to.
        batch = TEXT_PASS if limit is None else max(0, limit)
        params = {
            "after": 0 if now is None else self._text_after,
            "limit": batch,
            "before": None if now is None else now - TEXT_SETTLE,
            "due_by": None if now is None else now + TEXT_SETTLE,
        }
        [row] = await self._run(lambda c: self._rows(c, "index_text", params))
        self._text_after = row["last"] if batch and row["read"] == batch else 0
        return int(row["n"])

    async def record_worker(self, worker: WorkerPresence) -> None:
        params = {
            "worker_id": worker.worker_id,
            "host": worker.host,
            "pid": worker.pid,
            "concurrency": worker.concurrency,
            "running": list(worker.running),
            "started_at": worker.started_at,
            "last_seen_at": worker.last_seen_at,
        }
        await self._run(lambda c: c.execute(Q["record_worker"], params))

    async def list_workers(self, seen_after: datetime) -> list[WorkerPresence]:
        rows = await self._run(lambda c: self._rows(c, "list_workers", {"since": seen_after}))
        return [_worker(r) for r in rows]

    async def remove_workers(self, worker_ids: Sequence[str], seen_before: datetime) -> int:
        params = {"ids": list(worker_ids), "before": seen_before}

        async def run(conn: Conn) -> int:
            cur = await conn.execute(Q["remove_workers"], params)
            return cur.rowcount

        count: int = await self._run(run)
        return count
