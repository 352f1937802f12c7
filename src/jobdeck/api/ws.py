"""``/ws``: live job updates (docs/feed.md).

Client messages: ``{"type":"ping"}`` → ``{"type":"pong"}``;
``{"type":"subscribe","since":N,"filter":{…},"batch":false}`` → the current state
of every job changed after seq N, then live updates matching the filter. With
``"batch": true`` (an extension for busy dashboards) updates arrive as
``{"type":"job_updates","updates":[<update message>, …]}``, one frame a round
(each element keeps its own type: job_update, cron_update, execution_update),
instead of one frame per update. While updates stream in, a client gets them in
rounds, one per 0.065 s (0.05 s with ``batch``; ``Hub.publish``), each with a job's
latest state only; a reply to the client's own message (a pong, a subscribe's
catch-up) also carries what is pending.

Topics: a socket gets job updates only, unless a subscribe names its ``"topics"``:
``["jobs", "cron"]`` adds ``cron_update`` and ``execution_update`` messages (each
topic needs its read scope: ``cron:read`` for ``cron``; a bound token sees only its
own schedules). One sequence for all: ``since`` replays every subscribed topic in
order. The ``filter`` applies to jobs.

Auth: ``Authorization: Bearer`` header, the UI session cookie (only with an Origin
naming this host), or a single-use ticket from ``POST /api/v1/ws-ticket`` as
``?ticket=``. A token in the URL is refused: URLs end up in logs and histories.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket
from fastapi.responses import JSONResponse

from jobdeck.api.auth import SESSION_COOKIE, bearer_secret, origin_matches_host
from jobdeck.api.context import ApiContext, context
from jobdeck.api.hub import JOBS_ONLY, Client, JobMatch
from jobdeck.api.outbox import outbox
from jobdeck.domain.feed import TOPICS
from jobdeck.errors import ValidationError
from jobdeck.tokens import Principal

log = logging.getLogger("jobdeck.ws")
router = APIRouter()

MAX_MESSAGE = 64 * 1024


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    ctx = context(websocket)
    await ctx.ready()
    principal, status, reason = await authenticate(ctx, websocket)
    if principal is None:
        await deny(websocket, status, reason)
        return
    if not principal.can("jobs:read"):
        await deny(websocket, 403, "this token lacks the jobs:read scope")
        return
    await websocket.accept()
    client = ctx.hub.new_client(principal)
    try:
        client.send({"type": "connected", "seq": ctx.hub.seq})
        await serve(ctx, websocket, client)
    finally:
        ctx.hub.remove(client)


async def authenticate(ctx: ApiContext, ws: WebSocket) -> tuple[Principal | None, int, str]:
    deck_tokens = ctx.deck.tokens
    params = ws.query_params
    if "token" in params or "access_token" in params:
        return None, 401, "tokens must not travel in the URL: use a ticket (POST /api/v1/ws-ticket)"
    secret = bearer_secret(ws)
    if secret is not None:
        token = await deck_tokens.authenticate(secret)
        return (Principal.of(token), 200, "") if token else (None, 401, "invalid or revoked token")
    ticket = params.get("ticket")
    if ticket is not None:
        token = await deck_tokens.redeem_grant("ticket", ticket, consume=True)
        return (Principal.of(token), 200, "") if token else (None, 401, "invalid or used ticket")
    session = ws.cookies.get(SESSION_COOKIE)
    if session:
        if not origin_matches_host(ws):
            return None, 403, "the Origin does not match this host"
        token = await deck_tokens.redeem_grant("session", session, consume=False)
        return (Principal.of(token), 200, "") if token else (None, 401, "session expired")
    return None, 401, "authentication required"


async def deny(ws: WebSocket, status: int, reason: str) -> None:
    """Answer the handshake with a real HTTP status when the server supports it."""
    if "websocket.http.response" in ws.scope.get("extensions", {}):
        await ws.send_denial_response(JSONResponse({"success": False, "message": reason}, status))
    else:
        await ws.close(code=1008, reason=reason)


async def serve(ctx: ApiContext, ws: WebSocket, client: Client) -> None:
    reader = asyncio.create_task(read_loop(ctx, ws, client))
    writer = asyncio.create_task(write_loop(ctx, ws, client))
    closing = asyncio.create_task(client.closed.wait())
    tasks = {reader, writer, closing}
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        client.drop(1000, client.close_reason or "done")  # stops the writer's loop too
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=2.0)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.debug("websocket task ended: %r", task.exception())
    if client.close_code != 1000:
        log.info("closing websocket of %s: %s", client.principal.name, client.close_reason)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1.0):
                await ws.close(client.close_code, client.close_reason)


async def read_loop(ctx: ApiContext, ws: WebSocket, client: Client) -> None:
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None:
            client.send({"type": "error", "message": "send JSON text messages"})
            continue
        if len(text) > MAX_MESSAGE:
            client.send({"type": "error", "message": "message too large"})
            continue
        handle(client, text)


def handle(client: Client, text: str) -> None:
    try:
        data: Any = json.loads(text)
    except ValueError:
        client.send({"type": "error", "message": "not valid JSON"})
        return
    kind = data.get("type") if isinstance(data, dict) else None
    if kind == "ping":
        client.send({"type": "pong"})
    elif kind == "subscribe":
        since = data.get("since", 0)
        if isinstance(since, bool) or not isinstance(since, int) or since < 0:
            client.send({"type": "error", "message": "since must be a non-negative integer"})
            return
        try:
            match = JobMatch.parse(data.get("filter"))
        except ValidationError as exc:
            client.send({"type": "error", "message": exc.message})
            return
        batch = data.get("batch", False)
        if not isinstance(batch, bool):
            client.send({"type": "error", "message": "batch must be true or false"})
            return
        try:
            topics = parse_topics(client, data.get("topics"))
        except ValidationError as exc:
            client.send({"type": "error", "message": exc.message})
            return
        client.match = match
        client.batch = batch
        client.topics = topics
        client.request_catch_up(since)
    else:
        client.send({"type": "error", "message": f"unknown message type {kind!r}"})


# The scope each topic needs (the socket itself needs jobs:read).
TOPIC_SCOPES = {"jobs": "jobs:read", "cron": "cron:read"}
assert TOPIC_SCOPES.keys() == set(TOPICS)


def parse_topics(client: Client, raw: Any) -> frozenset[str]:
    """The topics of a subscribe (default: jobs only); one the token may not read is an
    error, and the whole subscribe is refused (a subscribe applies fully or not at all)."""
    if raw is None:
        return JOBS_ONLY
    if not isinstance(raw, list) or not raw or not all(isinstance(t, str) for t in raw):
        raise ValidationError("topics must be a non-empty list of strings")
    for topic in raw:
        if topic not in TOPIC_SCOPES:
            raise ValidationError(f"topics: unknown topic {topic!r} (known: {', '.join(TOPICS)})")
        scope = TOPIC_SCOPES[topic]
        if not client.principal.can(scope):
            raise ValidationError(f"topics: the {topic} topic needs the {scope} scope")
    topics = frozenset(raw)
    return JOBS_ONLY if topics == JOBS_ONLY else topics


async def write_loop(ctx: ApiContext, ws: WebSocket, client: Client) -> None:
    """Control messages (pongs, errors, catch-ups) first, then job updates in seq order."""
    hub = ctx.hub
    out = outbox(ws, client, hub.send_timeout)
    while not client.closed.is_set():
        await client.wake.wait()
        client.wake.clear()
        while not client.closed.is_set():
            if client.control:
                kind, value = client.control.popleft()
                texts = await hub.catch_up(client, value) if kind == "catch_up" else [value]
                await out.send_texts(texts)
                continue
            entries = client.pending(hub.board)
            if entries is None:
                await out.send_texts(await hub.catch_up(client, client.cursor))
                continue
            if not entries:
                break
            if client.batch:
                updates = ",".join(entry.text for entry in entries)
                await out.send_texts(['{"type":"job_updates","updates":[' + updates + "]}"])
            else:
                await out.send_entries(entries)
            hub.metrics.ws_messages.inc(len(entries))
            # One pass per wake-up: what changed meanwhile waits for the hub's next one,
            # which Hub.publish paces.
            break
