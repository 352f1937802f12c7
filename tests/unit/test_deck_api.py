"""JobDeck: validation, tracked jobs, scheduling, reading, cleanup and maintenance."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jobdeck import (
    BaseJobHandler,
    DuplicateJobType,
    InvalidTransition,
    JobDeck,
    JobNotFound,
    Mode,
    Priority,
    Settings,
    Status,
    UnknownJobType,
    ValidationError,
)
from jobdeck.clock import FrozenClock


class Noop(BaseJobHandler):
    async def execute(self) -> None:
        return None


class Slow(BaseJobHandler):
    timeout = 42
    retry_delays = (1, 2)

    def execute(self) -> None:
        return None


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def deck(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[JobDeck]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'jobs.db'}", poll_seconds=0.05)
    async with JobDeck(settings=settings, clock=clock) as deck:
        deck.register_job_type("noop", Noop)
        deck.register_job_type("slow", Slow)
        yield deck


# --- tracked jobs -------------------------------------------------------------


async def test_a_tracked_job_is_driven_by_its_creator(deck: JobDeck) -> None:
    job = await deck.create_job(
        name="Import Products", type="import", source="my-plugin", metadata={"apiUrl": "x"}
    )
    assert job.mode == Mode.TRACKED
    assert job.status == Status.PENDING
    assert job.timeout == deck.settings.tracked_timeout_seconds
    assert job.show_notification is True

    await job.start()
    assert job.status == Status.RUNNING
    await job.update_progress(50, {"currentItem": "item-50"}, message="Halfway")
    assert job.progress == 50
    assert job.metadata == {"apiUrl": "x", "currentItem": "item-50"}
    assert job.progress_message == "Halfway"
    await job.update_progress(60, "A message, seed 2 style")
    assert job.progress_message == "A message, seed 2 style"
    await job.update_progress(250)
    assert job.progress == 100  # clamped
    await job.complete({"importedCount": 100})
    assert job.status == Status.COMPLETED
    assert job.result == {"importedCount": 100}

    fresh = await deck.get_job(job.job_id)
    assert fresh is not None and fresh.snapshot == job.snapshot


async def test_illegal_transitions_raise(deck: JobDeck) -> None:
    job = await deck.create_job(name="x", type="t")
    with pytest.raises(InvalidTransition):
        await job.complete()
    await job.start()
    await job.fail("API timeout")
    assert job.error_message == "API timeout"
    with pytest.raises(InvalidTransition):
        await job.start()
    with pytest.raises(InvalidTransition):
        await job.retry()  # tracked jobs are not retried


async def test_unknown_jobs(deck: JobDeck) -> None:
    assert await deck.get_job("no-such-job") is None
    with pytest.raises(JobNotFound):
        await deck.start_job("no-such-job")
    with pytest.raises(JobNotFound):
        await deck.get_history("no-such-job")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": ""}, "name is required"),
        ({"name": None}, "name is required"),
        ({"type": "  "}, "type is required"),
        ({"metadata": {"x": object()}}, "JSON"),
        ({"metadata": {"x": "y" * 70_000}}, "64 KiB"),
        ({"metadata": ["not", "an", "object"]}, "object"),
        ({"timeout": -1}, "timeout"),
        ({"show_notification": "yes"}, "true or false"),
        ({"icon_svg": "<svg xmlns='http://www.w3.org/2000/svg'><script/></svg>"}, "script"),
    ],
)
async def test_create_job_validates(deck: JobDeck, changes: dict, message: str) -> None:
    arguments = {"name": "n", "type": "t", **changes}
    with pytest.raises(ValidationError, match=message):
        await deck.create_job(**arguments)
    assert await deck.count_jobs() == 0


async def test_icons_are_sanitised(deck: JobDeck) -> None:
    svg = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path d="M1 1h2"/></svg>'
    job = await deck.create_job(name="n", type="t", icon_svg=svg)
    assert job.icon_svg and job.icon_svg.startswith("<svg")


async def test_progress_is_validated(deck: JobDeck) -> None:
    job = await deck.create_job(name="n", type="t")
    await job.start()
    for bad in (float("nan"), "50", None):
        with pytest.raises(ValidationError):
            await job.update_progress(bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        await job.update_progress(1, "message", message="twice")
    with pytest.raises(ValidationError):
        await job.complete({"x": object()})


# --- queued jobs --------------------------------------------------------------


async def test_schedule_job_fills_in_defaults(deck: JobDeck, clock: FrozenClock) -> None:
    job = await deck.schedule_job("noop", {"source": "external-api"})
    assert job.mode == Mode.QUEUED
    assert job.name == "noop"
    assert job.priority == Priority.NORMAL
    assert job.max_retries == 3
    assert job.timeout == deck.settings.queued_timeout_seconds
    assert job.run_at == clock.now()
    assert job.payload == {"source": "external-api"}

    slow = await deck.schedule_job(
        "slow",
        priority="urgent",
        delay=timedelta(minutes=1),
        store_id="store-1",
        user_id="u-1",
        metadata={"pluginId": "p"},
    )
    assert slow.timeout == 42  # the handler class's
    assert slow.priority == Priority.URGENT
    assert slow.run_at == clock.now() + timedelta(minutes=1)
    assert (slow.store_id, slow.user_id, slow.metadata) == ("store-1", "u-1", {"pluginId": "p"})

    custom = await deck.schedule_job("slow", timeout=7, retry_delays=[3], delay=2.5)
    assert custom.timeout == 7
    assert custom.retry_delays == (3.0,)
    assert custom.run_at == clock.now() + timedelta(seconds=2.5)

    at = datetime(2030, 1, 1, tzinfo=UTC)
    assert (await deck.schedule_job("noop", run_at=at)).run_at == at


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"priority": "whenever"}, "priority"),
        ({"delay": -1}, "delay must be >= 0"),
        ({"delay": "soon"}, "delay must be a number"),
        ({"delay": 5, "run_at": datetime.now(UTC)}, "either delay or run_at"),
        ({"run_at": "tomorrow"}, "run_at must be a datetime"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": True}, "max_retries"),
        ({"retry_delays": []}, "retry_delays"),
        ({"retry_delays": [-1]}, "retry_delays"),
        ({"timeout": -1}, "timeout"),
        ({"name": 5}, "name must be a string"),
        ({"description": 5}, "description must be a string"),
        ({"source": 5}, "source must be a string"),
        ({"plugin_id": 5}, "plugin_id must be a string"),
        ({"store_id": 5}, "store_id must be a string"),
        ({"user_id": 5}, "user_id must be a string"),
        ({"metadata": ["not", "an", "object"]}, "metadata must be an object"),
        ({"show_notification": "yes"}, "show_notification must be true or false"),
        ({"icon_svg": "<svg xmlns='http://www.w3.org/2000/svg'><script/></svg>"}, "script"),
        ({"cron_job_id": -1}, "cron_job_id"),
        ({"colour": "red", "size": 2}, "unknown argument\\(s\\): colour, size"),
        ({"priority": "zzz", "colour": 1}, "unknown argument\\(s\\): colour"),  # first
        ({"max_retries": 2**70}, "max_retries must be an integer from 0 to"),
        # PostgreSQL stores them in integer columns: a bulk COPY must never wrap them.
        ({"max_retries": 2**31}, "max_retries must be an integer from 0 to 2147483647"),
        ({"timeout": 2**32 + 5}, "timeout must be an integer from 0 to 2147483647"),
        ({"cron_job_id": 2**63}, "cron_job_id must be an integer from 0 to"),
    ],
)
async def test_schedule_job_validates_every_option(
    deck: JobDeck, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        await deck.schedule_job("noop", **options)
    with pytest.raises(ValidationError, match=f"job 1: .*{message}"):
        await deck.schedule_jobs([{"type": "noop"}, {"type": "noop", **options}])
    assert await deck.count_jobs() == 0


async def test_schedule_job_validates_type_and_payload(deck: JobDeck) -> None:
    with pytest.raises(UnknownJobType, match="unknown job type 'nope'"):
        await deck.schedule_job("nope")
    with pytest.raises(ValidationError, match="payload"):
        await deck.schedule_job("noop", ["not a dict"])  # type: ignore[arg-type]
    assert await deck.count_jobs() == 0


async def test_registering_a_type_twice_raises(deck: JobDeck) -> None:
    with pytest.raises(DuplicateJobType):
        deck.register_job_type("noop", Slow)
    with pytest.raises(ValidationError):
        deck.register_job_type("other", object)  # type: ignore[arg-type]
    builtin = ["api_call", "cleanup", "database_query", "email", "webhook"]  # in every deck
    assert deck.job_types() == sorted([*builtin, "noop", "slow"])


async def test_schedule_jobs_is_all_or_nothing(deck: JobDeck) -> None:
    jobs = await deck.schedule_jobs(
        [{"type": "noop", "payload": {"n": 1}}, {"type": "slow", "priority": "high"}]
    )
    assert [job.type for job in jobs] == ["noop", "slow"]
    with pytest.raises(UnknownJobType, match="job 1"):
        await deck.schedule_jobs([{"type": "noop"}, {"type": "nope"}])
    with pytest.raises(ValidationError, match="job 0"):
        await deck.schedule_jobs([{"type": "noop", "colour": "red"}])
    assert await deck.count_jobs() == 2


async def test_schedule_jobs_makes_each_job_once_as_the_store_reads_it(deck: JobDeck) -> None:
    from jobdeck.deck import _Scheduled  # what schedule_jobs hands the store

    now = deck.clock.now()
    specs = [{"type": "noop", "payload": {"n": i}} for i in range(4)]
    jobs = _Scheduled(deck, specs, now, "local")
    assert len(jobs) == 4
    last = jobs[-1]  # makes the jobs before it too, in order
    assert [j.payload for j in jobs] == [{"n": i} for i in range(4)]
    assert jobs[3] is last and list(jobs)[1:] == jobs[1:]
    with pytest.raises(IndexError):
        jobs[4]
    fresh = _Scheduled(deck, specs, now, "local")
    first, second = iter(fresh), iter(fresh)  # readers that overlap
    assert next(first).payload == {"n": 0} and fresh[2].payload == {"n": 2}
    assert [j.payload for j in second] == [j.payload for j in jobs]
    assert [j.payload for j in first] == [{"n": i} for i in range(1, 4)]
    assert len(list(fresh)) == 4 and fresh[3].payload == {"n": 3}  # each made once
    bad = _Scheduled(deck, [specs[0], {"type": "noop", "payload": [1]}], now, "local")
    assert bad[0].payload == {"n": 0}  # a job is checked when read, not before
    with pytest.raises(ValidationError, match=r"^job 1: payload must be an object"):
        list(bad)


async def test_schedule_jobs_pauses_garbage_collection_while_it_runs(deck: JobDeck) -> None:
    seen: list[bool] = []

    class Watched(BaseJobHandler):
        @classmethod
        def check_config(cls, config: dict[str, Any], services: Any = None) -> None:
            seen.append(gc.isenabled())  # runs as the store reads the job
            if config.get("bad"):
                raise ValidationError("bad")

        async def execute(self) -> None:
            return None

    deck.register_job_type("watched", Watched)
    assert gc.isenabled()
    await deck.schedule_jobs([{"type": "watched"}] * 3)
    assert seen == [False] * 3 and gc.isenabled()
    with pytest.raises(ValidationError, match="job 1"):
        await deck.schedule_jobs([{"type": "watched"}, {"type": "watched", "payload": {"bad": 1}}])
    assert gc.isenabled()  # back on after a bulk that fails
    seen.clear()
    await deck.schedule_job("watched")
    assert seen == [True]  # one job per call: as it was
    gc.disable()  # the application's choice: a bulk leaves it so
    try:
        await deck.schedule_jobs([{"type": "watched"}])
        assert not gc.isenabled()
    finally:
        gc.enable()


async def test_retry_puts_a_failed_queued_job_back(deck: JobDeck, clock: FrozenClock) -> None:
    class Fails(BaseJobHandler):
        async def execute(self) -> None:
            raise RuntimeError("no")

    deck.register_job_type("fails", Fails)
    job = await deck.schedule_job("fails", max_retries=0)
    await deck.drain()
    await job.refresh()
    assert job.status == Status.FAILED
    await job.retry()
    assert job.status == Status.PENDING
    assert job.error_message is None


# --- reading ------------------------------------------------------------------


async def test_filters_apply_before_paging(deck: JobDeck) -> None:
    for n in range(5):
        await deck.create_job(name=f"import {n}", type="import", source="a")
    for n in range(3):
        job = await deck.create_job(name=f"export {n}", type="export", source="b")
        await job.start()
    await deck.schedule_job("noop", source="a")

    page = await deck.get_jobs(type="import", limit=2, offset=1)
    assert [job.name for job in page] == ["import 3", "import 2"]  # newest first
    assert await deck.count_jobs(type="import") == 5
    assert await deck.count_jobs(status="running") == 3
    assert await deck.count_jobs(status=["running", "pending"]) == 9
    assert await deck.count_jobs(source="a", mode="queued") == 1
    assert await deck.count_jobs(q="EXPORT") == 3
    counts = await deck.count_by_status()
    assert counts["pending"] == 6 and counts["running"] == 3 and counts["failed"] == 0
    with pytest.raises(ValidationError):
        await deck.get_jobs(status="sleeping")
    with pytest.raises(ValidationError):
        await deck.get_jobs(limit=-1)
    filters: dict[str, Any] = {"colour": "red"}
    with pytest.raises(ValidationError, match="unknown filter\\(s\\): colour"):
        await deck.count_jobs(**filters)


async def test_history_and_cleanup(deck: JobDeck, clock: FrozenClock) -> None:
    old = await deck.create_job(name="old", type="t")
    await old.start()
    await old.complete()
    kinds = [event.kind for event in await deck.get_history(old.job_id)]
    assert kinds == ["created", "started", "completed"]

    clock.advance(31 * 86400)
    recent = await deck.create_job(name="recent", type="t")
    await recent.start()
    await recent.complete()
    running = await deck.create_job(name="running", type="t")

    assert await deck.cleanup_old_jobs(30) == 1
    assert await deck.get_job(old.job_id) is None
    assert await deck.get_job(recent.job_id) is not None
    assert await deck.get_job(running.job_id) is not None
    await deck.delete_job(recent.job_id)
    with pytest.raises(InvalidTransition):
        await deck.delete_job(running.job_id)


async def test_maintenance_fails_timed_out_tracked_jobs(deck: JobDeck, clock: FrozenClock) -> None:
    job = await deck.create_job(name="n", type="t", timeout=10)
    await job.start()
    assert (await deck.run_maintenance()).timed_out == 0
    clock.advance(11)
    report = await deck.run_maintenance()
    assert report.timed_out == 1
    await job.refresh()
    assert job.status == Status.FAILED
    assert job.error_message == "Job timed out after 10 seconds"


async def test_maintenance_rescues_jobs_of_dead_workers(deck: JobDeck, clock: FrozenClock) -> None:
    job = await deck.schedule_job("noop")
    [claimed] = await deck.store.claim("dead-worker", 1, clock.now(), 30)
    assert claimed.job_id == job.job_id
    clock.advance(29)
    assert (await deck.run_maintenance()).rescued == 0
    clock.advance(2)
    assert (await deck.run_maintenance()).rescued == 1
    assert await deck.drain() == 1
    await job.refresh()
    assert job.status == Status.COMPLETED
    assert job.attempt == 2  # a rescue counts as an attempt


async def test_maintenance_loop_runs_until_stopped(deck: JobDeck, clock: FrozenClock) -> None:
    """What `serve --no-worker` runs: passes every maintenance_seconds until stop."""
    job = await deck.create_job(name="n", type="t", timeout=10)
    await job.start()
    clock.advance(11)
    stop = asyncio.Event()
    loop = asyncio.create_task(deck.run_maintenance_loop(stop))
    async with asyncio.timeout(5):
        while (await job.refresh()).status != Status.FAILED:
            await asyncio.sleep(0.02)
    stop.set()
    async with asyncio.timeout(5):
        await loop


async def test_the_deck_opens_lazily(tmp_path: Path) -> None:
    deck = JobDeck(f"sqlite:///{tmp_path / 'lazy.db'}")
    assert deck.settings.database_url.endswith("lazy.db")
    job = await deck.create_job(name="n", type="t")
    assert await deck.last_seq() >= job.seq
    await deck.close()
    await deck.close()  # idempotent
