"""Cron on PostgreSQL beyond the conformance suite: fire across many stores (pools), the
jobs trigger under every job verb, retries after a lost COMMIT answer, and the typed
feed under concurrent cron traffic.

Skipped when no PostgreSQL server is reachable locally; a failure in CI.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import psycopg
import pytest

from jobdeck.domain.job import Fence, Job, JobFilter, Mode, NewJob, Status
from jobdeck.domain.schedule import (
    CronDefinition,
    CronJob,
    Execution,
    ExecutionStatus,
    TriggeredBy,
)
from jobdeck.errors import CronJobExists
from jobdeck.store.postgres.database import Conn
from jobdeck.store.postgres.store import PostgresStore

pytestmark = pytest.mark.postgres

T = TypeVar("T")
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LEASE = 30.0
Factory = Callable[..., Awaitable[PostgresStore]]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def definition(name: str = "nightly", **fields: Any) -> CronDefinition:
    fields.setdefault("cron_expression", "0 2 * * *")
    fields.setdefault("job_type", "test:noop")
    return CronDefinition(name=name, **fields)


def run_job(cron: CronJob, max_retries: int = 0) -> NewJob:
    return NewJob(name=cron.name, type="test:noop", mode=Mode.QUEUED, max_retries=max_retries)


class LosesAnswers(PostgresStore):
    """A store whose next ``lose`` calls commit and then fail as a lost connection would
    (the answer to COMMIT never arrives), so the verb is retried after it landed."""

    lose = 0

    async def _run(self, fn: Callable[[Conn], Awaitable[T]]) -> T:
        if not self.lose:
            return await super()._run(fn)
        self.lose -= 1
        tries = 0

        async def landed_then_lost(conn: Conn) -> T:
            nonlocal tries
            tries += 1
            result = await fn(conn)
            if tries == 1:
                raise psycopg.OperationalError("server closed the connection unexpectedly")
            return result

        return await super()._run(landed_then_lost)


@pytest.fixture
async def store(make_store: Factory) -> PostgresStore:
    return await make_store()


async def execution_of(store: PostgresStore, execution: Execution) -> Execution:
    current = await store.get_execution(execution.id)
    assert current is not None
    return current


async def cron_of(store: PostgresStore, cron: CronJob) -> CronJob:
    current = await store.get_cron_job(cron.id)
    assert current is not None
    return current


def fence(job: Job) -> Fence:
    assert job.locked_by is not None
    return Fence(job.job_id, job.attempt, job.locked_by)


# --- fire across processes -----------------------------------------------------
async def test_each_tick_fires_once_whatever_the_number_of_schedulers(
    make_store: Factory,
) -> None:
    stores = [await make_store(listen=False, max_connections=2) for _ in range(6)]
    cron = await stores[0].insert_cron_job(definition(), "local", at(60), T0)
    for n in range(1, 16):
        tick, following = at(60 * n), at(60 * (n + 1))
        read = await cron_of(stores[0], cron)  # every scheduler read the schedule as it is
        assert read.next_run_at == tick
        results = await asyncio.gather(
            *(
                s.fire(read, [tick], following, run_job(cron), tick, f"scheduler-{i}")
                for i, s in enumerate(stores)
            )
        )
        winners = [r for r in results if r is not None]
        assert len(winners) == 1 and len(winners[0]) == 1, results
        # Every run but the first overlaps the previous one, still pending: skipped.
        assert winners[0][0].status is (
            ExecutionStatus.RUNNING if n == 1 else ExecutionStatus.SKIPPED
        )
    store = stores[0]
    assert await store.count_executions(cron.id) == 15
    assert await store.count_jobs(JobFilter()) == 1
    after = await cron_of(store, cron)
    assert after.run_count == 1 and after.next_run_at == at(60 * 16)


async def test_catch_up_ticks_fire_once_across_schedulers(make_store: Factory) -> None:
    stores = [await make_store(listen=False, max_connections=2) for _ in range(4)]
    cron = await stores[0].insert_cron_job(
        definition(overlap_policy="allow", misfire_policy="catch_up"), "local", at(60), T0
    )
    due = [at(60 * n) for n in range(1, 11)]
    results = await asyncio.gather(
        *(s.fire(cron, due, at(3600), run_job(cron), at(700), "s") for s in stores)
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1 and [e.scheduled_for for e in winners[0]] == due
    assert await stores[0].count_jobs(JobFilter()) == 10
    assert (await cron_of(stores[0], cron)).run_count == 10


# --- the jobs trigger under every job verb ---------------------------------------
async def test_trigger_follows_every_job_verb(store: PostgresStore) -> None:
    cron = await store.insert_cron_job(definition(max_failures=None), "local", None, T0)

    async def run(max_retries: int = 0) -> tuple[Execution, Job]:
        execution = await store.run_now(
            cron.id, run_job(cron, max_retries), TriggeredBy.MANUAL, None, at(1), "x"
        )
        assert execution.job_id is not None
        job = await store.get_job(execution.job_id)
        assert job is not None and job.seq == execution.seq
        return execution, job

    async def mirrored(execution: Execution, job: Job, status: ExecutionStatus) -> Execution:
        current = await execution_of(store, execution)
        assert current.status is status, (current, job)
        assert current.seq == job.seq  # the job's transaction, the job's seq
        assert current.result == job.result
        if status is ExecutionStatus.RUNNING:
            assert current.completed_at is None and current.duration_ms is None
        else:
            assert current.completed_at == job.completed_at
        return current

    async def claim(max_retries: int = 0) -> tuple[Execution, Job]:
        execution, _ = await run(max_retries)
        [job] = await store.claim("w", 1, at(2), LEASE)
        assert job.job_id == execution.job_id
        await mirrored(execution, job, ExecutionStatus.RUNNING)
        return execution, job

    # claim → running; progress and heartbeat change no status: nothing mirrored.
    execution, job = await claim()
    moved = await store.update_progress(job.job_id, 50, None, "half", at(3), fence(job))
    await store.heartbeat("w", [fence(job)], at(3), LEASE)
    assert (await execution_of(store, execution)).seq == job.seq < moved.seq
    # complete → success
    done = await store.complete(job.job_id, {"n": 1}, at(4), fence(job))
    ended = await mirrored(execution, done, ExecutionStatus.SUCCESS)
    assert ended.duration_ms == 3000 and ended.result == {"n": 1}

    # complete_many → success for each, one seq
    (e1, j1), (e2, j2) = await claim(), await claim()
    assert await store.complete_many([(fence(j1), 1), (fence(j2), 2)], at(5)) == [True, True]
    for e, j in ((e1, j1), (e2, j2)):
        finished = await store.get_job(j.job_id)
        assert finished is not None
        await mirrored(e, finished, ExecutionStatus.SUCCESS)

    # fail → failed; the executor's timeout message → timeout
    execution, job = await claim()
    failed = await store.fail(job.job_id, "boom", at(6), fence(job))
    await mirrored(execution, failed, ExecutionStatus.FAILED)
    execution, job = await claim()
    timed_out = await store.fail(job.job_id, "Job timed out after 5 seconds", at(7), fence(job))
    current = await mirrored(execution, timed_out, ExecutionStatus.TIMEOUT)
    assert current.error_message == "Job timed out after 5 seconds"

    # retry_later → still running (the error shows); then a manual retry of a failed run
    execution, job = await claim(max_retries=1)
    later = await store.retry_later(fence(job), "flaky", at(9), at(8))
    assert (await mirrored(execution, later, ExecutionStatus.RUNNING)).error_message == "flaky"
    [job] = await store.claim("w", 1, at(9), LEASE)
    failed = await store.fail(job.job_id, "again", at(10), fence(job))
    await mirrored(execution, failed, ExecutionStatus.FAILED)
    retried = await store.retry(job.job_id, at(11))
    await mirrored(execution, retried, ExecutionStatus.RUNNING)
    await store.cancel(job.job_id, at(11))  # leaves nothing pending behind

    # cancel: pending → cancelled; running → cancelling (still running) → mark_cancelled
    execution, job = await run()
    await mirrored(execution, await store.cancel(job.job_id, at(12)), ExecutionStatus.CANCELLED)
    await store.retry(job.job_id, at(12))  # leaves nothing pending behind
    await store.cancel(job.job_id, at(12))
    execution, job = await claim()
    asked = await store.cancel(job.job_id, at(13))
    assert asked.status is Status.CANCELLING
    await mirrored(execution, asked, ExecutionStatus.RUNNING)
    stopped = await store.mark_cancelled(fence(job), at(14))
    await mirrored(execution, stopped, ExecutionStatus.CANCELLED)

    # release: running → pending (running); cancelling → cancelled
    execution, job = await claim()
    assert await store.release([fence(job)], at(15)) == 1
    released = await store.get_job(job.job_id)
    assert released is not None and released.status is Status.PENDING
    await mirrored(execution, released, ExecutionStatus.RUNNING)
    [job] = await store.claim("w", 1, at(16), LEASE)
    await store.cancel(job.job_id, at(16))
    await store.release([fence(job)], at(17))
    gone = await store.get_job(job.job_id)
    assert gone is not None and gone.status is Status.CANCELLED
    await mirrored(execution, gone, ExecutionStatus.CANCELLED)

    # rescue_expired: retries left → pending (running); none left → failed
    execution, job = await claim(max_retries=1)
    [rescued] = await store.rescue_expired(at(2 + LEASE + 1))
    await mirrored(execution, rescued, ExecutionStatus.RUNNING)
    [job] = await store.claim("w", 1, at(40), LEASE)
    [lost] = await store.rescue_expired(at(40 + LEASE + 1))
    current = await mirrored(execution, lost, ExecutionStatus.FAILED)
    assert current.error_message == "Worker lost: lease expired"

    # delete and cleanup leave the executions (job_id then points nowhere)
    before = await store.count_executions(cron.id)
    execution, job = await claim()
    await store.complete(job.job_id, None, at(80), fence(job))
    await store.delete_job(job.job_id)
    assert (await execution_of(store, execution)).status is ExecutionStatus.SUCCESS
    assert await store.cleanup(at(10_000)) > 0
    assert await store.count_jobs(JobFilter(status=[Status.COMPLETED])) == 0
    assert await store.count_executions(cron.id) == before + 1

    after = await cron_of(store, cron)
    # successes: complete, complete_many ×2, the deleted one; failures: fail, timeout,
    # "again", "Worker lost"; cancelled runs count as neither.
    assert (after.success_count, after.failure_count) == (4, 4)
    assert after.last_status is ExecutionStatus.SUCCESS and after.consecutive_failures == 0
    assert after.run_count == 0  # manual runs


async def test_max_failures_pauses_in_the_failing_jobs_transaction(store: PostgresStore) -> None:
    cron = await store.insert_cron_job(definition(max_failures=2), "local", at(60), T0)
    for n, error in enumerate(["first", "second"]):
        execution = await store.run_now(cron.id, run_job(cron), TriggeredBy.API, "ci", at(n), "x")
        [job] = await store.claim("w", 1, at(n), LEASE)
        failed = await store.fail(job.job_id, error, at(n + 0.5), fence(job))
    after = await cron_of(store, cron)
    assert after.is_paused and after.next_run_at is None and after.consecutive_failures == 2
    assert after.last_error == "Paused after 2 consecutive failures: second"
    assert after.seq == failed.seq == (await execution_of(store, execution)).seq
    assert await store.due_cron_jobs(at(3600)) == []


async def test_non_cron_jobs_do_not_enter_the_trigger(store: PostgresStore) -> None:
    async with await psycopg.AsyncConnection.connect(store.database_url) as conn:
        cur = await conn.execute(
            "SELECT pg_get_triggerdef(oid) FROM pg_trigger"
            " WHERE tgname = 'jobdeck_jobs_cron_mirror'"
        )
        row = await cur.fetchone()
    assert row is not None
    assert "WHEN (((new.cron_job_id IS NOT NULL)" in row[0]
    assert "(old.status IS DISTINCT FROM new.status)" in row[0]


# --- retries after a lost COMMIT answer ------------------------------------------
async def test_a_fire_retried_after_its_commit_landed_records_nothing_twice(
    make_store: Factory,
) -> None:
    store = await make_store(LosesAnswers)
    assert isinstance(store, LosesAnswers)
    cron = await store.insert_cron_job(definition(), "local", at(60), T0)
    store.lose = 1
    again = await store.fire(cron, [at(60)], at(120), run_job(cron), at(60), "s")
    assert again is None  # the compare-and-set refuses the re-run: next_run_at moved
    assert await store.count_executions(cron.id) == 1
    assert await store.count_jobs(JobFilter()) == 1
    after = await cron_of(store, cron)
    assert after.run_count == 1 and after.next_run_at == at(120)


async def test_run_now_and_upserts_retried_after_their_commit_landed(
    make_store: Factory,
) -> None:
    store = await make_store(LosesAnswers)
    assert isinstance(store, LosesAnswers)
    store.lose = 1
    cron = await store.insert_cron_job(definition(), "local", at(60), T0)
    assert cron.name == "nightly"  # its own row, not a CronJobExists
    with pytest.raises(CronJobExists):
        await store.insert_cron_job(definition(), "local", at(60), T0)

    store.lose = 1
    execution = await store.run_now(cron.id, run_job(cron), TriggeredBy.MANUAL, None, at(1), "x")
    assert await store.count_executions(cron.id) == 1
    [job] = await store.list_jobs(JobFilter(), 10, 0)
    assert execution.job_id == job.job_id and job.cron_job_id == cron.id

    store.lose = 1
    declared = [(definition(f"d{i}", plugin_id="acme"), at(60)) for i in range(3)]
    first = await store.upsert_declared("acme", declared, T0)
    assert [c.name for c in first] == ["d0", "d1", "d2"]
    assert len(await store.find_cron_jobs("d1")) == 1


# --- the typed feed under concurrent cron traffic -------------------------------
async def test_feed_never_skips_a_record_under_concurrent_cron_writers(
    make_store: Factory,
) -> None:
    writers = [await make_store(listen=False, max_connections=2) for _ in range(3)]
    follower = await make_store(listen=False)
    crons = [
        await writers[0].insert_cron_job(definition(f"c{i}"), "local", at(60), T0) for i in range(3)
    ]
    written: dict[tuple[str, int], int] = {}
    done = asyncio.Event()

    async def runs(store: PostgresStore, cron: CronJob, worker: str) -> None:
        for n in range(12):
            execution = await store.run_now(
                cron.id, run_job(cron), TriggeredBy.MANUAL, None, at(n), "x"
            )
            jobs = await store.claim(worker, 1, at(n), LEASE)
            for job in jobs:
                await store.complete(job.job_id, {"n": n}, at(n + 1), fence(job))
            current = await execution_of(store, execution)
            written[("Execution", current.id)] = current.seq

    async def follow() -> dict[tuple[str, int], int]:
        seen: dict[tuple[str, int], int] = {}
        cursor, last = 0, None
        while True:
            finished = done.is_set()
            page = await follower.changes_since(cursor, limit=4)
            for change in page:
                key = (type(change.record).__name__, change.record.id)
                assert last is None or change.seq >= last  # seq order
                seen[key] = change.seq
                last = change.seq
            if page:
                cursor = page[-1].seq
            elif finished:
                return seen
            else:
                await asyncio.sleep(0.005)

    async def write_then_done() -> None:
        await asyncio.gather(
            *(runs(s, c, f"w{i}") for i, (s, c) in enumerate(zip(writers, crons, strict=True)))
        )
        done.set()

    _, seen = await asyncio.gather(write_then_done(), follow())
    # Executions end in the job's transaction, possibly another writer's: their final
    # seq is the newest one the store reports.
    for key in written:
        current = await follower.get_execution(key[1])
        assert current is not None
        assert seen.get(key, 0) >= current.seq, key
    for cron in crons:
        assert seen[("CronJob", cron.id)] == (await cron_of(follower, cron)).seq
    assert max(seen.values()) == await follower.last_seq()
