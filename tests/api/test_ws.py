"""``/ws`` with the ``websockets`` client against the real server (docs/feed.md,
docs/security.md)."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
from typing import Any

import pytest
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from jobdeck import tokens
from jobdeck.api.frames import text_frame
from jobdeck.api.wsframes import FramedWebSocketProtocol

from .conftest import Api, MakeApi, wait_for
from .test_jobs_v1 import JOB_KEYS


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def recv(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def next_update(ws: ClientConnection, job_id: str, status: str | None = None) -> dict:
    """The next job_update for ``job_id`` (with ``status`` when given)."""
    while True:
        message = await recv(ws)
        if message["type"] != "job_update" or message["job"]["jobId"] != job_id:
            continue
        if status is None or message["job"]["status"] == status:
            return message


async def rejected(api: Api, url: str | None = None, **kwargs: Any) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with connect(url or api.ws_url, **kwargs):
            pass
    return info.value.response.status_code


@pytest.fixture
def sends(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How messages leave the server: ASGI ``websocket.send`` messages, pre-framed writes."""
    counts = {"asgi": 0, "framed": 0}
    asgi_send = WebSocketsSansIOProtocol.send
    send_frames = FramedWebSocketProtocol.send_frames

    async def count_asgi(self: WebSocketsSansIOProtocol, message: Any) -> None:
        counts["asgi"] += message["type"] == "websocket.send"
        await asgi_send(self, message)

    async def count_frames(self: FramedWebSocketProtocol, frames: bytes) -> None:
        counts["framed"] += 1
        await send_frames(self, frames)

    monkeypatch.setattr(WebSocketsSansIOProtocol, "send", count_asgi)
    monkeypatch.setattr(FramedWebSocketProtocol, "send_frames", count_frames)
    return counts


ASGI_PROTOCOL = {"ws": "websockets-sansio"}  # uvicorn's own: no pre-framed extension


async def test_connected_ping_and_full_job_updates(api: Api) -> None:
    async with connect(api.ws_url, additional_headers=bearer(api.admin)) as ws:
        hello = await recv(ws)
        assert hello["type"] == "connected"
        await ws.send(json.dumps({"type": "ping"}))
        assert await recv(ws) == {"type": "pong"}

        job = await api.deck.create_job(name="Sync", type="sync")
        created = await next_update(ws, job.job_id)
        assert set(created["job"]) == JOB_KEYS and isinstance(created["seq"], int)
        await job.start()
        await job.update_progress(40, {"page": 4}, message="page 4")
        update = await next_update(ws, job.job_id)
        while update["job"]["progress"] != 40:
            update = await next_update(ws, job.job_id)
        assert update["job"]["metadata"] == {"page": 4}
        assert update["job"]["progressMessage"] == "page 4"
        await job.fail("API timeout")
        failed = await next_update(ws, job.job_id, "failed")
        assert failed["job"]["errorMessage"] == "API timeout"
        assert failed["seq"] > created["seq"]

        other = await api.deck.create_job(name="Import", type="import")
        await other.start()
        await other.complete({"importedCount": 100})
        done = await next_update(ws, other.job_id, "completed")
        assert done["job"]["result"] == {"importedCount": 100}


async def test_bad_messages_get_error_replies(api: Api) -> None:
    async with connect(api.ws_url, additional_headers=bearer(api.admin)) as ws:
        await recv(ws)
        await ws.send("not json")
        assert (await recv(ws))["type"] == "error"
        await ws.send(json.dumps({"type": "dance"}))
        assert "dance" in (await recv(ws))["message"]
        await ws.send(json.dumps({"type": "subscribe", "since": -3}))
        assert "since" in (await recv(ws))["message"]
        await ws.send(json.dumps({"type": "subscribe", "filter": {"colour": "red"}}))
        assert "colour" in (await recv(ws))["message"]
        await ws.send(b"\x00binary")
        assert (await recv(ws))["type"] == "error"
        await ws.send(json.dumps({"type": "ping"}))
        assert await recv(ws) == {"type": "pong"}  # still open


