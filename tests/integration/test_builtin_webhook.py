"""The webhook type against a real HTTP server on loopback (docs/builtin-types.md)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from jobdeck import JobDeck, Settings, Status, ValidationError
from jobdeck.clock import FrozenClock
from peers import Answer, Peer, http_peer

SECRET = "s3cr3t-Value/with+chars"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def peer() -> Iterator[Peer]:
    with http_peer() as peer:
        yield peer


@pytest.fixture
async def deck(
    tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[JobDeck]:
    monkeypatch.setenv("JOBDECK_SECRET_HOOK", SECRET)
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'jobs.db'}",
        egress_allow="127.0.0.1/32",
        poll_seconds=0.05,
    )
    async with JobDeck(settings=settings, clock=clock) as deck:
        yield deck


async def run_until_done(deck: JobDeck, clock: FrozenClock, job_id: str, rounds: int = 5) -> None:
    """Drain, moving the frozen clock past each retry's backoff."""
    for _ in range(rounds):
        await deck.drain()
        job = await deck.get_job(job_id)
        assert job is not None
        if job.status in (Status.COMPLETED, Status.FAILED, Status.CANCELLED):
            return
        clock.advance(3600)
    raise AssertionError("the job did not finish")


async def test_delivers_with_variables_signature_and_idempotency_key(
    deck: JobDeck, clock: FrozenClock, peer: Peer
) -> None:
    peer.answer(Answer(200, b'{"ok": true}', {"Content-Type": "application/json"}))
    job = await deck.schedule_job(
        "webhook",
        {
            "url": peer.url + "/hook?date={{ current_date }}",
            "headers": {"Authorization": "Bearer your-token", "X-Cron": "{{cron.name}}"},
            "body": {
                "event": "daily_sync",
                "timestamp": "{{current_time}}",
                "ts": "{{current_timestamp}}",
                "job": "{{job.id}}",
            },
            "signing_secret": "{{secret:HOOK}}",
        },
    )
    await run_until_done(deck, clock, job.job_id)
    job = await job.refresh()
    assert job.status is Status.COMPLETED, job.error_message
    assert job.result["status"] == 200
    assert job.result["headers"]["content-type"] == "application/json"
    assert job.result["body"] == '{"ok": true}'
    [got] = peer.received
    assert got.method == "POST"
    assert got.path == "/hook?date=2026-01-01"
    assert json.loads(got.body) == {
        "event": "daily_sync",
        "timestamp": "2026-01-01T00:00:00Z",
        "ts": str(int(clock.now().timestamp())),
        "job": job.job_id,
    }
    assert got.headers["Authorization"] == "Bearer your-token"
    assert got.headers["X-Cron"] == ""  # not fired by a schedule
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["Idempotency-Key"] == job.job_id
    assert got.headers["X-Jobdeck-Attempt"] == "1"
    # Standard Webhooks: v1,base64(HMAC-SHA256(secret, id.timestamp.body))
    assert got.headers["webhook-id"] == job.job_id
    timestamp = got.headers["webhook-timestamp"]
    signed = f"{job.job_id}.{timestamp}.".encode() + got.body
    expected = base64.b64encode(hmac.new(SECRET.encode(), signed, hashlib.sha256).digest())
    assert got.headers["webhook-signature"] == "v1," + expected.decode()


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_retried_on_server_errors_and_429_with_the_same_key(
    deck: JobDeck, clock: FrozenClock, peer: Peer, status: int
) -> None:
    peer.answer(Answer(status, b"busy"), Answer(200, b"done"))
    job = await deck.schedule_job("webhook", {"url": peer.url + "/r", "body": "text"})
    await run_until_done(deck, clock, job.job_id)
    job = await job.refresh()
    assert job.status is Status.COMPLETED, job.error_message
    assert job.attempt == 2
    first, second = peer.received
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"] == job.job_id
    assert (first.headers["X-Jobdeck-Attempt"], second.headers["X-Jobdeck-Attempt"]) == ("1", "2")
    assert first.body == second.body == b"text"
    history = [e.message for e in await deck.get_history(job.job_id)]
    assert any(f"HTTP {status}" in (m or "") for m in history), history


