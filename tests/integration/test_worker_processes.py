"""Real ``jobdeck worker`` processes sharing one SQLite file (see cluster.py)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cluster import LEASE, Cluster, check_killed_workers_job_reruns, finished, own_deck, until

from jobdeck.deck import JobDeck

pytestmark = pytest.mark.slow


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    group = Cluster(f"sqlite:///{tmp_path / 'jobdeck.db'}", tmp_path)
    yield group
    await group.kill_all()


@pytest.fixture
async def deck(cluster: Cluster) -> AsyncIterator[JobDeck]:
    async with own_deck(cluster) as own:
        yield own


async def test_a_killed_workers_job_is_rerun_by_another_after_its_lease(
    cluster: Cluster, deck: JobDeck
) -> None:
    await check_killed_workers_job_reruns(cluster, deck)


async def test_a_healthy_job_longer_than_its_lease_runs_once(
    cluster: Cluster, deck: JobDeck
) -> None:
    await cluster.start_worker()
    await cluster.start_worker()  # an idle second worker that must not take it over
    job = await deck.schedule_job("test:record", {"sleep": 3 * float(LEASE)})

    done = await until(lambda: finished(deck, job.job_id), "the long job", timeout=40)

    assert done.status.value == "completed"
    assert done.attempt == 1
    assert len(cluster.starts(job.job_id)) == 1
    assert await cluster.stop_all() == [0, 0]


async def test_5000_jobs_through_two_workers_none_lost_none_twice(
    cluster: Cluster, deck: JobDeck
) -> None:
    total = 5_000
    handles = []
    for first in range(0, total, 1_000):
        batch = [{"type": "test:record", "payload": {"n": n}} for n in range(first, first + 1_000)]
        handles += await deck.schedule_jobs(batch)
    expected = {handle.job_id for handle in handles}

    await asyncio.gather(cluster.start_worker(20), cluster.start_worker(20))

    async def all_completed() -> bool:
        return await deck.count_jobs(status="completed") == total

    await until(all_completed, "every job to complete", timeout=100)
    assert await cluster.stop_all() == [0, 0]

    started = [jid for event, jid, _ in cluster.lines() if event == "start"]
    assert len(started) == total, "a job ran twice or not at all"
    assert set(started) == expected
    assert await deck.count_jobs(status=["pending", "running", "failed"]) == 0


SUBSCRIBER = """
import asyncio, sys
from jobdeck.deck import JobDeck

async def main():
    async with JobDeck(sys.argv[1]) as deck:
        since = await deck.last_seq()
        print("ready", since, flush=True)
        async for change in deck.subscribe(since=since):
            job = change.job
            print(change.seq, job.job_id, job.status.value, job.progress, flush=True)

asyncio.run(main())
"""


async def test_another_process_sees_the_change_feed(cluster: Cluster, deck: JobDeck) -> None:
    subscriber = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SUBSCRIBER, cluster.url, stdout=asyncio.subprocess.PIPE
    )
    assert subscriber.stdout is not None
    stdout = subscriber.stdout
    seqs: list[int] = []

    async def sees(job_id: str, status: str, progress: float) -> None:
        # The feed gives each job's current state, so wait for one state at a time.
        while True:
            line = await asyncio.wait_for(stdout.readline(), 30)
            seq, jid, seen_status, seen_progress = line.decode().split()
            if jid == job_id:
                seqs.append(int(seq))
                if (seen_status, float(seen_progress)) == (status, progress):
                    return

    try:
        ready = await asyncio.wait_for(stdout.readline(), 30)
        assert ready.startswith(b"ready")

        job = await deck.create_job(name="Watched from afar", type="import")
        await job.start()
        await sees(job.job_id, "running", 0)
        await job.update_progress(40, {"step": 1})
        await sees(job.job_id, "running", 40)
        await job.complete({"ok": True})
        await sees(job.job_id, "completed", 100)
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    finally:
        subscriber.kill()
        await subscriber.wait()
