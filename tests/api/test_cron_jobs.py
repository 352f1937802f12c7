"""``/api/cron-jobs`` over real HTTP, on SQLite and PostgreSQL (docs/api-cron.md,
docs/cron.md, docs/security.md)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import Request
from fastapi.responses import JSONResponse

from jobdeck.api import attach_api_calls, plugin_router
from jobdeck.domain.schedule import CronDefinition
from jobdeck.handlers.base import BaseJobHandler
from jobdeck.plugins import PluginRoute

from .conftest import Api, MakeApi

# Seed 2's "Creating Scheduled Jobs" body, exactly as the guide writes it.
SEED_BODY = {
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
}

CRON_KEYS = {f.name for f in dataclasses.fields(CronDefinition)} | {
    "id",
    "is_paused",
    "description_human",
    "next_run_at",
    "last_run_at",
    "last_status",
    "last_error",
    "run_count",
    "success_count",
    "failure_count",
    "consecutive_failures",
    "created_by",
    "declared_by",
    "created_at",
    "updated_at",
    "next_runs",
}
EXECUTION_KEYS = {
    "id",
    "cron_job_id",
    "scheduled_for",
    "started_at",
    "completed_at",
    "duration_ms",
    "status",
    "result",
    "error_message",
    "triggered_by",
    "triggered_by_user",
    "server_instance",
    "job_id",
    "job",
}


class CleanupStub(BaseJobHandler):
    """Stands in for the built-in cleanup type."""

    admin_only = True

    async def execute(self) -> None:
        return None


class Report(BaseJobHandler):
    """Builds a report.

    More text that the types list does not show."""

    config_schema = {"type": "object", "properties": {"day": {"type": "string"}}}

    async def execute(self) -> dict[str, Any]:
        return {"ok": True}


def register_test_types(api: Api) -> None:
    deck = api.deck
    if "cleanup" not in deck.job_types():  # the built-in one is fine too
        deck.register_job_type("cleanup", CleanupStub)
    deck.register_job_type("report", Report)


async def called(request: Request) -> JSONResponse:
    """The seed's plugin route, for the built-in api_call type."""
    return JSONResponse({"called": request.url.path})


@pytest.fixture
async def capi(make_api: MakeApi, database_url: str) -> Api:
    routes = [PluginRoute("/api/my-plugin/sync", called, ("POST",), "your-plugin", "jobs:write")]
    router = plugin_router(SimpleNamespace(routes=routes))
    api = await make_api(database_url=database_url, routers=[router])
    attach_api_calls(api.deck, api.app, router.routes)
    register_test_types(api)
    return api


@pytest.fixture
def admin(capi: Api) -> httpx.AsyncClient:
    return capi.client(capi.admin)


def body(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "cron_expression": "*/5 * * * *", "job_type": "report", **fields}


async def create(client: httpx.AsyncClient, name: str, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/cron-jobs", json=body(name, **fields))
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()["job"]
    return job


def utc(text: str) -> datetime:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text)


# --- create -------------------------------------------------------------------


