"""cleanup removes only what it should, through the store's verbs (docs/builtin-types.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jobdeck import JobDeck, Settings, Status, ValidationError
from jobdeck.clock import FrozenClock


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def deck(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[JobDeck]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'jobs.db'}")
    async with JobDeck(settings=settings, clock=clock) as deck:
        yield deck


async def finished(deck: JobDeck, status: str, name: str) -> str:
    job = await deck.create_job(name=name, type="import")
    await job.start()
    if status == "completed":
        await job.complete({"n": 1})
    elif status == "failed":
        await job.fail("boom")
    else:
        await job.cancel()
    return job.job_id


async def run(deck: JobDeck, config: dict[str, Any]) -> Any:
    job = await deck.schedule_job("cleanup", config, max_retries=0)
    await deck.drain()
    return await job.refresh()


async def test_jobs_older_than_given_days_with_given_statuses(
    deck: JobDeck, clock: FrozenClock
) -> None:
    old = {s: await finished(deck, s, f"old-{s}") for s in ("completed", "failed", "cancelled")}
    running = await deck.create_job(name="still running", type="import")
    await running.start()
    clock.advance(40 * 86400)
    new = await finished(deck, "failed", "new-failed")

    job = await run(deck, {"target": "jobs", "older_than_days": 30, "statuses": ["failed"]})
    assert job.status is Status.COMPLETED, job.error_message
    assert job.result["removed"] == 1
    assert await deck.get_job(old["failed"]) is None
    assert await deck.get_job(old["completed"]) is not None
    assert await deck.get_job(new) is not None

    job = await run(deck, {"target": "jobs", "older_than_days": 30})
    assert job.result["removed"] == 2
    remaining = {j.job_id for j in await deck.get_jobs(type="import")}
    assert remaining == {running.job_id, new}
    assert job.job_id in {j.job_id for j in await deck.get_jobs(type="cleanup")}


async def test_history_and_executions_targets(deck: JobDeck, clock: FrozenClock) -> None:
    await finished(deck, "completed", "a")
    clock.advance(10 * 86400)
    job = await run(deck, {"target": "job_history", "older_than_days": 5})
    assert job.status is Status.COMPLETED, job.error_message
    assert job.result["removed"] >= 2  # created, started, completed lines of "a"
    job = await run(deck, {"target": "cron_executions", "older_than_days": 5})
    assert job.status is Status.COMPLETED, job.error_message
    assert job.result["removed"] == 0


async def test_a_plugin_target(deck: JobDeck, clock: FrozenClock) -> None:
    calls: list[tuple[datetime, Sequence[str]]] = []

    async def temp_files(before: datetime, statuses: Sequence[str]) -> int:
        calls.append((before, statuses))
        return 7

    deck.register_cleanup_target("my-plugin:temp-files", temp_files)
    job = await run(deck, {"target": "my-plugin:temp-files", "older_than_days": 1})
    assert job.result["removed"] == 7
    assert calls == [(clock.now() - timedelta(days=1), [])]


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({}, "'target' is a required property"),
        ({"target": "users"}, "payload.target: unknown target 'users'"),
        ({"target": "jobs", "statuses": ["running"]}, "payload.statuses.0"),
        ({"target": "job_history", "statuses": ["failed"]}, "payload.statuses: not used"),
        ({"target": "jobs", "older_than_days": -1}, "payload.older_than_days"),
        ({"target": "jobs", "sql": "DELETE FROM jobs"}, "unknown field"),
    ],
)
async def test_bad_configurations_are_refused(
    deck: JobDeck, config: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError, match=field.replace(".", r"\.")):
        await deck.schedule_job("cleanup", config)
