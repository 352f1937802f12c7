"""``/api/v1/jobs`` over real HTTP (docs/api.md)."""

from __future__ import annotations

from datetime import timedelta

import httpx

from jobdeck.clock import FrozenClock

from .conftest import Api

JOB_KEYS = {
    "id", "jobId", "name", "description", "type", "mode", "status", "priority", "progress",
    "progressMessage", "payload", "metadata", "result", "errorMessage", "iconSvg", "source",
    "pluginId", "storeId", "userId", "createdBy", "showNotification", "attempt", "maxRetries",
    "runAt", "startedAt", "completedAt", "createdAt", "updatedAt", "cronJobId", "etaSeconds",
    "rate", "timeoutSeconds",
}  # fmt: skip

ICON = """
    <svg xmlns="http://www.w3.org/2000/svg" width="20" height="20" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2">
      <path d="M21 16V8a2 2 0 0 0-1-1.73l-7-4a2 2 0 0 0-2 0l-7 4A2 2 0 0 0 3 8v8a2 2 0 0 0 1 1.73l7 4a2 2 0 0 0 2 0l7-4A2 2 0 0 0 21 16z"/>
    </svg>
"""  # noqa: E501 (seed 1's icon, as written)


async def create(client: httpx.AsyncClient, **fields: object) -> dict:
    body = {"name": "Export Users", "type": "export", **fields}
    response = await client.post("/api/v1/jobs", json=body)
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def test_seed1_create_exactly_as_written(api: Api, admin: httpx.AsyncClient) -> None:
    response = await admin.post(
        "/api/v1/jobs",
        headers={"Content-Type": "application/json"},
        content=b'{\n  "name": "Export Users",\n  "type": "export",\n'
        b'  "description": "Exporting all users to CSV",\n  "source": "admin-ui"\n}',
    )
    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True
    job = body["data"]
    assert set(job) == JOB_KEYS
    assert job["name"] == "Export Users" and job["type"] == "export"
    assert job["description"] == "Exporting all users to CSV" and job["source"] == "admin-ui"
    assert job["status"] == "pending" and job["mode"] == "tracked"
    assert job["priority"] == "normal" and job["progress"] == 0
    assert job["showNotification"] is True and job["timeoutSeconds"] == 300
    assert job["createdAt"].endswith("Z") and "T" in job["createdAt"]
    assert job["createdBy"] == "token:1:test-admin"  # make_api's admin: the first token


async def test_a_client_cannot_choose_created_by(api: Api, admin: httpx.AsyncClient) -> None:
    response = await admin.post(
        "/api/v1/jobs", json={"name": "n", "type": "t", "createdBy": "local"}
    )
    if response.status_code == 201:  # unknown fields ignored or refused: never taken
        assert response.json()["data"]["createdBy"] == "token:1:test-admin"
    else:
        assert response.status_code in (400, 422)
    response = await admin.post(
        "/api/background-jobs/schedule",
        json={"type": "cleanup", "payload": {"target": "jobs"}, "created_by": "local"},
    )
    if response.status_code == 201:
        job = (await admin.get(f"/api/background-jobs/{response.json()['job']['id']}")).json()
        assert job["job"]["created_by"] == "token:1:test-admin"
    else:
        assert response.status_code in (400, 422)


async def test_seed1_list_and_get(api: Api, admin: httpx.AsyncClient) -> None:
    running = await create(admin, name="Import Products", type="import")
    await admin.post(f"/api/v1/jobs/{running['jobId']}/start")
    await create(admin, name="Other", type="export")

    response = await admin.get("/api/v1/jobs?status=running&type=import&limit=50")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["total"] == 1 and body["limit"] == 50 and body["offset"] == 0
    [job] = body["data"]
    assert job["jobId"] == running["jobId"] and job["status"] == "running"

    one = await admin.get(f"/api/v1/jobs/{running['jobId']}")
    assert one.status_code == 200
    assert one.json() == {"success": True, "data": one.json()["data"]}
    assert one.json()["data"]["jobId"] == running["jobId"]


