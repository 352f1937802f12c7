"""The admin UI's pages (docs/ui.md): Jinja2 shells, static ES modules, login.

Pages carry no data: their scripts read it from the public REST API and the
WebSocket with the session cookie, under the API's access rules. A page itself only
asks who the cookie belongs to (``auth.identify``, the rule the API applies), to
send a visitor without a session to the login page and one whose session ended to
the expired page.

Login by link: ``GET /login?code=`` answers a small page that posts the code back
(``POST /login``) instead of redeeming it at once. A link opened from another
application (a terminal, a mail client) is a cross-site navigation, and a
SameSite=Strict cookie set by it is not sent with the redirect that follows, so the
first page would find no session. The post comes from our own page, so its answer's
cookie and the redirect after it are same-site. It also keeps link previewers, which
only GET, from using up the single-use code.
"""

from __future__ import annotations

import mimetypes
from importlib.resources import files
from pathlib import PurePosixPath
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

import jinja2
from fastapi import APIRouter, Path, Query, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from jobdeck.api.auth import SESSION_COOKIE, identify, origin_matches_host
from jobdeck.api.context import context
from jobdeck.api.session import NO_STORE, open_session
from jobdeck.tokens import Principal

router = APIRouter(include_in_schema=False)

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("jobdeck.ui", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
_STATIC = files("jobdeck.ui").joinpath("static")
_STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


def security_headers(request: Request) -> dict[str, str]:
    """No inline script or style, nothing from another origin, never framed."""
    host = request.headers.get("host", "")
    sockets = f" ws://{host} wss://{host}" if host else ""
    policy = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        f"connect-src 'self'{sockets}; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


def render(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    values.setdefault("principal", None)
    values.setdefault("title", "jobdeck")
    values.setdefault("page", template.removesuffix(".html"))
    html = _templates.get_template(template).render(**values)
    return HTMLResponse(html, status, headers=security_headers(request))


async def page(request: Request, template: str, **values: Any) -> Response:
    """A page for a signed-in operator; otherwise the login or the expired page."""
    ctx = context(request)
    await ctx.ready()
    principal = await identify(ctx, request)
    if principal is None:
        if request.cookies.get(SESSION_COOKIE):
            return expired_page(request)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={_quote_next(target)}", 303)
    return render(request, template, principal=view_of(principal), **values)


def view_of(principal: Principal) -> dict[str, Any]:
    return {
        "name": principal.name,
        "plugin": principal.plugin,
        "store": principal.store,
        "cron": principal.can("cron:read"),
        "cron_write": principal.can("cron:write"),
        "write": principal.can("jobs:write"),
    }


def _quote_next(target: str) -> str:
    return quote(target, safe="/")


def _safe_next(value: str | None) -> str:
    """Only a path of this site (never ``//host`` or a scheme): no open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def expired_page(request: Request) -> HTMLResponse:
    response = render(request, "expired.html", status=401, title="Session ended")
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


# --- pages --------------------------------------------------------------------


@router.get("/")
async def overview(request: Request) -> Response:
    return await page(request, "overview.html", title="Overview")


@router.get("/jobs")
async def jobs(request: Request) -> Response:
    return await page(request, "jobs.html", title="Jobs")


@router.get("/jobs/{job_id}")
async def job(request: Request, job_id: Annotated[str, Path(max_length=200)]) -> Response:
    return await page(request, "job.html", title="Job", job_id=job_id)


@router.get("/cron")
async def cron_list(request: Request) -> Response:
    return await page(request, "cron_list.html", title="Schedules")


@router.get("/cron/new")
async def cron_new(request: Request) -> Response:
    return await page(request, "cron_form.html", title="New schedule", cron_id="")


@router.get("/cron/{cron_id}")
async def cron_detail(request: Request, cron_id: Annotated[int, Path(ge=1)]) -> Response:
    return await page(request, "cron_detail.html", title="Schedule", cron_id=cron_id)


@router.get("/cron/{cron_id}/edit")
async def cron_edit(request: Request, cron_id: Annotated[int, Path(ge=1)]) -> Response:
    return await page(request, "cron_form.html", title="Edit schedule", cron_id=cron_id)


@router.get("/expired")
async def expired(request: Request) -> HTMLResponse:
    return expired_page(request)


# --- login ----------------------------------------------------------------------


@router.get("/login")
async def login(
    request: Request,
    code: Annotated[str, Query(max_length=512)] = "",
    next: Annotated[str, Query(max_length=2000)] = "/",
) -> Response:
    if code:
        # Posted back by login-link.js (see the module docstring); the code stays out
        # of Referer headers and caches.
        response = render(request, "login_link.html", title="Log in", code=code)
        # same-origin, not no-referrer: under no-referrer the browser sends the post's
        # Origin as "null", which the post refuses. No other site ever gets a Referer.
        response.headers.update({**NO_STORE, "Referrer-Policy": "same-origin"})
        return response
    return render(request, "login.html", title="Log in", next=_safe_next(next))


@router.post("/login")
async def login_with_code(request: Request) -> Response:
    """The login link's code, posted by our own page: one session cookie, then home."""
    ctx = context(request)
    await ctx.ready()
    if not origin_matches_host(request):
        return render(request, "login_failed.html", status=403, title="Log in")
    body = await request.body()
    fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=4)
    code = (fields.get("code") or [""])[0]
    token = await ctx.deck.tokens.redeem_grant("login", code, consume=True)
    if token is None:
        failed = render(request, "login_failed.html", status=401, title="Log in")
        failed.headers.update(NO_STORE)
        return failed
    response = RedirectResponse("/", status_code=303, headers=NO_STORE)
    await open_session(request, response, token)
    return response


# --- static files and the API's documentation -------------------------------------


@router.get("/ui/static/{name:path}")
async def static(name: Annotated[str, Path(max_length=200)]) -> Response:
    path = PurePosixPath(name)
    kind = _STATIC_TYPES.get(path.suffix)
    if kind is None or ".." in path.parts or path.is_absolute():
        return Response("not found", 404, media_type="text/plain")
    resource = _STATIC.joinpath(*path.parts)
    if not resource.is_file():
        return Response("not found", 404, media_type="text/plain")
    # Revalidated on every load (ETag-less, short): a server upgrade takes effect at once.
    return Response(
        resource.read_bytes(),
        media_type=kind,
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


_SWAGGER = files("fastapi_offline").joinpath("static")
_SWAGGER_FILES = {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"}


@router.get("/docs")
async def docs() -> HTMLResponse:
    """Swagger UI from the installed fastapi-offline package, not a CDN (docs/ui.md)."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="jobdeck API",
        swagger_js_url="/docs/static/swagger-ui-bundle.js",
        swagger_css_url="/docs/static/swagger-ui.css",
        swagger_favicon_url="/docs/static/favicon.png",
    )


@router.get("/docs/static/{name}")
async def docs_static(name: Annotated[str, Path(max_length=100)]) -> Response:
    if name not in _SWAGGER_FILES:
        return Response("not found", 404, media_type="text/plain")
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return Response(
        _SWAGGER.joinpath(name).read_bytes(),
        media_type=kind,
        headers={"Cache-Control": "public, max-age=86400"},
    )
