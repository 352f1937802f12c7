"""``api_call`` (docs/builtin-types.md): a plugin route, in process, as the job's creator."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import Request
from fastapi.responses import JSONResponse

from jobdeck import JobDeck, Settings
from jobdeck.api import attach_api_calls, plugin_router
from jobdeck.api.in_process import IN_PROCESS
from jobdeck.plugins import PluginRoute

from .conftest import Api, MakeApi, wait_for

SEEN: list[dict[str, Any]] = []


async def whoami(request: Request) -> JSONResponse:
    principal = request.state.principal
    seen = {
        "caller": principal.name,
        "created_by": principal.created_by,
        "plugin": principal.plugin,
        "plugin_key": request.headers.get("x-plugin-key"),
        "authorization": request.headers.get("authorization"),
        "body": (await request.body()).decode(),
    }
    SEEN.append(seen)
    return JSONResponse(seen)


ROUTES = [
    PluginRoute("/api/my-plugin/sync", whoami, ("POST",), "my-plugin", "jobs:write"),
    PluginRoute("/api/my-plugin/process", whoami, ("POST",), "my-plugin", "jobs:write"),
    PluginRoute("/api/my-plugin/admin", whoami, ("POST",), "my-plugin", "admin"),
]


@pytest.fixture
async def api(make_api: MakeApi) -> Api:
    SEEN.clear()
    router = plugin_router(SimpleNamespace(routes=ROUTES))
    api = await make_api(routers=[router])
    attach_api_calls(api.deck, api.app, router.routes)
    return api


async def schedule(client: httpx.AsyncClient, payload: dict[str, Any], **more: Any) -> str:
    response = await client.post(
        "/api/background-jobs/schedule", json={"type": "api_call", "payload": payload, **more}
    )
    assert response.status_code == 201, response.text
    job_id: str = response.json()["job"]["id"]
    return job_id


async def job_of(client: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    job: dict[str, Any] = (await client.get(f"/api/background-jobs/{job_id}")).json()["job"]
    return job


async def test_the_seed_example_reaches_the_plugin_route_as_its_creator(api: Api) -> None:
    client = api.client(await api.token("shop-sync", "jobs:write"))
    job_id = await schedule(
        client,
        {
            "url": "/api/my-plugin/process",
            "method": "POST",
            "headers": {"X-Plugin-Key": "secret-key"},
        },
    )
    await api.deck.drain()
    job = await job_of(client, job_id)
    assert job["status"] == "completed", job["error_message"]
    assert job["created_by"].startswith("token:") and job["created_by"].endswith(":shop-sync")
    assert job["result"]["status"] == 200
    [seen] = SEEN
    assert seen["caller"] == "shop-sync" and seen["created_by"] == job["created_by"]
    assert seen["plugin_key"] == "secret-key" and seen["authorization"] is None
    assert job["result"]["json"] == seen


async def test_a_route_needing_a_scope_the_creator_lacks_fails_without_retry(api: Api) -> None:
    client = api.client(await api.token("writer", "jobs:write"))
    job_id = await schedule(client, {"endpoint": "/api/my-plugin/admin"}, maxRetries=3)
    await api.deck.drain()
    job = await job_of(client, job_id)
    assert job["status"] == "failed" and job["attempt"] == 1
    assert "HTTP 403" in job["error_message"] and "admin" in job["error_message"]
    assert SEEN == []


async def test_a_revoked_creator_fails_the_job_without_retry(api: Api) -> None:
    secret = await api.token("short-lived", "jobs:write")
    job_id = await schedule(api.client(secret), {"url": "/api/my-plugin/sync"}, maxRetries=3)
    assert await api.deck.tokens.revoke_token("short-lived")
    await api.deck.drain()
    job = await job_of(api.client(api.admin), job_id)
    assert job["status"] == "failed" and job["attempt"] == 1
    assert "'short-lived'" in job["error_message"] and "revoked" in job["error_message"]
    assert SEEN == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"url": "/api/my-plugin/sync", "headers": {"Authorization": "Bearer x"}}, "headers"),
        ({"url": "/api/my-plugin/sync", "headers": {"cookie": "jobdeck_session=x"}}, "headers"),
        ({"url": "https://example.com/api"}, "payload.url"),
        ({"url": "//example.com/api"}, "payload.url"),
        ({"url": "/a", "endpoint": "/b"}, "payload.url"),
        ({"method": "POST"}, "payload.url"),
        ({"url": "/api/x/{{job.payload}}"}, "payload.url"),
    ],
)
async def test_credentials_and_absolute_urls_are_refused_at_creation(
    api: Api, payload: dict[str, Any], field: str
) -> None:
    client = api.client(await api.token("writer", "jobs:write"))
    response = await client.post(
        "/api/background-jobs/schedule", json={"type": "api_call", "payload": payload}
    )
    assert response.status_code == 400, response.text
    assert field in response.json()["message"]
    assert await api.deck.count_jobs() == 0


async def test_plugin_and_local_creators(api: Api) -> None:
    by_plugin = await api.deck.schedule_job(
        "api_call", {"url": "/api/my-plugin/sync"}, created_by="plugin:my-plugin"
    )
    local = await api.deck.schedule_job("api_call", {"url": "/api/my-plugin/admin"})
    plugin_on_admin = await api.deck.schedule_job(
        "api_call", {"url": "/api/my-plugin/admin"}, created_by="plugin:my-plugin"
    )
    await api.deck.drain()
    assert (await by_plugin.refresh()).status.value == "completed"
    assert (await local.refresh()).status.value == "completed"
    refused = await plugin_on_admin.refresh()
    assert refused.status.value == "failed" and "HTTP 403" in (refused.error_message or "")
    assert [(s["caller"], s["plugin"]) for s in SEEN] == [
        ("plugin:my-plugin", "my-plugin"),
        ("local", None),
    ]


async def test_only_plugin_routes_are_reachable(api: Api) -> None:
    job = await api.deck.schedule_job(
        "api_call", {"url": "/api/v1/tokens", "method": "POST", "body": {"name": "x"}}
    )
    await api.deck.drain()
    failed = await job.refresh()
    assert failed.status.value == "failed" and failed.attempt == 1
    assert "HTTP 404" in (failed.error_message or "")
    assert [t.name for t in await api.deck.tokens.list_tokens()] == ["test-admin"]


async def test_the_caller_cannot_come_from_the_network(api: Api) -> None:
    # Whatever a client sends, the scope key is the server's: no header reaches it.
    response = await api.client().post(
        "/api/my-plugin/sync", headers={IN_PROCESS: "local", "X-Jobdeck-Caller": "local"}
    )
    assert response.status_code == 401


async def test_api_call_as_a_cron_schedule_over_http(api: Api) -> None:
    client = api.client(await api.token("scheduler", "cron:write", "jobs:write"))
    created = await client.post(
        "/api/cron-jobs",
        json={
            "name": "Daily Product Sync",
            "description": "Syncs product data every day at 2 AM",
            "cron_expression": "0 2 * * *",
            "job_type": "api_call",
            "configuration": {
                "url": "/api/my-plugin/sync",
                "method": "POST",
                "headers": {"X-Plugin-Key": "your-plugin-key"},
            },
            "plugin_id": "your-plugin-uuid",
            "store_id": "store-uuid",
            "is_active": True,
            "timezone": "UTC",
        },
    )
    assert created.status_code == 201, created.text
    cron = created.json()["job"]
    run = await client.post(f"/api/cron-jobs/{cron['id']}/execute")
    assert run.status_code == 200, run.text
    await api.deck.drain()
    execution = (await client.get(f"/api/cron-jobs/{cron['id']}/executions")).json()
    [done] = execution["data"]["executions"]
    assert done["status"] == "success", done
    [seen] = SEEN
    assert seen["created_by"] == cron["created_by"] and seen["caller"] == "scheduler"
    assert seen["plugin_key"] == "your-plugin-key"


PLUGIN = """
from fastapi import Request
from fastapi.responses import JSONResponse