async def test_filters_apply_before_paging(api: Api, admin: httpx.AsyncClient) -> None:
    for i in range(7):
        await create(admin, name=f"job {i}", type="a" if i % 2 else "b", source="p1")
    page = (await admin.get("/api/v1/jobs", params={"type": "a", "limit": 2})).json()
    assert page["total"] == 3 and len(page["data"]) == 2
    rest = (await admin.get("/api/v1/jobs", params={"type": "a", "limit": 2, "offset": 2})).json()
    assert rest["total"] == 3 and len(rest["data"]) == 1
    ids = {j["jobId"] for j in page["data"]} | {j["jobId"] for j in rest["data"]}
    assert len(ids) == 3


async def test_status_repeated_or_comma_separated(api: Api, admin: httpx.AsyncClient) -> None:
    a = await create(admin, name="a")
    b = await create(admin, name="b")
    await create(admin, name="c")
    await admin.post(f"/api/v1/jobs/{a['jobId']}/start")
    await admin.post(f"/api/v1/jobs/{b['jobId']}/cancel")
    comma = (await admin.get("/api/v1/jobs?status=running,cancelled")).json()
    repeated = (await admin.get("/api/v1/jobs?status=running&status=cancelled")).json()
    assert comma["total"] == repeated["total"] == 2
    bad = await admin.get("/api/v1/jobs?status=sleeping")
    assert bad.status_code == 400 and "status" in bad.json()["message"]


async def test_other_filters(api: Api, admin: httpx.AsyncClient) -> None:
    await create(admin, name="Nightly backup", type="backup", storeId="s1", source="bk")
    await create(admin, name="Import", type="import", storeId="s2")
    assert (await admin.get("/api/v1/jobs?storeId=s1")).json()["total"] == 1
    assert (await admin.get("/api/v1/jobs?q=BACKUP")).json()["total"] == 1
    assert (await admin.get("/api/v1/jobs?source=bk")).json()["total"] == 1
    assert (await admin.get("/api/v1/jobs?mode=tracked")).json()["total"] == 2
    assert (await admin.get("/api/v1/jobs?mode=queued")).json()["total"] == 0
    assert (await admin.get("/api/v1/jobs?mode=weird")).status_code == 400


async def test_limit_bounds(api: Api, admin: httpx.AsyncClient) -> None:
    assert (await admin.get("/api/v1/jobs?limit=1000")).status_code == 200
    too_many = await admin.get("/api/v1/jobs?limit=1001")
    assert too_many.status_code == 422 and "limit" in too_many.json()["message"]
    assert (await admin.get("/api/v1/jobs?offset=-1")).status_code == 422
    assert (await admin.get("/api/v1/jobs?limit=abc")).status_code == 422


async def test_lifecycle_over_http(api: Api, admin: httpx.AsyncClient) -> None:
    job = await create(admin, name="Backup Database", type="backup", iconSvg=ICON,
                       metadata={"backupType": "full", "compression": True})  # fmt: skip
    jid = job["jobId"]
    assert job["iconSvg"].startswith("<svg") and "<path" in job["iconSvg"]
    started = (await admin.post(f"/api/v1/jobs/{jid}/start")).json()["data"]
    assert started["status"] == "running" and started["startedAt"]
    progress = await admin.post(
        f"/api/v1/jobs/{jid}/progress",
        json={"progress": 50, "metadata": {"currentTable": "table_50"}, "message": "Halfway"},
    )
    assert progress.status_code == 200
    data = progress.json()["data"]
    assert data["progress"] == 50 and data["progressMessage"] == "Halfway"
    assert data["metadata"] == {
        "backupType": "full",
        "compression": True,
        "currentTable": "table_50",
    }
    done = await admin.post(f"/api/v1/jobs/{jid}/complete", json={"result": {"fileSize": "125MB"}})
    assert done.status_code == 200
    data = done.json()["data"]
    assert data["status"] == "completed" and data["progress"] == 100
    assert data["result"] == {"fileSize": "125MB"} and data["completedAt"]

    again = await admin.post(f"/api/v1/jobs/{jid}/start")
    assert again.status_code == 409 and again.json()["success"] is False

    history = (await admin.get(f"/api/v1/jobs/{jid}/history")).json()
    kinds = [e["kind"] for e in history["data"]]
    assert kinds[0] == "created" and "started" in kinds and "completed" in kinds
    assert set(history["data"][0]) == {"id", "jobId", "kind", "message", "data", "createdAt"}

    deleted = await admin.delete(f"/api/v1/jobs/{jid}")
    assert deleted.status_code == 200 and deleted.json()["success"] is True
    assert (await admin.get(f"/api/v1/jobs/{jid}")).status_code == 404


