"""Login, the jobs page, job detail, schedules, overview — in a real browser against a
real ``jobdeck serve`` (docs/ui.md)."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
from playwright.sync_api import expect
from ui_support import Server, log_in


def wait_live(page: Any) -> None:
    expect(page.locator("#live-state")).to_have_text("Live")


def test_log_in_with_a_typed_token_then_log_out(context: Any, ui_server: Server) -> None:
    page = context.new_page()
    page.goto(f"{ui_server.base}/jobs?status=failed")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("API token").fill("jdk_wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#login-error")).to_have_text("That token is invalid or revoked.")
    page.get_by_label("API token").fill(ui_server.token)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{ui_server.base}/jobs?status=failed")
    expect(page.get_by_label("failed")).to_be_checked()
    cookie = next(c for c in context.cookies() if c["name"] == "jobdeck_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    page.goto(f"{ui_server.base}/")
    expect(page).to_have_url(re.compile(r"/login\?next=/"))


def test_the_printed_link_logs_in_when_opened_from_another_site(
    browser: Any, ui_server: Server
) -> None:
    # A fresh link (the printed one logs in the first test run only once): issued as
    # `jobdeck serve` issues it, and clicked on a page of another site, as a mail client
    # or chat app would open it: a cross-site navigation.
    from jobdeck import SyncJobDeck, tokens

    with SyncJobDeck(ui_server.database_url) as deck:
        found = next(t for t in deck._call(deck.deck.tokens.list_tokens()) if t.name == "admin")
        code = deck._call(deck.deck.tokens.issue_grant("login", found.id, tokens.LOGIN_CODE_TTL))
    links = [ui_server.link, f"{ui_server.base}/login?code={code}"]
    for link in links:
        context = browser.new_context()
        try:
            page = context.new_page()
            page.route("http://chat.example/", chat_page(link))
            page.goto("http://chat.example/")
            page.get_by_role("link", name="your login link").click()
            expect(page).to_have_url(f"{ui_server.base}/")
            expect(page.get_by_role("heading", name="Overview")).to_be_visible()
            wait_live(page)  # the cookie is kept and sent: the socket is in too
            page.goto(f"{ui_server.base}/jobs")
            expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
        finally:
            context.close()
    # Used up: a second click shows why it failed.
    context = browser.new_context()
    page = context.new_page()
    page.goto(links[1])
    expect(page.get_by_role("heading", name="This login link did not work")).to_be_visible()
    context.close()


def chat_page(link: str) -> Any:
    def fulfil(route: Any) -> None:
        route.fulfill(content_type="text/html", body=f'<a href="{link}">your login link</a>')

    return fulfil


def test_a_revoked_token_ends_the_session_on_the_expired_page(
    context: Any, ui_server: Server
) -> None:
    secret = ui_server.token_for("short-lived", "jobs:read")
    log_in(context, ui_server, secret)
    page = context.new_page()
    page.goto(f"{ui_server.base}/jobs")
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
    ui_server.api("DELETE", "/api/v1/tokens/short-lived")
    page.goto(f"{ui_server.base}/jobs")
    expect(page.get_by_role("heading", name="Your session has ended")).to_be_visible()


def test_cancel_a_running_job_from_the_jobs_page(page: Any, ui_server: Server) -> None:
    job_id = ui_server.tracked("Cancel me please")
    ui_server.drive(job_id, "start")
    ui_server.drive(job_id, "progress", {"progress": 10})
    page.goto(f"{ui_server.base}/jobs?q=cancel%20me")
    row = page.locator(f'tr[data-job-id="{job_id}"]')
    expect(row.locator(".badge")).to_have_text("running")
    ui_server.drive(job_id, "progress", {"progress": 55})
    expect(row.locator("progress")).to_have_attribute("value", "55")  # live row
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Cancel Cancel me please").click()
    expect(row.locator(".badge")).to_have_text("cancelled")
    assert ui_server.api("GET", f"/api/v1/jobs/{job_id}")["data"]["status"] == "cancelled"


def test_filter_and_search_keep_the_url_and_the_back_button(page: Any, ui_server: Server) -> None:
    tag = f"t{int(time.time() * 1000)}"
    ids = {n: ui_server.tracked(f"{tag} {n}", source=f"{tag}-src") for n in ("alpha", "beta")}
    ui_server.drive(ids["beta"], "start")
    page.goto(f"{ui_server.base}/jobs")
    page.get_by_label("Search").fill(f"{tag} al")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(rf"q={tag}\+al"))
    expect(page.locator("tbody#jobs tr")).to_have_count(1)
    expect(page.locator("#range")).to_have_text("1–1 of 1 jobs")
    page.get_by_label("Search").fill("")
    page.get_by_label("Source").fill(f"{tag}-src")
    page.get_by_label("running", exact=True).check()
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("tbody#jobs tr")).to_have_count(1)
    expect(page.locator(f'tr[data-job-id="{ids["beta"]}"]')).to_be_visible()
    page.go_back()
    expect(page.get_by_label("Search")).to_have_value(f"{tag} al")
    expect(page.locator(f'tr[data-job-id="{ids["alpha"]}"]')).to_be_visible()
    shared = page.url
    other = page.context.new_page()
    other.goto(shared)
    expect(other.locator(f'tr[data-job-id="{ids["alpha"]}"]')).to_be_visible()
    # Bulk on the filter: cancel every job of this source.
    page.goto(f"{ui_server.base}/jobs?source={tag}-src")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel all matching").click()
    expect(page.locator("#jobs-status")).to_contain_text("cancel: 2 done")
    for job_id in ids.values():
        assert ui_server.api("GET", f"/api/v1/jobs/{job_id}")["data"]["status"] == "cancelled"


def test_the_detail_page_history_grows_live(page: Any, ui_server: Server) -> None:
    job_id = ui_server.tracked("Nightly report", metadata={"rows": 3})
    page.goto(f"{ui_server.base}/jobs/{job_id}")
    expect(page.get_by_role("heading", name="Nightly report")).to_be_visible()
    wait_live(page)
    history = page.locator("#history li")
    expect(history).to_have_count(1)
    ui_server.drive(job_id, "start")
    ui_server.drive(job_id, "progress", {"progress": 20, "message": "Counting rows"})
    expect(history).to_have_count(3)
    expect(history.last).to_contain_text("Counting rows")
    ui_server.drive(job_id, "fail", {"errorMessage": "Disk full"})
    expect(history.last).to_contain_text("Disk full")
    expect(page.locator("#job-error")).to_have_text("Disk full")
    expect(page.locator("#metadata")).to_contain_text('"rows": 3')


def test_create_a_schedule_invalid_then_valid_run_it_and_follow_its_job(
    page: Any, ui_server: Server
) -> None:
    name = f"Nightly import {int(time.time() * 1000)}"
    page.goto(f"{ui_server.base}/cron/new")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Cron expression").fill("61 2 * * *")
    expect(page.locator("#cron_expression-error")).to_contain_text("invalid minute field '61'")
    page.get_by_label("Job type").select_option("test:noop")
    page.get_by_role("button", name="Save schedule").click()
    expect(page.locator("#form-error")).to_contain_text("cron_expression: invalid minute")
    expect(page.get_by_label("Cron expression")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Cron expression").fill("0 2 * * *")
    expect(page.locator("#preview-human")).to_have_text("At 02:00 AM")
    expect(page.locator("#preview-runs li")).to_have_count(5)
    page.get_by_role("button", name="Save schedule").click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    wait_live(page)
    page.get_by_role("button", name="Run now").click()
    expect(page.locator("#executions tr")).to_have_count(1)
    expect(page.locator("#executions tr .badge")).to_have_text("success", timeout=15_000)
    page.get_by_role("link", name="Follow its job").click()
    expect(page.locator("#job-status")).to_have_text("completed")
    expect(page.get_by_role("link", name=re.compile(r"schedule #\d+"))).to_be_visible()


def test_a_plugin_bound_session_sees_only_its_plugin(context: Any, ui_server: Server) -> None:
    mine = ui_server.tracked("Shop sync (p-one)", pluginId="p-one")
    theirs = ui_server.tracked("CRM sync (p-two)", pluginId="p-two")
    log_in(context, ui_server, ui_server.token_for("p-one-ui", "jobs:write", plugin="p-one"))
    page = context.new_page()
    page.goto(f"{ui_server.base}/jobs")
    wait_live(page)
    expect(page.locator(f'tr[data-job-id="{mine}"]')).to_be_visible()
    expect(page.locator(f'tr[data-job-id="{theirs}"]')).to_have_count(0)
    ui_server.drive(theirs, "start")  # another plugin's job never toasts here
    ui_server.drive(mine, "start")
    expect(page.locator(f'#toasts li[data-job-id="{mine}"]')).to_be_visible()
    expect(page.locator(f'#toasts li[data-job-id="{theirs}"]')).to_have_count(0)
    page.goto(f"{ui_server.base}/jobs/{theirs}")
    expect(page.locator("#job-error-load")).to_contain_text("No job with this id")
    for job_id in (mine, theirs):
        ui_server.drive(job_id, "cancel")


def test_cookie_writes_from_elsewhere_are_refused(context: Any, ui_server: Server) -> None:
    log_in(context, ui_server)
    session = next(c["value"] for c in context.cookies() if c["name"] == "jobdeck_session")
    cookies = {"jobdeck_session": session}
    body = {"name": "csrf", "type": "t"}
    with httpx.Client(base_url=ui_server.base, cookies=cookies) as raw:
        assert raw.get("/api/v1/jobs?limit=1").status_code == 200  # the cookie is valid
        assert raw.post("/api/v1/jobs", json=body).status_code == 403  # no Origin
        evil = {"Origin": "http://evil.example"}
        assert raw.post("/api/v1/jobs", json=body, headers=evil).status_code == 403
        assert (
            raw.post("/api/v1/jobs/bulk", json={"action": "delete", "filter": {}}).status_code
            == 403
        )
