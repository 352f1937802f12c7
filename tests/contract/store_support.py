"""Helpers for the store conformance suite: explicit times and jobs in a given state."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from jobdeck.domain.job import Fence, Job, Mode, NewJob, Priority, Status
from jobdeck.store.base import Store

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LEASE = 30.0
WORKER = "worker-1"


def at(seconds: float) -> datetime:
    """T0 + seconds: every test runs on explicit times, never the wall clock."""
    return T0 + timedelta(seconds=seconds)


def new_job(mode: Mode = Mode.QUEUED, **fields: Any) -> NewJob:
    fields.setdefault("name", f"{mode.value} job")
    fields.setdefault("type", "test:noop")
    return NewJob(mode=mode, **fields)


async def insert(store: Store, mode: Mode = Mode.QUEUED, now: datetime = T0, **fields: Any) -> Job:
    [job] = await store.insert_jobs([new_job(mode, **fields)], now)
    return job


def fence_of(job: Job) -> Fence:
    assert job.locked_by is not None, job
    return Fence(job.job_id, job.attempt, job.locked_by)


async def claim_one(store: Store, now: datetime = T0, worker: str = WORKER) -> Job:
    jobs = await store.claim(worker, 1, now, LEASE)
    assert len(jobs) == 1, jobs
    return jobs[0]


_EARLIER = itertools.count(1000)

# Every (mode, status) a job can be in.
STATES: list[tuple[Mode, Status]] = [
    (Mode.TRACKED, Status.PENDING),
    (Mode.TRACKED, Status.RUNNING),
    (Mode.TRACKED, Status.COMPLETED),
    (Mode.TRACKED, Status.FAILED),
    (Mode.TRACKED, Status.CANCELLED),
    (Mode.QUEUED, Status.PENDING),
    (Mode.QUEUED, Status.RUNNING),
    (Mode.QUEUED, Status.CANCELLING),
    (Mode.QUEUED, Status.COMPLETED),
    (Mode.QUEUED, Status.FAILED),
    (Mode.QUEUED, Status.CANCELLED),
]


async def job_in(store: Store, mode: Mode, status: Status) -> tuple[Job, Fence]:
    """A fresh job of ``mode`` in ``status`` (the only job claimable), and a fence for it
    (the real one where a worker holds it, else its latest attempt's)."""
    # Earlier run_at than any job made before: claimed first even if others are left.
    job = await insert(store, mode, priority=Priority.URGENT, run_at=at(-next(_EARLIER)))
    fence = Fence(job.job_id, 0, WORKER)
    if status is Status.PENDING:
        return job, fence
    if status is Status.CANCELLED and mode is Mode.TRACKED:
        return await store.cancel(job.job_id, at(1)), fence
    if mode is Mode.TRACKED:
        job = await store.start(job.job_id, at(1))
    else:
        job = await claim_one(store, at(1))
        assert job.job_id == fence.job_id
        fence = fence_of(job)
    if status is Status.RUNNING:
        return job, fence
    if status is Status.CANCELLING:
        return await store.cancel(job.job_id, at(2)), fence
    if status is Status.COMPLETED:
        return await store.complete(job.job_id, {"ok": True}, at(2)), fence
    if status is Status.FAILED:
        return await store.fail(job.job_id, "boom", at(2)), fence
    if status is Status.CANCELLED:
        job = await store.cancel(job.job_id, at(2))
        return await store.mark_cancelled(fence, at(3)), fence
    raise AssertionError(status)


OpenStore = Callable[..., Awaitable[Store]]
