"""Real ``jobdeck worker`` processes sharing one PostgreSQL database (see cluster.py),
and the store verb a busy worker writes with (complete_and_claim).

Skipped when no PostgreSQL server is reachable locally; a failure in CI.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import psycopg
import pytest
from cluster import Cluster, check_killed_workers_job_reruns, finished, own_deck, until

import pg
from jobdeck.deck import JobDeck
from jobdeck.domain.job import Fence, Job, Mode, NewJob, Status
from jobdeck.store.postgres.store import PostgresStore

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    async with pg.database() as url:
        group = Cluster(url, tmp_path)
        try:
            yield group
        finally:
            await group.kill_all()


@pytest.fixture
async def deck(cluster: Cluster) -> AsyncIterator[JobDeck]:
    async with own_deck(cluster) as own:
        yield own


async def test_20000_jobs_through_four_workers_each_exactly_once(
    cluster: Cluster, deck: JobDeck
) -> None:
    total = 20_000
    handles = []
    for first in range(0, total, 2_000):
        batch = [{"type": "test:record", "payload": {"n": n}} for n in range(first, first + 2_000)]
        handles += await deck.schedule_jobs(batch)
    expected = {handle.job_id for handle in handles}

    await asyncio.gather(*(cluster.start_worker(25) for _ in range(4)))

    async def all_completed() -> bool:
        return bool(await deck.count_jobs(status="completed") == total)

    await until(all_completed, "every job to complete", timeout=110)
    assert await cluster.stop_all() == [0, 0, 0, 0]

    started = [jid for event, jid, _ in cluster.lines() if event == "start"]
    assert len(started) == total, "a job ran twice or not at all"
    assert set(started) == expected
    assert len({pid for _, _, pid in cluster.lines()}) > 1  # shared between processes
    assert await deck.count_jobs(status=["pending", "running", "failed"]) == 0


async def test_a_killed_workers_job_is_rerun_after_its_lease(
    cluster: Cluster, deck: JobDeck
) -> None:
    await check_killed_workers_job_reruns(cluster, deck)


async def test_enqueue_wakes_an_idle_worker_in_another_process(
    cluster: Cluster, deck: JobDeck
) -> None:
    """Pickup latency: created_at (this process) → started_at (the worker), same host clock."""
    await cluster.start_worker()
    latencies = []
    for n in range(40):
        job = await deck.schedule_job("test:noop", {"n": n})
        done = await until(partial(finished, deck, job.job_id), "the job", timeout=10)
        latencies.append((done.started_at - done.created_at).total_seconds())
    p50 = statistics.median(latencies)
    print(f"pickup latency p50 {p50 * 1000:.2f} ms, max {max(latencies) * 1000:.2f} ms")
    assert p50 <= 0.010, f"pickup p50 {p50 * 1000:.1f} ms"
    assert await cluster.stop_all() == [0]


async def test_workers_ride_out_killed_connections_mid_run(cluster: Cluster, deck: JobDeck) -> None:
    """pg_terminate_backend on every connection to the database, several times while the
    workers run: no worker exits, and every job completes."""
    total = 1_500
    handles = await deck.schedule_jobs(
        [{"type": "test:record", "payload": {"sleep": 0.05}} for _ in range(total)]
    )
    await asyncio.gather(cluster.start_worker(20), cluster.start_worker(20))

    killed = 0
    for _ in range(5):
        await until(lambda: cluster.lines(), "the workers to make progress")
        killed += await pg.terminate_connections(cluster.url)
        await asyncio.sleep(0.3)  # let them reconnect and run a while before the next blow
    assert killed > 0
    assert await deck.count_jobs(status="completed") < total, "the blows came after the run"

    async def all_completed() -> bool:
        return bool(await deck.count_jobs(status="completed") == total)

    await until(all_completed, "every job to complete after the reconnects", timeout=90)
    assert all(process.returncode is None for process in cluster.workers), "a worker exited"
    started = {jid for event, jid, _ in cluster.lines() if event == "start"}
    assert started == {handle.job_id for handle in handles}
    assert await cluster.stop_all() == [0, 0]


async def test_complete_and_claim_is_one_write(
    make_store: Callable[..., Awaitable[PostgresStore]],
) -> None:
    """A worker's finished jobs ride with its next claim (queries.sql, complete_and_claim):
    one statement, so one transaction and one seq for both, one step of the feed. Written
    as complete_many then claim, the two would commit apart under two seqs."""
    store = await make_store()
    t0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    await store.insert_jobs(
        [NewJob(name=f"job {i}", type="test:noop", mode=Mode.QUEUED) for i in range(4)], t0
    )
    running = await store.claim("w", 2, t0, 30)
    before = await store.last_seq()

    answer, claimed = await store.complete_and_claim(
        [(Fence(j.job_id, j.attempt, "w"), {"n": n}) for n, j in enumerate(running)],
        "w",
        2,
        t0,
        30,
    )
    assert answer == [True, True]
    done = [job for j in running if (job := await store.get_job(j.job_id)) is not None]
    assert len(done) == 2 and all(j.status is Status.COMPLETED for j in done)
    assert len(claimed) == 2 and all(j.status is Status.RUNNING for j in claimed)
    assert not {j.job_id for j in claimed} & {j.job_id for j in running}
    assert done[0].seq == claimed[0].seq
    assert {j.seq for j in [*done, *claimed]} == {done[0].seq}
    changes = await store.changes_since(before)
    assert {c.seq for c in changes} == {done[0].seq}  # exactly one new seq
    assert {c.record.job_id for c in changes if isinstance(c.record, Job)} == {
        j.job_id for j in [*done, *claimed]
    }


async def test_a_cancel_from_another_process_stops_the_job_before_the_next_heartbeat(
    cluster: Cluster, deck: JobDeck
) -> None:
    """A ``jobdeck worker`` listens for cancels only (besides enqueues): a running job
    cancelled elsewhere stops within a quick beat, not at the next regular heartbeat."""
    cluster.env["JOBDECK_HEARTBEAT_SECONDS"] = "30"
    cluster.env["JOBDECK_LEASE_SECONDS"] = "60"
    await cluster.start_worker()
    job = await deck.schedule_job("test:record", {"sleep": 60})
    await until(lambda: cluster.starts(job.job_id), "the job to start")
    asked = time.monotonic()
    await deck.cancel_job(job.job_id)
    done = await until(partial(finished, deck, job.job_id), "the job to stop", timeout=10)
    assert done.status.value == "cancelled"
    assert time.monotonic() - asked < 5.0  # the heartbeat alone would take up to 30 s
    assert await cluster.stop_all() == [0]


async def test_a_drain_stores_no_history_rows(cluster: Cluster, deck: JobDeck) -> None:
    """The bulk insert, workers' claims and completions reserve their events' ids in the
    job row instead of storing history rows (queries.sql, derived_events); reads still
    show them."""
    total = 300
    handles = await deck.schedule_jobs(
        [{"type": "test:record", "payload": {"n": n}} for n in range(total)]
    )
    await asyncio.gather(cluster.start_worker(25), cluster.start_worker(25))

    async def all_completed() -> bool:
        return bool(await deck.count_jobs(status="completed") == total)

    await until(all_completed, "every job to complete", timeout=60)
    assert await cluster.stop_all() == [0, 0]
    async with await psycopg.AsyncConnection.connect(cluster.url) as c:
        cur = await c.execute("SELECT kind, count(*) FROM jobdeck_history GROUP BY kind")
        assert dict(await cur.fetchall()) == {}
    for handle in handles:
        job = await deck.get_job(handle.job_id)
        history = await deck.get_history(handle.job_id)
        assert [(e.kind, e.created_at) for e in history] == [
            ("created", job.created_at),
            ("started", job.started_at),
            ("completed", job.completed_at),
        ]
        assert history[1].data is not None and history[1].data["attempt"] == 1
        assert history[1].data["worker"]
        assert history[0].id < history[1].id < history[2].id
