"""The Store protocol on one SQLite file (see jobdeck.store.base for the contract).

Each verb is a function run on the store's thread (``Database.run``); writes happen in
a ``Tx`` (BEGIN IMMEDIATE), transitions are conditional updates from queries.sql, and
when one changes nothing the row is read to say why (JobNotFound, StaleWrite or
InvalidTransition). Signals fire on the event loop after the commit.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from jobdeck.domain.feed import Change
from jobdeck.domain.job import (
    Fence,
    Job,
    Mode,
    NewJob,
    Status,
)
from jobdeck.domain.progress import estimate, merge_metadata
from jobdeck.domain.states import ALLOWED_FROM, cancel_target, owns, refusal
from jobdeck.errors import (
    JobdeckError,
    JobNotFound,
    ValidationError,
)
from jobdeck.events.signals import Signals
from jobdeck.store.base import completed_in_order, wakes_workers
from jobdeck.store.sqlite import feed, history
from jobdeck.store.sqlite.connection import Database, Tx
from jobdeck.store.sqlite.inserts import NewRows
from jobdeck.store.sqlite.listing import ListingVerbs
from jobdeck.store.sqlite.maintenance import MaintenanceVerbs
from jobdeck.store.sqlite.queries import Q
from jobdeck.store.sqlite.rows import (
    Row,
    dumps,
    dumps_or_none,
    fetch,
    fetch_many,
    fetch_one,
    status_of,
    to_job,
    to_ts,
)
from jobdeck.store.sqlite.schedules import ScheduleVerbs
from jobdeck.store.sqlite.tokens import TokenVerbs
from jobdeck.store.sqlite.watch import POLL_SECONDS as WATCH_SECONDS
from jobdeck.store.sqlite.watch import CommitWatcher

_ALLOWED = {
    verb: dumps(sorted(s.value for s in statuses)) for verb, statuses in ALLOWED_FROM.items()
}


class SQLiteStore(ListingVerbs, MaintenanceVerbs, TokenVerbs, ScheduleVerbs):
    """``SQLiteStore("sqlite:///path/to/jobdeck.db")``; ``await open()`` before use."""

    def __init__(
        self,
        database_url: str,
        history_limit: int = 500,
        *,
        commit_watch_seconds: float | None = None,
    ) -> None:
        if history_limit < 1:
            raise ValidationError("history_limit must be at least 1")
        self.signals = Signals()
        self.history_limit = history_limit
        self._db = Database(database_url)
        self._watcher = CommitWatcher(
            self._db.path, self.signals, commit_watch_seconds or WATCH_SECONDS
        )
        self._open = False

    # --- lifecycle -------------------------------------------------------
    async def open(self) -> None:
        if self._open:
            return
        await self._db.open()
        self._watcher.start()
        self._open = True

    async def close(self) -> None:
        if not self._open:
            return
        self._open = False
        await self._watcher.stop()
        await self._db.close()

    async def schema_version(self) -> int:
        return await self._db.run(lambda c: int(c.execute(Q["schema_version"]).fetchone()[0]))

    # --- creating and reading -------------------------------------------
    async def insert_jobs(self, jobs: Sequence[NewJob], now: datetime) -> list[Job]:
        if not jobs:
            return []
        rows = NewRows(jobs, now)

        def run(conn: sqlite3.Connection) -> list[Job]:
            with Tx(conn) as t:
                return rows.write(conn, t.seq())

        result = await self._db.run(run)
        self.signals.fire("jobs", "enqueue")
        return result

    async def get_job(self, job_id: str) -> Job | None:
        def run(conn: sqlite3.Connection) -> Job | None:
            row = fetch_one(conn.execute(Q["get_job"], (job_id,)))
            return None if row is None else to_job(row)

        return await self._db.run(run)

    # --- tracked jobs ------------------------------------------------------
    async def start(self, job_id: str, now: datetime) -> Job:
        job = await self._transition(
            "start", "start", job_id, {}, now, None, ("started", None, None)
        )
        self.signals.fire("jobs")
        return job

    async def update_progress(
        self,
        job_id: str,
        progress: float,
        metadata: dict[str, Any] | None,
        message: str | None,
        now: datetime,
        fence: Fence | None = None,
    ) -> Job:
        at = to_ts(now)

        def run(conn: sqlite3.Connection) -> Job:
            with Tx(conn) as t:
                # Read-modify-write is atomic here: BEGIN IMMEDIATE holds the write lock.
                row = fetch_one(conn.execute(Q["get_job"], (job_id,)))
                if (
                    row is None
                    or (fence is not None and not owns(row, fence))
                    or status_of(row["status"]) not in ALLOWED_FROM["progress"]
                ):
                    raise refusal("progress", job_id, row, fence)
                merged = merge_metadata(json.loads(row["metadata"]), metadata)
                samples = row["progress_window"]
                window, rate, eta = estimate(
                    None if samples is None else json.loads(samples), progress, at
                )
                params = {
                    "id": row["id"],
                    "status": row["status"],
                    "attempt": row["attempt"],
                    "progress": progress,
                    "metadata": dumps(merged),
                    "message": message,
                    "now": at,
                    "rate": rate,
                    "eta": eta,
                    "window": dumps(window),
                    "seq": t.seq(),
                    "history": 0 if message is None else 1,
                }
                updated = fetch(conn.execute(Q["set_progress"], params))[0]
                if message is not None:
                    data = dumps({"progress": progress})
                    history.append(
                        conn, self.history_limit, [updated], "progress", message, data, at
                    )
                return to_job(updated)

        job = await self._db.run(run)
        self.signals.fire("jobs")
        return job

    async def complete(
        self, job_id: str, result: Any, now: datetime, fence: Fence | None = None
    ) -> Job:
        params = {"result": dumps_or_none(result)}
        job = await self._transition(
            "complete", "complete", job_id, params, now, fence, ("completed", None, None)
        )
        self.signals.fire("jobs")
        return job

    async def fail(self, job_id: str, error: str, now: datetime, fence: Fence | None = None) -> Job:
        job = await self._transition(
            "fail", "fail", job_id, {"error": error}, now, fence, ("error", error, None)
        )
        self.signals.fire("jobs")
        return job

    async def cancel(self, job_id: str, now: datetime) -> Job:
        at = to_ts(now)

        def run(conn: sqlite3.Connection) -> tuple[Job, bool]:
            with Tx(conn) as t:
                state = fetch_one(conn.execute(Q["job_state"], (job_id,)))
                if state is None or status_of(state["status"]) not in ALLOWED_FROM["cancel"]:
                    raise refusal("cancel", job_id, state)
                status = status_of(state["status"])
                target = cancel_target(_mode(state["mode"]), status)
                params = {
                    "id": state["id"],
                    "status": state["status"],
                    "target": target.value,
                    "now": at,
                    "seq": t.seq(),
                }
                row = fetch(conn.execute(Q["cancel"], params))[0]
                history.append(conn, self.history_limit, [row], target.value, None, None, at)
                job = to_job(row)
                return job, _counted_wake(conn, "cancel", job, None)

        job = await self._fired_wake(run)
        self.signals.fire("jobs")
        return job

    async def retry(self, job_id: str, now: datetime) -> Job:
        data = dumps({"run_at": now.isoformat(), "manual": True})
        job = await self._transition(
            "retry", "retry", job_id, {}, now, None, ("retry", "Retry requested", data)
        )
        self.signals.fire("jobs", "enqueue")
        return job

    async def delete_job(self, job_id: str) -> None:
        def run(conn: sqlite3.Connection) -> None:
            with Tx(conn):
                params = {"job_id": job_id, "allowed": _ALLOWED["delete"]}
                rows = conn.execute(Q["delete_job"], params).fetchall()
                if not rows:
                    raise self._why_not(conn, "delete", job_id, None)
                conn.execute(Q["delete_history_of_job"], (rows[0][0],))

        await self._db.run(run)
        self.signals.fire("jobs")

    # --- queued jobs: workers --------------------------------------------
    async def claim(
        self, worker_id: str, limit: int, now: datetime, lease_seconds: float
    ) -> list[Job]:
        if limit <= 0:
            return []
        at = to_ts(now)
        lease = to_ts(now + timedelta(seconds=lease_seconds))

        def run(conn: sqlite3.Connection) -> list[Job]:
            if conn.execute(Q["claim_ready"], (at,)).fetchone() is None:
                return []
            with Tx(conn) as t:
                params = {
                    "worker_id": worker_id,
                    "lease": lease,
                    "now": at,
                    "limit": limit,
                    "seq": t.seq(),
                }
                conn.execute(Q["claim"], params)
                rows = fetch_many(conn, "written_in_tx", params)
                if rows:
                    history.append(
                        conn,
                        self.history_limit,
                        rows,
                        "started",
                        None,
                        None,
                        at,
                        data_of=_attempt_data,
                    )
            # Hand them out in claim order (the JSON array's order is unspecified).
            rows.sort(key=lambda r: (-r["priority"], r["run_at"], r["id"]))
            return [to_job(row) for row in rows]

        jobs = await self._db.run(run)
        if jobs:
            self.signals.fire("jobs")
        return jobs

    async def heartbeat(
        self, worker_id: str, fences: Sequence[Fence], now: datetime, lease_seconds: float
    ) -> dict[str, Status]:
        if not fences:
            return {}
        lease = to_ts(now + timedelta(seconds=lease_seconds))

        # A lease extension is bookkeeping nobody watches: it gets no seq (no change-feed
        # entry) and fires no signal, else every heartbeat would reach every browser.
        def run(conn: sqlite3.Connection) -> dict[str, Status]:
            owned: dict[str, Status] = {}
            with Tx(conn):
                for fence in fences:
                    params = {
                        "lease": lease,
                        "job_id": fence.job_id,
                        "attempt": fence.attempt,
                        "worker_id": worker_id,
                    }
                    for row in conn.execute(Q["heartbeat"], params).fetchall():
                        owned[fence.job_id] = status_of(row[0])
            return owned

        return await self._db.run(run)

    async def complete_many(self, items: Sequence[tuple[Fence, Any]], now: datetime) -> list[bool]:
        if not items:
            return []
        batch = list(items)
        at = to_ts(now)

        encoded = dumps(
            [[f.job_id, f.attempt, f.worker_id, dumps_or_none(result)] for f, result in batch]
        )

        def run(conn: sqlite3.Connection) -> list[bool]:
            with Tx(conn) as t:
                params = {
                    "items": encoded,
                    "allowed": _ALLOWED["complete"],
                    "now": at,
                    "seq": t.seq(),
                }
                conn.execute(Q["complete_many"], params)
                rows = fetch_many(conn, "written_in_tx", params)
                if rows:
                    history.append(conn, self.history_limit, rows, "completed", None, None, at)
            return completed_in_order(batch, ((row["job_id"], row["attempt"]) for row in rows))

        jobs = await self._db.run(run)
        self.signals.fire("jobs")
        return jobs

    async def complete_and_claim(
        self,
        items: Sequence[tuple[Fence, Any]],
        worker_id: str,
        limit: int,
        now: datetime,
        lease_seconds: float,
    ) -> tuple[list[bool], list[Job]]:
        # One writer at a time already: two transactions cost little more than one
        # (the contract allows it: base.py).
        done = await self.complete_many(items, now)
        return done, await self.claim(worker_id, limit, now, lease_seconds)

    async def retry_later(self, fence: Fence, error: str, run_at: datetime, now: datetime) -> Job:
        params = {"error": error, "run_at": to_ts(run_at)}
        data = dumps({"run_at": run_at.isoformat(), "attempt": fence.attempt})
        job = await self._transition(
            "retry_later", "retry_later", fence.job_id, params, now, fence, ("retry", error, data)
        )
        self.signals.fire("jobs", "enqueue")
        return job

    async def mark_cancelled(self, fence: Fence, now: datetime) -> Job:
        job = await self._transition(
            "mark_cancelled", "mark_cancelled", fence.job_id, {}, now, fence,
            ("cancelled", None, None),
        )  # fmt: skip
        self.signals.fire("jobs")
        return job

    async def release(self, fences: Sequence[Fence], now: datetime) -> int:
        if not fences:
            return 0
        at = to_ts(now)

        def run(conn: sqlite3.Connection) -> int:
            released: list[Row] = []
            with Tx(conn) as t:
                seq = t.seq()
                for fence in fences:
                    params = {
                        "job_id": fence.job_id,
                        "attempt": fence.attempt,
                        "worker_id": fence.worker_id,
                        "allowed": _ALLOWED["release"],
                        "now": at,
                        "seq": seq,
                    }
                    released.extend(fetch(conn.execute(Q["release"], params)))
                if released:
                    history.append(conn, self.history_limit, released, "released", None, None, at)
            return len(released)

        count = await self._db.run(run)
        if count:
            self.signals.fire("jobs", "enqueue")
        return count

    # --- history --------------------------------------------------------
    async def add_history(
        self,
        job_id: str,
        kind: str,
        message: str | None,
        data: dict[str, Any] | None,
        now: datetime,
    ) -> None:
        at = to_ts(now)
        text = dumps_or_none(data)

        def run(conn: sqlite3.Connection) -> None:
            with Tx(conn) as t:
                params = {"job_id": job_id, "seq": t.seq()}
                rows = fetch(conn.execute(Q["add_history"], params))
                if not rows:
                    raise JobNotFound(f"no job {job_id}")
                history.append(conn, self.history_limit, rows, kind, message, text, at)

        await self._db.run(run)
        self.signals.fire("jobs")

    # --- change feed ----------------------------------------------------
    async def changes_since(self, seq: int, limit: int = 1000) -> list[Change]:
        return await self._db.run(lambda c: feed.changes(c, seq, limit))

    async def last_seq(self) -> int:
        return await self._db.run(lambda c: int(c.execute(Q["last_seq"]).fetchone()[0]))

    # --- helpers (run on the store's thread) -----------------------------
    async def _transition(
        self,
        verb: str,
        query: str,
        job_id: str,
        extra: dict[str, Any],
        now: datetime,
        fence: Fence | None,
        event: tuple[str, str | None, str | None],
    ) -> Job:
        """One conditional UPDATE … RETURNING from queries.sql, plus its history row."""
        at = to_ts(now)
        kind, message, data = event

        def run(conn: sqlite3.Connection) -> tuple[Job, bool]:
            with Tx(conn) as t:
                params = {
                    **extra,
                    "job_id": job_id,
                    "allowed": _ALLOWED[verb],
                    "now": at,
                    "attempt": None if fence is None else fence.attempt,
                    "worker_id": None if fence is None else fence.worker_id,
                    "seq": t.seq(),
                }
                rows = fetch(conn.execute(Q[query], params))
                if not rows:
                    raise self._why_not(conn, verb, job_id, fence)
                history.append(conn, self.history_limit, rows, kind, message, data, at)
                job = to_job(rows[0])
                return job, _counted_wake(conn, verb, job, fence)

        return await self._fired_wake(run)

    async def _fired_wake(self, run: Callable[[sqlite3.Connection], tuple[Job, bool]]) -> Job:
        """Run a job write that says whether it woke workers; if so, fire ``cancel``
        once it has committed (its count is what other processes' watchers read)."""
        job, woke = await self._db.run(run)
        if woke:
            self.signals.fire("cancel")
        return job

    @staticmethod
    def _why_not(
        conn: sqlite3.Connection, verb: str, job_id: str, fence: Fence | None
    ) -> JobdeckError:
        state = fetch_one(conn.execute(Q["job_state"], (job_id,)))
        return refusal(verb, job_id, state, fence)


def _counted_wake(conn: sqlite3.Connection, verb: str, job: Job, fence: Fence | None) -> bool:
    """Whether this write wakes workers; if so it is counted in its own transaction, so
    that other processes' commit watchers fire ``"cancel"`` for it and for nothing else
    (watch.py)."""
    if not wakes_workers(verb, job, fence):
        return False
    conn.execute(Q["wake_workers"])
    return True


def _mode(value: str) -> Mode:
    return Mode(value)


def _attempt_data(row: Row) -> str:
    return dumps({"attempt": row["attempt"], "worker": row["locked_by"]})
