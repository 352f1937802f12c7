"""The PostgreSQL store (psycopg 3, async, pooled): the Store protocol of ``store/base.py``.

Every verb is one transaction of one conditional statement (``queries.sql``), in
autocommit: one network round trip per verb, and no writer waits for another unless
they write the same row. What makes it safe to run many processes on many hosts
against one database:

* claims lock rows with ``FOR UPDATE SKIP LOCKED``, so no job is handed out twice;
* every write of an attempt is fenced on ``attempt`` and ``locked_by``;
* ``Job.seq`` is registered while its transaction is in flight, and followers read
  only below the feed horizon, under which every seq is final (``feed_horizon`` in
  queries.sql); a transaction in flight too long is passed over and given a new seq;
* writers NOTIFY after they commit, coalesced, and a :class:`Listener` turns
  notifications into local signals.

Connection failures (server restart, killed backend) are retried with bounded backoff.
Re-running a verb is safe because each one is a single conditional transaction: either
its first try rolled back, or it committed and the retry is refused by its own status
or fence check. ``insert_jobs`` is idempotent by caller-chosen job_ids.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from jobdeck.domain.feed import Change, Record, Revocation
from jobdeck.domain.ids import new_job_ids
from jobdeck.domain.job import (
    TERMINAL,
    Fence,
    Job,
    JobFilter,
    Mode,
    NewJob,
    Priority,
    Status,
)
from jobdeck.domain.listing import NEWEST_FIRST, FinishedCount, JobSort
from jobdeck.domain.states import ALLOWED_FROM, refusal
from jobdeck.errors import (
    JobNotFound,
    StoreError,
    ValidationError,
)
from jobdeck.store.base import Token, completed_in_order, wakes_workers
from jobdeck.store.postgres.database import Conn, idle
from jobdeck.store.postgres.listing import ListingVerbs
from jobdeck.store.postgres.queries import Q
from jobdeck.store.postgres.rows import (
    COPY_TYPES,
    JsonbText,
    copy_row,
    cron_job_of_json,
    execution_of_json,
    insert_params,
    int_array,
    job_entry,
    job_of,
    json_param,
    new_row_job,
    text_array,
    utc,
)
from jobdeck.store.postgres.schedules import ScheduleVerbs
from jobdeck.store.postgres.singles import Singles

# From this many jobs, insert_jobs writes them by COPY (queries.sql, copy_jobs):
# below it, the one-statement insert's single round trip is faster (measured).
COPY_FROM = 100
# insert_job as the bytes psycopg sends: given the str, it encodes and hashes all of it
# (comments included) on every call to find its prepared statement.
INSERT_JOB = Q["insert_job"].encode()
# The unique index of jobdeck_jobs.job_id (migration 0001: PostgreSQL's default name).
JOB_ID_UNIQUE = "jobdeck_jobs_job_id_key"


def _job_id_taken(exc: psycopg.errors.UniqueViolation) -> bool:
    """A new job's job_id is already there. job_ids are new UUIDs: only our own earlier
    try can hold them. Any other unique index (the ids from the sequence, the search
    text's) is a real error, which _run reports as a StoreError."""
    return exc.diag.constraint_name == JOB_ID_UNIQUE


def _allowed(verb: str) -> list[str]:
    return sorted(s.value for s in ALLOWED_FROM[verb])


def _token(r: DictRow) -> Token:
    return Token(
        id=r["id"],
        name=r["name"],
        scopes=tuple(r["scopes"]),
        plugin=r["plugin"],
        store=r["store"],
        created_at=r["created_at"],
        revoked_at=r["revoked_at"],
        last_used_at=r["last_used_at"],
    )


def _filter(where: JobFilter) -> dict[str, Any]:
    text = None
    if where.text:
        escaped = where.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        text = f"%{escaped}%"
    return {
        "statuses": [Status(s).value for s in where.status] or None,
        "type": where.type,
        "source": where.source,
        "store_id": where.store_id,
        "plugin_id": where.plugin_id,
        "mode": Mode(where.mode).value if where.mode else None,
        "q": text,
    }


def _fence(fence: Fence | None) -> dict[str, Any]:
    if fence is None:
        return {"fenced": False, "attempt": None, "worker": None}
    return {"fenced": True, "attempt": fence.attempt, "worker": fence.worker_id}


def _lock_order(fence: Fence) -> str:
    """Batched verbs lock their rows in job_id order (the UPDATE walks the arrays in
    order), so a worker's heartbeat and its complete_many over the same jobs cannot
    deadlock by taking the same row locks in opposite orders."""
    return fence.job_id


def _claim_params(
    worker_id: str, limit: int, now: datetime, lease_seconds: float
) -> dict[str, Any]:
    return {
        "worker": worker_id,
        "limit": limit,
        "now": now,
        "lease": now + timedelta(seconds=lease_seconds),
    }


def _completions(items: Sequence[tuple[Fence, Any]]) -> dict[str, Any]:
    """The completions of complete_many as its parameters (queries.sql, complete_fenced),
    in _lock_order: the fences' arrays, and the results as one JSON array."""
    ordered = sorted(items, key=lambda item: _lock_order(item[0]))
    return _fences([f for f, _ in ordered]) | {"results": Jsonb([r for _, r in ordered])}


def _fences(fences: Sequence[Fence]) -> dict[str, Any]:
    return {
        "job_ids": text_array([f.job_id for f in fences]),
        "attempts": int_array([f.attempt for f in fences]),
        "workers": text_array([f.worker_id for f in fences]),
    }


def _record(r: DictRow) -> Record:
    """A changes_since row: a job's columns, or a cron record or a revocation as jsonb
    (``_record``)."""
    if r["_kind"] == 0:
        return job_of(r)
    if r["_kind"] == 1:
        return execution_of_json(r["_record"])
    if r["_kind"] == 3:
        return Revocation(token_id=int(r["_record"]["id"]), name=str(r["_record"]["name"]))
    return cron_job_of_json(r["_record"])


class PostgresStore(ListingVerbs, ScheduleVerbs):
    """A :class:`~jobdeck.store.base.Store` on PostgreSQL (``postgresql://…``).

    The job, feed and token verbs are here; the schedule verbs come from
    :class:`~jobdeck.store.postgres.schedules.ScheduleVerbs`; the pool, migrations,
    retries and the feed-locked write from :class:`~jobdeck.store.postgres.database.Database`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._singles = Singles(self._insert_group)

    async def close(self) -> None:
        await self._singles.wait()  # groups already sent finish first
        await super().close()

    def _fired(self, jobs: Sequence[Job], *also: str) -> None:
        """Own commits wake local waiters at once (the NOTIFY also reaches other processes)."""
        if not jobs:
            return
        signals = ["jobs"]
        if any(j.status is Status.PENDING and j.mode is Mode.QUEUED for j in jobs):
            signals.append("enqueue")
        self._announce(*signals, *also)

    async def _transition(
        self, verb: str, job_id: str, params: dict[str, Any], fence: Fence | None = None
    ) -> Job:
        """A single-job verb: the conditional statement, then why it refused, if it did."""
        params.update(job_id=job_id, allowed=_allowed(verb), keep=self._keep)
        sql = Q["update_progress" if verb == "progress" else verb]

        async def go(conn: Conn) -> Job | DictRow | None:
            rows = await self._write(conn, sql, params)
            if rows:
                return job_of(rows[0])
            cur = await conn.execute(Q["get_job"], {"job_id": job_id})
            return await cur.fetchone()

        outcome = await self._run(go)
        if isinstance(outcome, Job):
            self._fired([outcome], *(("cancel",) if wakes_workers(verb, outcome, fence) else ()))
            return outcome
        raise refusal(verb, job_id, outcome, fence)

    # Single-statement verbs below run in autocommit: one statement is one transaction.

    # --- creating and reading -------------------------------------------
    async def insert_jobs(self, jobs: Sequence[NewJob], now: datetime) -> list[Job]:
        if not jobs:
            return []
        if len(jobs) == 1:  # concurrent ones go together (singles.py)
            return [await self._singles.insert(jobs[0], now)]
        return await self._insert(jobs, [now] * len(jobs), each=False)

    async def _insert_group(
        self, jobs: Sequence[NewJob], nows: Sequence[datetime], job_ids: Sequence[str] | None
    ) -> list[Job]:
        return await self._insert(jobs, nows, each=len(jobs) > 1, chosen=job_ids)

    async def _insert(
        self,
        jobs: Sequence[NewJob],
        nows: Sequence[datetime],
        *,
        each: bool,
        chosen: Sequence[str] | None = None,
    ) -> list[Job]:
        """``jobs`` created at ``nows`` (one each; ``each``: not all the same), with the
        job_ids ``chosen`` by the caller if it did (singles.py: a group's jobs tried alone)."""
        # Chosen once: retries are idempotent.
        job_ids = list(chosen) if chosen is not None else new_job_ids(len(jobs))
        now = nows[0]
        if len(jobs) == 1:
            # One job: each column its own parameter (queries.sql, insert_job).
            [job_id], [j] = job_ids, jobs
            created = utc(now)
            one = insert_params(job_id, j, created)

            async def write(conn: Conn) -> list[Job] | None:
                cur = conn.kept_cursor()
                try:
                    await cur.execute(INSERT_JOB, one)
                except psycopg.errors.UniqueViolation as exc:
                    if _job_id_taken(exc):
                        return None
                    raise
                row = await cur.fetchone()
                assert row is not None
                pk, seq = row
                return [new_row_job(j, pk, job_id, seq, now)]
        elif len(jobs) < COPY_FROM:
            # One statement, one JSON parameter: see insert_jobs in queries.sql.
            entries = [job_entry(job_id, j) for job_id, j in zip(job_ids, jobs, strict=True)]
            if each:
                for entry, at in zip(entries, nows, strict=True):
                    entry["created_at"] = at.isoformat()
            params = {"now": now, "jobs": Jsonb(entries)}

            async def write(conn: Conn) -> list[Job] | None:
                rows = await self._write(conn, Q["insert_jobs"], params)
                if len(rows) < len(job_ids):
                    return None
                by_id = {r["job_id"]: r for r in rows}
                return [
                    new_row_job(j, by_id[i]["id"], i, by_id[i]["seq"], at)
                    for i, j, at in zip(job_ids, jobs, nows, strict=True)
                ]
        else:
            ats = [utc(at) for at in nows] if each else [utc(now)] * len(jobs)

            async def write(conn: Conn) -> list[Job] | None:
                return await self._copy_insert(conn, job_ids, jobs, ats)

        async def go(conn: Conn) -> list[Job]:
            written = await write(conn)
            if written is None:
                # A retry after a commit whose answer was lost: read what is there.
                found = await self._rows(conn, "jobs_by_ids", {"job_ids": job_ids})
                by_id = {r["job_id"]: r for r in found}
                if len(by_id) < len(job_ids):
                    raise StoreError("inserted jobs are missing: deleted meanwhile?")
                return [job_of(by_id[i]) for i in job_ids]
            return written

        inserted = await self._run(go)
        self._fired(inserted)
        return inserted

    async def _copy_insert(
        self,
        conn: Conn,
        job_ids: list[str],
        jobs: Sequence[NewJob],
        ats: list[datetime],
    ) -> list[Job] | None:
        """Many new jobs by COPY, in one transaction (queries.sql, copy_jobs); None when
        they are already there (a retry)."""
        taking = {"n": len(jobs)}
        try:
            # BEGIN and take_feed_seq in one round trip; the server runs them and
            # answers at the pipeline's sync.
            # Meanwhile the jobs are read: a caller may make each one as it is read
            # (JobStore.insert_jobs), which then costs no time of its own.
            async with conn.pipeline():
                await conn.execute(Q["begin"])
                cur = await conn.execute(Q["take_feed_seq"], taking)
                jobs = list(jobs)
            taken = await cur.fetchone()
            assert taken is not None
            seq, pks, events = taken["seq"], taken["ids"], taken["events"]
            cursor = conn.cursor()
            cursor.adapters.register_dumper(None, JsonbText)
            async with cursor.copy(Q["copy_jobs"]) as copy:
                copy.set_types(COPY_TYPES)
                # The server writes each buffer of rows as it arrives (the first after
                # a hundred rows or so), while the client makes and sends the next
                # ones, then makes the Jobs.
                for pk, job_id, j, at, event in zip(pks, job_ids, jobs, ats, events, strict=True):
                    await copy.write_row(copy_row(pk, job_id, j, at, seq, event))
                inserted = [
                    new_row_job(j, pk, job_id, seq, at)
                    for pk, job_id, j, at in zip(pks, job_ids, jobs, ats, strict=True)
                ]
            await conn.execute(Q["commit"])
        except BaseException as exc:
            # A retry that finds its jobs there, a job that failed its checks as it was
            # read, an error, a cancellation: none is written, and the connection goes
            # back idle, whoever takes it next (a dead one is dropped by the pool).
            if not idle(conn):
                with contextlib.suppress(Exception):
                    await conn.execute(Q["rollback"])
            if isinstance(exc, psycopg.errors.UniqueViolation) and _job_id_taken(exc):
                return None
            raise
        return inserted

    async def get_job(self, job_id: str) -> Job | None:
        rows = await self._run(lambda c: self._rows(c, "get_job", {"job_id": job_id}))
        return job_of(rows[0]) if rows else None

    async def list_jobs(
        self, where: JobFilter, limit: int, offset: int, sort: JobSort = NEWEST_FIRST
    ) -> list[Job]:
        params = _filter(where) | {"limit": max(0, limit), "offset": max(0, offset)}
        name = "list_jobs"
        if sort != NEWEST_FIRST:
            name = "list_jobs_sorted"
            params |= {"sort": sort.key, "desc": sort.descending}
        rows = await self._run(lambda c: self._search(c, name, params))
        return [job_of(r) for r in rows]

    async def finished_per_minute(self, where: JobFilter, since: datetime) -> list[FinishedCount]:
        params = _filter(where) | {"since": since}
        rows = await self._run(lambda c: self._search(c, "finished_per_minute", params))
        return [FinishedCount(r["minute"], Status(r["status"]), int(r["n"])) for r in rows]

    async def count_jobs(self, where: JobFilter) -> int:
        rows = await self._run(lambda c: self._search(c, "count_jobs", _filter(where)))
        return int(rows[0]["n"])

    async def count_by_status(self, where: JobFilter) -> dict[Status, int]:
        rows = await self._run(lambda c: self._search(c, "count_by_status", _filter(where)))
        return {Status(r["status"]): int(r["n"]) for r in rows}

    # --- tracked jobs ---------------------------------------------------
    async def start(self, job_id: str, now: datetime) -> Job:
        return await self._transition("start", job_id, {"now": now})

    async def update_progress(
        self,
        job_id: str,
        progress: float,
        metadata: dict[str, Any] | None,
        message: str | None,
        now: datetime,
        fence: Fence | None = None,
    ) -> Job:
        params = {
            "now": now,
            "progress": float(progress),
            "metadata": json_param(metadata),
            "message": message,
        } | _fence(fence)
        return await self._transition("progress", job_id, params, fence)

    async def complete(
        self, job_id: str, result: Any, now: datetime, fence: Fence | None = None
    ) -> Job:
        params = {"now": now, "result": json_param(result)} | _fence(fence)
        return await self._transition("complete", job_id, params, fence)

    async def fail(self, job_id: str, error: str, now: datetime, fence: Fence | None = None) -> Job:
        params = {"now": now, "error": error} | _fence(fence)
        return await self._transition("fail", job_id, params, fence)

    async def cancel(self, job_id: str, now: datetime) -> Job:
        return await self._transition("cancel", job_id, {"now": now})

    async def retry(self, job_id: str, now: datetime) -> Job:
        data = Jsonb({"run_at": now.isoformat(), "manual": True})
        return await self._transition("retry", job_id, {"now": now, "data": data})

    async def delete_job(self, job_id: str) -> None:
        params = {"job_id": job_id, "allowed": _allowed("delete")}

        async def go(conn: Conn) -> DictRow | bool | None:
            rows = await self._rows(conn, "delete_job", params)
            if rows:
                return True
            cur = await conn.execute(Q["get_job"], {"job_id": job_id})
            return await cur.fetchone()

        outcome = await self._run(go)
        if outcome is not True:
            raise refusal("delete", job_id, outcome or None)
        self.signals.fire("jobs")

    # --- queued jobs: workers --------------------------------------------
    async def claim(
        self, worker_id: str, limit: int, now: datetime, lease_seconds: float
    ) -> list[Job]:
        if limit <= 0:
            return []
        params = _claim_params(worker_id, limit, now, lease_seconds) | {"keep": self._keep}
        rows = await self._run(lambda c: self._write(c, Q["claim"], params))
        jobs = [job_of(r) for r in rows]
        self._fired(jobs)
        return jobs

    async def heartbeat(
        self, worker_id: str, fences: Sequence[Fence], now: datetime, lease_seconds: float
    ) -> dict[str, Status]:
        if not fences:
            return {}
        ordered = sorted(fences, key=_lock_order)
        params = {
            "worker": worker_id,
            "lease": now + timedelta(seconds=lease_seconds),
            "job_ids": text_array([f.job_id for f in ordered]),
            "attempts": int_array([f.attempt for f in ordered]),
        }
        rows = await self._run(lambda c: self._rows(c, "heartbeat", params))
        return {r["job_id"]: Status(r["status"]) for r in rows}

    async def complete_many(self, items: Sequence[tuple[Fence, Any]], now: datetime) -> list[bool]:
        if not items:
            return []
        params = self._completion_params(items, now)
        rows = await self._run(lambda c: self._write(c, Q["complete_many"], params))
        if rows:
            self._announce("jobs")
        return completed_in_order(items, ((r["job_id"], r["attempt"]) for r in rows))

    async def complete_and_claim(
        self,
        items: Sequence[tuple[Fence, Any]],
        worker_id: str,
        limit: int,
        now: datetime,
        lease_seconds: float,
    ) -> tuple[list[bool], list[Job]]:
        if not items or limit <= 0:
            answer = await self.complete_many(items, now)
            return answer, await self.claim(worker_id, limit, now, lease_seconds)
        params = self._completion_params(items, now) | _claim_params(
            worker_id, limit, now, lease_seconds
        )
        rows = await self._run(lambda c: self._write(c, Q["complete_and_claim"], params))
        head, claimed = rows[0], [job_of(r) for r in rows[1:]]
        done = list(zip(head["_done_ids"] or (), head["_done_attempts"] or (), strict=True))
        if done or claimed:
            self._announce("jobs")
        return completed_in_order(items, done), claimed

    def _completion_params(
        self, items: Sequence[tuple[Fence, Any]], now: datetime
    ) -> dict[str, Any]:
        return _completions(items) | {"now": now, "keep": self._keep}

    async def retry_later(self, fence: Fence, error: str, run_at: datetime, now: datetime) -> Job:
        params = {
            "now": now,
            "error": error,
            "run_at": run_at,
            "data": Jsonb({"run_at": run_at.isoformat(), "attempt": fence.attempt}),
        } | _fence(fence)
        return await self._transition("retry_later", fence.job_id, params, fence)

    async def mark_cancelled(self, fence: Fence, now: datetime) -> Job:
        params = {"now": now} | _fence(fence)
        return await self._transition("mark_cancelled", fence.job_id, params, fence)

    async def release(self, fences: Sequence[Fence], now: datetime) -> int:
        if not fences:
            return 0
        params = _fences(sorted(fences, key=_lock_order)) | {
            "now": now,
            "allowed": _allowed("release"),
            "keep": self._keep,
        }
        rows = await self._run(lambda c: self._write(c, Q["release"], params))
        jobs = [job_of(r) for r in rows]
        self._fired(jobs)
        return len(jobs)

    # --- maintenance ----------------------------------------------------
    async def rescue_expired(self, now: datetime) -> list[Job]:
        params = {"now": now, "keep": self._keep}
        rows = await self._run(lambda c: self._write(c, Q["rescue_expired"], params))
        jobs = [job_of(r) for r in rows]
        self._fired(jobs)
        return jobs

    async def fail_timed_out_tracked(self, now: datetime) -> list[Job]:
        params = {"now": now, "keep": self._keep}
        rows = await self._run(lambda c: self._write(c, Q["fail_timed_out_tracked"], params))
        jobs = [job_of(r) for r in rows]
        self._fired(jobs)
        return jobs

    async def cleanup(self, before: datetime, statuses: Sequence[Status] = ()) -> int:
        chosen = [Status(s) for s in statuses] or sorted(TERMINAL)
        if not set(chosen) <= TERMINAL:
            raise ValidationError(
                "cleanup deletes finished jobs only: statuses must be completed, failed or "
                "cancelled"
            )
        params = {"before": before, "statuses": [s.value for s in chosen]}

        async def go(conn: Conn) -> int:
            return int(await self._scalar(conn, "cleanup", params))

        return await self._run(go)

    async def prune_history(self, before: datetime) -> int:
        async def go(conn: Conn) -> int:
            return int(await self._scalar(conn, "prune_history", {"before": before}))

        return await self._run(go)

    async def next_run_at(self, now: datetime) -> datetime | None:
        params = {"priorities": [p.value for p in Priority]}
        value: datetime | None = await self._run(lambda c: self._scalar(c, "next_run_at", params))
        return value

    # --- history --------------------------------------------------------
    async def add_history(
        self,
        job_id: str,
        kind: str,
        message: str | None,
        data: dict[str, Any] | None,
        now: datetime,
    ) -> None:
        params = {
            "job_id": job_id,
            "kind": kind,
            "message": message,
            "data": json_param(data),
            "now": now,
            "keep": self._keep,
        }
        rows = await self._run(lambda c: self._write(c, Q["add_history"], params))
        if not rows:
            raise JobNotFound(f"job {job_id} not found")
        self._announce("jobs")

    # --- change feed ----------------------------------------------------
    async def changes_since(self, seq: int, limit: int = 1000) -> list[Change]:
        params = {"seq": seq, "limit": max(1, limit)}
        rows = await self._run(lambda c: self._after_horizon(c, "changes_since", params))
        return [Change(seq=r["_seq"], record=_record(r)) for r in rows]

    async def last_seq(self) -> int:
        rows = await self._run(lambda c: self._after_horizon(c, "last_seq", {}))
        return int(rows[0]["seq"])

    # --- tokens and grants ------------------------------------------------
    async def create_token(
        self,
        name: str,
        token_hash: str,
        scopes: Sequence[str],
        plugin: str | None,
        store: str | None,
        now: datetime,
    ) -> Token:
        params = {
            "name": name,
            "token_hash": token_hash,
            "scopes": list(scopes),
            "plugin": plugin,
            "store": store,
            "now": now,
        }

        async def go(conn: Conn) -> Token:
            rows = await self._rows(conn, "create_token", params)
            return _token(rows[0])

        try:
            return await self._run(go)
        except StoreError as exc:
            if isinstance(exc.__cause__, psycopg.errors.UniqueViolation):
                raise ValidationError(f"a token named {name!r} already exists") from exc
            raise

    async def token_by_hash(self, token_hash: str) -> Token | None:
        params = {"token_hash": token_hash}
        rows = await self._run(lambda c: self._rows(c, "token_by_hash", params))
        return _token(rows[0]) if rows else None

    async def list_tokens(self) -> list[Token]:
        rows = await self._run(lambda c: self._rows(c, "list_tokens", {}))
        return [_token(r) for r in rows]

    async def revoke_token(self, name: str, now: datetime) -> bool:
        async def go(conn: Conn) -> bool:
            rows = await self._write(conn, Q["revoke_token"], {"name": name, "now": now})
            return bool(rows)

        revoked = await self._run(go)
        if revoked:
            self._announce("jobs")
        return revoked

    async def touch_token(self, token_id: int, now: datetime) -> None:
        async def go(conn: Conn) -> None:
            await conn.execute(Q["touch_token"], {"token_id": token_id, "now": now})

        await self._run(go)

    async def purge_grants(self, now: datetime) -> int:
        async def go(conn: Conn) -> int:
            return (await conn.execute(Q["purge_grants"], {"now": now})).rowcount

        return await self._run(go)

    async def create_grant(
        self, kind: str, secret_hash: str, token_id: int, expires_at: datetime
    ) -> None:
        params = {
            "kind": kind,
            "secret_hash": secret_hash,
            "token_id": token_id,
            "expires_at": expires_at,
        }

        async def go(conn: Conn) -> None:
            await conn.execute(Q["create_grant"], params)

        try:
            await self._run(go)
        except StoreError as exc:
            if isinstance(exc.__cause__, psycopg.errors.UniqueViolation):
                raise ValidationError("this grant already exists") from exc
            if isinstance(exc.__cause__, psycopg.errors.ForeignKeyViolation):
                raise ValidationError(f"no token with id {token_id}") from exc
            raise

    async def use_grant(
        self, kind: str, secret_hash: str, now: datetime, consume: bool
    ) -> Token | None:
        params = {"kind": kind, "secret_hash": secret_hash, "now": now}
        name = "consume_grant" if consume else "peek_grant"

        async def go(conn: Conn) -> list[DictRow]:
            return await self._rows(conn, name, params)

        rows = await self._run(go)
        return _token(rows[0]) if rows else None


__all__ = ["PostgresStore"]
