"""Credentials, scopes, login, sessions, tokens; health, metrics, OpenAPI (docs/api.md,
docs/security.md)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from jobdeck import tokens
from jobdeck.api.server import print_first_run
from jobdeck.config import Settings
from jobdeck.deck import JobDeck

from .conftest import Api, MakeApi


async def test_401_without_or_with_bad_credentials(api: Api) -> None:
    anonymous = api.client()
    for method, path in [
        ("GET", "/api/v1/jobs"),
        ("POST", "/api/v1/jobs"),
        ("GET", "/api/v1/jobs/x"),
        ("DELETE", "/api/v1/jobs/cleanup"),
        ("POST", "/api/v1/ws-ticket"),
        ("GET", "/api/background-jobs/status"),
        ("POST", "/api/background-jobs/schedule"),
        ("GET", "/metrics"),
        ("GET", "/api/v1/tokens"),
    ]:
        response = await anonymous.request(method, path)
        assert response.status_code == 401, (method, path)
        assert response.json()["success"] is False
        assert response.headers["www-authenticate"] == "Bearer"
    bad = api.client("jdk_not-a-real-token")
    assert (await bad.get("/api/v1/jobs")).status_code == 401
    basic = await anonymous.get("/api/v1/jobs", headers={"Authorization": "Basic YTpi"})
    assert basic.status_code == 401


async def test_403_for_a_valid_token_without_the_scope(api: Api) -> None:
    reader = api.client(await api.token("reader", "jobs:read"))
    cron_only = api.client(await api.token("cron", "cron:write"))
    writer = api.client(await api.token("writer", "jobs:write"))
    assert (await reader.get("/api/v1/jobs")).status_code == 200
    denied = await reader.post("/api/v1/jobs", json={"name": "n", "type": "t"})
    assert denied.status_code == 403 and "jobs:write" in denied.json()["message"]
    assert (await cron_only.get("/api/v1/jobs")).status_code == 403
    # :write implies :read
    assert (await writer.get("/api/v1/jobs")).status_code == 200
    assert (await writer.post("/api/v1/jobs", json={"name": "n", "type": "t"})).status_code == 201
    assert (await writer.get("/api/v1/tokens")).status_code == 403
    # metrics: any valid token
    assert (await cron_only.get("/metrics")).status_code == 200


async def test_revoked_token_stops_at_once(api: Api) -> None:
    secret = await api.token("short-lived", "jobs:read")
    client = api.client(secret)
    assert (await client.get("/api/v1/jobs")).status_code == 200
    await api.deck.store.revoke_token("short-lived", api.deck.clock.now())
    assert (await client.get("/api/v1/jobs")).status_code == 401


async def test_scopes_logic() -> None:
    assert tokens.grants(["admin"], "cron:write")
    assert tokens.grants(["jobs:write"], "jobs:read")
    assert not tokens.grants(["jobs:read"], "jobs:write")
    assert not tokens.grants(["cron:write"], "jobs:read")
    assert tokens.parse_scopes(["jobs:read,jobs:write", "jobs:read"]) == ("jobs:read", "jobs:write")
    principal = tokens.Principal(1, "p", ("jobs:write",), plugin="a", store="s")
    assert not principal.may_schedule("database_query") and principal.may_schedule("webhook")
    assert principal.binding_conflict("s", "a") is None
    assert principal.binding_conflict("t", None) is not None
    assert principal.binding_conflict(None, "b") is not None
    assert len(tokens.hash_secret("x")) == 64


def database_bytes(path: str) -> bytes:
    """The database file and its WAL (a fresh row may still live there)."""
    files = [Path(path), Path(path + "-wal")]
    return b"".join(f.read_bytes() for f in files if f.exists())


async def test_tokens_are_stored_as_hashes_only(api: Api) -> None:
    secret = await api.token("hashed", "jobs:read")
    found = await api.deck.store.token_by_hash(tokens.hash_secret(secret))
    assert found is not None and found.name == "hashed"
    db = api.deck.settings.database_url.removeprefix("sqlite:///")
    assert secret.encode() not in database_bytes(db)


async def test_first_run_prints_token_and_single_use_login_link(api: Api, tmp_path) -> None:
    deck = JobDeck(settings=Settings(database_url=f"sqlite:///{tmp_path}/first.db"))
    out = io.StringIO()
    try:
        secret = await print_first_run(deck, "127.0.0.1", 8123, out=out)
        assert secret and secret in out.getvalue()
        [admin] = await deck.tokens.list_tokens()
        assert admin.last_used_at is None  # printing it is not using it
        assert re.search(r"http://127\.0\.0\.1:8123/login\?code=\S+", out.getvalue())
        again = io.StringIO()
        assert await print_first_run(deck, "127.0.0.1", 8123, out=again) is None
        assert again.getvalue() == ""
    finally:
        await deck.close()


async def test_login_link_sets_session_cookie_once(api: Api) -> None:
    token = await api.deck.store.token_by_hash(tokens.hash_secret(api.admin))
    assert token is not None
    code = await api.deck.tokens.issue_grant("login", token.id, tokens.LOGIN_CODE_TTL)
    browser = api.client(follow_redirects=False)
    # The link's page posts the code back from this site (docs/ui.md, "Sessions").
    page = await browser.get(f"/login?code={code}")
    assert page.status_code == 200 and "set-cookie" not in page.headers
    response = await browser.post("/login", data={"code": code}, headers={"Origin": api.base_url})
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert "jobdeck_session=" in cookie and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "samesite=strict" in cookie.lower()
    assert code not in cookie and api.admin not in cookie
    jobs = await browser.get("/api/v1/jobs")
    assert jobs.status_code == 200
    home = await browser.get("/")
    assert home.status_code == 200 and "jobdeck" in home.text
    # Single use.
    origin = {"Origin": api.base_url}
    second = await api.client().post("/login", data={"code": code}, headers=origin)
    assert second.status_code == 401
    bogus = await api.client().post("/login", data={"code": "bogus"}, headers=origin)
    assert bogus.status_code == 401


async def test_session_cookie_csrf_origin_check(api: Api) -> None:
    browser = api.client()
    login = await browser.post("/api/v1/session", json={"token": api.admin})
    assert login.status_code == 200
    same = await browser.post(
        "/api/v1/jobs", json={"name": "n", "type": "t"}, headers={"Origin": api.base_url}
    )
    assert same.status_code == 201
    cross = await browser.post(
        "/api/v1/jobs", json={"name": "n", "type": "t"}, headers={"Origin": "http://evil.example"}
    )
    assert cross.status_code == 403
    bad_login = await api.client().post("/api/v1/session", json={"token": "nope"})
    assert bad_login.status_code == 401
    out = await browser.delete("/api/v1/session", headers={"Origin": api.base_url})
    assert out.status_code == 200
    assert (await browser.get("/api/v1/jobs")).status_code == 401


async def test_session_ends_with_its_token(api: Api) -> None:
    secret = await api.token("ui-user", "jobs:read")
    browser = api.client()
    await browser.post("/api/v1/session", json={"token": secret})
    assert (await browser.get("/api/v1/jobs")).status_code == 200
    await api.deck.store.revoke_token("ui-user", api.deck.clock.now())
    assert (await browser.get("/api/v1/jobs")).status_code == 401


async def test_ws_ticket_shape(api: Api, admin: httpx.AsyncClient) -> None:
    response = await admin.post("/api/v1/ws-ticket")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and body["expiresIn"] == 60 and len(body["ticket"]) > 20
    assert body["ticket"] != api.admin


async def test_token_admin_routes(api: Api, admin: httpx.AsyncClient) -> None:
    created = await admin.post(
        "/api/v1/tokens", json={"name": "ci", "scopes": ["jobs:read"], "store": "s1"}
    )
    assert created.status_code == 201
    secret = created.json()["token"]
    assert created.json()["data"]["store"] == "s1"
    listed = (await admin.get("/api/v1/tokens")).json()["data"]
    assert {"test-admin", "ci"} <= {t["name"] for t in listed}
    assert all(secret not in str(t) for t in listed)
    bad = await admin.post("/api/v1/tokens", json={"name": "x", "scopes": ["root"]})
    assert bad.status_code == 422 and "scope" in bad.json()["message"]
    dup = await admin.post("/api/v1/tokens", json={"name": "ci", "scopes": ["jobs:read"]})
    assert dup.status_code == 409
    assert (await admin.delete("/api/v1/tokens/ci")).status_code == 200
    assert (await api.client(secret).get("/api/v1/jobs")).status_code == 401
    assert (await admin.delete("/api/v1/tokens/ci")).status_code == 404


async def test_token_list_shows_when_each_token_was_last_used(
    api: Api, admin: httpx.AsyncClient
) -> None:
    created = await admin.post("/api/v1/tokens", json={"name": "ci", "scopes": ["jobs:read"]})
    secret = created.json()["token"]

    def last_used(listed: httpx.Response) -> str | None:
        [ci] = [t for t in listed.json()["data"] if t["name"] == "ci"]
        return ci["lastUsedAt"]  # type: ignore[no-any-return]

    assert last_used(await admin.get("/api/v1/tokens")) is None
    assert (await api.client(secret).get("/api/v1/jobs")).status_code == 200
    first = last_used(await admin.get("/api/v1/tokens"))
    assert first is not None and first.endswith("Z")
    assert (await api.client(secret).get("/api/v1/jobs")).status_code == 200
    assert last_used(await admin.get("/api/v1/tokens")) == first  # a write a minute at most


async def test_env_admin_token(make_api: MakeApi, tmp_path) -> None:
    api = await make_api()
    await api.deck.tokens.sync_env_admin("jdk_from-the-environment")
    client = api.client("jdk_from-the-environment")
    assert (await client.get("/api/v1/tokens")).status_code == 200
    # A changed variable revokes the old value on the next start.
    await api.deck.tokens.sync_env_admin("jdk_rotated")
    assert (await client.get("/api/v1/jobs")).status_code == 401
    assert (await api.client("jdk_rotated").get("/api/v1/jobs")).status_code == 200
    await api.deck.tokens.sync_env_admin(None)
    assert (await api.client("jdk_rotated").get("/api/v1/jobs")).status_code == 401


async def test_health_metrics_openapi(api: Api, admin: httpx.AsyncClient) -> None:
    health = await api.client().get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    await admin.post("/api/v1/jobs", json={"name": "n", "type": "t"})
    metrics = await admin.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'jobdeck_jobs{status="pending"} 1.0' in metrics.text
    assert "jobdeck_http_requests_total" in metrics.text
    assert 'route="/api/v1/jobs"' in metrics.text
    spec = (await api.client().get("/openapi.json")).json()
    paths = spec["paths"]
    for path in (
        "/api/v1/jobs",
        "/api/v1/jobs/{jobId}",
        "/api/v1/jobs/cleanup",
        "/api/v1/ws-ticket",
        "/api/background-jobs/schedule",
        "/api/background-jobs/{id}/status",
        "/api/background-jobs/stats",
        "/health",
        "/metrics",
    ):
        assert path in paths, path


async def test_no_secret_reaches_the_logs(api: Api, caplog) -> None:
    token = await api.deck.store.token_by_hash(tokens.hash_secret(api.admin))
    assert token is not None
    code = await api.deck.tokens.issue_grant("login", token.id, tokens.LOGIN_CODE_TTL)
    caplog.set_level("DEBUG")
    caplog.set_level("INFO", logger="uvicorn.error")
    await api.client(api.admin).get("/api/v1/jobs")
    await api.client(follow_redirects=False).get(f"/login?code={code}")
    ticket = (await api.client(api.admin).post("/api/v1/ws-ticket")).json()["ticket"]
    async with connect(f"{api.ws_url}?ticket={ticket}") as ws:
        await ws.recv()
    with contextlib.suppress(InvalidStatus):
        async with connect(f"{api.ws_url}?token={api.admin}"):
            pass
    # Server-side loggers only (the test's own HTTP client logs its URLs).
    text = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith(("jobdeck", "uvicorn"))
    )
    assert api.admin not in text and code not in text and ticket not in text
    assert "WebSocket /ws?[redacted]" in text
    assert "/api/v1/jobs" in text


async def test_plugin_routes_are_authenticated_like_the_api(make_api: MakeApi) -> None:
    from types import SimpleNamespace

    from fastapi.responses import JSONResponse

    from jobdeck.api.server import plugin_router
    from jobdeck.plugins import PluginRoute

    async def sync() -> JSONResponse:
        return JSONResponse({"synced": True})

    plugins = SimpleNamespace(routes=[PluginRoute("/api/my-plugin/sync", sync, ("POST",), "p")])
    api = await make_api(routers=[plugin_router(plugins)])
    assert (await api.client().post("/api/my-plugin/sync")).status_code == 401
    # The default scope is jobs:read (docs/internals.md).
    other = api.client(await api.token("other", "cron:read"))
    assert (await other.post("/api/my-plugin/sync")).status_code == 403
    reader = api.client(await api.token("any", "jobs:read"))
    response = await reader.post("/api/my-plugin/sync")
    assert response.status_code == 200 and response.json() == {"synced": True}
