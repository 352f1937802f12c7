"""Browser login (docs/security.md) and token administration.

The login link's single-use code (printed on first run) is traded for a session
cookie by the UI's ``/login`` page (``jobdeck.ui.routes``); ``POST /api/v1/session``
does the same for a pasted token. The cookie is HttpOnly (scripts cannot read it)
and SameSite=Strict (other sites cannot send it).
The session is a grant tied to the token, so revoking the token ends it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response

from jobdeck import tokens
from jobdeck.api import schemas as s
from jobdeck.api.auth import SESSION_COOKIE, AdminOnly, cookie_write_allowed, origin_matches_host
from jobdeck.api.context import context
from jobdeck.api.errors import ApiError, forbidden, not_found, unauthorized
from jobdeck.api.schemas import error_responses, iso
from jobdeck.domain.values import check_text
from jobdeck.store.base import Token

router = APIRouter(tags=["auth"])

# Answers that carry or consume secrets: never cached, and the code in the URL
# never leaks through a Referer header.
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def set_session(request: Request, response: Response, secret: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=int(tokens.SESSION_TTL.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


async def open_session(request: Request, response: Response, token: Token) -> None:
    deck = context(request).deck
    secret = await deck.tokens.issue_grant("session", token.id, tokens.SESSION_TTL)
    set_session(request, response, secret)


@router.post(
    "/api/v1/session",
    responses={200: {"model": s.OkOut}, **error_responses(401, 403, 413, 422)},
)
async def login_with_token(request: Request, body: s.LoginBody) -> JSONResponse:
    ctx = context(request)
    await ctx.ready()
    if "origin" in request.headers and not origin_matches_host(request):
        raise forbidden("cross-origin login")
    token = await ctx.deck.tokens.authenticate(body.token)
    if token is None:
        raise unauthorized("invalid or revoked token")
    response = JSONResponse({"success": True, "message": "Logged in"})
    await open_session(request, response, token)
    return response


@router.delete("/api/v1/session", responses={200: {"model": s.OkOut}})
async def logout(request: Request) -> JSONResponse:
    ctx = context(request)
    await ctx.ready()
    secret = request.cookies.get(SESSION_COOKIE)
    if secret and not cookie_write_allowed(request):
        raise forbidden("logging out needs an Origin naming this server")
    if secret:
        await ctx.deck.tokens.redeem_grant("session", secret, consume=True)
    response = JSONResponse({"success": True, "message": "Logged out"})
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


def token_json(token: Token) -> dict[str, object]:
    return {
        "name": token.name,
        "scopes": list(token.scopes),
        "plugin": token.plugin,
        "store": token.store,
        "createdAt": iso(token.created_at),
        "lastUsedAt": iso(token.last_used_at),
    }


TOKEN_ERRORS = error_responses(400, 401, 403, 409, 413, 422)


@router.get("/api/v1/tokens", responses={200: {"model": s.TokenList}, **TOKEN_ERRORS})
async def list_tokens(request: Request, principal: AdminOnly) -> JSONResponse:
    found = await context(request).deck.tokens.list_tokens()
    live = [token_json(t) for t in found if t.revoked_at is None]
    return JSONResponse({"success": True, "data": live})


@router.post(
    "/api/v1/tokens", status_code=201, responses={201: {"model": s.TokenCreated}, **TOKEN_ERRORS}
)
async def create_token(
    request: Request, principal: AdminOnly, body: s.CreateTokenBody
) -> JSONResponse:
    deck = context(request).deck
    found = await deck.tokens.list_tokens()
    if any(t.name == body.name and t.revoked_at is None for t in found):
        raise ApiError(409, f"name: a token named {body.name!r} already exists")
    token, secret = await deck.tokens.create_token(
        body.name, body.scopes, plugin=body.plugin, store_id=body.store
    )
    return JSONResponse(
        {"success": True, "token": secret, "data": token_json(token)}, 201, headers=NO_STORE
    )


@router.delete(
    "/api/v1/tokens/{name}",
    responses={200: {"model": s.OkOut}, **TOKEN_ERRORS, **error_responses(404)},
)
async def revoke_token(
    request: Request, principal: AdminOnly, name: Annotated[str, Path(max_length=200)]
) -> JSONResponse:
    check_text("name", name)
    ctx = context(request)
    # Every API process closes the token's sockets when its feed reads the revocation
    # (docs/feed.md, "Revocations"), this one included.
    if not await ctx.deck.tokens.revoke_token(name):
        raise not_found("token")
    return JSONResponse({"success": True, "message": f"Token {name} revoked"})
