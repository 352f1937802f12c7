"""The scheduler on a frozen clock over a real SQLite file (docs/cron.md): on-time ticks,
misfire grace and policies, overlap, max_runs, max_failures, timeouts, run now."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from jobdeck import BaseJobHandler, JobDeck, Settings
from jobdeck.clock import FrozenClock
from jobdeck.domain.schedule import CronJob, Execution, ExecutionStatus, TriggeredBy
from jobdeck.runtime.scheduler import Scheduler

T0 = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)


class Ok(BaseJobHandler):
    async def execute(self) -> dict[str, Any]:
        return {"ok": True}


class Boom(BaseJobHandler):
    async def execute(self) -> None:
        raise RuntimeError("boom")


class Slow(BaseJobHandler):
    timeout = 1

    async def execute(self) -> None:
        await asyncio.sleep(30)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
async def deck(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[JobDeck]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'cron.db'}", poll_seconds=0.05)
    async with JobDeck(settings=settings, clock=clock) as deck:
        deck.register_job_type("ok", Ok)
        deck.register_job_type("boom", Boom)
        deck.register_job_type("slow", Slow)
        yield deck


@pytest.fixture
def scheduler(deck: JobDeck, clock: FrozenClock) -> Scheduler:
    return Scheduler(deck.store, clock=clock, instance="test")


def at(hh: int, mm: int, ss: float = 0) -> datetime:
    return T0.replace(hour=hh, minute=mm, second=int(ss), microsecond=int(ss % 1 * 1e6))


async def every_minute(deck: JobDeck, **fields: Any) -> CronJob:
    fields.setdefault("name", "every minute")
    fields.setdefault("job_type", "ok")
    return await deck.add_cron_job(cron_expression="* * * * *", **fields)


async def executions(deck: JobDeck, cron: CronJob) -> list[Execution]:
    page = await deck.crons.executions(cron.id, limit=1000)
    return sorted(page.items, key=lambda e: (e.scheduled_for, e.id))


async def test_a_due_tick_fires_once(deck: JobDeck, clock: FrozenClock, scheduler: Scheduler):
    cron = await every_minute(deck)
    assert cron.next_run_at == at(12, 1)
    assert await scheduler.run_once() == 0  # not due yet
    clock.set(at(12, 1, 0.5))
    assert await scheduler.run_once() == 1
    assert await scheduler.run_once() == 0  # the same tick never fires twice
    [run] = await executions(deck, cron)
    assert run.scheduled_for == at(12, 1)
    assert run.triggered_by is TriggeredBy.SCHEDULER
    assert run.status is ExecutionStatus.RUNNING
    job = await deck.get_job(run.job_id or "")
    assert job is not None and job.cron_job_id == cron.id and job.type == "ok"
    assert job.name == "every minute" and job.show_notification is False
    assert job.max_retries == 0 and job.timeout == 300
    assert await deck.drain() == 1
    [run] = await executions(deck, cron)
    assert run.status is ExecutionStatus.SUCCESS and run.result == {"ok": True}
    cron = await deck.crons.get(cron.id)
    assert cron.next_run_at == at(12, 2)
    assert (cron.run_count, cron.success_count, cron.last_status) == (1, 1, "success")


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        # 12:01 … 12:04 are more than 60 s late at 12:05:30; 12:05 is 30 s late: on time.
        ("skip", [at(12, 5)]),
        ("fire_once", [at(12, 4), at(12, 5)]),
        ("catch_up", [at(12, 1), at(12, 2), at(12, 3), at(12, 4), at(12, 5)]),
    ],
)
async def test_misfire_policies(
    deck: JobDeck, clock: FrozenClock, scheduler: Scheduler, policy: str, expected: list
):
    cron = await every_minute(deck, misfire_policy=policy, overlap_policy="allow")
    clock.set(at(12, 5, 30))
    await scheduler.run_once()
    assert [e.scheduled_for for e in await executions(deck, cron)] == expected
    assert (await deck.crons.get(cron.id)).next_run_at == at(12, 6)


async def test_a_late_tick_within_grace_is_on_time(
    deck: JobDeck, clock: FrozenClock, scheduler: Scheduler
):
    cron = await every_minute(deck, misfire_policy="skip", misfire_grace_seconds=300)
    clock.set(at(12, 1, 59))  # 59 s late: on time with a 300 s grace
    await scheduler.run_once()
    assert [e.scheduled_for for e in await executions(deck, cron)] == [at(12, 1)]


async def test_overlap_skip_records_a_skipped_tick(
    deck: JobDeck, clock: FrozenClock, scheduler: Scheduler
):
    cron = await every_minute(deck)
    clock.set(at(12, 1))
    await scheduler.run_once()
    clock.set(at(12, 2))
    await scheduler.run_once()  # the 12:01 run has not finished: skipped
    first, second = await executions(deck, cron)
    assert first.status is ExecutionStatus.RUNNING and first.job_id
    assert second.status is ExecutionStatus.SKIPPED and second.job_id is None
    assert await deck.count_jobs() == 1


async def test_overlap_allow_runs_both(deck: JobDeck, clock: FrozenClock, scheduler: Scheduler):
    cron = await every_minute(deck, overlap_policy="allow")
    for minute in (1, 2):
        clock.set(at(12, minute))
        await scheduler.run_once()
    assert [e.status for e in await executions(deck, cron)] == [ExecutionStatus.RUNNING] * 2
    assert await deck.count_jobs() == 2


async def test_max_runs_deactivates(deck: JobDeck, clock: FrozenClock, scheduler: Scheduler):
    cron = await every_minute(deck, max_runs=2, overlap_policy="allow")
    for minute in (1, 2, 3):
        clock.set(at(12, minute))
        await scheduler.run_once()
    assert len(await executions(deck, cron)) == 2
    cron = await deck.crons.get(cron.id)
    assert cron.definition.is_active is False and cron.next_run_at is None
    assert deck.crons.next_runs(cron) == []
    await deck.crons.run_now(cron.id)  # manual runs do not count toward max_runs
    assert (await deck.crons.get(cron.id)).run_count == 2


async def test_max_failures_pauses(deck: JobDeck, clock: FrozenClock, scheduler: Scheduler):
    cron = await every_minute(deck, job_type="boom", max_failures=2)
    for minute in (1, 2):
        clock.set(at(12, minute))
        await scheduler.run_once()
        await deck.drain()
    statuses = [e.status for e in await executions(deck, cron)]
    assert statuses == [ExecutionStatus.FAILED, ExecutionStatus.FAILED]
    cron = await deck.crons.get(cron.id)
    assert cron.is_paused and cron.consecutive_failures == 2 and cron.failure_count == 2
    assert cron.last_error is not None and "2 consecutive failures" in cron.last_error
    clock.set(at(12, 3))
    assert await scheduler.run_once() == 0  # paused: nothing fires
    cron = await deck.crons.resume(cron.id)
    assert not cron.is_paused and cron.consecutive_failures == 0
    assert cron.next_run_at == at(12, 4)


async def test_timeout_seconds_bounds_a_run(
    deck: JobDeck, clock: FrozenClock, scheduler: Scheduler
):
    cron = await every_minute(deck, job_type="slow", timeout_seconds=1)
    clock.set(at(12, 1))
    await scheduler.run_once()
    await deck.drain()
    [run] = await executions(deck, cron)
    assert run.status is ExecutionStatus.TIMEOUT
    assert run.error_message == "Job timed out after 1 seconds"


async def test_run_now_ignores_overlap_and_counts_failures(
    deck: JobDeck, clock: FrozenClock, scheduler: Scheduler
):
    cron = await every_minute(deck, job_type="boom")
    clock.set(at(12, 1))
    await scheduler.run_once()  # a scheduled run, still pending
    manual = await deck.crons.run_now(cron.id)
    assert manual.triggered_by is TriggeredBy.MANUAL and manual.job_id
    assert manual.scheduled_for == at(12, 1)
    await deck.drain()
    runs = await executions(deck, cron)
    assert [e.status for e in runs] == [ExecutionStatus.FAILED] * 2
    cron = await deck.crons.get(cron.id)
    assert (cron.run_count, cron.failure_count, cron.consecutive_failures) == (1, 2, 2)


async def test_a_paused_schedule_does_not_fire(
    deck: JobDeck, clock: FrozenClock, scheduler: Scheduler
):
    cron = await every_minute(deck)
    cron = await deck.crons.pause(cron.id)
    assert cron.is_paused and cron.next_run_at is None and deck.crons.next_runs(cron) == []
    clock.set(at(12, 10))
    assert await scheduler.run_once() == 0


async def test_the_loop_wakes_for_a_new_schedule(deck: JobDeck, tmp_path: Path):
    # Real time: the loop sleeps until the next tick and wakes on the cron signal.
    live = JobDeck(settings=deck.settings)
    async with live:
        live.register_job_type("ok", Ok)
        stop = asyncio.Event()
        loop = asyncio.create_task(live.run_scheduler(stop))
        cron = await live.add_cron_job(
            name="each second", cron_expression="* * * * * *", job_type="ok"
        )
        async with asyncio.timeout(5):
            while not (await live.crons.executions(cron.id)).items:
                await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(loop, 5)


async def test_a_schedule_that_can_no_longer_fire_is_paused_not_spun_on(
    deck: JobDeck, clock: FrozenClock, scheduler: Scheduler, tmp_path: Path
):
    import sqlite3

    broken = await every_minute(deck, name="broken")
    healthy = await every_minute(deck, name="healthy")
    # A timezone that vanished from the system's data since the schedule was made.
    with sqlite3.connect(tmp_path / "cron.db") as conn:
        conn.execute("UPDATE cron_jobs SET timezone = 'Mars/Olympus' WHERE id = ?", (broken.id,))
    clock.set(at(12, 1))
    assert await scheduler.run_once() == 1
    assert (await deck.crons.get(broken.id)).is_paused
    assert [e.scheduled_for for e in await executions(deck, healthy)] == [at(12, 1)]
