"""The Store protocol: its verbs are the transitions of docs/lifecycle.md.

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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from jobdeck.domain.feed import Change
from jobdeck.domain.job import Fence, HistoryEvent, Job, JobFilter, Mode, NewJob, Status
from jobdeck.domain.listing import NEWEST_FIRST, FinishedCount, JobSort, WorkerPresence
from jobdeck.domain.schedule import (
    CronDefinition,
    CronFilter,
    CronJob,
    Execution,
    TriggeredBy,
)
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


class JobStore(Protocol):
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
        run_at defaulting to now); history ``created`` for each. Returns them in order.
        ``jobs`` may make each job as it is read (the deck checks a bulk that way): a
        read that raises writes nothing, and its error reaches the caller."""

    async def get_job(self, job_id: str) -> Job | None: ...

    async def list_jobs(
        self, where: JobFilter, limit: int, offset: int, sort: JobSort = NEWEST_FIRST
    ) -> list[Job]:
        """Filters first, then ``sort`` (newest first: id descending; any other key
        then id, both in its direction), then limit/offset."""

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
        window of recent updates kept in the row, cleared by start and claim
        (docs/progress.md)."""

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

    async def complete_many(self, items: Sequence[tuple[Fence, Any]], now: datetime) -> list[bool]:
        """Fenced completes in one transaction. Per item, in the order given, whether it
        was completed: False where the fence was stale (a fence given twice completes
        once). The worker only counts them; the rows are not read back."""

    async def complete_and_claim(
        self,
        items: Sequence[tuple[Fence, Any]],
        worker_id: str,
        limit: int,
        now: datetime,
        lease_seconds: float,
    ) -> tuple[list[bool], list[Job]]:
        """``complete_many(items)``, then ``claim(limit)``: a busy worker's finished jobs
        ride with its next claim. Returns both answers. One transaction on PostgreSQL;
        SQLite runs the two verbs one after the other, so when it raises the completions
        may have landed (writing them again is refused by their fences)."""

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

    async def get_history(
        self, job_id: str, limit: int = 500, after: int | None = None
    ) -> list[HistoryEvent]:
        """Oldest first: the newest ``limit`` events, or with ``after`` the first
        ``limit`` events whose id is greater (a follower pages forward)."""

    async def index_text(self, limit: int | None = None, now: datetime | None = None) -> int:
        """Bring the text-search index up to date by at most ``limit`` jobs (None: the
        backend's own pass size; a backend that keeps it at every write does nothing);
        how many it added. Searches are
        exact either way, only slower over jobs not indexed yet (maintenance calls it).
        With ``now`` (maintenance passes it), a backend may leave for later the jobs
        created shortly before it and those a claim could take at ``now`` or shortly
        after (PostgreSQL does: their claim indexes them at no extra cost)."""

    async def finished_per_minute(self, where: JobFilter, since: datetime) -> list[FinishedCount]:
        """Jobs that reached a terminal status at or after ``since`` (by completed_at),
        counted per minute (UTC, truncated) and status; minutes with none are absent."""

    # --- change feed ----------------------------------------------------
    async def changes_since(self, seq: int, limit: int = 1000) -> list[Change]:
        """Current state of every record (job, schedule, execution, revocation) whose
        seq > ``seq``, ordered by seq. About ``limit`` records: a page never ends inside
        the group of records that share a seq (it grows to take the whole group)."""

    async def last_seq(self) -> int: ...


class TokenStore(Protocol):
    """API tokens and short-lived grants (docs/security.md)."""

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

    async def revoke_token(self, name: str, now: datetime) -> bool:
        """Revoke the live token ``name`` (False: none) and end its grants, in one
        transaction that writes a :class:`~jobdeck.domain.feed.Revocation` to the
        change feed with the feed's seq rules (docs/feed.md, "Revocations")."""

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


class ScheduleStore(Protocol):
    """Cron schedules and their executions (docs/api-cron.md; docs/cron.md).

    * Every write to a schedule or an execution gives it a new feed ``seq`` (the same
      sequence as jobs, written under the same rules), so followers see them.
    * Names are unique per ``(plugin_id, store_id, name)`` (a NULL plugin or store
      counts as one value): a clash raises :class:`CronJobExists` carrying the
      schedule that holds the name.
    * Scheduler-fired executions are unique per ``(cron_job_id, scheduled_for)``; manual
      ones are not keyed by time.
    * ``updated_at`` changes on every write of a user (insert, update, pause, resume,
      an upsert that changes something, the deactivation of a vanished declaration) and
      on every ``fire``: it becomes ``now``, or 1 µs after the stored value when ``now``
      is not later, so it always moves. The jobs trigger below never moves it (a run
      ending must not spoil a scheduler's compare-and-set, see ``fire``).
    * An execution mirrors its job in the transaction that changes the job (both
      backends use a trigger on the jobs table, with the same results to the value):
      job running → ``running``; pending again (a retry) → ``running``; completed →
      ``success`` (result copied); failed → ``failed``, or ``timeout`` when the job
      timed out; cancelled → ``cancelled``. Terminal: completed_at, and duration_ms =
      completed_at - started_at rounded to the nearest millisecond (half up, never
      negative); the schedule's last_status, success_count or failure_count and
      consecutive_failures (reset by a success) change with it, and its last_error
      becomes the job's error_message on a failure (failed or timeout), NULL on a
      success, and stays on a cancel. A failure that reaches ``max_failures``
      consecutive failures on an unpaused schedule pauses it (next_run_at NULL) with a
      ``last_error`` saying why ("Paused after N consecutive failures: <error>"); a
      schedule already paused keeps its pause state and gets the plain error;
      ``max_failures`` NULL never pauses. Deleting a job leaves its execution
      (``job_id`` then points nowhere).
    """

    async def insert_cron_job(
        self,
        definition: CronDefinition,
        created_by: str,
        next_run_at: datetime | None,
        now: datetime,
        declared_by: str | None = None,
    ) -> CronJob: ...

    async def get_cron_job(self, cron_job_id: int) -> CronJob | None: ...

    async def find_cron_jobs(self, name: str) -> list[CronJob]:
        """Every schedule with this name (any plugin or store)."""

    async def list_cron_jobs(
        self,
        where: CronFilter,
        limit: int,
        offset: int,
        sort_by: str = "created_at",
        descending: bool = True,
    ) -> list[CronJob]:
        """Filters first, then ``sort_by`` (one of CRON_SORT_KEYS; NULLs last, then id),
        then limit/offset."""

    async def count_cron_jobs(self, where: CronFilter) -> int: ...

    async def update_cron_job(
        self,
        cron_job_id: int,
        definition: CronDefinition,
        next_run_at: datetime | None,
        now: datetime,
    ) -> CronJob:
        """Replace the definition (counters and is_paused kept). CronJobNotFound,
        CronJobExists on a name clash.

        ``next_run_at`` is the next fire time of the new definition after ``now`` (the
        caller always computes it); the stored next_run_at is decided in the same
        statement, from the row as it is then: NULL when the schedule is paused or the
        new definition is inactive; ``next_run_at`` when the expression, the timezone or
        is_active changed, or when none is stored; else the stored value stays (an edit
        of the description does not drop a due tick, and a concurrent pause or resume is
        never undone). Activating a retired schedule clears ``retired``."""

    async def set_paused(
        self, cron_job_id: int, paused: bool, next_run_at: datetime | None, now: datetime
    ) -> CronJob:
        """Pause (next_run_at given as None) or resume (the next fire time after now);
        resuming also resets consecutive_failures. CronJobNotFound."""

    async def delete_cron_job(self, cron_job_id: int) -> None:
        """The schedule and its executions; its jobs stay. CronJobNotFound."""

    async def due_cron_jobs(self, now: datetime, limit: int = 100) -> list[CronJob]:
        """Active, unpaused schedules with next_run_at <= now, earliest first."""

    async def next_cron_at(self) -> datetime | None:
        """The earliest next_run_at of an active, unpaused schedule."""

    async def fire(
        self,
        expected: CronJob,
        due: Sequence[datetime],
        next_run_at: datetime | None,
        job: NewJob,
        now: datetime,
        server_instance: str,
    ) -> list[Execution] | None:
        """Record the due ticks of one schedule, in ONE transaction:

        ``expected`` is the schedule as the scheduler read it, from which it computed
        ``due``, ``next_run_at`` and ``job``. Only if the schedule is still active,
        unpaused and its id, next_run_at AND updated_at still equal ``expected``'s (else
        None: another scheduler fired it, or a user changed it since, and ``job`` may
        carry an outdated definition); :func:`jobdeck.domain.schedule.decide` (given
        whether a run of the schedule is still ``running``) turns ``due`` into ticks;
        each tick inserts its execution (triggered_by ``scheduler``, ``started_at`` =
        now) and, when it fires, a queued job built from ``job`` (cron_job_id set;
        ``job_id`` of the execution its id), skipping ticks whose key already exists;
        then next_run_at = ``next_run_at`` (None and is_active false once max_runs is
        reached), run_count += fired runs, updated_at moves on, and last_run_at = now
        only if a tick created a run (not when every tick was skipped, or none was due,
        as after a misfire skip). Returns the executions it inserted."""

    async def run_now(
        self,
        cron_job_id: int,
        job: NewJob,
        triggered_by: TriggeredBy,
        triggered_by_user: str | None,
        now: datetime,
        server_instance: str,
    ) -> Execution:
        """A manual run: an execution (scheduled_for = now) and its job in one
        transaction, whatever the overlap policy; not counted in run_count.
        CronJobNotFound."""

    async def list_executions(self, cron_job_id: int, limit: int, offset: int) -> list[Execution]:
        """Newest first (scheduled_for, then id, descending)."""

    async def count_executions(self, cron_job_id: int) -> int: ...

    async def get_execution(self, execution_id: int) -> Execution | None: ...

    async def cleanup_executions(self, before: datetime) -> int:
        """Delete terminal executions completed before ``before``; how many."""

    async def upsert_declared(
        self,
        plugin: str,
        declared: Sequence[tuple[CronDefinition, datetime | None]],
        now: datetime,
    ) -> list[CronJob]:
        """The schedules a plugin declares in code (docs/cron.md), each with its next fire
        time, in one transaction: insert new ones (created_by ``plugin:{plugin}``,
        declared_by ``plugin``); update the definition of existing ones with the same
        name key declared by this plugin (keeping is_paused, is_active and counters,
        next_run_at recomputed only if the expression or timezone changed; an unchanged
        declaration writes nothing); set is_active false and ``retired`` true on this
        plugin's active declared schedules missing from ``declared``.

        ``retired`` marks a schedule deactivated because its declaration disappeared, as
        opposed to one a user deactivated (is_active false through update_cron_job,
        which leaves ``retired`` false). A later declaration of a retired schedule
        clears ``retired`` and brings it back: is_active as declared and next_run_at the
        given (fresh) next fire time, None while it is paused. A schedule a user
        deactivated stays inactive when declared again.

        The same name key twice in ``declared`` raises ValidationError naming it, before
        anything is written. Concurrent calls with the same declarations leave one
        schedule per name. A name held by a schedule not declared by this plugin raises
        CronJobExists."""


class PresenceStore(Protocol):
    """Workers alive, from the presence each one records (docs/ui.md).

    Not part of the change feed: a presence row changes every heartbeat and nothing
    follows it live.
    """

    async def record_worker(self, worker: WorkerPresence) -> None:
        """Insert or replace the worker's row (keyed by worker_id)."""

    async def list_workers(self, seen_after: datetime) -> list[WorkerPresence]:
        """Workers whose last_seen_at >= ``seen_after``, by worker_id."""

    async def remove_workers(self, worker_ids: Sequence[str], seen_before: datetime) -> int:
        """Delete the rows of ``worker_ids`` (a worker that stops) and every row last
        seen before ``seen_before`` (workers that died); how many."""


class Store(JobStore, TokenStore, ScheduleStore, PresenceStore, Protocol):
    """Everything a backend offers (each part is its own protocol)."""


def completed_in_order(
    items: Sequence[tuple[Fence, Any]], done: Iterable[tuple[str, int]]
) -> list[bool]:
    """``complete_many``'s answer, from the (job_id, attempt) pairs a store completed:
    per item, in the order given, whether it was completed (a fence given twice
    completes once)."""
    left = set(done)
    answer = []
    for fence, _ in items:
        key = (fence.job_id, fence.attempt)
        answer.append(key in left)
        left.discard(key)
    return answer


def wakes_workers(verb: str, job: Job, fence: Fence | None) -> bool:
    """Whether a write of ``job`` by ``verb`` fires ``cancel`` (events/signals.py): its
    worker must stop it, so every worker beats now rather than at its next heartbeat. A
    running job asked to stop, or a claimed queued job ended by someone else (an
    unfenced complete or fail: its worker then finds it lost)."""
    if verb == "cancel":
        return job.status is Status.CANCELLING
    return (
        verb in ("complete", "fail")
        and fence is None
        and job.mode is Mode.QUEUED
        and job.attempt > 0
    )