async def test_seed_body_creates_and_a_repeat_answers_409_with_the_same_id(
    capi: Api, admin: httpx.AsyncClient
) -> None:
    response = await admin.post(
        "/api/cron-jobs", json=SEED_BODY, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 201, response.text
    data = response.json()
    assert data["success"] is True
    job = data["job"]
    assert isinstance(job["id"], int)  # the seed's data.job.id
    assert set(job) == CRON_KEYS
    for key, value in SEED_BODY.items():
        assert job[key] == value, key
    assert job["priority"] == "normal" and job["tags"] == [] and job["max_retries"] == 0
    assert job["show_notification"] is False and job["max_failures"] == 5
    assert job["timeout_seconds"] == 300 and job["misfire_policy"] == "fire_once"
    assert job["overlap_policy"] == "skip" and job["misfire_grace_seconds"] == 60
    assert job["is_paused"] is False and job["run_count"] == 0 and job["last_status"] is None
    assert job["created_by"].startswith("token:") and job["created_by"].endswith(":test-admin")
    assert "02:00" in job["description_human"] or "2:00" in job["description_human"]
    runs = [utc(at) for at in job["next_runs"]]
    assert len(runs) == 5 and runs == sorted(runs)
    assert all((at.hour, at.minute) == (2, 0) for at in runs)
    assert job["next_run_at"] == job["next_runs"][0]

    again = await admin.post("/api/cron-jobs", json=SEED_BODY)
    assert again.status_code == 409
    clash = again.json()
    assert clash["success"] is False and clash["message"]
    assert clash["job"]["id"] == job["id"] and set(clash["job"]) == CRON_KEYS

    # The key is (plugin_id, store_id, name): another store may use the name.
    other = await admin.post("/api/cron-jobs", json={**SEED_BODY, "store_id": "store-2"})
    assert other.status_code == 201 and other.json()["job"]["id"] != job["id"]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"cron_expression": "61 * * * *"}, "minute"),
        ({"cron_expression": "every day"}, "cron_expression"),
        ({"timezone": "Mars/Olympus_Mons"}, "Mars/Olympus_Mons"),
        ({"job_type": "no-such-type"}, "no-such-type"),
        ({"configuration": "not an object"}, "configuration"),
        ({"job_type": "report", "configuration": {"day": 5}}, "configuration.day"),
        ({"configuration": {"key": "nul\x00"}}, "configuration"),
        ({"misfire_policy": "sometimes"}, "misfire_policy"),
        ({"priority": "asap"}, "priority"),
        ({"tags": "a,b"}, "tags"),
        ({"max_runs": 0}, "max_runs"),
        ({"cron_expresion": "* * * * *"}, "cron_expresion"),  # a typo is named
        ({"name": None}, "name"),
    ],
)
async def test_invalid_fields_answer_400_naming_the_problem(
    admin: httpx.AsyncClient, change: dict[str, Any], named: str
) -> None:
    response = await admin.post("/api/cron-jobs", json={**SEED_BODY, **change})
    assert response.status_code == 400, response.text
    assert response.json()["success"] is False
    assert named in response.json()["message"]


