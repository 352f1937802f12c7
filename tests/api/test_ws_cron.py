"""The WebSocket ``cron`` topic (docs/feed.md): cron_update and execution_update messages
beside job updates, one sequence, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from jobdeck.api.cronfeed import CronEntry
from jobdeck.api.hub import Board, Client
from jobdeck.domain.feed import Change
from jobdeck.domain.job import Job, Mode, Status
from jobdeck.domain.schedule import CronDefinition, CronJob
from jobdeck.handlers.base import BaseJobHandler
from jobdeck.tokens import Principal

from .conftest import Api, MakeApi
from .test_cron_jobs import EXECUTION_KEYS, register_test_types
from .test_ws import bearer, recv

CRON_TYPES = {"cron_update", "execution_update"}


class Gate(BaseJobHandler):
    """Runs until the test opens its gate (so a socket sees the run while it runs)."""

    gate: asyncio.Event

    async def execute(self) -> dict[str, Any]:
        await asyncio.wait_for(type(self).gate.wait(), 10)
        return {"done": True}


@pytest.fixture
async def wapi(make_api: MakeApi, database_url: str) -> AsyncIterator[Api]:
    api = await make_api(database_url=database_url)
    register_test_types(api)
    Gate.gate = asyncio.Event()
    api.deck.register_job_type("gate", Gate)
    worker = asyncio.create_task(api.deck.run_worker(concurrency=2))
    yield api
    Gate.gate.set()
    worker.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await worker


async def subscribe(ws: ClientConnection, **fields: Any) -> int:
    """Subscribe (after the hello) and wait until the server took it; the hello's seq."""
    seq: int = (await recv(ws))["seq"]
    await ws.send(json.dumps({"type": "subscribe", "since": seq, **fields}))
    await ws.send(json.dumps({"type": "ping"}))
    while (await recv(ws))["type"] != "pong":
        pass
    return seq


async def until(ws: ClientConnection, seen: list[dict[str, Any]], check: Any) -> dict[str, Any]:
    """Read messages (kept in ``seen``) until one satisfies ``check``."""
    while True:
        message = await recv(ws, 10)
        seen.append(message)
        if check(message):
            return message


def execution_is(status: str, cron_id: int) -> Any:
    return lambda m: (
        m["type"] == "execution_update"
        and m["execution"]["cron_job_id"] == cron_id
        and m["execution"]["status"] == status
    )


async def test_cron_subscriber_sees_a_run_start_and_end_default_sees_no_cron(wapi: Api) -> None:
    admin = wapi.client(wapi.admin)
    async with (
        connect(wapi.ws_url, additional_headers=bearer(wapi.admin)) as cron_ws,
        connect(wapi.ws_url, additional_headers=bearer(wapi.admin)) as plain_ws,
    ):
        await subscribe(cron_ws, topics=["jobs", "cron"])
        await recv(plain_ws)  # connected; a seed 1 client subscribes to nothing
        cron_seen: list[dict[str, Any]] = []
        plain_seen: list[dict[str, Any]] = []

        created = await admin.post(
            "/api/cron-jobs",
            json={"name": "gated", "cron_expression": "0 2 * * *", "job_type": "gate"},
        )
        cron_id = created.json()["job"]["id"]
        update = await until(cron_ws, cron_seen, lambda m: m["type"] == "cron_update")
        assert update["cron_job"] == {
            **created.json()["job"],
            "next_runs": update["cron_job"]["next_runs"],
        }
        assert isinstance(update["seq"], int)

        run = await admin.post(f"/api/cron-jobs/{cron_id}/execute")
        job_id = run.json()["execution"]["job_id"]
        started = await until(
            cron_ws,
            cron_seen,
            lambda m: (
                execution_is("running", cron_id)(m)
                and (m["execution"]["job"] or {}).get("status") == "running"
            ),
        )
        assert set(started["execution"]) == EXECUTION_KEYS
        assert started["execution"]["job_id"] == job_id
        assert started["execution"]["triggered_by"] == "api"
        Gate.gate.set()
        ended = await until(cron_ws, cron_seen, execution_is("success", cron_id))
        assert ended["execution"]["result"] == {"done": True}
        assert ended["execution"]["job"]["status"] == "completed"
        assert ended["seq"] > started["seq"] > update["seq"]
        # The schedule's counters changed with the run: its update follows too.
        counted = await until(
            cron_ws,
            cron_seen,
            lambda m: m["type"] == "cron_update" and m["cron_job"]["success_count"] == 1,
        )
        assert counted["cron_job"]["last_status"] == "success"
        # One sequence: messages of every topic arrive in seq order.
        seqs = [m["seq"] for m in cron_seen]
        assert seqs == sorted(seqs)
        assert any(m["type"] == "job_update" and m["job"]["jobId"] == job_id for m in cron_seen)

        # The default socket got the run's job updates, and nothing of the cron topic.
        await until(
            plain_ws,
            plain_seen,
            lambda m: (
                m["type"] == "job_update"
                and m["job"]["jobId"] == job_id
                and m["job"]["status"] == "completed"
            ),
        )
        await plain_ws.send(json.dumps({"type": "ping"}))
        await until(plain_ws, plain_seen, lambda m: m["type"] == "pong")
        assert not [m for m in plain_seen if m["type"] in CRON_TYPES]


