"""Real ``jobdeck worker`` processes sharing one PostgreSQL database.

Handlers come from tests/fixtures/plugins (``test:record`` appends ``start``/``end``
lines to one file per process), so the test can tell which process ran a job and how
many times. Skipped when no PostgreSQL server is reachable locally; a failure in CI.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import sys
from asyncio.subprocess import Process
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

import pg
from jobdeck.config import Settings
from jobdeck.deck import JobDeck
from jobdeck.plugins import PluginManager

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
JOBDECK = str(Path(sys.executable).parent / "jobdeck")
TEST_PLUGINS = REPO / "tests" / "fixtures" / "plugins"
LEASE = "2"
HEARTBEAT = "0.5"


class Cluster:
    """Worker processes on one database, and the records their handlers leave."""

    def __init__(self, url: str, tmp_path: Path) -> None:
        self.url = url
        self.records = tmp_path / "records"
        self.records.mkdir()
        self.env = {
            **os.environ,
            "JOBDECK_DATABASE_URL": url,
            "JOBDECK_PLUGINS_DIR": str(TEST_PLUGINS),
            "JOBDECK_LEASE_SECONDS": LEASE,
            "JOBDECK_HEARTBEAT_SECONDS": HEARTBEAT,
            "JOBDECK_MAINTENANCE_SECONDS": "0.2",
            "JOBDECK_TEST_RECORD_DIR": str(self.records),
        }
        self.workers: list[Process] = []
        self._readers: list[asyncio.Task[bytes]] = []

    def settings(self) -> Settings:
        return Settings.from_env(
            database_url=self.url,
            plugins_dir=str(TEST_PLUGINS),
            lease_seconds=float(LEASE),
            heartbeat_seconds=float(HEARTBEAT),
        )

    async def start_worker(self, concurrency: int = 10) -> Process:
        """A ``jobdeck worker`` process, returned once it logged that it runs."""
        process = await asyncio.create_subprocess_exec(
            JOBDECK,
            "worker",
            "--concurrency",
            str(concurrency),
            env=self.env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self.workers.append(process)
        assert process.stderr is not None
        async with asyncio.timeout(30):
            while True:
                line = await process.stderr.readline()
                if not line:
                    raise AssertionError(f"worker exited early ({await process.wait()})")
                if b"jobdeck worker on" in line:
                    break
        self._readers.append(asyncio.create_task(process.stderr.read()))
        return process

    def lines(self) -> list[tuple[str, str, int]]:
        found = []
        for path in self.records.glob("*.log"):
            for line in path.read_text().splitlines():
                event, job_id, pid = line.split()
                found.append((event, job_id, int(pid)))
        return found

    def starts(self, job_id: str) -> list[int]:
        return [pid for event, jid, pid in self.lines() if event == "start" and jid == job_id]

    async def stop_all(self) -> list[int]:
        for process in self.workers:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(40):
            return [await process.wait() for process in self.workers]

    async def kill_all(self) -> None:
        for process in self.workers:
            if process.returncode is None:
                process.kill()
                await process.wait()
        for reader in self._readers:
            reader.cancel()


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    reason = await pg.unavailable()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    url = await pg.fresh_database()
    group = Cluster(url, tmp_path)
    try:
        yield group
    finally:
        await group.kill_all()
        await pg.drop_database(url)


@pytest.fixture
async def deck(cluster: Cluster) -> AsyncIterator[JobDeck]:
    own = JobDeck(settings=cluster.settings())
    await own.open()
    await PluginManager(own, TEST_PLUGINS, entry_points=False).load()
    yield own
    await own.close()


async def until(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            value = check()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(0.05)
    raise AssertionError(what)  # pragma: no cover - the timeout raises first


async def finished(deck: JobDeck, job_id: str) -> Any:
    handle = await deck.get_job(job_id)
    return handle if handle is not None and handle.status.terminal else None


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
    job = await deck.schedule_job("test:record", {"sleep": 3})
    first = await cluster.start_worker()
    await until(lambda: cluster.starts(job.job_id), "the first worker to start the job")
    second = await cluster.start_worker()

    os.kill(first.pid, signal.SIGKILL)
    await first.wait()
    done = await until(lambda: finished(deck, job.job_id), "the job to be re-run", timeout=40)

    assert done.status.value == "completed"
    assert done.attempt == 2
    assert sorted(cluster.starts(job.job_id)) == sorted([first.pid, second.pid])
    assert [pid for event, _, pid in cluster.lines() if event == "end"] == [second.pid]
    history = [event.kind for event in await deck.get_history(job.job_id)]
    assert "rescued" in history
    assert (await cluster.stop_all())[1] == 0


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