async def test_ws_auth(api: Api) -> None:
    assert await rejected(api) == 401
    assert await rejected(api, additional_headers=bearer("jdk_wrong")) == 401
    # Tokens never travel in the URL, even valid ones.
    assert await rejected(api, f"{api.ws_url}?token={api.admin}") == 401
    cron = await api.token("cron-only", "cron:read")
    assert await rejected(api, additional_headers=bearer(cron)) == 403

    ticket = (await api.client(api.admin).post("/api/v1/ws-ticket")).json()["ticket"]
    async with connect(f"{api.ws_url}?ticket={ticket}") as ws:
        assert (await recv(ws))["type"] == "connected"
    assert await rejected(api, f"{api.ws_url}?ticket={ticket}") == 401  # single use
    assert await rejected(api, f"{api.ws_url}?ticket=made-up") == 401


async def test_ws_ticket_expires_after_60_seconds(api: Api) -> None:
    from jobdeck.clock import FrozenClock

    clock = FrozenClock()
    api.deck.clock = clock
    ticket = (await api.client(api.admin).post("/api/v1/ws-ticket")).json()["ticket"]
    clock.advance(61)
    assert await rejected(api, f"{api.ws_url}?ticket={ticket}") == 401


async def test_ws_session_cookie_needs_matching_origin(api: Api) -> None:
    browser = api.client()
    await browser.post("/api/v1/session", json={"token": api.admin})
    cookie = f"jobdeck_session={browser.cookies['jobdeck_session']}"
    async with connect(
        api.ws_url, additional_headers={"Cookie": cookie}, origin=api.base_url
    ) as ws:
        assert (await recv(ws))["type"] == "connected"
    evil = await rejected(api, additional_headers={"Cookie": cookie}, origin="http://evil.example")
    assert evil == 403
    assert await rejected(api, additional_headers={"Cookie": cookie}) == 403  # no Origin


async def test_bound_tokens_only_receive_their_jobs(api: Api) -> None:
    store_a = await api.token("a", "jobs:read", store="store-a")
    plugin_p = await api.token("p", "jobs:read", plugin="plug")
    async with (
        connect(api.ws_url, additional_headers=bearer(store_a)) as ws_a,
        connect(api.ws_url, additional_headers=bearer(plugin_p)) as ws_p,
        connect(api.ws_url, additional_headers=bearer(api.admin)) as ws_admin,
    ):
        for ws in (ws_a, ws_p, ws_admin):
            await recv(ws)
        foreign = await api.deck.create_job(name="b", type="t", store_id="store-b")
        mine = await api.deck.create_job(name="a", type="t", store_id="store-a")
        plugin_job = await api.deck.create_job(name="p", type="t", plugin_id="plug")
        last = await api.deck.create_job(
            name="marker", type="t", store_id="store-a", plugin_id="plug"
        )
        seen_a = [m["job"]["jobId"] for m in [await recv(ws_a), await recv(ws_a)]]
        assert seen_a == [mine.job_id, last.job_id]
        seen_p = [m["job"]["jobId"] for m in [await recv(ws_p), await recv(ws_p)]]
        assert seen_p == [plugin_job.job_id, last.job_id]
        seen_admin = [(await recv(ws_admin))["job"]["jobId"] for _ in range(4)]
        assert seen_admin == [foreign.job_id, mine.job_id, plugin_job.job_id, last.job_id]


async def test_subscribe_since_after_reconnect_loses_nothing(api: Api) -> None:
    seen: dict[str, dict] = {}
    jobs = [await api.deck.create_job(name=f"job {i}", type="t") for i in range(3)]
    async with connect(api.ws_url, additional_headers=bearer(api.admin)) as ws:
        last_seq = (await recv(ws))["seq"]
        await jobs[0].start()
        message = await next_update(ws, jobs[0].job_id, "running")
        seen[jobs[0].job_id] = message["job"]
        last_seq = message["seq"]
    # Offline: changes the tab must not lose.
    await jobs[0].update_progress(70, message="seventy")
    await jobs[1].start()
    await jobs[1].complete({"n": 1})
    await jobs[2].cancel()
    extra = await api.deck.create_job(name="born offline", type="t")

    async with connect(api.ws_url, additional_headers=bearer(api.admin)) as ws:
        await recv(ws)
        await ws.send(json.dumps({"type": "subscribe", "since": last_seq}))
        caught = {}
        for _ in range(4):
            message = await recv(ws)
            assert message["seq"] > last_seq
            caught[message["job"]["jobId"]] = message["job"]
        assert caught[jobs[0].job_id]["progress"] == 70
        assert caught[jobs[0].job_id]["progressMessage"] == "seventy"
        assert caught[jobs[1].job_id]["status"] == "completed"
        assert caught[jobs[1].job_id]["result"] == {"n": 1}
        assert caught[jobs[2].job_id]["status"] == "cancelled"
        assert caught[extra.job_id]["name"] == "born offline"
        # Then live.
        await extra.start()
        assert (await next_update(ws, extra.job_id, "running"))["job"]["status"] == "running"


