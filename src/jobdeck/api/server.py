"""Running the API: ``serve_api`` (used by ``jobdeck serve``) and the first-run notice."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import socket
import sys
from collections.abc import Generator
from typing import Any, TextIO

import uvicorn

from jobdeck import tokens
from jobdeck.api.app import create_app
from jobdeck.api.in_process import attach_api_calls
from jobdeck.api.plugin_routes import plugin_router
from jobdeck.store.base import Token

log = logging.getLogger("jobdeck.api")

WS_MAX_MESSAGE = 64 * 1024


async def print_first_run(
    deck: Any, host: str, port: int, *, out: TextIO | None = None
) -> str | None:
    """On the first start (no token yet) create an admin token and print it once,
    with a single-use login link (a short-lived code, not the token). Returns the
    token, or None when tokens already exist. Only hashes are stored."""
    await deck.open()
    await deck.tokens.sync_env_admin(deck.settings.admin_token)
    created: tuple[Token, str] | None = await deck.tokens.bootstrap_admin()
    if created is None:
        return None
    token, secret = created
    code = await deck.tokens.issue_grant("login", token.id, tokens.LOGIN_CODE_TTL)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in shown:
        shown = f"[{shown}]"
    stream = out or sys.stdout
    minutes = int(tokens.LOGIN_CODE_TTL.total_seconds() // 60)
    print(
        "\n  jobdeck created an admin token (shown only this once, store it safely):\n"
        f"\n    {secret}\n"
        f"\n  Log in to the UI (link valid for {minutes} minutes, single use):\n"
        f"\n    http://{shown}:{port}/login?code={code}\n",
        file=stream,
        flush=True,
    )
    return secret


# uvicorn's websockets-sansio protocol logs this after a complete denial response
# (401/403 to a WebSocket handshake, which /ws sends on purpose): not an error here.
SPURIOUS_DENIAL_ERROR = "ASGI callable returned without completing handshake."


class RedactQuery(logging.Filter):
    """uvicorn logs WebSocket paths with their query string, where tickets travel
    (and where a careless client may put a token): keep the path, drop the query."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == SPURIOUS_DENIAL_ERROR:
            return False
        if isinstance(record.args, tuple) and any(
            isinstance(a, str) and "?" in a for a in record.args
        ):
            record.args = tuple(
                a.split("?", 1)[0] + "?[redacted]" if isinstance(a, str) and "?" in a else a
                for a in record.args
            )
        return True


def _redact_uvicorn_logs() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, RedactQuery) for f in logger.filters):
        logger.addFilter(RedactQuery())


SANSIO = "uvicorn.protocols.websockets.websockets_sansio_impl"


def ws_protocol() -> Any:
    """uvicorn's ``websockets-sansio`` protocol with the pre-framed extension
    (``wsframes.py``), or, when this uvicorn's private protocol is not what that module
    subclasses, uvicorn's default WebSocket protocol (plain ASGI sends), said in the log."""
    try:
        from jobdeck.api.wsframes import FramedWebSocketProtocol
    except (ImportError, AttributeError, TypeError) as exc:
        fallback = "websockets-sansio" if importlib.util.find_spec(SANSIO) else "auto"
        log.warning(
            "WebSocket fast path off (%s: %s): job updates are sent as plain ASGI "
            "messages (%s); check jobdeck/api/wsframes.py against uvicorn %s",
            type(exc).__name__,
            exc,
            fallback,
            uvicorn.__version__,
        )
        return fallback
    return FramedWebSocketProtocol


def uvicorn_config(app: Any, host: str, port: int, **overrides: Any) -> uvicorn.Config:
    _redact_uvicorn_logs()
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        # websockets-sansio, plus writing pre-framed job updates (wsframes.py).
        "ws": ws_protocol(),
        "ws_max_size": WS_MAX_MESSAGE,
        # Each job update is encoded once and the same text goes to every socket;
        # per-socket compression would redo the work once per client.
        "ws_per_message_deflate": False,
        "lifespan": "on",
        # uvicorn's access log prints query strings, where login codes and WebSocket
        # tickets travel; jobdeck logs requests itself, by route template.
        "access_log": False,
        "log_config": None,
        "server_header": False,
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)


def _no_delay(sockets: list[socket.socket] | None) -> None:
    """Nagle's algorithm off on listening sockets given to uvicorn (connections accepted
    on them inherit it). asyncio turns it off only on sockets whose proto is
    IPPROTO_TCP, and ``socket.socket()`` leaves proto 0: uvicorn writes a response's
    head and body apart, so each keep-alive request waited ~40 ms for the client's
    delayed ACK. Sockets uvicorn binds itself are not affected."""
    for sock in sockets or []:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its caller (it sets ``stop``)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        _no_delay(sockets)
        await super().serve(sockets=sockets)


async def serve_api(
    deck: Any,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    stop: asyncio.Event | None = None,
    plugins: Any = None,
    announce: bool = True,
    sockets: list[socket.socket] | None = None,
    **app_options: Any,
) -> None:
    """Serve the API in the running event loop until ``stop`` is set (or, without
    ``stop``, until SIGINT/SIGTERM)."""
    await deck.open()
    if announce:
        await print_first_run(deck, host, port)
    routers = [plugin_router(plugins)] if plugins is not None else []
    app = create_app(deck, routers=routers, **app_options)
    # api_call jobs this process runs reach this very app (docs/builtin-types.md).
    attach_api_calls(deck, app, [route for router in routers for route in router.routes])
    config = uvicorn_config(app, host, port)
    server = _Server(config) if stop is not None else uvicorn.Server(config)
    watcher = asyncio.create_task(_stop_on(stop, server)) if stop is not None else None
    log.info("jobdeck API listening on http://%s:%s", host, port)
    _no_delay(sockets)
    try:
        await server.serve(sockets=sockets)
    finally:
        if watcher is not None:
            watcher.cancel()


async def _stop_on(stop: asyncio.Event | None, server: uvicorn.Server) -> None:
    if stop is not None:
        await stop.wait()
        server.should_exit = True
