"""The history of a worker's attempts: every way an attempt starts and ends, read back
whole, capped at the history limit, paged, and pruned by age. PostgreSQL derives an
attempt's `started` and `completed` events from its job row (queries.sql,
derived_events); every read must return what SQLite, which stores them, returns."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from store_support import LEASE, T0, OpenStore, at, claim_one, fence_of, insert

from jobdeck.domain.job import Fence, HistoryEvent, Job, Status
from jobdeck.store.base import Store

OTHER = "worker-2"


def summary(history: list[HistoryEvent]) -> list[tuple[Any, ...]]:
    """What each event says, without its id."""
    return [(e.kind, e.message, e.data, e.created_at) for e in history]


def started(attempt: int, worker: str, seconds: float) -> tuple[Any, ...]:
    return ("started", None, {"attempt": attempt, "worker": worker}, at(seconds))


def check_ids(history: list[HistoryEvent], job: Job) -> None:
    assert [e.id for e in history] == sorted({e.id for e in history}), history
    assert all(e.job_id == job.job_id for e in history)


async def test_a_claimed_job_with_progress_and_logs_then_completed(store: Store) -> None:
    job = await insert(store)
    fence = fence_of(await claim_one(store, at(1)))
    await store.update_progress(job.job_id, 10.0, None, None, at(2), fence)  # no row
    await store.update_progress(job.job_id, 50.0, None, "Halfway", at(3), fence)
    await store.add_history(job.job_id, "log", "a line", {"level": "info"}, at(4))
    await store.heartbeat(fence.worker_id, [fence], at(5), LEASE)
    running = await store.get_history(job.job_id)
    assert summary(running) == [
        ("created", None, None, T0),
        started(1, fence.worker_id, 1),
        ("progress", "Halfway", {"progress": 50.0}, at(3)),
        ("log", "a line", {"level": "info"}, at(4)),
    ]
    assert await store.complete_many([(fence, {"n": 1})], at(6)) == [True]
    history = await store.get_history(job.job_id)
    assert summary(history) == [*summary(running), ("completed", None, None, at(6))]
    assert [e.id for e in history[:4]] == [e.id for e in running]  # the same events
    check_ids(history, job)


async def test_completions_that_ride_with_a_claim_and_a_single_complete(store: Store) -> None:
    first = await insert(store, run_at=at(-2))
    second = await insert(store, run_at=at(-1))
    third = await insert(store)
    one = fence_of(await claim_one(store, at(1)))
    done, claimed = await store.complete_and_claim([(one, None)], OTHER, 1, at(2), LEASE)
    assert done == [True] and [j.job_id for j in claimed] == [second.job_id]
    two = fence_of(claimed[0])
    await store.complete(second.job_id, {"ok": True}, at(3), two)
    three = fence_of(await claim_one(store, at(4)))
    await store.cancel(third.job_id, at(5))  # cancelling: the attempt goes on
    assert await store.complete_many([(three, None)], at(6)) == [True]
    expected = [
        (first, [started(1, one.worker_id, 1), ("completed", None, None, at(2))]),
        (second, [started(1, OTHER, 2), ("completed", None, None, at(3))]),
        (
            third,
            [
                started(1, three.worker_id, 4),
                ("cancelling", None, None, at(5)),
                ("completed", None, None, at(6)),
            ],
        ),
    ]
    for job, events in expected:
        history = await store.get_history(job.job_id)
        assert summary(history) == [("created", None, None, T0), *events], job.name
        check_ids(history, job)


async def test_a_job_retried_after_failures_keeps_each_attempts_start(store: Store) -> None:
    job = await insert(store, max_retries=1)
    first = fence_of(await claim_one(store, at(1)))
    await store.retry_later(first, "flaky", at(30), at(2))
    second = fence_of(await claim_one(store, at(30), worker=OTHER))
    await store.add_history(job.job_id, "log", "again", None, at(31))
    await store.fail(job.job_id, "broken", at(32), second)
    await store.retry(job.job_id, at(40))
    third = fence_of(await claim_one(store, at(41)))
    assert (first.attempt, second.attempt, third.attempt) == (1, 2, 3)
    await store.complete_many([(third, None)], at(42))
    history = await store.get_history(job.job_id)
    assert summary(history) == [
        ("created", None, None, T0),
        started(1, first.worker_id, 1),
        ("retry", "flaky", {"run_at": at(30).isoformat(), "attempt": 1}, at(2)),
        started(2, OTHER, 30),
        ("log", "again", None, at(31)),
        ("error", "broken", None, at(32)),
        ("retry", "Retry requested", {"run_at": at(40).isoformat(), "manual": True}, at(40)),
        started(3, first.worker_id, 41),
        ("completed", None, None, at(42)),
    ]
    check_ids(history, job)


async def test_a_released_attempt_keeps_its_start_with_its_own_number(store: Store) -> None:
    job = await insert(store)
    fence = fence_of(await claim_one(store, at(1)))
    assert await store.release([fence], at(2)) == 1
    job_now = await store.get_job(job.job_id)
    assert job_now is not None and job_now.attempt == 0  # a release is not counted
    again = fence_of(await claim_one(store, at(3), worker=OTHER))
    assert again.attempt == 1
    assert summary(await store.get_history(job.job_id)) == [
        ("created", None, None, T0),
        started(1, fence.worker_id, 1),
        ("released", None, None, at(2)),
        started(1, OTHER, 3),
    ]
    # Released while cancelling: the job ends cancelled, its attempt still counted.
    await store.cancel(job.job_id, at(4))
    assert summary(await store.get_history(job.job_id))[-2:] == [
        started(1, OTHER, 3),
        ("cancelling", None, None, at(4)),
    ]
    assert await store.release([again], at(5)) == 1
    history = await store.get_history(job.job_id)
    assert summary(history)[-3:] == [
        started(1, OTHER, 3),
        ("cancelling", None, None, at(4)),
        ("released", None, None, at(5)),
    ]
    check_ids(history, job)


End = Callable[[Store, Job, Fence], Awaitable[object]]


async def _fail(store: Store, job: Job, fence: Fence) -> object:
    return await store.fail(job.job_id, "x", at(5), fence)


async def _retry_later(store: Store, job: Job, fence: Fence) -> object:
    return await store.retry_later(fence, "x", at(50), at(5))


async def _mark_cancelled(store: Store, job: Job, fence: Fence) -> object:
    await store.cancel(job.job_id, at(4))
    return await store.mark_cancelled(fence, at(5))


async def _release(store: Store, job: Job, fence: Fence) -> object:
    return await store.release([fence], at(5))


async def _rescue(store: Store, job: Job, fence: Fence) -> object:
    return await store.rescue_expired(at(1 + LEASE + 1))


async def _rescue_cancelling(store: Store, job: Job, fence: Fence) -> object:
    await store.cancel(job.job_id, at(4))
    return await store.rescue_expired(at(1 + LEASE + 1))


async def _complete(store: Store, job: Job, fence: Fence) -> object:
    return await store.complete(job.job_id, None, at(5), fence)


async def _complete_many(store: Store, job: Job, fence: Fence) -> object:
    return await store.complete_many([(fence, None)], at(5))


ENDS: dict[str, tuple[End, Status]] = {
    "fail": (_fail, Status.FAILED),
    "retry_later": (_retry_later, Status.PENDING),
    "mark_cancelled": (_mark_cancelled, Status.CANCELLED),
    "release": (_release, Status.PENDING),
    "rescue_expired": (_rescue, Status.PENDING),
    "rescue_expired, no retries left": (_rescue, Status.FAILED),
    "rescue_expired, cancelling": (_rescue_cancelling, Status.CANCELLED),
    "complete": (_complete, Status.COMPLETED),
    "complete_many": (_complete_many, Status.COMPLETED),
}


@pytest.mark.parametrize("end", list(ENDS))
async def test_every_end_of_an_attempt_keeps_its_start_once(store: Store, end: str) -> None:
    ending, status = ENDS[end]
    job = await insert(store, max_retries=0 if "no retries" in end else 3)
    fence = fence_of(await claim_one(store, at(1)))
    await ending(store, job, fence)
    ended = await store.get_job(job.job_id)
    assert ended is not None and ended.status is status
    history = await store.get_history(job.job_id)
    assert [e for e in summary(history) if e[0] == "started"] == [started(1, fence.worker_id, 1)]
    check_ids(history, job)
    # A later attempt (where the job can run again) adds its own start beside it.
    if status is Status.PENDING:
        later = fence_of(await claim_one(store, at(60), worker=OTHER))
        await store.fail(job.job_id, "y", at(61), later)
        starts = [e for e in summary(await store.get_history(job.job_id)) if e[0] == "started"]
        assert starts == [started(1, fence.worker_id, 1), started(later.attempt, OTHER, 60)]


async def test_the_limit_counts_derived_events(open_store: OpenStore) -> None:
    store = await open_store(history_limit=5)
    job = await insert(store)
    fence = fence_of(await claim_one(store, at(1)))
    for i in range(12):
        await store.add_history(job.job_id, "log", f"line {i}", None, at(2 + i))
    history = await store.get_history(job.job_id)
    assert [e.message for e in history] == [f"line {i}" for i in range(7, 12)]
    assert await store.get_history(job.job_id, after=0) == history
    await store.complete_many([(fence, None)], at(20))
    history = await store.get_history(job.job_id, limit=100)
    assert [e.message for e in history[:4]] == [f"line {i}" for i in range(8, 12)]
    assert history[-1].kind == "completed" and len(history) == 5
    assert await store.get_history(job.job_id, after=0, limit=100) == history
    assert await store.get_history(job.job_id, after=history[1].id) == history[2:]
    assert [e.message for e in await store.get_history(job.job_id, limit=2)] == ["line 11", None]


async def test_the_limit_keeps_the_newest_of_stored_and_derived_events(
    open_store: OpenStore,
) -> None:
    store = await open_store(history_limit=4)
    done = await insert(store, name="done")
    fence = fence_of(await claim_one(store, at(1)))
    await store.add_history(done.job_id, "log", "one", None, at(2))
    await store.add_history(done.job_id, "log", "two", None, at(3))
    await store.complete_many([(fence, None)], at(4))
    history = await store.get_history(done.job_id)
    assert summary(history) == [
        started(1, fence.worker_id, 1),
        ("log", "one", None, at(2)),
        ("log", "two", None, at(3)),
        ("completed", None, None, at(4)),
    ]
    assert await store.get_history(done.job_id, after=0) == history

    failed = await insert(store, name="failed")
    fence = fence_of(await claim_one(store, at(10)))
    for i in range(3):
        await store.add_history(failed.job_id, "log", str(i), None, at(11 + i))
    await store.fail(failed.job_id, "broken", at(20), fence)
    history = await store.get_history(failed.job_id)
    assert [(e.kind, e.message) for e in history] == [
        ("log", "0"),
        ("log", "1"),
        ("log", "2"),
        ("error", "broken"),
    ]
    assert await store.get_history(failed.job_id, after=0) == history
    await store.retry(failed.job_id, at(30))
    assert [e.kind for e in await store.get_history(failed.job_id, after=0)] == [
        "log",
        "log",
        "error",
        "retry",
    ]


async def test_paging_forward_across_derived_events(store: Store) -> None:
    job = await insert(store)
    fence = fence_of(await claim_one(store, at(1)))
    for i in range(3):
        await store.add_history(job.job_id, "log", str(i), None, at(2 + i))

    async def follow(after: int) -> list[HistoryEvent]:
        seen: list[HistoryEvent] = []
        while page := await store.get_history(job.job_id, limit=2, after=after):
            assert len(page) <= 2
            seen += page
            after = page[-1].id
        return seen

    seen = await follow(0)
    assert [e.kind for e in seen] == ["created", "started", "log", "log", "log"]
    assert seen == await store.get_history(job.job_id)
    assert await store.get_history(job.job_id, after=seen[0].id, limit=1) == [seen[1]]
    await store.complete_many([(fence, None)], at(10))
    more = await follow(seen[-1].id)
    assert summary(more) == [("completed", None, None, at(10))]
    assert await store.get_history(job.job_id) == seen + more
    assert await store.get_history(job.job_id, after=seen[1].id, limit=0) == []


async def test_prune_history_by_age_drops_derived_events(store: Store) -> None:
    done = await insert(store, name="done")
    fence = fence_of(await claim_one(store, at(10)))
    await store.add_history(done.job_id, "log", "late", None, at(20))
    await store.complete_many([(fence, None)], at(30))
    running = await insert(store, name="running", now=at(1))
    held = fence_of(await claim_one(store, at(12)))

    # created (T0, at 1) and started (at 10, at 12) of both
    assert await store.prune_history(at(15)) == 4
    assert [e.kind for e in await store.get_history(done.job_id)] == ["log", "completed"]
    assert await store.get_history(running.job_id) == []
    assert await store.prune_history(at(15)) == 0
    # The pruned start is not stored when the attempt ends.
    await store.fail(running.job_id, "broken", at(40), held)
    assert [e.kind for e in await store.get_history(running.job_id)] == ["error"]
    assert await store.prune_history(at(25)) == 1
    assert [e.kind for e in await store.get_history(done.job_id, after=0)] == ["completed"]
    assert await store.prune_history(at(35)) == 1
    assert await store.get_history(done.job_id) == []
    assert await store.prune_history(at(100)) == 1  # the error
    assert await store.prune_history(at(100)) == 0


async def test_prune_history_counts_a_stored_start_once(store: Store) -> None:
    job = await insert(store, max_retries=1)
    fence = fence_of(await claim_one(store, at(10)))
    await store.retry_later(fence, "flaky", at(30), at(11))
    assert await store.prune_history(at(20)) == 3  # created, started, retry
    again = fence_of(await claim_one(store, at(30)))
    await store.complete_many([(again, None)], at(31))
    assert summary(await store.get_history(job.job_id)) == [
        started(2, again.worker_id, 30),
        ("completed", None, None, at(31)),
    ]


async def test_paging_at_the_limit_after_a_claim_given_back(open_store: OpenStore) -> None:
    """A job's count of events includes every claim's, so a forward page at the limit
    starts where the newest `limit` events do."""
    store = await open_store(history_limit=3)
    job = await insert(store)
    fence = fence_of(await claim_one(store, at(1)))
    await store.release([fence], at(2))
    again = await claim_one(store, at(3), worker=OTHER)
    history = await store.get_history(job.job_id)
    assert summary(history) == [
        started(1, fence.worker_id, 1),
        ("released", None, None, at(2)),
        started(again.attempt, OTHER, 3),
    ]
    assert await store.get_history(job.job_id, after=0) == history


async def test_events_written_after_a_prune_stay_though_older_than_its_bound(
    store: Store,
) -> None:
    """A prune deletes what is there: an event written after it, at a time before its
    bound (a clock behind, a write under way), stays."""
    assert await store.prune_history(at(15)) == 0
    job = await insert(store, now=at(5))
    fence = fence_of(await claim_one(store, at(6)))
    await store.complete_many([(fence, None)], at(7))
    assert summary(await store.get_history(job.job_id)) == [
        ("created", None, None, at(5)),
        started(1, fence.worker_id, 6),
        ("completed", None, None, at(7)),
    ]
    assert await store.prune_history(at(15)) == 3
    assert await store.get_history(job.job_id) == []