async def test_non_object_body_is_refused(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/api/cron-jobs", json=["no"])
    assert response.status_code == 422 and response.json()["success"] is False
    response = await admin.post("/api/cron-jobs", content=b"{", headers={"content-type": "x"})
    assert response.status_code in (400, 422)


# --- read, list ---------------------------------------------------------------


async def test_list_pages_filters_and_sorts_before_paging(admin: httpx.AsyncClient) -> None:
    for i in range(25):
        tags = ["nightly"] if i % 5 == 0 else []
        kind = "api_call" if i % 2 else "report"
        config = {"url": "/api/my-plugin/sync"} if i % 2 else {}
        await create(admin, f"sched-{i:02d}", job_type=kind, tags=tags, configuration=config)
    await create(admin, "Special Export", description="exports the catalogue")

    page = await admin.get("/api/cron-jobs", params={"page": 2, "limit": 10})
    assert page.status_code == 200
    data = page.json()["data"]
    assert data["pagination"] == {"current_page": 2, "per_page": 10, "total": 26, "total_pages": 3}
    assert len(data["cron_jobs"]) == 10 and all(set(c) == CRON_KEYS for c in data["cron_jobs"])
    last = (await admin.get("/api/cron-jobs", params={"page": 3, "limit": 10})).json()["data"]
    assert len(last["cron_jobs"]) == 6

    by_name = await admin.get(
        "/api/cron-jobs", params={"sort_by": "name", "sort_order": "asc", "limit": 100}
    )
    names = [c["name"] for c in by_name.json()["data"]["cron_jobs"]]
    assert names == sorted(names)

    kind = await admin.get("/api/cron-jobs", params={"job_type": "api_call", "limit": 5})
    kind_data = kind.json()["data"]
    assert kind_data["pagination"]["total"] == 12 and len(kind_data["cron_jobs"]) == 5
    assert all(c["job_type"] == "api_call" for c in kind_data["cron_jobs"])

    found = await admin.get("/api/cron-jobs", params={"search": "CATALOGUE"})
    assert [c["name"] for c in found.json()["data"]["cron_jobs"]] == ["Special Export"]

    tagged = await admin.get("/api/cron-jobs", params={"tags": "nightly"})
    assert tagged.json()["data"]["pagination"]["total"] == 5

    first = names[0]
    first_id = next(c["id"] for c in by_name.json()["data"]["cron_jobs"] if c["name"] == first)
    assert (await admin.post(f"/api/cron-jobs/{first_id}/pause")).status_code == 200
    paused = (await admin.get("/api/cron-jobs", params={"status": "paused"})).json()["data"]
    assert [c["id"] for c in paused["cron_jobs"]] == [first_id]
    active = (await admin.get("/api/cron-jobs", params={"status": "active"})).json()["data"]
    assert active["pagination"]["total"] == 25

    for params, named in (
        ({"sort_by": "colour"}, "sort_by"),
        ({"sort_order": "sideways"}, "sort_order"),
        ({"status": "sleeping"}, "status"),
    ):
        bad = await admin.get("/api/cron-jobs", params=params)
        assert bad.status_code == 400 and named in bad.json()["message"]
    assert (await admin.get("/api/cron-jobs", params={"limit": 0})).status_code == 422


async def test_get_update_pause_resume_delete(admin: httpx.AsyncClient) -> None:
    job = await create(admin, "nightly", tags=["a"])
    cron_id = job["id"]
    got = (await admin.get(f"/api/cron-jobs/{cron_id}")).json()
    assert got["success"] is True and got["job"] == {**job, "next_runs": got["job"]["next_runs"]}
    assert got["executions"] == []

    changed = await admin.put(
        f"/api/cron-jobs/{cron_id}",
        json={"cron_expression": "0 3 * * *", "timezone": "Europe/Berlin", "tags": ["a", "b"]},
    )
    assert changed.status_code == 200, changed.text
    updated = changed.json()["job"]
    assert updated["cron_expression"] == "0 3 * * *" and updated["tags"] == ["a", "b"]
    assert updated["name"] == "nightly" and updated["timezone"] == "Europe/Berlin"
    assert all(utc(at).hour in (1, 2) for at in updated["next_runs"])  # 03:00 in Berlin

    # A form that edits what GET returned may send it all back: read-only keys ignored.
    round_trip = await admin.put(
        f"/api/cron-jobs/{cron_id}", json={**updated, "description": "edited"}
    )
    assert round_trip.status_code == 200, round_trip.text
    assert round_trip.json()["job"]["description"] == "edited"

    bad = await admin.put(f"/api/cron-jobs/{cron_id}", json={"cron_expression": "* * *"})
    assert bad.status_code == 400 and "cron_expression" in bad.json()["message"]

    paused = (await admin.post(f"/api/cron-jobs/{cron_id}/pause")).json()["job"]
    assert paused["is_paused"] is True and paused["next_runs"] == []
    assert paused["next_run_at"] is None
    resumed = (await admin.post(f"/api/cron-jobs/{cron_id}/resume")).json()["job"]
    assert resumed["is_paused"] is False and len(resumed["next_runs"]) == 5

    inactive = (await admin.put(f"/api/cron-jobs/{cron_id}", json={"is_active": False})).json()
    assert inactive["job"]["is_active"] is False and inactive["job"]["next_runs"] == []

    deleted = await admin.delete(f"/api/cron-jobs/{cron_id}")
    assert deleted.status_code == 200 and deleted.json()["success"] is True
    for response in (
        await admin.get(f"/api/cron-jobs/{cron_id}"),
        await admin.put(f"/api/cron-jobs/{cron_id}", json={"name": "x"}),
        await admin.delete(f"/api/cron-jobs/{cron_id}"),
        await admin.post(f"/api/cron-jobs/{cron_id}/pause"),
        await admin.post(f"/api/cron-jobs/{cron_id}/execute"),
        await admin.get(f"/api/cron-jobs/{cron_id}/executions"),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["success"] is False
    assert (await admin.get("/api/cron-jobs/not-a-number")).status_code == 422


async def test_rename_onto_a_taken_name_is_409_with_the_holder(admin: httpx.AsyncClient) -> None:
    first = await create(admin, "first")
    second = await create(admin, "second")
    clash = await admin.put(f"/api/cron-jobs/{second['id']}", json={"name": "first"})
    assert clash.status_code == 409 and clash.json()["job"]["id"] == first["id"]


# --- run now, executions ------------------------------------------------------


async def test_run_now_creates_a_job_and_an_execution(capi: Api, admin: httpx.AsyncClient) -> None:
    job = await admin.post("/api/cron-jobs", json=SEED_BODY)
    cron_id = job.json()["job"]["id"]
    response = await admin.post(f"/api/cron-jobs/{cron_id}/execute")
    assert response.status_code == 200, response.text
    execution = response.json()["execution"]
    assert set(execution) == EXECUTION_KEYS
    assert execution["cron_job_id"] == cron_id and execution["status"] == "running"
    assert execution["triggered_by"] == "api" and execution["triggered_by_user"] == "test-admin"
    assert execution["server_instance"]
    run = execution["job"]
    assert run["id"] == execution["job_id"] and run["cron_job_id"] == cron_id
    assert run["type"] == "api_call" and run["name"] == "Daily Product Sync"
    assert run["store_id"] == "store-uuid" and run["plugin_id"] == "your-plugin-uuid"
    assert run["payload"] == SEED_BODY["configuration"] and run["status"] == "pending"

    await capi.deck.drain()
    listed = await admin.get(f"/api/cron-jobs/{cron_id}/executions")
    data = listed.json()["data"]
    assert data["pagination"] == {"current_page": 1, "per_page": 20, "total": 1, "total_pages": 1}
    [done] = data["executions"]
    assert done["id"] == execution["id"] and done["status"] == "success"
    assert done["result"]["json"] == {"called": "/api/my-plugin/sync"}
    assert done["job"]["status"] == "completed" and done["duration_ms"] is not None
    detail = (await admin.get(f"/api/cron-jobs/{cron_id}")).json()
    assert [e["id"] for e in detail["executions"]] == [execution["id"]]
    assert detail["job"]["last_status"] == "success" and detail["job"]["success_count"] == 1
    assert detail["job"]["run_count"] == 0  # manual runs do not count toward max_runs

    # Once its job is cleaned up, the execution keeps its own record: job null.
    await capi.deck.delete_job(execution["job_id"])
    kept = (await admin.get(f"/api/cron-jobs/{cron_id}/executions")).json()["data"]
    assert kept["executions"][0]["job"] is None
    assert kept["executions"][0]["status"] == "success"


async def test_executions_are_paged_newest_first(capi: Api, admin: httpx.AsyncClient) -> None:
    cron_id = (await create(admin, "often"))["id"]
    ids = []
    for _ in range(12):
        run = await admin.post(f"/api/cron-jobs/{cron_id}/execute")
        ids.append(run.json()["execution"]["id"])
    page = await admin.get(f"/api/cron-jobs/{cron_id}/executions", params={"page": 2, "limit": 5})
    data = page.json()["data"]
    assert data["pagination"] == {"current_page": 2, "per_page": 5, "total": 12, "total_pages": 3}
    assert [e["id"] for e in data["executions"]] == list(reversed(ids))[5:10]
    detail = (await admin.get(f"/api/cron-jobs/{cron_id}")).json()
    assert [e["id"] for e in detail["executions"]] == list(reversed(ids))[:10]


async def test_run_now_from_the_ui_session_is_manual(capi: Api) -> None:
    browser = capi.client()
    assert (await browser.post("/api/v1/session", json={"token": capi.admin})).status_code == 200
    created = await browser.post(
        "/api/cron-jobs", json=body("from the ui"), headers={"Origin": capi.base_url}
    )
    assert created.status_code == 201, created.text
    cron_id = created.json()["job"]["id"]
    run = await browser.post(f"/api/cron-jobs/{cron_id}/execute", headers={"Origin": capi.base_url})
    assert run.status_code == 200, run.text
    assert run.json()["execution"]["triggered_by"] == "manual"
    assert run.json()["execution"]["triggered_by_user"] == "test-admin"
    cross = await browser.post(
        f"/api/cron-jobs/{cron_id}/execute", headers={"Origin": "http://evil.example"}
    )
    assert cross.status_code == 403


# --- types, preview -----------------------------------------------------------


async def test_types_list_every_registered_type(capi: Api, admin: httpx.AsyncClient) -> None:
    response = await admin.get("/api/cron-jobs/types")
    assert response.status_code == 200
    types = {t["type"]: t for t in response.json()["data"]}
    assert set(types) == set(capi.deck.job_types())
    assert all(set(t) == {"type", "description", "schema", "admin_only"} for t in types.values())
    assert types["report"] == {
        "type": "report",
        "description": "Builds a report.",
        "schema": Report.config_schema,
        "admin_only": False,
    }
    assert types["cleanup"]["admin_only"] is True and types["api_call"]["admin_only"] is False
    reader = capi.client(await capi.token("reader", "cron:read"))
    assert (await reader.get("/api/cron-jobs/types")).status_code == 200


async def test_preview(admin: httpx.AsyncClient) -> None:
    response = await admin.post(
        "/api/cron-jobs/preview", json={"cron_expression": "30 9 * * 1-5", "timezone": "UTC"}
    )
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["success"] is True and data["description_human"]
    runs = [utc(at) for at in data["next_runs"]]
    assert len(runs) == 5
    assert all(at.weekday() < 5 and (at.hour, at.minute) == (9, 30) for at in runs)
    for payload, named in (
        ({"cron_expression": "30 25 * * *"}, "hour"),
        ({"cron_expression": "@daily", "timezone": "Nowhere/Town"}, "Nowhere/Town"),
        ({}, "cron_expression"),
        ({"cron_expression": "@daily", "tz": "UTC"}, "tz"),
    ):
        bad = await admin.post("/api/cron-jobs/preview", json=payload)
        assert bad.status_code == 400, (payload, bad.text)
        assert named in bad.json()["message"]


# --- access -------------------------------------------------------------------


async def test_401_and_403(capi: Api, admin: httpx.AsyncClient) -> None:
    cron_id = (await create(admin, "guarded"))["id"]
    anonymous = capi.client()
    bad = capi.client("jdk_not-a-token")
    jobs_only = capi.client(await capi.token("jobs", "jobs:write"))
    reader = capi.client(await capi.token("cron-reader", "cron:read"))
    writer = capi.client(await capi.token("cron-writer", "cron:write"))
    reads = [("GET", "/api/cron-jobs"), ("GET", f"/api/cron-jobs/{cron_id}"),
             ("GET", f"/api/cron-jobs/{cron_id}/executions"),
             ("GET", "/api/cron-jobs/types")]  # fmt: skip
    writes = [("POST", "/api/cron-jobs"), ("PUT", f"/api/cron-jobs/{cron_id}"),
              ("DELETE", f"/api/cron-jobs/{cron_id}"), ("POST", f"/api/cron-jobs/{cron_id}/pause"),
              ("POST", f"/api/cron-jobs/{cron_id}/resume"),
              ("POST", f"/api/cron-jobs/{cron_id}/execute")]  # fmt: skip
    for method, path in reads + writes:
        assert (await anonymous.request(method, path)).status_code == 401, path
        assert (await bad.request(method, path)).status_code == 401, path
        assert (await jobs_only.request(method, path)).status_code == 403, path
    for method, path in reads:
        assert (await reader.request(method, path)).status_code == 200, path
        assert (await writer.request(method, path)).status_code == 200, path  # write ⊃ read
    for method, path in writes:
        response = await reader.request(method, path, json={})
        assert response.status_code == 403 and "cron:write" in response.json()["message"]

    made = await writer.post("/api/cron-jobs", json=body("by writer"))
    assert made.status_code == 201
    assert made.json()["job"]["created_by"].endswith(":cron-writer")


async def test_admin_only_types_and_secrets_need_admin(capi: Api, admin: httpx.AsyncClient) -> None:
    writer = capi.client(await capi.token("cron-writer", "cron:write"))
    cleanup = body("purge", job_type="cleanup", configuration={"target": "jobs"})
    refused = await writer.post("/api/cron-jobs", json=cleanup)
    assert refused.status_code == 403 and "cleanup" in refused.json()["message"]
    mine = await create(writer, "mine")
    moved = await writer.put(f"/api/cron-jobs/{mine['id']}", json={"job_type": "cleanup"})
    assert moved.status_code == 403
    secret = body("s", configuration={"headers": {"X-Key": "{{ secret:API_KEY }}"}})
    assert (await writer.post("/api/cron-jobs", json=secret)).status_code == 403

    purge = (await admin.post("/api/cron-jobs", json=cleanup)).json()["job"]
    for method, path in (
        ("POST", f"/api/cron-jobs/{purge['id']}/execute"),
        ("PUT", f"/api/cron-jobs/{purge['id']}"),
        ("POST", f"/api/cron-jobs/{purge['id']}/pause"),
        ("DELETE", f"/api/cron-jobs/{purge['id']}"),
    ):
        response = await writer.request(method, path, json={})
        assert response.status_code == 403, path
    assert (await writer.get(f"/api/cron-jobs/{purge['id']}")).status_code == 200


async def test_only_the_creator_or_an_admin_changes_what_a_schedule_does(
    capi: Api, admin: httpx.AsyncClient
) -> None:
    """Its jobs run as its creator: another token editing the configuration would
    borrow the creator's rights."""
    owned = await create(admin, "admin's")
    writer = capi.client(await capi.token("cron-writer", "cron:write"))
    path = f"/api/cron-jobs/{owned['id']}"
    for change in ({"configuration": {"url": "/elsewhere"}}, {"job_type": "api_call"}):
        refused = await writer.put(path, json=change)
        assert refused.status_code == 403, change
        assert "creator" in refused.json()["message"]
    described = await writer.put(path, json={"description": "renamed", **owned})
    assert described.status_code == 200  # the same work, described differently
    mine = await create(writer, "writer's")
    changed = await writer.put(f"/api/cron-jobs/{mine['id']}", json={"configuration": {"x": 1}})
    assert changed.status_code == 200


async def test_bound_tokens_keep_to_their_own_schedules(
    capi: Api, admin: httpx.AsyncClient
) -> None:
    plugin = capi.client(await capi.token("p1", "cron:write", plugin="p1"))
    store = capi.client(await capi.token("s1", "cron:write", store="s1"))
    other = await create(admin, "someone else's", plugin_id="p2")

    own = await create(plugin, "mine")
    assert own["plugin_id"] == "p1" and own["store_id"] is None
    in_store = await create(store, "store job", plugin_id="p9")
    assert in_store["store_id"] == "s1" and in_store["plugin_id"] == "p9"
    same = await create(plugin, "explicit", plugin_id="p1")
    assert same["plugin_id"] == "p1"

    conflict = await plugin.post("/api/cron-jobs", json=body("x", plugin_id="p2"))
    assert conflict.status_code == 403 and "plugin_id" in conflict.json()["message"]
    conflict = await store.post("/api/cron-jobs", json=body("x", store_id="s2"))
    assert conflict.status_code == 403 and "store_id" in conflict.json()["message"]
    # Sending null does not move a schedule out of the binding.
    kept = await plugin.put(f"/api/cron-jobs/{own['id']}", json={"plugin_id": None})
    assert kept.status_code == 200 and kept.json()["job"]["plugin_id"] == "p1"
    moved = await plugin.put(f"/api/cron-jobs/{own['id']}", json={"plugin_id": "p2"})
    assert moved.status_code == 403

    listed = (await plugin.get("/api/cron-jobs")).json()["data"]
    assert {c["id"] for c in listed["cron_jobs"]} == {own["id"], same["id"]}
    assert listed["pagination"]["total"] == 2
    wrong = await plugin.get("/api/cron-jobs", params={"plugin_id": "p2"})
    assert wrong.status_code == 403
    assert (await store.get("/api/cron-jobs")).json()["data"]["pagination"]["total"] == 1
    everything = (await admin.get("/api/cron-jobs", params={"plugin_id": "p2"})).json()["data"]
    assert [c["id"] for c in everything["cron_jobs"]] == [other["id"]]

    for method, path in (
        ("GET", f"/api/cron-jobs/{other['id']}"),
        ("PUT", f"/api/cron-jobs/{other['id']}"),
        ("DELETE", f"/api/cron-jobs/{other['id']}"),
        ("POST", f"/api/cron-jobs/{other['id']}/pause"),
        ("POST", f"/api/cron-jobs/{other['id']}/resume"),
        ("POST", f"/api/cron-jobs/{other['id']}/execute"),
        ("GET", f"/api/cron-jobs/{other['id']}/executions"),
    ):
        response = await plugin.request(method, path, json={})
        assert response.status_code == 404, (method, path, response.text)
    assert (await admin.get(f"/api/cron-jobs/{other['id']}")).json()["job"]["is_paused"] is False

    run = await plugin.post(f"/api/cron-jobs/{own['id']}/execute")
    assert run.status_code == 200 and run.json()["execution"]["job"]["plugin_id"] == "p1"


async def test_openapi_documents_the_cron_routes(admin: httpx.AsyncClient) -> None:
    spec = (await admin.get("/openapi.json")).json()
    paths = spec["paths"]
    for path in ("/api/cron-jobs", "/api/cron-jobs/types", "/api/cron-jobs/preview",
                 "/api/cron-jobs/{id}", "/api/cron-jobs/{id}/execute",
                 "/api/cron-jobs/{id}/executions"):  # fmt: skip
        assert path in paths, path
    schema = paths["/api/cron-jobs"]["post"]["requestBody"]["content"]["application/json"]
    assert "cron_expression" in schema["schema"]["properties"]
