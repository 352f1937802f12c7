"""SyncJobDeck: the same methods, blocking, for sync code."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobdeck import BaseJobHandler, InvalidTransition, Settings, Status, SyncJobDeck


class Double(BaseJobHandler):
    def execute(self) -> int:
        self.update_progress(50, "Halfway")
        self.log("doubling")
        return int(self.job.payload["n"]) * 2


@pytest.fixture
def deck(tmp_path: Path) -> Iterator[SyncJobDeck]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'jobs.db'}", poll_seconds=0.05)
    with SyncJobDeck(settings=settings) as deck:
        yield deck


def test_a_tracked_job_from_sync_code(deck: SyncJobDeck) -> None:
    job = deck.create_job(name="Import Products", type="import", source="my-plugin")
    job.start()
    job.update_progress(50, {"currentItem": "item-50"})
    assert job.progress == 50
    job.complete({"importedCount": 100})
    assert job.status == Status.COMPLETED
    with pytest.raises(InvalidTransition):
        job.start()
    fetched = deck.get_job(job.job_id)
    assert fetched is not None and fetched.result == {"importedCount": 100}
    assert deck.count_jobs(status="completed") == 1
    assert [j.job_id for j in deck.get_jobs(type="import")] == [job.job_id]


def test_queued_jobs_run_by_drain(deck: SyncJobDeck) -> None:
    deck.register_job_type("double", Double)
    job = deck.schedule_job("double", {"n": 21}, priority="high")
    assert deck.drain() == 1
    job.refresh()
    assert job.status == Status.COMPLETED
    assert job.result == 42
    assert job.progress_message == "Halfway"
    kinds = [event.kind for event in deck.get_history(job.job_id)]
    assert "log" in kinds


def test_subscribe_blocks_for_each_change(deck: SyncJobDeck) -> None:
    job = deck.create_job(name="n", type="t")
    feed = deck.subscribe(0)
    [change] = itertools.islice(feed, 1)
    assert change.job.job_id == job.job_id
    feed.close()  # type: ignore[attr-defined]


def test_a_closed_deck_refuses_calls(tmp_path: Path) -> None:
    deck = SyncJobDeck(f"sqlite:///{tmp_path / 'closed.db'}")
    deck.close()
    deck.close()
    with pytest.raises(Exception, match="closed"):
        deck.count_jobs()
