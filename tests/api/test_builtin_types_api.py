"""Built-in types over ``POST /api/background-jobs/schedule`` (docs/api.md, docs/builtin-
types.md)."""

from __future__ import annotations

import json

import pytest

from jobdeck.handlers.builtin.egress_guard import EgressGuard, parse_allow
from peers import Answer, http_peer

from .conftest import Api

SECRET = "api-secret-value-42"


async def test_the_seed_webhook_example_runs_over_http(api: Api) -> None:
    api.deck.services.egress = EgressGuard(parse_allow("127.0.0.1/32"))
    client = api.client(api.admin)
    with http_peer() as peer:
        response = await client.post(
            "/api/background-jobs/schedule",
            json={
                "type": "webhook",
                "payload": {
                    "url": peer.url + "/webhook",
                    "method": "POST",
                    "headers": {
                        "Authorization": "Bearer your-token",
                        "Content-Type": "application/json",
                    },
                    "body": {"event": "daily_sync", "timestamp": "{{current_time}}"},
                },
            },
        )
        assert response.status_code == 201, response.text
        job_id = response.json()["job"]["id"]
        await api.deck.drain()
        [got] = peer.received
    assert got.headers["Idempotency-Key"] == job_id
    assert json.loads(got.body)["event"] == "daily_sync"
    assert "{{" not in got.body.decode()
    status = (await client.get(f"/api/background-jobs/{job_id}/status")).json()["job"]
    assert status["status"] == "completed" and status["result"]["status"] == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "webhook", "payload": {"url": "ftp://x"}}, "payload.url"),
        ({"type": "webhook", "payload": {"url": "http://x/{{__class__}}"}}, "payload.url"),
        (
            {"type": "email", "payload": {"to": "a@b.c", "subject": "x\r\ny", "body": "b"}},
            "payload.subject",
        ),
        ({"type": "cleanup", "payload": {"target": "users"}}, "payload.target"),
        ({"type": "database_query", "payload": {"query": "SELECT :a"}}, "payload.parameters"),
    ],
)
async def test_a_bad_configuration_is_a_400_naming_the_field(
    api: Api, body: dict[str, object], field: str
) -> None:
    response = await api.client(api.admin).post("/api/background-jobs/schedule", json=body)
    assert response.status_code == 400, response.text
    assert field in response.json()["message"]
    assert await api.deck.count_jobs() == 0


async def test_a_secret_echoed_back_never_reaches_an_api_answer(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOBDECK_SECRET_ECHO", SECRET)
    api.deck.services.egress = EgressGuard(parse_allow("127.0.0.1/32"))
    client = api.client(api.admin)
    with http_peer() as peer:
        peer.default = Answer(500, echo=True)
        response = await client.post(
            "/api/background-jobs/schedule",
            json={
                "type": "webhook",
                "maxRetries": 0,
                "payload": {"url": peer.url + "/?k={{secret:ECHO}}", "body": "{{secret:ECHO}}"},
            },
        )
        job_id = response.json()["job"]["id"]
        await api.deck.drain()
        assert SECRET.encode() in peer.received[0].body
    for path in ("", "/status", "/history"):
        answer = await client.get(f"/api/background-jobs/{job_id}{path}")
        assert answer.status_code == 200
        assert SECRET not in answer.text
    assert "[redacted]" in (await client.get(f"/api/background-jobs/{job_id}")).text
