"""A real ``jobdeck serve`` on loopback and Debian's chromium driven by Playwright, for
the UI tests (tests/e2e/test_ui_*.py; docs/ui.md, "Tests").

Chromium missing: the tests skip with the reason, except under ``CI=true`` where that
is a failure (``make test`` installs it on CI machines).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
JOBDECK = str(Path(sys.executable).parent / "jobdeck")
PLUGINS = REPO / "tests" / "fixtures" / "plugins"
SHOTS = REPO / "tests" / "e2e" / "screenshots"  # git-ignored
SERIOUS = {"serious", "critical"}


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    reason = "chromium is not installed (apt-get install chromium; `make test` does it as root)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``jobdeck serve`` on a SQLite file; the first start prints the admin token and the
    login link, which the tests use as a user would."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.database_url = f"sqlite:///{folder / 'jobdeck.db'}"
        self.env = {
            **os.environ,
            "JOBDECK_DATABASE_URL": self.database_url,
            "JOBDECK_PLUGINS_DIR": str(PLUGINS),
            "JOBDECK_POLL_SECONDS": "0.1",
            "JOBDECK_HEARTBEAT_SECONDS": "1",
            "NO_COLOR": "1",
        }
        self.env.pop("JOBDECK_ADMIN_TOKEN", None)
        self.proc: subprocess.Popen[bytes] | None = None
        self.token = ""
        self.link = ""
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        out = (self.folder / f"serve-{self.starts}.out").open("wb")
        err = (self.folder / f"serve-{self.starts}.err").open("wb")
        self.proc = subprocess.Popen(
            [JOBDECK, "serve", "--port", str(self.port)],
            cwd=self.folder,
            env=self.env,
            stdout=out,
            stderr=err,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jobdeck serve exited: {self.log()}")
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError(f"jobdeck serve did not start: {self.log()}")
        if self.starts == 1:
            printed = (self.folder / "serve-1.out").read_text()
            self.token = re.search(r"(jdk_\S+)", printed).group(1)  # type: ignore[union-attr]
            self.link = re.search(r"(http://\S+/login\?code=\S+)", printed).group(1)  # type: ignore[union-attr]

    def log(self, tail: int = 6000) -> str:
        """The server's log (every start), its last ``tail`` characters (0: all)."""
        text = "".join(
            (self.folder / f"serve-{n}.err").read_text() for n in range(1, self.starts + 1)
        )
        return text[-tail:] if tail else text

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    # --- the API, as a script or another service would use it ------------------------
    def api(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        response = httpx.request(method, self.base + path, headers=headers, timeout=10, **kwargs)
        assert response.status_code < 400, response.text
        return response.json()

    def tracked(self, name: str, **fields: Any) -> str:
        body = {"name": name, "type": "ui-e2e", **fields}
        return str(self.api("POST", "/api/v1/jobs", json=body)["data"]["jobId"])

    def drive(self, job_id: str, verb: str, body: dict[str, Any] | None = None) -> Any:
        return self.api("POST", f"/api/v1/jobs/{job_id}/{verb}", json=body or {})["data"]

    def token_for(self, name: str, *scopes: str, plugin: str | None = None) -> str:
        body = {"name": name, "scopes": list(scopes), "plugin": plugin}
        return str(self.api("POST", "/api/v1/tokens", json=body)["token"])


def log_in(context: Any, server: Server, token: str | None = None) -> None:
    """A session cookie in ``context`` (the login form has its own test)."""
    response = context.request.post(
        f"{server.base}/api/v1/session",
        data=json.dumps({"token": token or server.token}),
        headers={"Content-Type": "application/json", "Origin": server.base},
    )
    assert response.ok, response.text()


def check_accessibility(page: Any, name: str) -> None:
    """axe-core (shipped inside axe-playwright-python) in the page: no serious or
    critical violation."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in SERIOUS]
    details = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3], v["help"]) for v in bad
    ]
    assert not bad, f"{name}: {details}"


def screenshots(page: Any, name: str) -> None:
    """Light, dark and phone-width pictures of the page (git-ignored folder)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    page.emulate_media(color_scheme="light")
    page.screenshot(path=str(SHOTS / f"{name}-light.png"), full_page=True)
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(SHOTS / f"{name}-dark.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.emulate_media(color_scheme="light")
    page.screenshot(path=str(SHOTS / f"{name}-phone.png"), full_page=True)
    page.set_viewport_size(size)