async def test_fail_cancel_retry_and_delete_rules(api: Api, admin: httpx.AsyncClient) -> None:
    job = await create(admin, name="Sync Remote Data", type="sync")
    jid = job["jobId"]
    assert (await admin.delete(f"/api/v1/jobs/{jid}")).status_code == 409  # not terminal
    await admin.post(f"/api/v1/jobs/{jid}/start")
    await admin.post(f"/api/v1/jobs/{jid}/progress", json={"progress": 30})
    failed = await admin.post(f"/api/v1/jobs/{jid}/fail", json={"errorMessage": "API timeout"})
    assert failed.status_code == 200
    assert failed.json()["data"]["status"] == "failed"
    assert failed.json()["data"]["errorMessage"] == "API timeout"
    # Tracked jobs are not retried by a worker: retry is an illegal transition.
    assert (await admin.post(f"/api/v1/jobs/{jid}/retry")).status_code == 409
    assert (await admin.post(f"/api/v1/jobs/{jid}/cancel")).status_code == 409
    missing = await admin.post(f"/api/v1/jobs/{jid}/fail", json={})
    assert missing.status_code == 422 and "errorMessage" in missing.json()["message"]

    other = await create(admin, name="cancel me")
    cancelled = await admin.post(f"/api/v1/jobs/{other['jobId']}/cancel")
    assert cancelled.json()["data"]["status"] == "cancelled"


async def test_progress_validation(api: Api, admin: httpx.AsyncClient) -> None:
    jid = (await create(admin))["jobId"]
    assert (
        await admin.post(f"/api/v1/jobs/{jid}/progress", json={"progress": 5})
    ).status_code == 409
    await admin.post(f"/api/v1/jobs/{jid}/start")
    bad = await admin.post(f"/api/v1/jobs/{jid}/progress", json={"progress": "lots"})
    assert bad.status_code == 422 and "progress" in bad.json()["message"]
    nan = await admin.post(
        f"/api/v1/jobs/{jid}/progress",
        content=b'{"progress": NaN}',
        headers={"content-type": "application/json"},
    )
    assert nan.status_code in (400, 422)
    clamped = await admin.post(f"/api/v1/jobs/{jid}/progress", json={"progress": 150})
    assert clamped.json()["data"]["progress"] == 100


async def test_unknown_ids_are_404(api: Api, admin: httpx.AsyncClient) -> None:
    ghost = "00000000-0000-0000-0000-000000000000"
    for method, path in [
        ("GET", f"/api/v1/jobs/{ghost}"),
        ("GET", f"/api/v1/jobs/{ghost}/history"),
        ("GET", f"/api/v1/jobs/{ghost}/icon.svg"),
        ("POST", f"/api/v1/jobs/{ghost}/start"),
        ("POST", f"/api/v1/jobs/{ghost}/cancel"),
        ("POST", f"/api/v1/jobs/{ghost}/retry"),
        ("DELETE", f"/api/v1/jobs/{ghost}"),
    ]:
        response = await admin.request(method, path)
        assert response.status_code == 404, (method, path)
        assert response.json() == {"success": False, "message": "job not found"}


