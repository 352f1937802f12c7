"""Operations endpoints (SPEC §10): health, metrics, and the placeholder home page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from jobdeck.api.auth import any_token
from jobdeck.api.context import context
from jobdeck.api.schemas import error_responses
from jobdeck.tokens import Principal

router = APIRouter(tags=["operations"])

HOME = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>jobdeck</title></head>
<body><h1>jobdeck</h1><p>The API is up. The web UI arrives in a later release;
meanwhile see <a href="/docs">the API documentation</a>.</p></body></html>"""


@router.get("/health", responses={200: {"description": "the API and its store answer"}})
async def health(request: Request) -> JSONResponse:
    ctx = context(request)
    try:
        await ctx.ready()
        seq = await ctx.deck.last_seq()
    except Exception as exc:
        return JSONResponse({"success": False, "status": "unavailable", "message": str(exc)}, 503)
    return JSONResponse({"success": True, "status": "ok", "seq": seq})


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}, **error_responses(401)},
)
async def metrics(
    request: Request, principal: Annotated[Principal, Depends(any_token)]
) -> Response:
    ctx = context(request)
    counts = await ctx.deck.count_by_status()
    return Response(
        ctx.metrics.render(counts), media_type="text/plain; version=0.0.4; charset=utf-8"
    )


@router.get("/", include_in_schema=False)
async def home() -> HTMLResponse:
    return HTMLResponse(HOME)
