"""A real uvicorn server on 127.0.0.1 (a free port), over a real SQLite file in tmp_path
(or ``make_api(database_url=...)``, e.g. the root conftest's ``database_url``, which
also runs a test on PostgreSQL).

Configured as ``jobdeck serve`` configures it (``uvicorn_config``); ``make_api``'s
``server_options`` override single settings (e.g. another WebSocket protocol).

The server runs in the test's event loop, so tests can also drive the deck directly
(e.g. progress updates a WebSocket client should see).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobdeck.api import create_app
from jobdeck.api.server import _Server, uvicorn_config
from jobdeck.config import Settings
from jobdeck.deck import JobDeck


@dataclass
class Api:
    deck: JobDeck
    base_url: str
    admin: str
    app: Any
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/ws"

    @property
    def host(self) -> str:
        return self.base_url.removeprefix("http://")

    async def token(
        self, name: str, *scopes: str, plugin: str | None = None, store: str | None = None
    ) -> str:
        _, secret = await self.deck.tokens.create_token(name, scopes, plugin=plugin, store_id=store)
        return secret

    def client(self, secret: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        client = httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=10, **kwargs)
        self.clients.append(client)
        return client

    def auth(self, secret: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret}"}


MakeApi = Callable[..., Awaitable[Api]]


class _TestServer(_Server):
    """Stops without uvicorn's fixed pauses, which every test's teardown waited for:
    it notices ``should_exit`` within 10 ms (uvicorn looks every 100 ms; its
    once-a-second chores run more often here), and with no connection left open it
    skips the 100 ms uvicorn gives open connections to wind down. Otherwise the same
    shutdown: stop listening, wait for tasks, run the app's lifespan shutdown."""

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            await asyncio.sleep(0.01)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.server_state.connections:
            await super().shutdown(sockets)
            return
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        await self._wait_tasks_to_complete()
        if not self.force_exit:
            await self.lifespan.shutdown()


@pytest.fixture
async def make_api(tmp_path: Path) -> AsyncIterator[MakeApi]:
    running: list[tuple[_Server, asyncio.Task[None], Api]] = []

    async def make(
        *,
        server_options: dict[str, Any] | None = None,
        database_url: str | None = None,
        **app_options: Any,
    ) -> Api:
        settings = Settings(
            database_url=database_url or f"sqlite:///{tmp_path}/jobdeck-{len(running)}.db",
            poll_seconds=0.05,
            maintenance_seconds=0.2,
        )
        deck = JobDeck(settings=settings)
        await deck.open()
        _, admin = await deck.tokens.create_token("test-admin", ["admin"])
        app = create_app(deck, **app_options)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        options = {"log_level": "warning", **(server_options or {})}
        server = _TestServer(uvicorn_config(app, "127.0.0.1", port, **options))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        assert server.started, "the test server did not start"
        api = Api(deck=deck, base_url=f"http://127.0.0.1:{port}", admin=admin, app=app)
        running.append((server, task, api))
        return api

    yield make

    for server, task, api in running:
        for client in api.clients:
            await client.aclose()
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 15)
        await api.deck.close()


@pytest.fixture
async def api(make_api: MakeApi) -> Api:
    return await make_api()


@pytest.fixture
def admin(api: Api) -> httpx.AsyncClient:
    return api.client(api.admin)


async def wait_for(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Poll ``check`` until it holds (for effects of another task or process)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
