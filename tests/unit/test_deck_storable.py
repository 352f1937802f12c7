"""Text and JSON that one backend would refuse are refused on both (NUL characters,
lone surrogates); text a handler produces by accident is made storable, so a failure
or a log line is always recorded. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from jobdeck import BaseJobHandler, JobDeck, Settings, Status, ValidationError


class Messy(BaseJobHandler):
    async def execute(self) -> None:
        self.log("line with a \x00 NUL and a lone \ud800 surrogate")
        raise RuntimeError("bad \x00 byte")


class Fine(BaseJobHandler):
    async def execute(self) -> dict[str, str]:
        return {"emoji": "\U0001f600", "accents": "çà"}


@pytest.fixture
async def deck(database_url: str) -> AsyncIterator[JobDeck]:
    settings = Settings(database_url=database_url, poll_seconds=0.05)
    async with JobDeck(settings=settings) as deck:
        deck.register_job_type("messy", Messy)
        deck.register_job_type("fine", Fine)
        yield deck


@pytest.mark.parametrize(
    ("payload", "options", "field"),
    [
        ({"a": "x\x00y"}, {}, "payload"),
        ({"a\x00": 1}, {}, "payload"),
        ({"a": ["ok", {"deep": "\ud83d"}]}, {}, "payload"),
        ({}, {"metadata": {"k": "\x00"}}, "metadata"),
        ({}, {"name": "a\x00b"}, "name"),
        ({}, {"description": "lone \udc00"}, "description"),
    ],
)
async def test_unstorable_input_is_refused_naming_the_field(
    deck: JobDeck, payload: dict[str, Any], options: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError, match=field):
        await deck.schedule_job("fine", payload, **options)
    with pytest.raises(ValidationError, match=field):
        await deck.schedule_jobs([{"type": "fine", "payload": payload, **options}])
    assert await deck.count_jobs() == 0


async def test_tracked_job_input_is_checked_and_its_failure_always_recorded(
    deck: JobDeck,
) -> None:
    job = await deck.create_job(name="tracked", type="t")
    await job.start()
    with pytest.raises(ValidationError, match="message"):
        await job.update_progress(10, "half\x00way")
    with pytest.raises(ValidationError, match="metadata"):
        await job.update_progress(10, {"k": "\x00"})
    with pytest.raises(ValidationError, match="result"):
        await deck.complete_job(job.job_id, {"k": "\x00"})
    await job.fail("broke \x00 here")
    assert job.status == Status.FAILED
    assert job.error_message == "broke \ufffd here"


async def test_handler_text_is_made_storable(deck: JobDeck) -> None:
    job = await deck.schedule_job("messy", max_retries=0)
    fine = await deck.schedule_job("fine", {"emoji": "\U0001f600"})
    await deck.drain()
    await job.refresh()
    assert job.status == Status.FAILED
    assert job.error_message == "bad \ufffd byte"
    logs = [e.message for e in await deck.get_history(job.job_id) if e.kind == "log"]
    assert logs == ["line with a \ufffd NUL and a lone \ufffd surrogate"]
    await fine.refresh()
    assert fine.status == Status.COMPLETED
    assert fine.payload == {"emoji": "\U0001f600"}
    assert fine.result == {"emoji": "\U0001f600", "accents": "çà"}


class BadProgress(BaseJobHandler):
    async def execute(self) -> None:
        await self.update_progress(50, {"k": "\x00"})


async def test_handler_progress_metadata_is_checked_like_everyone_elses(deck: JobDeck) -> None:
    deck.register_job_type("bad-progress", BadProgress)
    job = await deck.schedule_job("bad-progress", max_retries=0)
    await deck.drain()
    await job.refresh()
    assert job.status == Status.FAILED
    assert job.error_message == "metadata: NUL characters are not allowed"


@pytest.mark.parametrize(
    "payload",
    [
        {"a": ("ok", "\x00")},  # tuples are JSON arrays too
        {"a": [{"b": ("\ud800",)}]},
        {1: "x\x00"},  # a non-string key beside bad text
    ],
)
async def test_bad_text_is_found_wherever_the_encoder_puts_it(
    deck: JobDeck, payload: dict[Any, Any]
) -> None:
    with pytest.raises(ValidationError, match="payload"):
        await deck.schedule_job("fine", payload)
    assert await deck.count_jobs() == 0


class OddResult(BaseJobHandler):
    async def execute(self) -> dict[Any, Any]:
        return {1: "café \U0001f600", "big": 2**70, "t": ("x",)}


async def test_only_text_is_checked_beside_text_that_needs_a_look(deck: JobDeck) -> None:
    """Non-string keys, big integers and tuples are the encoder's business, whether or
    not the value also holds an emoji (whose escapes make the text check run)."""
    deck.register_job_type("odd", OddResult)
    job = await deck.schedule_job("odd", {"n": 2**70, "e": "\U0001f600", 2: "two"})
    await deck.drain()
    await job.refresh()
    assert job.payload == {"n": 2**70, "e": "\U0001f600", "2": "two"}
    assert job.status == Status.COMPLETED
    assert job.result == {"1": "café \U0001f600", "big": 2**70, "t": ["x"]}
