"""Job toasts on every page (seed 1's JobQueue; docs/ui.md), in a real browser."""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import expect
from ui_support import Server, log_in

SQUARE = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 4 4"><rect width="4" height="4"/></svg>'
)


def toast(page: Any, job_id: str) -> Any:
    return page.locator(f'#toasts li[data-job-id="{job_id}"]')


def wait_live(page: Any) -> None:
    expect(page.locator("#live-state")).to_have_text("Live")


def test_a_job_toasts_its_bar_moves_it_completes_and_leaves(page: Any, ui_server: Server) -> None:
    page.goto(f"{ui_server.base}/jobs")
    wait_live(page)
    job_id = ui_server.tracked("Import 1,000 products", description="From the shop")
    item = toast(page, job_id)
    expect(item).to_be_visible()
    expect(item.locator(".desc")).to_have_text("From the shop")
    expect(item.locator(".status")).to_have_text("pending")
    ui_server.drive(job_id, "start")
    ui_server.drive(job_id, "progress", {"progress": 30, "message": "Imported 300"})
    expect(item.locator("progress")).to_have_attribute("value", "30")
    expect(item.locator(".pct")).to_have_text("30%")
    expect(item.locator(".msg")).to_have_text("Imported 300")
    ui_server.drive(job_id, "progress", {"progress": 70})
    expect(item.locator("progress")).to_have_attribute("value", "70")
    ui_server.drive(job_id, "complete", {"result": {"imported": 1000}})
    expect(item.locator(".status")).to_have_text("completed")
    done = time.monotonic()
    expect(item).to_have_count(0, timeout=9000)
    assert time.monotonic() - done >= 4.0  # it stayed about 5 s
    # An accessible name on the dismiss button, the icon as an <img>:
    other = ui_server.tracked(
        "Second",
        iconSvg=SQUARE,
    )
    expect(toast(page, other).get_by_role("button", name="Dismiss Second")).to_be_visible()
    expect(toast(page, other).locator("img")).to_have_attribute(
        "src", f"/api/v1/jobs/{other}/icon.svg"
    )
    ui_server.drive(other, "cancel")


def test_a_failed_job_shows_its_error_until_dismissed(page: Any, ui_server: Server) -> None:
    page.goto(f"{ui_server.base}/")
    wait_live(page)
    job_id = ui_server.tracked("Export orders")
    ui_server.drive(job_id, "start")
    ui_server.drive(job_id, "fail", {"errorMessage": "API timeout after 30 s"})
    item = toast(page, job_id)
    expect(item.locator(".err")).to_have_text("API timeout after 30 s")
    expect(item.locator(".status")).to_have_text("failed")
    page.wait_for_timeout(5500)
    expect(item).to_be_visible()  # failures wait for the operator
    item.get_by_role("button", name="Dismiss Export orders").click()
    expect(item).to_have_count(0)
    page.reload()
    wait_live(page)
    expect(item).to_have_count(0)


def test_two_tabs_see_the_same_job_and_markup_stays_text(context: Any, ui_server: Server) -> None:
    log_in(context, ui_server)
    first, second = context.new_page(), context.new_page()
    first.goto(f"{ui_server.base}/jobs")
    second.goto(f"{ui_server.base}/")
    wait_live(first)
    wait_live(second)
    name = '<img src=x onerror="window.pwned=1"><b>bold</b>'
    job_id = ui_server.tracked(name, description="<script>window.pwned=2</script>")
    for tab in (first, second):
        item = toast(tab, job_id)
        expect(item.locator(".name")).to_have_text(name)
        expect(item.locator(".desc")).to_have_text("<script>window.pwned=2</script>")
        assert item.locator("b").count() == 0
        assert tab.evaluate("window.pwned") is None
    ui_server.drive(job_id, "cancel")


def test_hidden_jobs_never_toast_and_many_collapse(page: Any, ui_server: Server) -> None:
    page.goto(f"{ui_server.base}/")
    wait_live(page)
    quiet = ui_server.tracked("Quiet", showNotification=False)
    loud = [ui_server.tracked(f"Batch {i}") for i in range(8)]
    expect(toast(page, loud[-1])).to_be_visible()
    expect(toast(page, quiet)).to_have_count(0)
    summary = page.locator("#toasts li.summary")
    expect(summary).to_contain_text("more jobs")
    visible = page.locator("#toasts li.toast:not(.summary):visible")
    expect(visible).to_have_count(3)
    summary.get_by_role("button", name="Show all").click()
    expect(visible).to_have_count(8)
    for job_id in [quiet, *loud]:
        ui_server.drive(job_id, "cancel")


def test_after_a_server_restart_the_toast_reaches_its_final_state(
    browser: Any, fresh_server: Server
) -> None:
    from jobdeck import SyncJobDeck

    context = browser.new_context()
    try:
        log_in(context, fresh_server)
        page = context.new_page()
        page.goto(f"{fresh_server.base}/jobs")
        wait_live(page)
        job_id = fresh_server.tracked("Long import")
        fresh_server.drive(job_id, "start")
        fresh_server.drive(job_id, "progress", {"progress": 40})
        item = toast(page, job_id)
        expect(item.locator(".pct")).to_have_text("40%")
        fresh_server.stop()
        expect(page.locator("#live-state")).to_have_text("Reconnecting…")
        # While no server runs, the job finishes (another process shares the database).
        with SyncJobDeck(fresh_server.database_url) as deck:
            deck.complete_job(job_id, {"ok": True})
        fresh_server.start()
        expect(item.locator(".status")).to_have_text("completed", timeout=25_000)
        expect(page.locator("#live-state")).to_have_text("Live")
    finally:
        context.close()
