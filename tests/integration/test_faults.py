"""Short versions of the fault battery (bench/faults.py prints the long ones' figures)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import faults


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_workers_killed_lose_nothing(backend: str) -> None:
    figures = await faults.workers_killed(backend, jobs=3000, every=1.0, concurrency=20)
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
