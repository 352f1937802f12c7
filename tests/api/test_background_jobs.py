"""``/api/background-jobs`` over real HTTP (docs/api.md)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest

from jobdeck.handlers.base import BaseJobHandler

from .conftest import Api, MakeApi

TYPE = "plugin:my-plugin:import"


class MyImportJob(BaseJobHandler):
    async def execute(self) -> dict:
        source = self.job.payload["source"]
        self.log(f"Starting import from {source}")
        await self.update_progress(10, "Fetching data...")
        await self.update_progress(50, "Processing 0 items...")
        await self.update_progress(100, "Import completed")
        return {"total": 0, "successful": 0, "failed": 0}


class SlowJob(BaseJobHandler):
    async def execute(self) -> None:
        for i in range(200):
            await self.update_progress(i / 2, "working")
            await asyncio.sleep(0.05)


@pytest.fixture
async def worker_api(make_api: MakeApi) -> AsyncIterator[Api]:
    api = await make_api()
    api.deck.register_job_type(TYPE, MyImportJob)
    api.deck.register_job_type("slow", SlowJob)
    task = asyncio.create_task(api.deck.run_worker(concurrency=2))
    yield api
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


SEED_BODY = {
    "type": "plugin:my-plugin:import",
    "payload": {
        "source": "external-api",
        "importType": "products",
        "filters": {"category": "electronics"},
    },
    "priority": "normal",
    "maxRetries": 3,
    "storeId": "store-uuid",
    "metadata": {
        "pluginId": "your-plugin-uuid",
        "description": "Importing electronics from API",
    },
}


async def test_seed2_schedule_then_poll_until_completed(worker_api: Api) -> None:
    client = worker_api.client(worker_api.admin)
    response = await client.post(
        "/api/background-jobs/schedule",
        json=SEED_BODY,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text
    data = response.json()
    assert data["success"] is True and data["message"] == "Job scheduled successfully"
    assert set(data["job"]) == {"id", "type", "priority", "status", "scheduled_at", "store_id"}
    assert data["job"]["type"] == TYPE and data["job"]["priority"] == "normal"
    assert data["job"]["store_id"] == "store-uuid" and data["job"]["status"] == "pending"
    job_id = data["job"]["id"]
    assert len(job_id) == 36  # the UUID

    status: dict = {}
    for _ in range(250):
        polled = await client.get(f"/api/background-jobs/{job_id}/status")
        assert polled.status_code == 200
        status = polled.json()
        if status["job"]["status"] in ("completed", "failed"):
            break
        await asyncio.sleep(0.04)
    assert status["success"] is True
    assert set(status["job"]) == {
        "id", "type", "status", "progress", "progress_message", "result", "last_error"
    }  # fmt: skip
    assert status["job"]["status"] == "completed"
    assert status["job"]["progress"] == 100
    assert status["job"]["progress_message"] == "Import completed"
    assert status["job"]["result"] == {"total": 0, "successful": 0, "failed": 0}
    assert status["job"]["last_error"] is None

    detail = (await client.get(f"/api/background-jobs/{job_id}")).json()["job"]
    assert detail["id"] == job_id and detail["job_id"] == job_id
    assert detail["metadata"]["pluginId"] == "your-plugin-uuid"
    assert detail["plugin_id"] == "your-plugin-uuid"
    assert detail["description"] == "Importing electronics from API"
    assert {"progress_message", "max_retries", "created_at", "history"} <= set(detail)
    assert all("_" in k or k.islower() for k in detail)  # snake_case throughout
    kinds = [e["kind"] for e in detail["history"]]
    assert "created" in kinds and "log" in kinds and "completed" in kinds

    history = (await client.get(f"/api/background-jobs/{job_id}/history")).json()
    assert history["success"] is True and history["job_id"] == job_id
    assert [e["kind"] for e in history["history"]] == kinds
    assert set(history["history"][0]) == {"id", "job_id", "kind", "message", "data", "created_at"}


async def test_schedule_validation(worker_api: Api) -> None:
    client = worker_api.client(worker_api.admin)
    unknown = await client.post("/api/background-jobs/schedule", json={"type": "nope"})
    assert unknown.status_code == 400 and "nope" in unknown.json()["message"]
    bad_priority = await client.post(
        "/api/background-jobs/schedule", json={"type": TYPE, "priority": "asap"}
    )
    assert bad_priority.status_code == 422 and "priority" in bad_priority.json()["message"]
    bad_delay = await client.post("/api/background-jobs/schedule", json={"type": TYPE, "delay": -1})
    assert bad_delay.status_code == 422 and "delay" in bad_delay.json()["message"]
    no_type = await client.post("/api/background-jobs/schedule", json={"payload": {}})
    assert no_type.status_code == 422 and "type" in no_type.json()["message"]
    admin_only = worker_api.client(await worker_api.token("w", "jobs:write"))
    for kind in ("database_query", "cleanup"):
        denied = await admin_only.post("/api/background-jobs/schedule", json={"type": kind})
        assert denied.status_code == 403 and "admin" in denied.json()["message"]


async def test_delay_is_milliseconds(make_api: MakeApi) -> None:
    api = await make_api()
    api.deck.register_job_type(TYPE, MyImportJob)
    client = api.client(api.admin)
    response = await client.post(
        "/api/background-jobs/schedule",
        json={"type": TYPE, "payload": {"source": "x"}, "delay": 60000},
    )
    job = (await client.get(f"/api/background-jobs/{response.json()['job']['id']}")).json()["job"]
    from datetime import datetime

    run_at = datetime.fromisoformat(job["run_at"])
    created = datetime.fromisoformat(job["created_at"])
    assert 59 <= (run_at - created).total_seconds() <= 61
    assert response.json()["job"]["scheduled_at"] == job["run_at"]


async def test_cancel_queue_status_stats_and_lists(worker_api: Api) -> None:
    client = worker_api.client(worker_api.admin)
    slow = (
        await client.post("/api/background-jobs/schedule", json={"type": "slow", "storeId": "s9"})
    ).json()["job"]["id"]

    async def running() -> bool:
        body = (await client.get(f"/api/background-jobs/{slow}/status")).json()
        return body["job"]["status"] == "running"

    from .conftest import wait_for

    await wait_for(running)
    queue = await client.get("/api/background-jobs/status")
    assert queue.status_code == 200
    body = queue.json()
    assert body["success"] is True and body["queue"]["running"] == 1
    assert body["queue"]["total"] >= 1 and "slow" in body["job_types"]
    assert [j["id"] for j in body["running_jobs"]] == [slow]

    stats = await client.get("/api/background-jobs/stats")
    assert stats.status_code == 200 and stats.json()["stats"]["by_status"]["running"] == 1

    recent = await client.get("/api/background-jobs/activity/recent")
    assert recent.status_code == 200 and recent.json()["jobs"][0]["id"] == slow

    by_store = await client.get("/api/background-jobs/store/s9")
    assert by_store.status_code == 200
    assert by_store.json()["total"] == 1 and by_store.json()["jobs"][0]["store_id"] == "s9"
    assert (await client.get("/api/background-jobs/store/other")).json()["total"] == 0

    cancelled = await client.post(f"/api/background-jobs/{slow}/cancel")
    assert cancelled.status_code == 200
    body = cancelled.json()
    assert body["success"] is True and body["job"]["id"] == slow
    assert set(body["job"]) == {"id", "status", "cancelled_at"}
    assert body["job"]["status"] in ("cancelling", "cancelled")

    async def stopped() -> bool:
        body = (await client.get(f"/api/background-jobs/{slow}/status")).json()
        return body["job"]["status"] == "cancelled"

    await wait_for(stopped)
    again = await client.post(f"/api/background-jobs/{slow}/cancel")
    assert again.status_code == 409


async def test_unknown_ids_and_scoping(worker_api: Api) -> None:
    client = worker_api.client(worker_api.admin)
    ghost = "00000000-0000-0000-0000-000000000000"
    for path in (f"/{ghost}", f"/{ghost}/status", f"/{ghost}/history"):
        assert (await client.get("/api/background-jobs" + path)).status_code == 404
    assert (await client.post(f"/api/background-jobs/{ghost}/cancel")).status_code == 404

    bound = worker_api.client(await worker_api.token("b", "jobs:write", store="mine"))
    mine = await bound.post(
        "/api/background-jobs/schedule", json={"type": TYPE, "payload": {"source": "a"}}
    )
    assert mine.json()["job"]["store_id"] == "mine"
    theirs = await client.post(
        "/api/background-jobs/schedule",
        json={"type": TYPE, "storeId": "x", "payload": {"source": "b"}},
    )
    theirs_id = theirs.json()["job"]["id"]
    assert (await bound.get(f"/api/background-jobs/{theirs_id}/status")).status_code == 404
    assert (await bound.post(f"/api/background-jobs/{theirs_id}/cancel")).status_code == 404
    assert (await bound.get("/api/background-jobs/store/x")).status_code == 403
    conflict = await bound.post(
        "/api/background-jobs/schedule", json={"type": TYPE, "storeId": "x"}
    )
    assert conflict.status_code == 403
    stats = (await bound.get("/api/background-jobs/stats")).json()["stats"]
    assert stats["total"] == 1
    reader = worker_api.client(await worker_api.token("r", "jobs:read"))
    assert (await reader.get("/api/background-jobs/stats")).status_code == 200
    assert (
        await reader.post("/api/background-jobs/schedule", json={"type": TYPE})
    ).status_code == 403
    assert (await worker_api.client().get("/api/background-jobs/stats")).status_code == 401


async def test_seed2_status_without_token_is_401(api: Api) -> None:
    async with httpx.AsyncClient(base_url=api.base_url) as anonymous:
        response = await anonymous.get("/api/background-jobs/status")
    assert response.status_code == 401
    assert response.json()["success"] is False


async def test_v1_retry_of_a_cancelled_queued_job(make_api: MakeApi) -> None:
    api = await make_api()
    api.deck.register_job_type(TYPE, MyImportJob)
    client = api.client(api.admin)
    scheduled = await client.post(
        "/api/background-jobs/schedule", json={"type": TYPE, "payload": {"source": "x"}}
    )
    job_id = scheduled.json()["job"]["id"]
    cancelled = await client.post(f"/api/background-jobs/{job_id}/cancel")
    assert cancelled.json()["job"]["status"] == "cancelled"
    assert cancelled.json()["job"]["cancelled_at"] is not None
    retried = await client.post(f"/api/v1/jobs/{job_id}/retry")
    assert retried.status_code == 200
    job = retried.json()["data"]
    assert job["status"] == "pending" and job["mode"] == "queued" and job["errorMessage"] is None
    reader = api.client(await api.token("reader", "jobs:read"))
    assert (await reader.post(f"/api/v1/jobs/{job_id}/retry")).status_code == 403