async def process(request: Request) -> JSONResponse:
    principal = request.state.principal
    return JSONResponse({"caller": principal.name, "pid": __import__("os").getpid()})


def setup(hooks):
    hooks.add_route("/api/my-plugin/process", process, methods=["POST"], scope="jobs:write")
"""


@pytest.mark.slow
async def test_api_call_works_from_a_jobdeck_worker_process(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "my_plugin.py").write_text(textwrap.dedent(PLUGIN))
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    env = {**os.environ, "JOBDECK_DATABASE_URL": url, "JOBDECK_PLUGINS_DIR": str(plugins)}
    async with JobDeck(settings=Settings(database_url=url)) as deck:
        _, secret = await deck.tokens.create_token("worker-test", ["jobs:write"])
        token = await deck.tokens.authenticate(secret)
        assert token is not None
        job = await deck.schedule_job(
            "api_call",
            {"url": "/api/my-plugin/process"},
            created_by=f"token:{token.id}:{token.name}",
        )
        worker = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "jobdeck"),
            "worker",
            "--concurrency",
            "2",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:

            async def done() -> bool:
                return (await job.refresh()).status.terminal

            await wait_for(done, timeout=60)
        finally:
            worker.terminate()
            _, err = await asyncio.wait_for(worker.communicate(), 30)
        finished = await job.refresh()
        assert finished.status.value == "completed", (finished.error_message, err.decode())
        assert finished.result["json"]["caller"] == "worker-test"
        assert finished.result["json"]["pid"] == worker.pid
