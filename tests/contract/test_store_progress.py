"""Rate and ETA from the progress window (docs/progress.md) on every backend.

Each store must give exactly the numbers of jobdeck.domain.progress.estimate for the
same updates: PostgreSQL computes them in SQL (migration 5), SQLite in Python, so an
exact comparison with the one definition is what keeps the backends equal.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from store_support import T0, at, claim_one, fence_of, insert

from jobdeck.domain.job import Mode
from jobdeck.domain.progress import Sample, estimate
from jobdeck.store.base import Store

US = 1_000_000
T0_US = int(T0.timestamp()) * US

SEQUENCES: dict[str, list[tuple[float, float]]] = {
    # (seconds after start, progress)
    "example": [(0.005, 10.0), (1.005, 30.0), (1.505, 40.0)],
    "burst at start": [(0.001 * i, float(i)) for i in range(1, 11)]
    + [(1.0 * i, 10.0 + 2.0 * i) for i in range(1, 16)],
    "stall": [(1.0 * i, 5.0 * i) for i in range(1, 6)] + [(27.5, 26.0), (28.0, 27.0)],
    "jitter": [
        (i + (0.3, -0.25, 0.1, -0.3, 0.2, 0.0, -0.1)[i % 7], 100.0 / 3.0 * i / 10)
        for i in range(1, 25)
    ],
    "speeds up": [(1.0 * i, 0.7 * i) for i in range(1, 16)]
    + [(15.0 + 0.25 * i, 10.5 + 1.1 * i) for i in range(1, 40)],
    "goes back and on": [(1.0, 50.0), (2.0, 60.1), (2.2, 10.0), (3.3, 14.2), (3.9, 14.2)],
    "same instant": [(1.0, 10.0), (1.0, 20.0), (1.000001, 20.5)],
}


def expected(updates: list[tuple[float, float]]) -> list[tuple[float | None, float | None]]:
    window: list[Sample] | None = None
    out = []
    for seconds, progress in updates:
        now_us = T0_US + round(seconds * US)
        window, rate, eta = estimate(window, progress, now_us)
        out.append((rate, eta))
    return out


def _at_us(seconds: float) -> datetime:
    """The microsecond the reference uses (``at`` may round differently)."""
    return T0 + timedelta(microseconds=round(seconds * US))


@pytest.mark.parametrize("name", sorted(SEQUENCES))
async def test_rate_and_eta_are_the_domain_numbers(store: Store, name: str) -> None:
    updates = SEQUENCES[name]
    job = await insert(store, Mode.TRACKED)
    await store.start(job.job_id, T0)
    got = []
    for seconds, progress in updates:
        job = await store.update_progress(job.job_id, progress, None, None, _at_us(seconds))
        got.append((job.rate, job.eta_seconds))
        assert await store.get_job(job.job_id) == job
    assert got == expected(updates)  # exactly: both backends give the same numbers


async def test_the_example_of_the_docs(store: Store) -> None:
    job = await insert(store, Mode.TRACKED)
    await store.start(job.job_id, T0)
    first = await store.update_progress(job.job_id, 10.0, None, None, at(0.005))
    assert first.rate is None and first.eta_seconds is None
    await store.update_progress(job.job_id, 30.0, None, None, at(1.005))
    last = await store.update_progress(job.job_id, 40.0, None, None, at(1.505))
    assert last.rate == pytest.approx(20.0)
    assert last.eta_seconds == pytest.approx(3.0)


async def test_a_new_attempt_starts_a_new_window(store: Store) -> None:
    job = await insert(store, max_retries=2)
    fence = fence_of(await claim_one(store, at(0)))
    await store.update_progress(job.job_id, 10.0, None, None, at(1), fence)
    await store.update_progress(job.job_id, 50.0, None, None, at(2), fence)
    await store.retry_later(fence, "flaky", at(3), at(3))
    fence = fence_of(await claim_one(store, at(3)))
    again = await store.update_progress(job.job_id, 5.0, None, None, at(4), fence)
    assert again.rate is None and again.eta_seconds is None  # not (5 - 50) / 3 s
    later = await store.update_progress(job.job_id, 15.0, None, None, at(6), fence)
    assert later.rate == pytest.approx(5.0)
