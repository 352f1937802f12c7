"""The WebSocket fast path (``jobdeck.api.wsframes``) subclasses uvicorn's private
protocol. With the uvicorn installed it must be on (so CI shows when an upgrade turns
it off); when uvicorn's internals change, the server still starts, job updates leave
as plain ASGI messages, and the log says so."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import pytest
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.asyncio.client import connect

from jobdeck.api import server, wsframes

from .conftest import Api, MakeApi
from .test_ws import bearer, next_update, recv

OFF = "WebSocket fast path off"


@pytest.fixture
def sends(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How job updates leave the server: ASGI ``websocket.send`` messages or pre-framed
    writes."""
    counts = {"asgi": 0, "framed": 0}
    asgi_send = WebSocketsSansIOProtocol.send
    send_frames = wsframes.FramedWebSocketProtocol.send_frames

    async def count_asgi(self: WebSocketsSansIOProtocol, message: Any) -> None:
        counts["asgi"] += message["type"] == "websocket.send"
        await asgi_send(self, message)

    async def count_frames(self: Any, frames: bytes) -> None:
        counts["framed"] += 1
        await send_frames(self, frames)

    monkeypatch.setattr(WebSocketsSansIOProtocol, "send", count_asgi)
    monkeypatch.setattr(wsframes.FramedWebSocketProtocol, "send_frames", count_frames)
    monkeypatch.setattr(wsframes, "_warned", False)
    return counts


async def an_update_arrives(api: Api) -> None:
    async with connect(api.ws_url, additional_headers=bearer(api.admin)) as ws:
        assert (await recv(ws))["type"] == "connected"
        await ws.send(json.dumps({"type": "subscribe", "since": 0}))
        job = await api.deck.create_job(name="fast path", type="sync")
        await job.start()
        update = await next_update(ws, job.job_id, "running")
        assert update["job"]["name"] == "fast path"


async def test_the_fast_path_is_on_with_the_installed_uvicorn(
    api: Api, sends: dict[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    assert server.ws_protocol() is wsframes.FramedWebSocketProtocol
    await an_update_arrives(api)
    assert sends["framed"] >= 1, sends
    assert OFF not in caplog.text


async def test_a_private_attribute_missing_turns_it_off_not_the_server(
    make_api: MakeApi,
    sends: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # As if a uvicorn release had dropped one of the attributes the fast path writes with.
    monkeypatch.setattr(wsframes, "INTERNALS", (*wsframes.INTERNALS, "renamed_in_uvicorn"))
    api = await make_api()
    with caplog.at_level(logging.WARNING, "jobdeck.api"):
        await an_update_arrives(api)
        await an_update_arrives(api)
    assert sends["framed"] == 0 and sends["asgi"] >= 2, sends
    warnings = [r.getMessage() for r in caplog.records if OFF in r.getMessage()]
    assert len(warnings) == 1 and "renamed_in_uvicorn" in warnings[0], warnings  # said once


async def test_a_protocol_module_that_no_longer_imports_falls_back_to_uvicorn_s_own(
    make_api: MakeApi, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # As if uvicorn had moved or reshaped the protocol wsframes subclasses.
    monkeypatch.setitem(sys.modules, "jobdeck.api.wsframes", None)
    with caplog.at_level(logging.WARNING, "jobdeck.api"):
        assert server.ws_protocol() == "websockets-sansio"
        api = await make_api()
        await an_update_arrives(api)
    assert OFF in caplog.text