async def test_subscribe_filter(api: Api) -> None:
    async with connect(api.ws_url, additional_headers=bearer(api.admin)) as ws:
        since = (await recv(ws))["seq"]
        await ws.send(
            json.dumps({"type": "subscribe", "since": since, "filter": {"type": "wanted"}})
        )
        await api.deck.create_job(name="skip", type="other")
        wanted = await api.deck.create_job(name="keep", type="wanted")
        message = await recv(ws)
        assert message["job"]["jobId"] == wanted.job_id


async def test_revoked_token_loses_its_socket_at_once(api: Api) -> None:
    secret = await api.token("doomed", "jobs:read")
    async with connect(api.ws_url, additional_headers=bearer(secret)) as ws:
        await recv(ws)
        revoke = await api.client(api.admin).delete("/api/v1/tokens/doomed")
        assert revoke.status_code == 200
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 2)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1008


async def test_token_revoked_by_another_process_closes_when_the_feed_reads_it(api: Api) -> None:
    secret = await api.token("cli-revoked", "jobs:read")
    ticket_token = await api.token("ticket-user", "jobs:read")
    ticket = (await api.client(ticket_token).post("/api/v1/ws-ticket")).json()["ticket"]
    async with (
        connect(api.ws_url, additional_headers=bearer(secret)) as ws,
        connect(f"{api.ws_url}?ticket={ticket}") as by_ticket,
    ):
        await recv(ws)
        await recv(by_ticket)
        # As `jobdeck token revoke` does from its own process: straight to the store.
        now = api.deck.clock.now()
        await api.deck.store.revoke_token("cli-revoked", now)
        await api.deck.store.revoke_token("ticket-user", now)
        for conn in (ws, by_ticket):
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(conn.recv(), 2)
            assert info.value.rcvd is not None and info.value.rcvd.code == 1008


@pytest.mark.parametrize("server_options", [None, ASGI_PROTOCOL], ids=["framed", "asgi"])
async def test_slow_client_is_dropped_and_others_keep_up(
    make_api: MakeApi, server_options: dict[str, str] | None, sends: dict[str, int]
) -> None:
    api = await make_api(server_options=server_options, ws_queue_size=64, ws_send_timeout=1.0)
    hub = api.app.state.ctx.hub
    jobs = []
    for i in range(40):
        job = await api.deck.create_job(name=f"big {i}", type="t")
        await job.start()
        # Every update now carries 40 KB that does not compress.
        await job.update_progress(0, {"blob": secrets.token_urlsafe(30_000)})
        jobs.append(job)
    # The slow client never reads: its (small) socket buffers fill, then the send stalls.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", int(api.base_url.rsplit(":", 1)[1])))
    sock.setblocking(False)
    slow = await connect(api.ws_url, additional_headers=bearer(api.admin), max_queue=1, sock=sock)
    fast = await connect(api.ws_url, additional_headers=bearer(api.admin))
    await recv(slow)
    await recv(fast)
    latest: dict[str, dict[str, Any]] = {}

    async def read_fast() -> None:
        while sum(j["status"] == "completed" for j in latest.values()) < len(jobs):
            message = await recv(fast, 10)
            if message["type"] == "job_update":
                latest[message["job"]["jobId"]] = message["job"]

    reader = asyncio.create_task(read_fast())
    try:
        for round_ in range(1, 60):
            for job in jobs:
                await job.update_progress(round_)
            if len(hub.clients) == 1:
                break
        await wait_for(lambda: _true(len(hub.clients) == 1))
        for job in jobs:
            await job.complete({"ok": True})
        await asyncio.wait_for(reader, 20)
        assert all(j["result"] == {"ok": True} for j in latest.values())
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(slow.recv(), 10)
    finally:
        reader.cancel()
        await fast.close()
        await slow.close()
    metrics = await api.client(api.admin).get("/metrics")
    assert 'jobdeck_ws_dropped_total{reason="client too slow"} 1.0' in metrics.text
    framed = server_options is None  # then the stall is the transport's flow control
    assert (sends["framed"] > 0, sends["asgi"] > 0) == (framed, not framed)


