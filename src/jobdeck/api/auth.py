"""Who is calling (docs/api.md; docs/security.md): bearer token or UI session cookie → Principal.

Missing or bad credentials are 401, a valid token without the scope 403. Every
request checks the store, so a revoked token stops working at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from jobdeck.api.context import ApiContext, context
from jobdeck.api.errors import forbidden, unauthorized
from jobdeck.api.in_process import in_process_principal
from jobdeck.tokens import Principal

SESSION_COOKIE = "jobdeck_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

bearer = HTTPBearer(auto_error=False, description="An API token (`jobdeck token create`).")


def bearer_secret(connection: HTTPConnection) -> str | None:
    header = connection.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _netloc(scheme: str, netloc: str) -> str:
    netloc = netloc.lower()
    default = {"http": ":80", "https": ":443", "ws": ":80", "wss": ":443"}.get(scheme, "")
    return netloc[: -len(default)] if default and netloc.endswith(default) else netloc


def origin_matches_host(connection: HTTPConnection) -> bool:
    """The browser's Origin names this server (cross-site pages cannot ride the cookie)."""
    origin = connection.headers.get("origin")
    host = connection.headers.get("host")
    if not origin or not host:
        return False
    parts = urlsplit(origin)
    if not parts.scheme or not parts.netloc:
        return False
    scheme = "https" if parts.scheme == "https" else "http"
    return _netloc(parts.scheme, parts.netloc) == _netloc(scheme, host)


def cookie_write_allowed(request: Request) -> bool:
    """CSRF rule for requests that ride the session cookie: a state-changing one must
    carry an Origin naming this server. Browsers send Origin with every such request
    (fetch, forms), so a missing one means it was not made by our pages. SameSite=Strict
    already keeps other sites from sending the cookie; this is the second lock, for
    browsers and proxies that do not honour it (docs/ui.md, "Sessions and CSRF")."""
    return request.method in SAFE_METHODS or origin_matches_host(request)


async def identify(ctx: ApiContext, connection: HTTPConnection) -> Principal | None:
    """Bearer header first, then the session cookie; None when neither is valid."""
    secret = bearer_secret(connection)
    if secret is not None:
        token = await ctx.deck.tokens.authenticate(secret)
        return Principal.of(token) if token is not None else None
    session = connection.cookies.get(SESSION_COOKIE)
    if session:
        token = await ctx.deck.tokens.redeem_grant("session", session, consume=False)
        return Principal.of(token) if token is not None else None
    return None


def require(scope: str | None) -> Callable[..., Awaitable[Principal]]:
    """A dependency answering 401/403, or the caller; ``None`` = any valid token."""

    async def dependency(
        request: Request,
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        ctx = context(request)
        await ctx.ready()
        trusted = in_process_principal(ctx, request)
        if trusted is not None:  # an api_call job, as its creator (api/in_process.py)
            if scope is not None and not trusted.can(scope):
                raise forbidden(f"the job's creator {trusted.name!r} lacks the {scope} scope")
            request.state.principal = trusted
            return trusted
        principal = await identify(ctx, request)
        if principal is None:
            raise unauthorized(
                "invalid or revoked token"
                if request.headers.get("authorization") or request.cookies.get(SESSION_COOKIE)
                else "authentication required: send Authorization: Bearer <token>"
            )
        if bearer_secret(request) is None and not cookie_write_allowed(request):
            raise forbidden(
                "a state-changing request with a session cookie needs an Origin naming this server"
            )
        if scope is not None and not principal.can(scope):
            raise forbidden(f"this token lacks the {scope} scope")
        request.state.principal = principal
        return principal

    return dependency


read_jobs = require("jobs:read")
write_jobs = require("jobs:write")
read_cron = require("cron:read")
write_cron = require("cron:write")
any_token = require(None)
admin = require("admin")

# Route parameters: the caller, checked for the scope.
Reader = Annotated[Principal, Depends(read_jobs)]
Writer = Annotated[Principal, Depends(write_jobs)]
AdminOnly = Annotated[Principal, Depends(admin)]
CronReader = Annotated[Principal, Depends(read_cron)]
CronWriter = Annotated[Principal, Depends(write_cron)]