async def test_create_validation_names_the_field(api: Api, admin: httpx.AsyncClient) -> None:
    no_name = await admin.post("/api/v1/jobs", json={"type": "x"})
    assert no_name.status_code == 422 and "name" in no_name.json()["message"]
    bad_meta = await admin.post("/api/v1/jobs", json={"name": "n", "type": "t", "metadata": [1]})
    assert bad_meta.status_code == 422 and "metadata" in bad_meta.json()["message"]
    big = {"blob": "x" * (65 * 1024)}
    too_big = await admin.post("/api/v1/jobs", json={"name": "n", "type": "t", "metadata": big})
    assert too_big.status_code == 413 and "metadata" in too_big.json()["message"]
    nul = await admin.post("/api/v1/jobs", json={"name": "a\x00b", "type": "t"})
    assert nul.status_code == 400 and "name" in nul.json()["message"]
    not_json = await admin.post(
        "/api/v1/jobs", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert not_json.status_code in (400, 422)
    bad_icon = await admin.post(
        "/api/v1/jobs", json={"name": "n", "type": "t", "iconSvg": "<svg><script/></svg>"}
    )
    assert bad_icon.status_code == 400 and "script" in bad_icon.json()["message"]


async def test_body_over_1_mib_is_413(api: Api, admin: httpx.AsyncClient) -> None:
    huge = b'{"name": "n", "type": "t", "description": "' + b"x" * (1024 * 1024) + b'"}'
    response = await admin.post(
        "/api/v1/jobs", content=huge, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413

    async def chunks():  # no Content-Length: counted as it streams
        yield b'{"name": "n", "type": "t", "description": "'
        for _ in range(20):
            yield b"y" * 65536
        yield b'"}'

    streamed = await admin.post(
        "/api/v1/jobs", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    jid = (await create(admin))["jobId"]
    await admin.post(f"/api/v1/jobs/{jid}/start")
    result = {"rows": ["z" * 1000] * 1100}
    too_big = await admin.post(f"/api/v1/jobs/{jid}/complete", json={"result": result})
    assert too_big.status_code == 413


async def test_icon_endpoint(api: Api, admin: httpx.AsyncClient) -> None:
    job = await create(admin, iconSvg=ICON)
    response = await admin.get(f"/api/v1/jobs/{job['jobId']}/icon.svg")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "sandbox" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.text.startswith("<svg")
    plain = await create(admin)
    assert (await admin.get(f"/api/v1/jobs/{plain['jobId']}/icon.svg")).status_code == 404


async def test_seed1_cleanup(make_api) -> None:
    clock = FrozenClock()
    api: Api = await make_api()
    api.deck.clock = clock
    admin = api.client(api.admin)
    old = await create(admin, name="old")
    await admin.post(f"/api/v1/jobs/{old['jobId']}/start")
    await admin.post(f"/api/v1/jobs/{old['jobId']}/complete")
    clock.advance(timedelta(days=31).total_seconds())
    fresh = await create(admin, name="fresh")
    await admin.post(f"/api/v1/jobs/{fresh['jobId']}/cancel")

    response = await admin.delete("/api/v1/jobs/cleanup?daysOld=30")
    assert response.status_code == 200
    assert response.json() == {"success": True, "message": "Deleted 1 old jobs", "deleted": 1}
    assert (await admin.get(f"/api/v1/jobs/{old['jobId']}")).status_code == 404
    assert (await admin.get(f"/api/v1/jobs/{fresh['jobId']}")).status_code == 200
    assert (await admin.delete("/api/v1/jobs/cleanup?daysOld=-1")).status_code == 422
    default = await admin.delete("/api/v1/jobs/cleanup")
    assert default.json()["deleted"] == 0


async def test_bound_token_sets_and_keeps_its_store(api: Api) -> None:
    store_token = await api.token("store-a", "jobs:write", store="store-a")
    plugin_token = await api.token("plug", "jobs:write", plugin="plug-1")
    client_a = api.client(store_token)
    plug = api.client(plugin_token)
    admin = api.client(api.admin)

    mine = await create(client_a, name="mine")
    assert mine["storeId"] == "store-a"
    same = await client_a.post(
        "/api/v1/jobs", json={"name": "n", "type": "t", "storeId": "store-a"}
    )
    assert same.status_code == 201
    other = await client_a.post("/api/v1/jobs", json={"name": "n", "type": "t", "storeId": "b"})
    assert other.status_code == 403 and "storeId" in other.json()["message"]
    by_plugin = await create(plug, name="plugin job")
    assert by_plugin["pluginId"] == "plug-1" and by_plugin["source"] == "plug-1"

    foreign = await create(admin, name="foreign", storeId="store-b")
    assert (await client_a.get(f"/api/v1/jobs/{foreign['jobId']}")).status_code == 404
    assert (await client_a.post(f"/api/v1/jobs/{foreign['jobId']}/cancel")).status_code == 404
    assert (await client_a.delete(f"/api/v1/jobs/{foreign['jobId']}")).status_code == 404
    listed = (await client_a.get("/api/v1/jobs")).json()
    assert listed["total"] == 2 and {j["storeId"] for j in listed["data"]} == {"store-a"}
    assert (await client_a.get("/api/v1/jobs?storeId=store-b")).status_code == 403
    assert (await plug.get("/api/v1/jobs")).json()["total"] == 1
    assert (await client_a.delete("/api/v1/jobs/cleanup")).status_code == 403
    assert (await admin.get("/api/v1/jobs")).json()["total"] == 4
