"""``create_app(deck)``: the ASGI app, built from explicit parts (no module globals)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI

from jobdeck.api import (
    background_jobs,
    bulk,
    cron_jobs,
    errors,
    insights,
    jobs_v1,
    ops,
    session,
    ws,
)
from jobdeck.api.context import ApiContext
from jobdeck.api.hub import QUEUE_SIZE, SEND_TIMEOUT, Hub
from jobdeck.api.limits import BODY_LIMIT, BodyLimit
from jobdeck.api.metrics import Metrics, RequestLog
from jobdeck.ui import routes as ui


def create_app(
    deck: Any,
    *,
    routers: Iterable[APIRouter] = (),
    body_limit: int = BODY_LIMIT,
    ws_queue_size: int = QUEUE_SIZE,
    ws_send_timeout: float = SEND_TIMEOUT,
    websockets: bool = True,
) -> FastAPI:
    """The API over ``deck`` (a :class:`jobdeck.deck.JobDeck`).

    The app opens the deck lazily but never closes it: whoever made the deck owns
    it. ``routers`` adds more routes (plugin routes, the UI) to the same app.
    ``websockets=False``: the live feed is never started (an app built only for
    ``api_call`` jobs, as ``jobdeck worker`` builds one).
    """
    metrics = Metrics()
    hub = Hub(
        deck,
        metrics,
        queue_size=ws_queue_size,
        send_timeout=ws_send_timeout,
    )
    ctx = ApiContext(deck=deck, hub=hub, metrics=metrics, start_hub=websockets)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await ctx.ready()
        try:
            yield
        finally:
            await ctx.stop()

    app = FastAPI(
        title="jobdeck",
        version="0.1.0",
        description="Durable background jobs, cron schedules and live progress tracking.",
        lifespan=lifespan,
        docs_url=None,  # the UI serves /docs from installed assets (jobdeck.ui.routes)
        redoc_url=None,
    )
    app.state.ctx = ctx
    errors.install(app)
    for router in (
        ops.router,
        session.router,
        bulk.router,  # before jobs_v1: /jobs/bulk is not a job id
        insights.router,
        jobs_v1.router,
        background_jobs.router,
        cron_jobs.router,
        ws.router,
        ui.router,
    ):
        app.include_router(router)
    for router in routers:
        app.include_router(router)
    app.add_middleware(BodyLimit, limit=body_limit)
    app.add_middleware(RequestLog, metrics=metrics)  # outermost: sees every answer
    return app
