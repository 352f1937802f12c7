"""The seed's "Job Configuration Examples" (webhook, database_query, email; api_call is in
test_api_call.py) end to end over HTTP, as queued jobs and as cron schedules, against
real peers on loopback (docs/builtin-types.md). Only hosts are changed (to loopback), and the
database_query statement is spelt for the SQLite query database."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import socket
import sqlite3
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from websockets.asyncio.client import connect

from jobdeck.handlers.builtin.egress_guard import EgressGuard, parse_allow
from peers import Answer, Peer, http_peer

from .conftest import Api, wait_for

SECRET = "seed-secret-value-9f3"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def peer() -> Iterator[Peer]:
    with http_peer() as running:
        yield running


@pytest.fixture
def query_db(tmp_path: Path) -> Path:
    path = tmp_path / "query.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE temp_data (id INTEGER PRIMARY KEY, created_at TEXT)")
        conn.executemany(
            "INSERT INTO temp_data (created_at) VALUES (datetime('now', ?))",
            [("-40 days",), ("-31 days",), ("-1 days",)],
        )
        conn.commit()
    return path


@pytest.fixture
def seeded(api: Api, smtp: tuple[Inbox, int], query_db: Path) -> Api:
    """The API with the operator's peers configured: egress to loopback allowed, SMTP
    and the query database on loopback / a file."""
    services = api.deck.services
    services.settings = services.settings.with_(
        smtp_url=f"smtp://127.0.0.1:{smtp[1]}?from=jobs@example.com",
        query_database_url=f"sqlite:///{query_db}",
    )
    services.egress = EgressGuard(parse_allow("127.0.0.1/32"))
    return api


def webhook(peer: Peer) -> dict[str, Any]:
    return {
        "url": peer.url + "/webhook",
        "method": "POST",
        "headers": {"Authorization": "Bearer your-token", "Content-Type": "application/json"},
        "body": {"event": "daily_sync", "timestamp": "{{current_time}}"},
    }


DATABASE_QUERY = {
    # The seed: DELETE FROM temp_data WHERE created_at < NOW() - INTERVAL '30 days'
    "query": "DELETE FROM temp_data WHERE created_at < datetime('now', '-30 days')",
    "timeout": 30000,
}
EMAIL = {
    "to": "admin@example.com",
    "subject": "Daily Report",
    "template": "daily-report",
    "data": {"reportDate": "{{current_date}}"},
}


def check_webhook(peer: Peer, job_id: str) -> None:
    [got] = peer.received
    assert got.path == "/webhook" and got.headers["Idempotency-Key"] == job_id
    assert got.headers["Authorization"] == "Bearer your-token"
    body = json.loads(got.body)
    assert body["event"] == "daily_sync" and body["timestamp"].endswith("Z")


def check_database_query(query_db: Path, result: Any) -> None:
    assert result["rowcount"] == 2
    with contextlib.closing(sqlite3.connect(query_db)) as conn:
        assert conn.execute("SELECT count(*) FROM temp_data").fetchone()[0] == 1


def check_email(inbox: Inbox) -> None:
    [(recipients, message)] = inbox.messages
    assert recipients == ["admin@example.com"] and message["Subject"] == "Daily Report"
    assert "{{" not in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def example(kind: str, peer: Peer) -> dict[str, Any]:
    return {"webhook": webhook(peer), "database_query": DATABASE_QUERY, "email": EMAIL}[kind]


def check(kind: str, job_id: str, result: Any, peer: Peer, inbox: Inbox, query_db: Path) -> None:
    if kind == "webhook":
        check_webhook(peer, job_id)
        assert result["status"] == 200
    elif kind == "database_query":
        check_database_query(query_db, result)
    else:
        check_email(inbox)


KINDS = ["webhook", "database_query", "email"]


@pytest.mark.parametrize("kind", KINDS)
async def test_each_seed_example_as_a_queued_job_over_http(
    seeded: Api, kind: str, peer: Peer, smtp: tuple[Inbox, int], query_db: Path
) -> None:
    client = seeded.client(seeded.admin)
    response = await client.post(
        "/api/background-jobs/schedule", json={"type": kind, "payload": example(kind, peer)}
    )
    assert response.status_code == 201, response.text
    job_id = response.json()["job"]["id"]
    await seeded.deck.drain()
    job = (await client.get(f"/api/background-jobs/{job_id}/status")).json()["job"]
    assert job["status"] == "completed", job["last_error"]
    check(kind, job_id, job["result"], peer, smtp[0], query_db)


async def cron_job(
    client: httpx.AsyncClient, kind: str, config: dict[str, Any], **more: Any
) -> Any:
    response = await client.post(
        "/api/cron-jobs",
        json={
            "name": f"Seed {kind}",
            "cron_expression": "0 2 * * *",
            "job_type": kind,
            "configuration": config,
            **more,
        },
    )
    assert response.status_code == 201, response.text
    return response.json()["job"]


@pytest.mark.parametrize("kind", KINDS)
async def test_each_seed_example_as_a_cron_schedule_run_now(
    seeded: Api, kind: str, peer: Peer, smtp: tuple[Inbox, int], query_db: Path
) -> None:
    client = seeded.client(seeded.admin)
    cron = await cron_job(client, kind, example(kind, peer))
    run = await client.post(f"/api/cron-jobs/{cron['id']}/execute")
    assert run.status_code == 200, run.text
    await seeded.deck.drain()
    listed = (await client.get(f"/api/cron-jobs/{cron['id']}/executions")).json()
    [execution] = listed["data"]["executions"]
    assert execution["status"] == "success", execution["error_message"]
    assert execution["job"]["created_by"] == cron["created_by"]
    check(kind, execution["job_id"], execution["result"], peer, smtp[0], query_db)


async def test_the_scheduler_fires_the_seed_webhook(seeded: Api, peer: Peer) -> None:
    client = seeded.client(seeded.admin)
    cron = await cron_job(client, "webhook", webhook(peer), cron_expression="* * * * * *")
    stop = asyncio.Event()
    scheduler = asyncio.create_task(seeded.deck.run_scheduler(stop))
    try:

        async def fired() -> bool:
            found = await client.get(f"/api/cron-jobs/{cron['id']}/executions")
            return bool(found.json()["data"]["executions"])

        await wait_for(fired)
    finally:
        stop.set()
        await asyncio.wait_for(scheduler, 10)
    await client.put(f"/api/cron-jobs/{cron['id']}", json={"is_active": False})
    await seeded.deck.drain()
    executions = (await client.get(f"/api/cron-jobs/{cron['id']}/executions")).json()
    first = executions["data"]["executions"][-1]
    assert first["triggered_by"] == "scheduler" and first["status"] == "success"
    assert peer.received and peer.received[0].headers["Idempotency-Key"] == first["job_id"]


async def test_a_secret_echoed_back_reaches_no_api_answer_and_no_websocket_frame(
    seeded: Api, peer: Peer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOBDECK_SECRET_ECHO", SECRET)
    peer.default = Answer(500, echo=True)
    client = seeded.client(seeded.admin)
    frames: list[str] = []
    headers = {"Authorization": f"Bearer {seeded.admin}"}
    async with connect(seeded.ws_url, additional_headers=headers) as ws:
        await ws.send(json.dumps({"type": "subscribe", "since": 0, "topics": ["jobs", "cron"]}))
        config = {"url": peer.url + "/hook?k={{secret:ECHO}}", "body": "{{secret:ECHO}}"}
        queued = await client.post(
            "/api/background-jobs/schedule",
            json={"type": "webhook", "payload": config, "maxRetries": 1},
        )
        job_id = queued.json()["job"]["id"]
        cron = await cron_job(client, "webhook", config)
        await client.post(f"/api/cron-jobs/{cron['id']}/execute")
        # One attempt each: the queued job's failure is retried later (its history
        # holds the error), the schedule's run fails (its execution holds it).
        await seeded.deck.drain()

        async def collect() -> bool:
            with contextlib.suppress(TimeoutError):
                while True:
                    frames.append(str(await asyncio.wait_for(ws.recv(), 0.5)))
            seen = [json.loads(f) for f in frames]
            return any(
                m.get("type") == "job_update" and m["job"]["errorMessage"] for m in seen
            ) and any(m.get("type") == "execution_update" for m in seen)

        await wait_for(collect)
    assert all(SECRET.encode() in got.body for got in peer.received)
    answers = []
    for path in (
        f"/api/background-jobs/{job_id}",
        f"/api/background-jobs/{job_id}/status",
        f"/api/background-jobs/{job_id}/history",
        "/api/background-jobs/activity/recent",
        "/api/background-jobs/status",
        f"/api/v1/jobs/{job_id}",
        f"/api/v1/jobs/{job_id}/history",
        "/api/v1/jobs",
        f"/api/cron-jobs/{cron['id']}",
        f"/api/cron-jobs/{cron['id']}/executions",
        "/api/cron-jobs",
    ):
        answer = await client.get(path)
        assert answer.status_code == 200, (path, answer.text)
        answers.append(answer.text)
    assert "[redacted]" in "".join(answers)
    for text in answers + frames:
        assert SECRET not in text
        assert SECRET.replace("-", "\\u002d") not in text
    assert frames
