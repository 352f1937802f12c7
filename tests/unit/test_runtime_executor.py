"""The executor's decisions and the handler context, on a frozen clock."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from jobdeck import BaseJobHandler, JobCancelled, JobDeck, Settings, Status
from jobdeck.clock import FrozenClock
from jobdeck.domain.job import Job, Mode
from jobdeck.runtime import Maintenance, Worker
from jobdeck.runtime.executor import Failed, failure


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def deck(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[JobDeck]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'jobs.db'}", poll_seconds=0.05)
    async with JobDeck(settings=settings, clock=clock) as deck:
        yield deck


def a_job(attempt: int, max_retries: int = 3, delays: tuple[float, ...] | None = None) -> Job:
    return Job(
        id=1,
        job_id="j",
        name="n",
        type="t",
        mode=Mode.QUEUED,
        status=Status.RUNNING,
        attempt=attempt,
        max_retries=max_retries,
        retry_delays=delays,
    )


def test_failure_decides_the_retry(clock: FrozenClock) -> None:
    no_jitter = random.Random(0)
    no_jitter.uniform = lambda a, b: 0.0  # type: ignore[method-assign]
    expected = {1: 5, 2: 30, 3: 300}
    for attempt, delay in expected.items():
        decision = failure(a_job(attempt), "e", clock, no_jitter, None)
        assert decision == Failed("e", clock.now() + timedelta(seconds=delay))
    assert failure(a_job(4), "e", clock, no_jitter, None) == Failed("e", None)
    assert failure(a_job(1, max_retries=0), "e", clock, no_jitter, None).retry_at is None

    class Own(BaseJobHandler):
        retry_delays = (1, 2)

    assert failure(a_job(3, 5), "e", clock, no_jitter, Own).retry_at == clock.now() + timedelta(
        seconds=2
    )  # the last delay repeats
    job_delays = a_job(1, delays=(9.0,))
    assert failure(job_delays, "e", clock, no_jitter, Own).retry_at == clock.now() + timedelta(
        seconds=9
    )


async def test_a_result_that_is_not_json_fails_the_attempt(deck: JobDeck) -> None:
    class Bad(BaseJobHandler):
        async def execute(self) -> object:
            return object()

    deck.register_job_type("bad", Bad)
    job = await deck.schedule_job("bad", max_retries=0)
    await deck.drain()
    await job.refresh()
    assert job.status == Status.FAILED
    assert "JSON" in (job.error_message or "")


async def test_the_handler_context(deck: JobDeck) -> None:
    seen: dict[str, object] = {}

    class Looks(BaseJobHandler):
        def execute(self) -> str:
            seen["payload"] = self.job.payload
            seen["returned"] = self.update_progress(30, {"k": 1}, message="m")
            self.check_cancelled()  # not cancelled: no error
            self.log(42)
            return "ok"

    deck.register_job_type("looks", Looks)
    job = await deck.schedule_job("looks", {"a": 1})
    await deck.drain()
    await job.refresh()
    assert job.status == Status.COMPLETED
    assert job.metadata == {"k": 1}
    assert seen["payload"] == {"a": 1}
    await seen["returned"]  # type: ignore[misc]  # harmless to await in sync code paths
    history = [(e.kind, e.message) for e in await deck.get_history(job.job_id)]
    assert ("log", "42") in history


async def test_progress_after_losing_the_lease_stops_the_handler(
    deck: JobDeck, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, go = asyncio.Event(), asyncio.Event()
    outcome: list[str] = []

    class Slow(BaseJobHandler):
        async def execute(self) -> None:
            started.set()
            await go.wait()
            try:
                await self.update_progress(50)
            except JobCancelled:
                outcome.append("stopped")
                raise

    deck.register_job_type("slow", Slow)
    job = await deck.schedule_job("slow")
    worker = Worker(deck.store, deck.registry, settings=deck.settings, clock=clock, concurrency=1)

    async def no_heartbeat() -> None:  # as if the worker hung
        return None

    monkeypatch.setattr(worker, "beat", no_heartbeat)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(started.wait(), 3)
    clock.advance(deck.settings.lease_seconds + 1)
    await deck.store.rescue_expired(clock.now())
    stop.set()  # the rescued job is left for another worker
    go.set()
    await task
    assert outcome == ["stopped"]
    assert worker.stats.stale_writes == 1
    await job.refresh()
    assert job.status == Status.PENDING
    assert job.progress == 0  # the stale write was not applied


async def test_the_maintenance_loop_runs_until_stopped(deck: JobDeck, clock: FrozenClock) -> None:
    job = await deck.create_job(name="n", type="t", timeout=5)
    await job.start()
    clock.advance(6)
    stop = asyncio.Event()
    loop = Maintenance(
        deck.store, settings=deck.settings.with_(maintenance_seconds=0.01), clock=clock
    )
    task = asyncio.create_task(loop.run(stop))
    async with asyncio.timeout(3):
        while (await job.refresh()).status != Status.FAILED:
            await asyncio.sleep(0.01)
    stop.set()
    await task
