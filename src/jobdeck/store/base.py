"""The Store protocol: its verbs are transitions of SPEC §2.2.

Rules every implementation follows (the conformance suite in ``tests/contract``
checks them on every backend):

* Every verb that changes a job is ONE conditional update in ONE transaction:
  ``UPDATE … WHERE job_id = ? AND status IN (allowed) [AND attempt = ? AND locked_by = ?]``.
  The allowed statuses come from :data:`jobdeck.domain.states.ALLOWED_FROM`.
  No row changed → :class:`InvalidTransition` (or :class:`StaleWrite` when a fence
  was given and the attempt is no longer the writer's) and nothing changes.
  An unknown job_id → :class:`JobNotFound`.
* Every write to a job gives it a new change-feed sequence number (``Job.seq``),
  strictly increasing in commit order across all processes sharing the database,
  so ``changes_since(n)`` never misses a committed change. All jobs written in one
  transaction may share one sequence number.
* History: ``created`` (insert), ``started`` (start/claim), ``progress`` (only when a
  message is given), ``log``, ``retry`` (retry_later: message = error, data = {"run_at": …}),
  ``error`` (fail), ``completed``, ``cancelling``, ``cancelled``, ``rescued``
  (lease expired), ``timeout``, ``released``; at most ``history_limit`` rows per job
  (oldest pruned).
* ``now`` is always passed in (injected clock); stores never read the wall clock
  for job semantics. All datetimes are timezone-aware UTC.
* JSON columns (payload, metadata, result, retry_delays) round-trip exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from jobdeck.domain.job import Change, Fence, HistoryEvent, Job, JobFilter, NewJob, Status
from jobdeck.events.signals import Signals


@dataclass(frozen=True)
class Token:
    """An API token (only its hash is stored)."""

    id: int
    name: str
    scopes: tuple[str, ...]
    plugin: str | None
    store: str | None
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


class Store(Protocol):
    signals: Signals
    """Fired after this store's own commits and when other processes' commits are seen."""

    # --- lifecycle -------------------------------------------------------
    async def open(self) -> None:
        """Connect and migrate the schema to the newest version (idempotent, concurrent-safe)."""

    async def close(self) -> None: ...

    async def schema_version(self) -> int: ...

    # --- creating and reading -------------------------------------------
    async def insert_jobs(self, jobs: Sequence[NewJob], now: datetime) -> list[Job]:
        """Insert all in one transaction (status pending, attempt 0, a new UUID job_id,
        run_at defaulting to now); history ``created`` for each. Returns them in order."""

    async def get_job(self, job_id: str) -> Job | None: ...

    async def list_jobs(self, where: JobFilter, limit: int, offset: int) -> list[Job]:
        """Filters first, then newest first (id descending), then limit/offset."""

    async def count_jobs(self, where: JobFilter) -> int: ...

    async def count_by_status(self, where: JobFilter) -> dict[Status, int]:
        """Every status present, with its count (absent statuses may be omitted)."""

    # --- tracked jobs (no fence: driven by their creator) ------------------
    async def start(self, job_id: str, now: datetime) -> Job:
        """pending → running; started_at = now."""

    async def update_progress(
        self,
        job_id: str,
        progress: float,
        metadata: dict[str, Any] | None,
        message: str | None,
        now: datetime,
        fence: Fence | None = None,
    ) -> Job:
        """running|cancelling only; progress already clamped by the caller; metadata
        shallow-merges; message sets progress_message (and a ``progress`` history row);
        rate and eta_seconds via :func:`jobdeck.domain.progress.estimate` from the
        previous progress and its time (stored in the row)."""

    async def complete(
        self, job_id: str, result: Any, now: datetime, fence: Fence | None = None
    ) -> Job:
        """running|cancelling → completed; progress 100; completed_at; lease cleared."""

    async def fail(self, job_id: str, error: str, now: datetime, fence: Fence | None = None) -> Job:
        """running|cancelling → failed; error_message; completed_at; lease cleared."""

    async def cancel(self, job_id: str, now: datetime) -> Job:
        """pending → cancelled; running tracked → cancelled; running queued → cancelling
        (the worker stops it); completed_at set when it reaches cancelled."""

    async def retry(self, job_id: str, now: datetime) -> Job:
        """failed|cancelled queued job → pending, run_at = now, error and result cleared,
        completed_at cleared. Tracked jobs → InvalidTransition."""

    async def delete_job(self, job_id: str) -> None:
        """Terminal jobs only (else InvalidTransition); history goes with it."""

    # --- queued jobs: workers --------------------------------------------
    async def claim(
        self, worker_id: str, limit: int, now: datetime, lease_seconds: float
    ) -> list[Job]:
        """Atomically take up to ``limit`` pending queued jobs with run_at <= now, ordered
        by priority desc, run_at, id: status running, attempt += 1, locked_by = worker_id,
        lease_expires_at = now + lease, started_at = now. No job is ever handed to two
        claimers. History ``started``."""

    async def heartbeat(
        self, worker_id: str, fences: Sequence[Fence], now: datetime, lease_seconds: float
    ) -> dict[str, Status]:
        """Extend the lease of each fenced job still owned (running or cancelling);
        return {job_id: status} for those, so the worker learns of cancellations. Jobs
        missing from the answer are lost to this worker."""

    async def complete_many(
        self, items: Sequence[tuple[Fence, Any]], now: datetime
    ) -> list[Job | None]:
        """Fenced completes in one transaction; None where the fence was stale."""

    async def retry_later(self, fence: Fence, error: str, run_at: datetime, now: datetime) -> Job:
        """A failed attempt with retries left: running → pending, run_at, error_message,
        lease cleared; history ``retry``. Fenced."""

    async def mark_cancelled(self, fence: Fence, now: datetime) -> Job:
        """cancelling → cancelled (the handler stopped). Fenced."""

    async def release(self, fences: Sequence[Fence], now: datetime) -> int:
        """Graceful shutdown: give back unfinished attempts without counting them:
        running → pending (attempt -= 1, run_at = now), cancelling → cancelled."""

    # --- maintenance ----------------------------------------------------
    async def rescue_expired(self, now: datetime) -> list[Job]:
        """Queued jobs whose lease expired (their worker died): running → pending
        (run_at = now) when retries are left (attempt <= max_retries), else failed with
        "Worker lost: lease expired"; cancelling → cancelled. History ``rescued``.
        A job whose lease is still valid is never touched."""

    async def fail_timed_out_tracked(self, now: datetime) -> list[Job]:
        """Tracked running jobs with timeout > 0 and started_at + timeout < now → failed
        with "Job timed out after N seconds"."""

    async def cleanup(self, before: datetime, statuses: Sequence[Status] = ()) -> int:
        """Delete terminal jobs (or only ``statuses``, which must be terminal) whose
        completed_at < before, with their history. Returns the count."""

    async def prune_history(self, before: datetime) -> int:
        """Delete history rows older than ``before``."""

    async def next_run_at(self, now: datetime) -> datetime | None:
        """Earliest run_at of a pending queued job (to sleep until it), or None."""

    # --- history --------------------------------------------------------
    async def add_history(
        self,
        job_id: str,
        kind: str,
        message: str | None,
        data: dict[str, Any] | None,
        now: datetime,
    ) -> None:
        """Append (used for ``log`` lines); also bumps the job's seq so followers see it."""

    async def get_history(self, job_id: str, limit: int = 500) -> list[HistoryEvent]:
        """Oldest first."""

    # --- change feed ----------------------------------------------------
    async def changes_since(self, seq: int, limit: int = 1000) -> list[Change]:
        """Current state of every job whose seq > ``seq``, ordered by seq."""

    async def last_seq(self) -> int: ...

    # --- tokens and short-lived grants (SPEC §8.1) ------------------------
    async def create_token(
        self,
        name: str,
        token_hash: str,
        scopes: Sequence[str],
        plugin: str | None,
        store: str | None,
        now: datetime,
    ) -> Token:
        """Names are unique among unrevoked tokens (ValidationError otherwise)."""

    async def token_by_hash(self, token_hash: str) -> Token | None:
        """An unrevoked token, or None."""

    async def list_tokens(self) -> list[Token]: ...

    async def revoke_token(self, name: str, now: datetime) -> bool: ...

    async def touch_token(self, token_id: int, now: datetime) -> None:
        """Record that the token was just used (``last_used_at``)."""

    async def create_grant(
        self, kind: str, secret_hash: str, token_id: int, expires_at: datetime
    ) -> None:
        """kind: ``login`` (single-use login code), ``ticket`` (single-use WebSocket
        ticket) or ``session`` (UI session cookie)."""

    async def use_grant(
        self, kind: str, secret_hash: str, now: datetime, consume: bool
    ) -> Token | None:
        """The grant's token when unexpired, unused and its token unrevoked; with
        ``consume`` it is used up atomically (two concurrent uses: one wins)."""

    async def purge_grants(self, now: datetime) -> int:
        """Delete the grants expired by ``now`` (used or not); how many."""
