"""deck.subscribe(): catch up from a sequence number, then follow live, losing nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from jobdeck import BaseJobHandler, JobDeck, Settings, Status
from jobdeck.clock import FrozenClock
from jobdeck.domain.feed import Change
from jobdeck.events.feed import follow


@pytest.fixture
async def deck(tmp_path: Path) -> AsyncIterator[JobDeck]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'jobs.db'}", poll_seconds=0.05)
    async with JobDeck(settings=settings, clock=FrozenClock()) as deck:
        yield deck


async def take(feed: AsyncIterator[Change], count: int) -> list[Change]:
    async with asyncio.timeout(3):
        return [await anext(feed) for _ in range(count)]


async def test_catch_up_then_live(deck: JobDeck) -> None:
    first = await deck.create_job(name="first", type="t")
    feed = deck.subscribe(0)
    try:
        [caught_up] = await take(feed, 1)
        assert caught_up.job.job_id == first.job_id

        # Live: writes arrive in order; each change is the job's state after a write.
        await first.start()
        await first.update_progress(40, {"step": 1})
        seen: list[Change] = []
        async with asyncio.timeout(3):
            async for change in feed:
                seen.append(change)
                if change.job.progress == 40:
                    break
        assert all(change.job.job_id == first.job_id for change in seen)
        assert seen[-1].job.metadata == {"step": 1}
        assert [c.seq for c in seen] == sorted({c.seq for c in seen})
        assert seen[0].seq > caught_up.seq
    finally:
        await feed.aclose()


async def test_subscribing_from_a_sequence_skips_older_changes(deck: JobDeck) -> None:
    await deck.create_job(name="old", type="t")
    since = await deck.last_seq()
    new = await deck.create_job(name="new", type="t")
    feed = deck.subscribe(since)
    try:
        [change] = await take(feed, 1)
        assert change.job.job_id == new.job_id
        assert change.seq > since
    finally:
        await feed.aclose()


async def test_a_bulk_write_larger_than_a_page_is_not_split(deck: JobDeck) -> None:
    class Noop(BaseJobHandler):
        async def execute(self) -> None:
            return None

    deck.register_job_type("noop", Noop)
    jobs = await deck.schedule_jobs([{"type": "noop"} for _ in range(7)])
    feed = follow(deck.store, 0, batch=3, poll_seconds=0.05)
    try:
        changes = await take(feed, 7)
    finally:
        await feed.aclose()  # type: ignore[attr-defined]
    assert {c.job.job_id for c in changes} == {job.job_id for job in jobs}


async def test_a_log_line_written_by_a_handler_is_streamed(deck: JobDeck) -> None:
    class Logs(BaseJobHandler):
        async def execute(self) -> None:
            self.log("hello")

    deck.register_job_type("logs", Logs)
    job = await deck.schedule_job("logs")
    since = await deck.last_seq()
    await deck.drain()
    feed = deck.subscribe(since)
    try:
        [change] = await take(feed, 1)  # the job's latest state after the run
        assert change.job.status == Status.COMPLETED
    finally:
        await feed.aclose()
    history = await deck.get_history(job.job_id)
    assert ("log", "hello") in [(event.kind, event.message) for event in history]


async def test_subscribers_get_jobs_unless_they_ask_for_cron(tmp_path: Path) -> None:
    """Seed 1's subscribers keep seeing jobs only; the cron topic is opt-in."""

    class Noop(BaseJobHandler):
        async def execute(self) -> None:
            return None

    async with JobDeck(f"sqlite:///{tmp_path / 't.db'}") as deck:
        deck.register_job_type("noop", Noop)
        cron = await deck.add_cron_job(name="t", cron_expression="@daily", job_type="noop")
        await deck.crons.run_now(cron.id)
        everything = await deck.changes_since(0, 1000)

        async def kinds(count: int, **options: object) -> list[str]:
            seen: list[str] = []
            async with asyncio.timeout(5):
                async for change in deck.subscribe(0, **options):  # type: ignore[arg-type]
                    seen.append(change.topic)
                    if len(seen) == count:
                        return seen
            return seen

        jobs = [c for c in everything if c.topic == "jobs"]
        assert await kinds(len(jobs)) == ["jobs"] * len(jobs)
        both = await kinds(len(everything), topics=("jobs", "cron"))
        assert both == [c.topic for c in everything] and "cron" in both
