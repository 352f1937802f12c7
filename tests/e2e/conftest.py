"""Fixtures of the browser tests (ui_support.py): one ``jobdeck serve`` for the session,
one chromium per module, a fresh browser context (cookies, storage) per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_support import Server, chromium_path, log_in


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("ui"))
    server.start()
    yield server
    server.stop()
    # Whatever the browser saw, the server must not have hit an unexpected error.
    full = server.log(0)
    assert "Traceback" not in full, full[full.find("Traceback") - 2000 :][:8000]


# Module scope, not session: while Playwright's sync API is active it holds an event
# loop on this thread, and the async tests of later modules could not run their own.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = chromium_path()
    from playwright.sync_api import expect, sync_playwright

    # Assertions wait up to 10 s (the default is 5): a loaded CI machine runs the
    # server, its worker and chromium on the same two cores.
    expect.set_options(timeout=10_000)
    with sync_playwright() as playwright:
        # As root (CI), chromium refuses to start without --no-sandbox.
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        chromium = playwright.chromium.launch(executable_path=path, args=args)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: Any, ui_server: Server) -> Any:
    """A signed-in admin's tab."""
    log_in(context, ui_server)
    return context.new_page()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[Server]:
    """A server of the test's own (one it may stop and start)."""
    server = Server(tmp_path)
    server.start()
    yield server
    server.stop()
    full = server.log(0)
    assert "Traceback" not in full, full[full.find("Traceback") - 2000 :][:8000]