def test_board_keeps_latest_state_per_job() -> None:
    from datetime import UTC, datetime

    from jobdeck.api.hub import Board, Client
    from jobdeck.domain.feed import Change
    from jobdeck.domain.job import Job, Mode, Status
    from jobdeck.tokens import Principal

    def change(seq: int, job_id: str, progress: float = 0) -> Change:
        job = Job(1, job_id, "n", "t", Mode.TRACKED, Status.RUNNING, progress=progress,
                  created_at=datetime.now(UTC))  # fmt: skip
        return Change(seq, job)

    board = Board(capacity=3)
    client = Client(Principal(1, "t", ("admin",)))
    board.put(change(1, "a"))
    board.put(change(2, "b"))
    board.put(change(3, "a", 50))
    pending = client.pending(board)
    assert [(e.seq, e.job.job_id) for e in pending] == [(2, "b"), (3, "a")]  # a's newest only
    assert '"progress":50' in pending[1].text and client.cursor == 3
    assert client.pending(board) == []
    bound = Client(Principal(2, "s", ("jobs:read",), store="s1"))
    assert bound.pending(board) == []  # none of these jobs is in its store
    for seq, job in enumerate("cdef", start=4):
        board.put(change(seq, job))
    # Behind what the board still holds: catch up from the store instead.
    laggard = Client(Principal(3, "l", ("admin",)), cursor=3)
    assert laggard.pending(board) is None and not laggard.closed.is_set()


async def _true(value: bool) -> bool:
    return value


async def test_one_feed_consumer_for_many_sockets(api: Api) -> None:
    hub = api.app.state.ctx.hub
    sockets = [await connect(api.ws_url, additional_headers=bearer(api.admin)) for _ in range(10)]
    try:
        for ws in sockets:
            await recv(ws)
        job = await api.deck.create_job(name="fan", type="t")
        for ws in sockets:
            assert (await next_update(ws, job.job_id))["job"]["name"] == "fan"
        feed_tasks = [t for t in asyncio.all_tasks() if t.get_name() == "jobdeck-ws-feed"]
        assert len(feed_tasks) == 1 and len(hub.clients) == 10
    finally:
        for ws in sockets:
            await ws.close()


async def test_ticket_is_hashed_and_tied_to_its_token(api: Api) -> None:
    ticket = (await api.client(api.admin).post("/api/v1/ws-ticket")).json()["ticket"]
    token = await api.deck.store.use_grant(
        "ticket", tokens.hash_secret(ticket), api.deck.clock.now(), False
    )
    assert token is not None and token.name == "test-admin"


async def test_burst_larger_than_the_board_is_caught_up_not_dropped(make_api: MakeApi) -> None:
    from jobdeck.handlers.base import BaseJobHandler

    class Noop(BaseJobHandler):
        async def execute(self) -> None:
            return None

    api = await make_api(ws_queue_size=8)
    api.deck.register_job_type("burst", Noop)
    async with connect(api.ws_url, additional_headers=bearer(api.admin)) as ws:
        await recv(ws)
        # One transaction, 30 jobs: more than the board's 8 entries at once.
        jobs = await api.deck.schedule_jobs([{"type": "burst"} for _ in range(30)])
        seen: set[str] = set()
        while len(seen) < len(jobs):
            message = await recv(ws)
            if message["type"] == "job_update":
                seen.add(message["job"]["jobId"])
        assert seen == {j.job_id for j in jobs}
        assert len(api.app.state.ctx.hub.clients) == 1