async def test_since_replays_every_topic_in_order(wapi: Api) -> None:
    admin = wapi.client(wapi.admin)
    start = await wapi.deck.last_seq()
    created = await admin.post(
        "/api/cron-jobs",
        json={"name": "replayed", "cron_expression": "@hourly", "job_type": "report"},
    )
    cron_id = created.json()["job"]["id"]
    execution = (await admin.post(f"/api/cron-jobs/{cron_id}/execute")).json()["execution"]

    async def done() -> bool:
        found = await wapi.deck.crons.get_execution(execution["id"])
        return found is not None and found.status.value == "success"

    while not await done():
        await asyncio.sleep(0.02)

    async def replay(**fields: Any) -> list[dict[str, Any]]:
        async with connect(wapi.ws_url, additional_headers=bearer(wapi.admin)) as ws:
            await recv(ws)
            await ws.send(json.dumps({"type": "subscribe", "since": start, **fields}))
            await ws.send(json.dumps({"type": "ping"}))
            messages = []
            while (message := await recv(ws))["type"] != "pong":
                messages.append(message)
            return messages

    everything = await replay(topics=["jobs", "cron"])
    kinds = [m["type"] for m in everything]
    assert {"job_update", "cron_update", "execution_update"} <= set(kinds)
    seqs = [m["seq"] for m in everything]
    assert seqs == sorted(seqs)
    [replayed] = [m for m in everything if m["type"] == "execution_update"]
    assert replayed["execution"]["id"] == execution["id"]
    assert replayed["execution"]["status"] == "success"  # each record's current state
    assert replayed["execution"]["job"]["status"] == "completed"

    cron_only = await replay(topics=["cron"])
    assert {m["type"] for m in cron_only} == CRON_TYPES
    jobs_only = await replay()
    assert {m["type"] for m in jobs_only} == {"job_update"}


async def test_cron_topic_needs_cron_read_and_known_topics(wapi: Api) -> None:
    jobs_reader = await wapi.token("jobs-reader", "jobs:read")
    async with connect(wapi.ws_url, additional_headers=bearer(jobs_reader)) as ws:
        await recv(ws)
        await ws.send(json.dumps({"type": "subscribe", "topics": ["jobs", "cron"]}))
        error = await recv(ws)
        assert error["type"] == "error" and "cron:read" in error["message"]
        for topics, named in ((["weather"], "weather"), ([], "topics"), ("cron", "topics")):
            await ws.send(json.dumps({"type": "subscribe", "topics": topics}))
            error = await recv(ws)
            assert error["type"] == "error" and named in error["message"]
        await ws.send(json.dumps({"type": "ping"}))
        assert await recv(ws) == {"type": "pong"}
        # The refused subscribe changed nothing: no cron message reaches this socket.
        admin = wapi.client(wapi.admin)
        await admin.post(
            "/api/cron-jobs",
            json={"name": "hidden", "cron_expression": "@daily", "job_type": "report"},
        )
        job = await wapi.deck.create_job(name="marker", type="t")
        while True:
            message = await recv(ws)
            assert message["type"] not in CRON_TYPES
            if message["type"] == "job_update" and message["job"]["jobId"] == job.job_id:
                break


async def test_bound_socket_sees_only_its_own_schedules(wapi: Api) -> None:
    admin = wapi.client(wapi.admin)
    bound = await wapi.token("p1", "jobs:read", "cron:read", plugin="p1")
    async with connect(wapi.ws_url, additional_headers=bearer(bound)) as ws:
        await subscribe(ws, topics=["jobs", "cron"])
        ids = {}
        for plugin in ("p2", "p1"):
            created = await admin.post(
                "/api/cron-jobs",
                json={"name": f"of {plugin}", "cron_expression": "@daily",
                      "job_type": "report", "plugin_id": plugin},
            )  # fmt: skip
            ids[plugin] = created.json()["job"]["id"]
            await admin.post(f"/api/cron-jobs/{ids[plugin]}/execute")
        seen: list[dict[str, Any]] = []
        await until(ws, seen, execution_is("success", ids["p1"]))
        marker = await wapi.deck.create_job(name="marker", type="t", plugin_id="p1")
        await until(
            ws, seen, lambda m: m["type"] == "job_update" and m["job"]["jobId"] == marker.job_id
        )
        cron_ids = {m["cron_job"]["id"] for m in seen if m["type"] == "cron_update"}
        runs = {m["execution"]["cron_job_id"] for m in seen if m["type"] == "execution_update"}
        assert cron_ids == {ids["p1"]} and runs == {ids["p1"]}
        assert all(m["job"]["pluginId"] == "p1" for m in seen if m["type"] == "job_update")


