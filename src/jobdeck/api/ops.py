"""Operations endpoints (docs/api.md): health and metrics (the UI is jobdeck.ui)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from jobdeck.api.auth import any_token
from jobdeck.api.context import context
from jobdeck.api.schemas import error_responses
from jobdeck.tokens import Principal

router = APIRouter(tags=["operations"])


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
