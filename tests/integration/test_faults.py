"""Short versions of the fault battery (bench/faults.py prints the long ones' figures)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import common
import faults


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_workers_killed_lose_nothing(backend: str) -> None:
    # 50 ms jobs: the drain outlasts the first kill however fast the machine is, and
    # kills land while handlers run.
    figures = await faults.workers_killed(backend, jobs=3000, every=1.0, concurrency=20, sleep=0.05)
    assert figures["lost"] == 0, figures
    assert figures["workers killed"] >= 1, figures
    assert figures["duplicates not explained by a killed worker"] == 0, figures
    assert figures["bad log lines (locked / traceback)"] == 0, figures["_bad"]
    assert figures["client errors"] == 0, figures["_bad"]


async def test_graceful_stop_with_sync_handlers_running() -> None:
    figures = await faults.graceful_stop("sqlite", jobs=20, grace=2.0, sleep=8.0)
    assert figures["exit code"] == 0, figures
    # Within the grace: handlers are interrupted before its end (docs/lifecycle.md);
    # it used to take the grace plus 2 s more for the sync handlers.
    assert figures["seconds from SIGTERM to exit"] < 2.0 + 0.5, figures
    assert figures["back in the queue at exit"] == 20, figures  # at once, no lease wait
    assert figures["final statuses"] == {"completed": 20}, figures
    assert figures["finished by the second worker"] == 20, figures


async def test_disk_full_is_a_clear_error_and_writes_resume() -> None:
    figures = await faults.disk_full()
    assert figures["error to the caller"].startswith("StoreError: "), figures
    assert "disk is full" in figures["error to the caller"]
    assert figures["nothing half-written"] and figures["reads keep working"], figures
    assert figures["writes resume (jobs now, want 15)"] == 15, figures


@pytest.mark.postgres
@pytest.mark.slow
async def test_database_restarts_lose_nothing_and_clients_resume() -> None:
    reason = common.PrivateServer.missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    figures = await faults.database_restarts(jobs=1500, clients=20, down=1.5, sleep=0.05)
    assert figures["lost"] == 0, figures
    assert figures["processes that exited during the run"] == [], figures
    assert len(figures["restarts (seconds down each)"]) == 2, figures
    assert max(figures["jobs completed when each restart began"]) < 1500, figures  # mid-drain
    assert figures["clients that saw every final state"] == 20, figures
    assert figures["resumes with since (fewest by a client)"] >= 2, figures
    assert figures["error messages to clients"] == 0, figures["_bad"]
    assert figures["tracebacks in the logs"] == 0, figures["_bad"]
    assert figures["exit codes after SIGTERM (serve, workers)"] == [0, 0, 0], figures


def test_read_only_file_is_a_clear_error_and_writes_resume() -> None:
    figures = faults.read_only()
    if os.geteuid() == 0:  # root writes to any file: the writer must have dropped to nobody
        assert figures["writer runs as"] == faults.UNPRIVILEGED, figures
    assert figures["error to the caller"].startswith("StoreError: "), figures
    assert "read-only" in figures["error to the caller"], figures
    assert figures["nothing half-written"] and figures["reads keep working"], figures
    # The same store writes again once the file is writable, without a restart.
    assert figures["writes resume (jobs now, want 15)"] == 15, figures
    assert figures["writer exit code"] == 0, figures