@pytest.mark.parametrize("status", [400, 404, 410])
async def test_other_client_errors_fail_without_retry(
    deck: JobDeck, clock: FrozenClock, peer: Peer, status: int
) -> None:
    peer.default = Answer(status, b"bad request")
    job = await deck.schedule_job("webhook", {"url": peer.url, "method": "put"}, max_retries=3)
    await run_until_done(deck, clock, job.job_id)
    job = await job.refresh()
    assert job.status is Status.FAILED
    assert job.attempt == 1
    assert f"HTTP {status}" in job.error_message
    assert len(peer.received) == 1 and peer.received[0].method == "PUT"


async def test_network_errors_are_retried(deck: JobDeck, clock: FrozenClock, peer: Peer) -> None:
    url = peer.url
    peer.server.shutdown()
    peer.server.server_close()
    job = await deck.schedule_job("webhook", {"url": url, "timeout": 2000}, max_retries=1)
    await run_until_done(deck, clock, job.job_id)
    job = await job.refresh()
    assert job.status is Status.FAILED
    assert job.attempt == 2
    assert "could not reach 127.0.0.1" in job.error_message


async def test_redirects_are_followed(deck: JobDeck, clock: FrozenClock, peer: Peer) -> None:
    peer.answer(Answer(303, b"", {"Location": "/final"}), Answer(200, b"here"))
    job = await deck.schedule_job("webhook", {"url": peer.url + "/start", "body": {"a": 1}})
    await run_until_done(deck, clock, job.job_id)
    job = await job.refresh()
    assert job.status is Status.COMPLETED, job.error_message
    assert [(r.method, r.path) for r in peer.received] == [("POST", "/start"), ("GET", "/final")]


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({}, "payload: 'url' is a required property"),
        ({"url": "ftp://example.com/"}, "payload.url"),
        ({"url": "http://x", "timeout": "30"}, "payload.timeout"),
        ({"url": "http://x", "method": "TRACE"}, "payload.method"),
        ({"url": "http://x", "headers": {"Host": "evil"}}, "payload.headers"),
        ({"url": "http://x", "headers": {"X-A": "1\r\nX-B: 2"}}, "payload.headers.X-A"),
        ({"url": "http://x", "headers": {"X-A": "1\n"}}, "payload.headers.X-A"),
        ({"url": "http://x", "signing_secret": "plain"}, "payload.signing_secret"),
        ({"url": "http://x", "extra": 1}, "unknown field"),
        ({"url": "http://x/{{__class__}}"}, "payload.url: unknown template variable"),
        ({"url": "http://x", "body": {"a": ["{{job.payload}}"]}}, "payload.body.a.0"),
        ({"url": "http://x", "body": "{{secret:bad-name}}"}, "payload.body"),
    ],
)
async def test_bad_configurations_are_refused_at_creation(
    deck: JobDeck, config: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError, match=field.replace(".", r"\.").replace("(", r"\(")):
        await deck.schedule_job("webhook", config)
    assert await deck.count_jobs() == 0


async def test_a_secret_echoed_back_is_stored_nowhere(
    deck: JobDeck, clock: FrozenClock, peer: Peer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    peer.default = Answer(500, echo=True)
    job = await deck.schedule_job(
        "webhook",
        {
            "url": peer.url + "/hook?token={{secret:HOOK}}",
            "headers": {"X-Token": "{{ secret:HOOK }}"},
            "body": {"token": "{{secret:HOOK}}"},
        },
        max_retries=1,
    )
    await run_until_done(deck, clock, job.job_id)
    job = await job.refresh()
    assert job.status is Status.FAILED
    assert len(peer.received) == 2
    assert SECRET.encode() in peer.received[0].body  # it was really sent, and echoed
    assert "HTTP 500" in job.error_message and "[redacted]" in job.error_message
    stored = [json.dumps(job.result), job.error_message, json.dumps(job.payload)]
    stored += [repr(e) for e in await deck.get_history(job.job_id)]
    stored += [r.getMessage() for r in caplog.records]
    stored += [str(r.exc_info) for r in caplog.records if r.exc_info]
    for text in stored:
        for form in (SECRET, "s3cr3t-Value%2Fwith%2Bchars", "s3cr3t-Value/with%2Bchars"):
            assert form not in text
