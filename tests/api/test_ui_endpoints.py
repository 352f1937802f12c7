"""The endpoints the UI's pages need (docs/ui.md): sort, bulk actions, counts,
throughput, workers alive, history after an event; the CSRF rule for cookie writes;
the page shells and /docs without the internet."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import httpx
import pytest

from jobdeck.deck import JobDeck
from jobdeck.handlers.base import BaseJobHandler

from .conftest import Api, wait_for


async def tracked(api: Api, name: str, **fields: object) -> str:
    job = await api.deck.create_job(name=name, type="ui-test", **fields)  # type: ignore[arg-type]
    return str(job.job_id)


async def test_sort_orders_the_list_and_rejects_unknown_keys(
    api: Api, admin: httpx.AsyncClient
) -> None:
    for name in ["bravo", "alpha", "charlie"]:
        await tracked(api, name)
    names = lambda r: [j["name"] for j in r.json()["data"]]  # noqa: E731
    assert names(await admin.get("/api/v1/jobs?sort=name")) == ["alpha", "bravo", "charlie"]
    assert names(await admin.get("/api/v1/jobs?sort=-name")) == ["charlie", "bravo", "alpha"]
    assert names(await admin.get("/api/v1/jobs?sort=createdAt")) == ["bravo", "alpha", "charlie"]
    assert names(await admin.get("/api/v1/jobs")) == ["charlie", "alpha", "bravo"]
    bad = await admin.get("/api/v1/jobs?sort=payload")
    assert bad.status_code == 400 and "sort must be one of" in bad.json()["message"]


async def test_history_after_an_event(api: Api, admin: httpx.AsyncClient) -> None:
    job_id = await tracked(api, "h")
    await api.deck.start_job(job_id)
    first = (await admin.get(f"/api/v1/jobs/{job_id}/history")).json()["data"]
    assert [e["kind"] for e in first] == ["created", "started"]
    await api.deck.update_progress(job_id, 50, message="halfway")
    later = await admin.get(f"/api/v1/jobs/{job_id}/history?after={first[-1]['id']}")
    assert [(e["kind"], e["message"]) for e in later.json()["data"]] == [("progress", "halfway")]
    assert (await admin.get(f"/api/v1/jobs/{job_id}/history?after=-1")).status_code == 422


async def test_bulk_on_a_selection_reports_each_job(api: Api, admin: httpx.AsyncClient) -> None:
    running = await tracked(api, "running")
    await api.deck.start_job(running)
    done = await tracked(api, "done")
    await api.deck.start_job(done)
    await api.deck.complete_job(done)
    answer = await admin.post(
        "/api/v1/jobs/bulk",
        json={"action": "delete", "jobIds": [running, done, "no-such-job"]},
    )
    assert answer.status_code == 200
    body = answer.json()
    assert (body["matched"], body["succeeded"], body["failed"]) == (3, 1, 2)
    outcome = {r["jobId"]: r for r in body["results"]}
    assert outcome[done] == {"jobId": done, "ok": True, "status": "deleted"}
    assert outcome[running]["code"] == 409 and "running" in outcome[running]["message"]
    assert outcome["no-such-job"]["code"] == 404
    cancel = await admin.post("/api/v1/jobs/bulk", json={"action": "cancel", "jobIds": [running]})
    assert cancel.json()["results"][0]["status"] == "cancelled"


async def test_bulk_on_a_filter(api: Api, admin: httpx.AsyncClient) -> None:
    ids = [await tracked(api, f"import {i}", source="shop") for i in range(3)]
    other = await tracked(api, "keep me", source="crm")
    answer = await admin.post(
        "/api/v1/jobs/bulk",
        json={"action": "cancel", "filter": {"source": "shop", "status": ["pending"]}},
    )
    body = answer.json()
    assert body["succeeded"] == 3 and body["truncated"] is False
    assert {r["jobId"] for r in body["results"]} == set(ids)
    assert (await api.deck.get_job(other)).status.value == "pending"


@pytest.mark.parametrize(
    "body",
    [
        {"action": "cancel"},
        {"action": "cancel", "jobIds": ["x"], "filter": {}},
        {"action": "explode", "jobIds": ["x"]},
        {"action": "cancel", "filter": {"status": "sleeping"}},
        {"action": "cancel", "jobIds": ["x"] * 1001},
    ],
)
async def test_bulk_refuses_bad_requests(admin: httpx.AsyncClient, body: dict) -> None:
    answer = await admin.post("/api/v1/jobs/bulk", json=body)
    assert answer.status_code in (400, 422), answer.text
    assert answer.json()["success"] is False


async def test_bulk_and_counts_follow_the_binding(api: Api) -> None:
    mine = await tracked(api, "mine", plugin_id="p1")
    theirs = await tracked(api, "theirs", plugin_id="p2")
    bound = api.client(await api.token("p1-writer", "jobs:write", plugin="p1"))
    answer = await bound.post(
        "/api/v1/jobs/bulk", json={"action": "cancel", "jobIds": [mine, theirs]}
    )
    outcome = {r["jobId"]: r for r in answer.json()["results"]}
    assert outcome[mine]["ok"] and outcome[theirs]["code"] == 404
    by_filter = await bound.post("/api/v1/jobs/bulk", json={"action": "delete", "filter": {}})
    assert {r["jobId"] for r in by_filter.json()["results"]} == {mine}
    assert (await api.deck.get_job(theirs)) is not None
    counts = (await bound.get("/api/v1/stats/counts")).json()
    assert counts["total"] == 0  # its one job was deleted; the other plugin's is not counted
    refused = await bound.get("/api/v1/stats/counts?pluginId=p2")
    assert refused.status_code == 403


async def test_counts_and_throughput(api: Api, admin: httpx.AsyncClient) -> None:
    for i in range(3):
        job_id = await tracked(api, f"c{i}")
        await api.deck.start_job(job_id)
        if i < 2:
            await api.deck.complete_job(job_id)
        else:
            await api.deck.fail_job(job_id, "boom")
    await tracked(api, "waiting")
    counts = (await admin.get("/api/v1/stats/counts")).json()
    assert counts["data"]["completed"] == 2 and counts["data"]["failed"] == 1
    assert counts["data"]["pending"] == 1 and counts["data"]["cancelled"] == 0
    assert counts["total"] == 4
    answer = (await admin.get("/api/v1/stats/throughput?minutes=5")).json()
    assert answer["minutes"] == 5 and len(answer["data"]) == 5
    assert (answer["completed"], answer["failed"], answer["cancelled"]) == (2, 1, 0)
    assert answer["failureRate"] == pytest.approx(1 / 3)
    assert answer["data"][-1]["completed"] + answer["data"][-2]["completed"] == 2
    assert (await admin.get("/api/v1/stats/throughput?minutes=0")).status_code == 422
    empty = await api.client(await api.token("r", "jobs:read", store="none")).get(
        "/api/v1/stats/throughput"
    )
    assert empty.json()["failureRate"] is None and len(empty.json()["data"]) == 60


class Sleepy(BaseJobHandler):
    async def execute(self) -> None:
        await asyncio.sleep(30)


async def test_workers_alive_and_what_they_run(api: Api) -> None:
    # A worker of its own (as `jobdeck worker` would be) on the API's database.
    settings = replace(api.deck.settings, heartbeat_seconds=0.1)
    async with JobDeck(settings=settings) as other:
        other.register_job_type("ui:sleepy", Sleepy)
        mine = await other.schedule_job("ui:sleepy", plugin_id="p1")
        theirs = await other.schedule_job("ui:sleepy", plugin_id="p2")
        worker = asyncio.create_task(other.run_worker(concurrency=3, maintenance=False))
        admin = api.client(api.admin)
        try:

            async def both_running() -> bool:
                data = (await admin.get("/api/v1/workers")).json()["data"]
                return len(data) == 1 and len(data[0]["running"]) == 2

            await wait_for(both_running)
            [seen] = (await admin.get("/api/v1/workers")).json()["data"]
            assert seen["concurrency"] == 3 and seen["pid"] > 0 and seen["lastSeenAt"]
            assert {j["jobId"] for j in seen["running"]} == {mine.job_id, theirs.job_id}
            bound = api.client(await api.token("p1", "jobs:read", plugin="p1"))
            [scoped] = (await bound.get("/api/v1/workers")).json()["data"]
            assert [j["jobId"] for j in scoped["running"]] == [mine.job_id]
            assert scoped["hidden"] == 1
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
        assert (await admin.get("/api/v1/workers")).json()["data"] == []  # it left


async def test_cookie_writes_need_an_origin_naming_this_server(api: Api) -> None:
    browser = api.client()
    assert (await browser.post("/api/v1/session", json={"token": api.admin})).status_code == 200
    body = {"name": "n", "type": "t"}
    assert (await browser.post("/api/v1/jobs", json=body)).status_code == 403  # no Origin
    foreign = {"Origin": "http://evil.example"}
    assert (await browser.post("/api/v1/jobs", json=body, headers=foreign)).status_code == 403
    bulk = {"action": "cancel", "filter": {}}
    assert (await browser.post("/api/v1/jobs/bulk", json=bulk)).status_code == 403
    assert (await browser.delete("/api/v1/session")).status_code == 403
    same = {"Origin": api.base_url}
    assert (await browser.post("/api/v1/jobs", json=body, headers=same)).status_code == 201
    assert (await browser.get("/api/v1/jobs")).status_code == 200  # reads need none
    # A bearer token is not a cookie: no Origin needed.
    assert (await api.client(api.admin).post("/api/v1/jobs", json=body)).status_code == 201


async def test_pages_need_a_session_and_say_when_it_ended(api: Api) -> None:
    anonymous = api.client(follow_redirects=False)
    home = await anonymous.get("/jobs?status=failed")
    assert home.status_code == 303
    assert home.headers["location"] == "/login?next=/jobs%3Fstatus%3Dfailed"
    login = await anonymous.get("/login")
    assert login.status_code == 200 and 'id="token"' in login.text
    policy = login.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    stale = api.client(follow_redirects=False, cookies={"jobdeck_session": "stale"})
    expired = await stale.get("/")
    assert expired.status_code == 401 and "session has ended" in expired.text
    browser = api.client(follow_redirects=False)
    await browser.post("/api/v1/session", json={"token": api.admin})
    for path in ["/", "/jobs", "/jobs/some-id", "/cron", "/cron/new", "/cron/1", "/cron/1/edit"]:
        page = await browser.get(path)
        assert page.status_code == 200, path
        assert 'id="toasts"' in page.text and 'aria-live="polite"' in page.text
    script = await anonymous.get("/ui/static/js/app.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith(
        "text/javascript"
    )
    assert (await anonymous.get("/ui/static/../routes.py")).status_code == 404
    assert (await anonymous.get("/ui/static/js/nothing.py")).status_code == 404


async def test_login_link_posts_back_before_it_sets_the_cookie(api: Api) -> None:
    from jobdeck import tokens

    token = await api.deck.store.token_by_hash(tokens.hash_secret(api.admin))
    assert token is not None
    code = await api.deck.tokens.issue_grant("login", token.id, tokens.LOGIN_CODE_TTL)
    browser = api.client(follow_redirects=False)
    shown = await browser.get(f"/login?code={code}")  # a link previewer stops here
    assert shown.status_code == 200 and "set-cookie" not in shown.headers
    assert shown.headers["cache-control"] == "no-store"
    assert shown.headers["referrer-policy"] == "same-origin"
    foreign = await browser.post(
        "/login", data={"code": code}, headers={"Origin": "http://evil.example"}
    )
    assert foreign.status_code == 403
    posted = await browser.post("/login", data={"code": code}, headers={"Origin": api.base_url})
    assert posted.status_code == 303 and posted.headers["location"] == "/"
    cookie = posted.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    assert (await browser.get("/api/v1/jobs")).status_code == 200
    again = await api.client().post("/login", data={"code": code}, headers={"Origin": api.base_url})
    assert again.status_code == 401  # single use


async def test_docs_are_served_without_the_internet(api: Api) -> None:
    client = api.client()
    page = await client.get("/docs")
    assert page.status_code == 200
    assert "cdn." not in page.text and "https://" not in page.text.replace("https://fastapi", "")
    for asset in ["/docs/static/swagger-ui-bundle.js", "/docs/static/swagger-ui.css"]:
        assert (await client.get(asset)).status_code == 200
    assert (await client.get("/docs/static/other.js")).status_code == 404