async def test_ws_cron_over_a_ticket(wapi: Api) -> None:
    reader = await wapi.token("ui", "jobs:read", "cron:read")
    ticket = (await wapi.client(reader).post("/api/v1/ws-ticket")).json()["ticket"]
    async with connect(f"{wapi.ws_url}?ticket={ticket}") as ws:
        await subscribe(ws, topics=["cron"])
        created = await wapi.client(wapi.admin).post(
            "/api/cron-jobs",
            json={"name": "ticketed", "cron_expression": "@daily", "job_type": "report"},
        )
        message = await recv(ws)
        assert message["type"] == "cron_update"
        assert message["cron_job"]["id"] == created.json()["job"]["id"]


# --- the board, without a server ----------------------------------------------


def _job(seq: int, job_id: str) -> Change:
    job = Job(1, job_id, "n", "t", Mode.TRACKED, Status.RUNNING, created_at=datetime.now(UTC))
    return Change(seq, job)


def _cron(seq: int, cron_id: int, plugin: str | None = None) -> CronEntry:
    cron = CronJob(cron_id, CronDefinition("n", "@daily", "t", plugin_id=plugin), "local")
    return CronEntry(seq, f"cron:{cron_id}", cron, f'{{"type":"cron_update","seq":{seq}}}')


def test_board_merges_topics_by_seq_and_jobs_only_clients_skip_cron() -> None:
    board = Board(capacity=4)
    jobs_only = Client(Principal(1, "a", ("admin",)))
    both = Client(Principal(1, "a", ("admin",)), topics=frozenset({"jobs", "cron"}))
    cron_only = Client(Principal(1, "a", ("admin",)), topics=frozenset({"cron"}))
    bound = Client(Principal(2, "b", ("admin",), plugin="p1"), topics=frozenset({"cron"}))
    board.put(_job(1, "a"))
    board.put(_job(3, "b"))
    board.put_cron(_cron(2, 7))
    board.put_cron(_cron(3, 8, "p1"))  # same seq as job b: one transaction
    board.put_cron(_cron(1, 9))  # a replay from before: ignored
    assert board.last_seq == 3

    assert [e.seq for e in jobs_only.pending(board) or []] == [1, 3]
    assert jobs_only.cursor == 3
    merged = both.pending(board) or []
    assert [(e.seq, type(e).__name__) for e in merged] == [
        (1, "Entry"), (2, "CronEntry"), (3, "Entry"), (3, "CronEntry"),
    ]  # fmt: skip
    assert [e.seq for e in cron_only.pending(board) or []] == [2, 3]
    assert [e.seq for e in bound.pending(board) or []] == [3]  # only p1's schedule

    board.put_cron(_cron(4, 7))  # a cron change only
    assert jobs_only.pending(board) == [] and jobs_only.cursor == 4  # not woken again
    assert [e.seq for e in both.pending(board) or []] == [4]
    for seq in range(5, 10):
        board.put_cron(_cron(seq, 100 + seq))
    assert both.pending(board) is None  # evicted past its cursor: catch up from the store
    assert jobs_only.pending(board) == []  # jobs-only clients never depend on cron entries


async def test_http_and_ws_share_the_cron_job_json(wapi: Api) -> None:
    """The same serialiser: a cron_update carries exactly what GET returns."""
    admin: httpx.AsyncClient = wapi.client(wapi.admin)
    async with connect(wapi.ws_url, additional_headers=bearer(wapi.admin)) as ws:
        await subscribe(ws, topics=["cron"])
        created = await admin.post(
            "/api/cron-jobs",
            json={"name": "same", "cron_expression": "15 4 * * *", "job_type": "report",
                  "tags": ["x"], "timezone": "Europe/Berlin"},
        )  # fmt: skip
        message = await recv(ws)
        got = (await admin.get(f"/api/cron-jobs/{created.json()['job']['id']}")).json()["job"]
        assert message["cron_job"] == got


async def test_a_moved_schedule_does_not_show_its_old_binding_jobs(tmp_path: Any) -> None:
    """One execution frame serves every socket that sees the schedule: a job left under
    the schedule's old store is not embedded (the REST answer does the same per token)."""
    from jobdeck import JobDeck
    from jobdeck.api.cronfeed import CronFeed

    async with JobDeck(f"sqlite:///{tmp_path / 'moved.db'}") as deck:

        class Noop(BaseJobHandler):
            async def execute(self) -> None:
                return None

        deck.register_job_type("noop", Noop)
        cron = await deck.add_cron_job(
            name="m", cron_expression="@daily", job_type="noop", store_id="a"
        )
        run = await deck.crons.run_now(cron.id)
        feed = CronFeed(deck)
        [entry] = (await feed.entries([Change(run.seq, run)])).values()
        assert json.loads(entry.text)["execution"]["job"]["store_id"] == "a"
        moved = await deck.crons.update(cron.id, store_id="b")
        [_, execution] = (
            await CronFeed(deck).entries([Change(moved.seq, moved), Change(run.seq, run)])
        ).values()
        assert json.loads(execution.text)["execution"]["job"] is None