async def test_batch_subscription_gets_job_updates_frames(api: Api) -> None:
    async with connect(api.ws_url, additional_headers=bearer(api.admin)) as ws:
        since = (await recv(ws))["seq"]
        await ws.send(json.dumps({"type": "subscribe", "since": since, "batch": True}))
        await ws.send(json.dumps({"type": "ping"}))  # answered once the subscribe is in
        assert await recv(ws) == {"type": "pong"}
        jobs = [await api.deck.create_job(name=f"b{i}", type="t") for i in range(5)]
        seen: dict[str, dict] = {}
        while len(seen) < len(jobs):
            frame = await recv(ws)
            assert frame["type"] == "job_updates"
            for update in frame["updates"]:
                assert update["type"] == "job_update" and set(update["job"]) == JOB_KEYS
                seen[update["job"]["jobId"]] = update["job"]
        assert set(seen) == {j.job_id for j in jobs}
        await ws.send(json.dumps({"type": "subscribe", "batch": "yes"}))
        assert "batch" in (await recv(ws))["message"]


async def test_serve_config_sends_pre_framed_messages(api: Api, sends: dict[str, int]) -> None:
    async with connect(api.ws_url, additional_headers=bearer(api.admin)) as ws:
        assert (await recv(ws))["type"] == "connected"
        await ws.send(json.dumps({"type": "ping"}))
        assert await recv(ws) == {"type": "pong"}
        job = await api.deck.create_job(name="big", type="t")
        await job.start()
        await job.complete({"blob": "x" * 100_000})  # a frame in the 64-bit length form
        done = await next_update(ws, job.job_id, "completed")
        assert done["job"]["result"] == {"blob": "x" * 100_000}
    assert sends["asgi"] == 0 and sends["framed"] >= 3


async def test_without_the_extension_messages_go_through_asgi(
    make_api: MakeApi, sends: dict[str, int]
) -> None:
    api = await make_api(server_options=ASGI_PROTOCOL)
    async with connect(api.ws_url, additional_headers=bearer(api.admin)) as ws:
        assert (await recv(ws))["type"] == "connected"
        jobs = [await api.deck.create_job(name=f"j{i}", type="t") for i in range(3)]
        await ws.send(json.dumps({"type": "ping"}))
        updates, pong = [], False
        while len(updates) < len(jobs) or not pong:
            message = await recv(ws)
            pong = pong or message == {"type": "pong"}
            if message["type"] == "job_update":
                updates.append(message)
        assert [m["job"]["jobId"] for m in updates] == [j.job_id for j in jobs]
        assert [m["seq"] for m in updates] == sorted(m["seq"] for m in updates)
    assert sends["framed"] == 0 and sends["asgi"] >= 5


@pytest.mark.parametrize("closer", ["client", "server"])
async def test_no_frame_is_written_once_the_socket_is_closing(
    api: Api, monkeypatch: pytest.MonkeyPatch, closer: str
) -> None:
    protocols: list[FramedWebSocketProtocol] = []
    run_asgi = FramedWebSocketProtocol.run_asgi

    async def record(self: FramedWebSocketProtocol) -> None:
        protocols.append(self)
        await run_asgi(self)

    monkeypatch.setattr(FramedWebSocketProtocol, "run_asgi", record)
    frame = text_frame(b'{"type":"pong"}')
    async with connect(api.ws_url, additional_headers=bearer(api.admin)) as ws:
        assert (await recv(ws))["type"] == "connected"
        [protocol] = protocols
        await protocol.send_frames(frame)  # open: written
        assert await recv(ws) == {"type": "pong"}
        if closer == "server":
            # The closing handshake has begun: no data frame may follow the close frame.
            await protocol.send({"type": "websocket.close", "code": 1000})
            with pytest.raises(ClientDisconnected):
                await protocol.send_frames(frame)
    await wait_for(lambda: _true(protocol.disconnected))
    with pytest.raises(ClientDisconnected):
        await protocol.send_frames(frame)
