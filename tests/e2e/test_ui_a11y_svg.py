"""Every page through axe-core (no serious or critical violation) with screenshots in
light, dark and at phone width; the SVG battery in the browser (docs/security.md, docs/ui.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import expect
from ui_support import Server, check_accessibility, screenshots

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from test_svg import HOSTILE

NS = 'xmlns="http://www.w3.org/2000/svg"'
# Icons the sanitiser accepts, each carrying something that would run if it survived.
ACCEPTED = {
    "circle": f'<svg {NS} viewBox="0 0 10 10"><circle cx="5" cy="5" r="4" fill="#2563eb"/></svg>',
    "gradient and group": (
        f'<svg {NS} viewBox="0 0 10 10"><defs><linearGradient id="g"><stop offset="0"'
        ' stop-color="#f00"/></linearGradient></defs><g transform="scale(0.5)">'
        '<path d="M0 0h10v10z" fill="url(#g)"/></g></svg>'
    ),
}


def test_every_page_passes_axe_and_is_photographed(page: Any, ui_server: Server) -> None:
    job_id = ui_server.tracked(
        "Import 1,000 products", description="From the shop", metadata={"shop": "eu"}
    )
    ui_server.drive(job_id, "start")
    ui_server.drive(job_id, "progress", {"progress": 45, "message": "Imported 450 of 1,000"})
    failed = ui_server.tracked("Export orders")
    ui_server.drive(failed, "start")
    ui_server.drive(failed, "fail", {"errorMessage": "API timeout after 30 s"})
    cron = ui_server.api(
        "POST",
        "/api/cron-jobs",
        json={
            "name": "Hourly sync",
            "cron_expression": "@hourly",
            "job_type": "test:noop",
            "configuration": {},
        },
    )["job"]
    ui_server.api("POST", f"/api/cron-jobs/{cron['id']}/execute")
    pages = {
        "overview": "/",
        "jobs": "/jobs",
        "job": f"/jobs/{job_id}",
        "job-failed": f"/jobs/{failed}",
        "cron-list": "/cron",
        "cron-new": "/cron/new",
        "cron-detail": f"/cron/{cron['id']}",
        "cron-edit": f"/cron/{cron['id']}/edit",
    }
    for name, path in pages.items():
        page.goto(ui_server.base + path)
        expect(page.locator("#live-state")).to_have_text("Live")
        expect(page.locator(f'#toasts li[data-job-id="{job_id}"]')).to_be_visible()
        page.wait_for_load_state("networkidle")
        check_accessibility(page, name)
        screenshots(page, name)
    anonymous = page.context.browser.new_context()
    try:
        other = anonymous.new_page()
        for name, path in {
            "login": "/login",
            "expired": "/expired",
            "login-failed": "/login?code=x",
        }.items():
            other.goto(ui_server.base + path)
            if name == "login-failed":
                expect(
                    other.get_by_role("heading", name="This login link did not work")
                ).to_be_visible()
            check_accessibility(other, name)
            screenshots(other, name)
        other.goto(ui_server.base + "/docs")
        expect(other.locator(".swagger-ui")).to_be_visible()
    finally:
        anonymous.close()
    ui_server.drive(job_id, "cancel")


def test_no_script_runs_from_an_accepted_icon(page: Any, ui_server: Server) -> None:
    ran: list[str] = []
    page.on("dialog", lambda dialog: (ran.append(dialog.message), dialog.dismiss()))
    page.on("request", lambda request: "pwned" in request.url and ran.append(request.url))
    page.goto(f"{ui_server.base}/jobs")
    expect(page.locator("#live-state")).to_have_text("Live")
    for name, svg in ACCEPTED.items():
        job_id = ui_server.tracked(f"icon {name}", iconSvg=svg)
        image = page.locator(f'#toasts li[data-job-id="{job_id}"] img')
        expect(image).to_be_visible()
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
        )
        # Opened directly at its URL: served with a sandboxing CSP.
        icon = page.context.new_page()
        icon.on("dialog", lambda dialog: (ran.append(dialog.message), dialog.dismiss()))
        answer = icon.goto(f"{ui_server.base}/api/v1/jobs/{job_id}/icon.svg")
        assert answer is not None and answer.headers["content-type"] == "image/svg+xml"
        assert "sandbox" in answer.headers["content-security-policy"]
        assert icon.evaluate("typeof window.pwned") == "undefined"
        icon.close()
        ui_server.drive(job_id, "cancel")
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert ran == []


def test_rejected_icons_never_reach_the_page(page: Any, ui_server: Server) -> None:
    page.goto(f"{ui_server.base}/jobs?q=hostile")
    before = page.locator("tbody#jobs tr").count()
    for name, (svg, reason) in HOSTILE.items():
        if not isinstance(svg, str) or not svg.strip():
            continue  # an empty icon is no icon (the job is made without one)
        answer = httpx.post(
            f"{ui_server.base}/api/v1/jobs",
            json={"name": f"hostile {name}", "type": "t", "iconSvg": svg},
            headers={"Authorization": f"Bearer {ui_server.token}"},
        )
        assert answer.status_code == 400, name
        assert reason.lower() in answer.json()["message"].lower(), (name, answer.text)
    page.reload()
    assert page.locator("tbody#jobs tr").count() == before == 0
