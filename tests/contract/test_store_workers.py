"""Claims, leases, fenced writes, retries, release, rescue and timeouts."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from store_support import LEASE, T0, WORKER, OpenStore, at, claim_one, fence_of, insert, new_job

from jobdeck.domain.job import Fence, JobFilter, Mode, Priority, Status
from jobdeck.errors import InvalidTransition, StaleWrite
from jobdeck.store.base import Store

P = Priority


async def test_claim_order_is_priority_then_run_at_then_id(store: Store) -> None:
    specs = [
        ("low-old", P.LOW, -100),
        ("normal-a", P.NORMAL, -5),
        ("urgent-late", P.URGENT, -1),
        ("normal-b", P.NORMAL, -5),
        ("high", P.HIGH, -3),
        ("urgent-early", P.URGENT, -2),
    ]
    jobs = [
        new_job(name=name, priority=priority, run_at=at(offset)) for name, priority, offset in specs
    ]
    await store.insert_jobs(jobs, at(-200))
    claimed = await store.claim(WORKER, 10, T0, LEASE)
    expected = ["urgent-early", "urgent-late", "high", "normal-a", "normal-b", "low-old"]
    assert [j.name for j in claimed] == expected


async def test_claim_one_at_a_time_follows_the_same_order(store: Store) -> None:
    priorities = [P.LOW, P.URGENT, P.NORMAL, P.HIGH, P.NORMAL]
    await store.insert_jobs(
        [new_job(name=str(i), priority=p) for i, p in enumerate(priorities)], T0
    )
    names = [(await claim_one(store, at(1))).name for _ in priorities]
    assert names == ["1", "3", "2", "4", "0"]
    assert await store.claim(WORKER, 1, at(1), LEASE) == []


async def test_claim_sets_lease_attempt_and_started(store: Store) -> None:
    job = await insert(store)
    claimed = await claim_one(store, at(5), worker="w-9")
    assert claimed.job_id == job.job_id
    assert claimed.status is Status.RUNNING
    assert claimed.attempt == 1
    assert claimed.locked_by == "w-9"
    assert claimed.lease_expires_at == at(5 + LEASE)
    assert claimed.started_at == at(5)
    assert claimed == await store.get_job(job.job_id)


async def test_future_and_tracked_jobs_are_not_claimed(store: Store) -> None:
    await insert(store, run_at=at(60))
    await insert(store, Mode.TRACKED)
    assert await store.claim(WORKER, 10, T0, LEASE) == []
    assert await store.next_run_at(T0) == at(60)
    [claimed] = await store.claim(WORKER, 10, at(60), LEASE)
    assert claimed.run_at == at(60)
    assert await store.next_run_at(at(60)) is None


async def test_claim_respects_limit(store: Store) -> None:
    await store.insert_jobs([new_job() for _ in range(5)], T0)
    assert len(await store.claim(WORKER, 3, T0, LEASE)) == 3
    assert len(await store.claim(WORKER, 3, T0, LEASE)) == 2
    assert await store.claim(WORKER, 3, T0, LEASE) == []


async def test_no_job_is_claimed_twice_under_concurrency(
    store: Store, open_store: OpenStore
) -> None:
    other = await open_store()
    total = 300
    await store.insert_jobs([new_job(priority=P(i % 4)) for i in range(total)], T0)
    seen: dict[str, str] = {}
    claimers = [(store, "a1"), (store, "a2"), (other, "b1"), (other, "b2")]
    for _ in range(total):
        batches = await asyncio.gather(*(s.claim(w, 7, T0, LEASE) for s, w in claimers))
        if not any(batches):
            break
        for (_, worker), batch in zip(claimers, batches, strict=True):
            for job in batch:
                assert job.job_id not in seen, f"{job.job_id} claimed by {seen.get(job.job_id)}"
                seen[job.job_id] = worker
                assert job.locked_by == worker and job.attempt == 1
    assert len(seen) == total


async def test_heartbeat_extends_lease_and_reports_cancelling(store: Store) -> None:
    a, b = await insert(store), await insert(store)
    claimed = await store.claim(WORKER, 2, T0, LEASE)
    fences = [fence_of(j) for j in claimed]
    assert await store.heartbeat(WORKER, fences, at(10), LEASE) == {
        a.job_id: Status.RUNNING,
        b.job_id: Status.RUNNING,
    }
    assert (await store.get_job(a.job_id)).lease_expires_at == at(10 + LEASE)  # type: ignore[union-attr]
    await store.cancel(b.job_id, at(11))
    assert await store.heartbeat(WORKER, fences, at(12), LEASE) == {
        a.job_id: Status.RUNNING,
        b.job_id: Status.CANCELLING,
    }
    # The lease was extended: no rescue before it runs out.
    assert await store.rescue_expired(at(12 + LEASE - 1)) == []


async def test_heartbeat_omits_jobs_lost_to_the_worker(store: Store) -> None:
    job = await insert(store)
    fence = fence_of(await claim_one(store))
    await store.complete(job.job_id, None, at(1), fence)
    stale = Fence(job.job_id, fence.attempt + 1, WORKER)
    assert await store.heartbeat(WORKER, [fence, stale], at(2), LEASE) == {}
    assert await store.heartbeat("someone-else", [fence], at(2), LEASE) == {}


async def test_fenced_writes_rejected_after_rescue_and_reclaim(store: Store) -> None:
    job = await insert(store)
    old = fence_of(await claim_one(store, T0, worker="w1"))
    [rescued] = await store.rescue_expired(at(LEASE + 1))
    assert rescued.status is Status.PENDING and rescued.locked_by is None
    stale_writes = [
        lambda f: store.update_progress(job.job_id, 10.0, None, None, at(40), f),
        lambda f: store.complete(job.job_id, None, at(40), f),
        lambda f: store.fail(job.job_id, "x", at(40), f),
        lambda f: store.retry_later(f, "x", at(99), at(40)),
        lambda f: store.mark_cancelled(f, at(40)),
    ]
    # Rescued, not yet re-claimed.
    for write in stale_writes:
        before = await store.get_job(job.job_id)
        with pytest.raises(StaleWrite):
            await write(old)
        assert await store.get_job(job.job_id) == before
    # Re-claimed by another worker: the old attempt still cannot write.
    new = fence_of(await claim_one(store, at(41), worker="w2"))
    assert new.attempt == old.attempt + 1
    for write in stale_writes:
        before = await store.get_job(job.job_id)
        with pytest.raises(StaleWrite):
            await write(old)
        assert await store.get_job(job.job_id) == before
    assert await store.release([old], at(42)) == 0
    assert await store.complete_many([(old, 1)], at(42)) == [False]
    done = await store.complete(job.job_id, "ok", at(43), new)
    assert done.status is Status.COMPLETED and done.result == "ok"


async def test_fenced_write_of_another_worker_is_stale(store: Store) -> None:
    job = await insert(store)
    fence = fence_of(await claim_one(store, T0, worker="w1"))
    with pytest.raises(StaleWrite):
        await store.complete(job.job_id, None, at(1), Fence(job.job_id, fence.attempt, "w2"))
    with pytest.raises(StaleWrite):
        await store.complete(job.job_id, None, at(1), Fence(job.job_id, fence.attempt + 1, "w1"))


async def test_complete_many_mixes_done_and_stale(store: Store) -> None:
    await store.insert_jobs([new_job(name=str(i)) for i in range(3)], T0)
    claimed = await store.claim(WORKER, 3, T0, LEASE)
    fences = [fence_of(j) for j in claimed]
    stale = Fence(claimed[1].job_id, 7, WORKER)
    results = await store.complete_many(
        [(fences[0], {"n": 0}), (stale, None), (fences[2], [2])], at(5)
    )
    assert results == [True, False, True]
    first, third = [await store.get_job(claimed[i].job_id) for i in (0, 2)]
    assert first is not None and first.result == {"n": 0}
    assert third is not None and third.result == [2]
    assert first.status is Status.COMPLETED and first.completed_at == at(5)
    assert (await store.get_job(claimed[1].job_id)).status is Status.RUNNING  # type: ignore[union-attr]
    assert await store.complete_many([], at(6)) == []


async def test_complete_and_claim_completes_then_claims_in_claim_order(store: Store) -> None:
    await store.insert_jobs([new_job(name="a"), new_job(name="b")], at(-10))
    a, b = await store.claim(WORKER, 2, at(-5), LEASE)
    await store.insert_jobs(
        [
            new_job(name="normal"),
            new_job(name="low", priority=P.LOW),
            new_job(name="urgent", priority=P.URGENT),
        ],
        at(-4),
    )
    stale = Fence(b.job_id, b.attempt + 1, WORKER)
    before = await store.last_seq()
    done, claimed = await store.complete_and_claim(
        [(fence_of(a), {"n": 1}), (stale, None)], "w-2", 2, at(5), LEASE
    )
    assert done == [True, False]
    completed = await store.get_job(a.job_id)
    assert completed is not None and completed.status is Status.COMPLETED
    assert completed.result == {"n": 1} and completed.completed_at == at(5)
    assert (await store.get_job(b.job_id)).status is Status.RUNNING  # type: ignore[union-attr]
    assert [j.name for j in claimed] == ["urgent", "normal"]
    for job in claimed:
        assert job.status is Status.RUNNING and job.attempt == 1 and job.locked_by == "w-2"
        assert job.started_at == at(5) and job.lease_expires_at == at(5 + LEASE)
        assert job == await store.get_job(job.job_id)
        assert [e.kind for e in await store.get_history(job.job_id)] == ["created", "started"]
    kinds = [e.kind for e in await store.get_history(a.job_id)]
    assert kinds == ["created", "started", "completed"]
    # Both writes are in the change feed, after what a follower had read.
    changed = sorted((c.record for c in await store.changes_since(before)), key=lambda r: r.id)
    assert changed == sorted([completed, *claimed], key=lambda r: r.id)


async def test_complete_and_claim_without_completions_or_slots(store: Store) -> None:
    await store.insert_jobs([new_job(name=str(i)) for i in range(3)], T0)
    assert await store.complete_and_claim([], WORKER, 0, at(1), LEASE) == ([], [])
    done, claimed = await store.complete_and_claim([], WORKER, 1, at(1), LEASE)
    assert done == [] and [j.name for j in claimed] == ["0"]
    done, claimed = await store.complete_and_claim(
        [(fence_of(claimed[0]), None)], WORKER, 0, at(2), LEASE
    )
    assert claimed == [] and done == [True]
    assert await store.count_by_status(JobFilter()) == {Status.COMPLETED: 1, Status.PENDING: 2}


async def test_retry_later_puts_job_back_with_backoff(store: Store) -> None:
    job = await insert(store, max_retries=3)
    fence = fence_of(await claim_one(store))
    later = await store.retry_later(fence, "flaky API", at(35), at(5))
    assert later.status is Status.PENDING
    assert later.run_at == at(35)
    assert later.error_message == "flaky API"
    assert later.locked_by is None and later.lease_expires_at is None
    assert await store.claim(WORKER, 1, at(34), LEASE) == []
    again = await claim_one(store, at(35))
    assert again.job_id == job.job_id and again.attempt == 2
    with pytest.raises(StaleWrite):
        await store.retry_later(fence, "again", at(99), at(36))


async def test_mark_cancelled_after_cancel_request(store: Store) -> None:
    job = await insert(store)
    fence = fence_of(await claim_one(store))
    with pytest.raises(InvalidTransition):
        await store.mark_cancelled(fence, at(1))  # nobody asked to cancel
    await store.cancel(job.job_id, at(2))
    done = await store.mark_cancelled(fence, at(3))
    assert done.status is Status.CANCELLED and done.completed_at == at(3)
    assert done.locked_by is None


async def test_release_gives_back_unfinished_attempts(store: Store) -> None:
    await store.insert_jobs([new_job(name=str(i)) for i in range(3)], T0)
    a, b, c = await store.claim(WORKER, 3, T0, LEASE)
    await store.cancel(b.job_id, at(1))
    await store.complete(c.job_id, None, at(2), fence_of(c))
    count = await store.release([fence_of(a), fence_of(b), fence_of(c)], at(5))
    assert count == 2
    ra, rb, rc = [await store.get_job(j.job_id) for j in (a, b, c)]
    assert ra is not None and rb is not None and rc is not None
    assert ra.status is Status.PENDING and ra.attempt == 0 and ra.run_at == at(5)
    assert ra.locked_by is None and ra.lease_expires_at is None
    assert rb.status is Status.CANCELLED and rb.completed_at == at(5)
    assert rc.status is Status.COMPLETED
    again = await claim_one(store, at(5))
    assert again.job_id == a.job_id and again.attempt == 1  # the released attempt did not count
    assert await store.release([], at(6)) == 0


async def test_rescue_only_touches_expired_leases(store: Store) -> None:
    await store.insert_jobs([new_job(name="early"), new_job(name="late")], T0)
    early = await claim_one(store, T0)
    late = await claim_one(store, at(20))
    tracked = await insert(store, Mode.TRACKED)
    await store.start(tracked.job_id, T0)
    assert await store.rescue_expired(at(LEASE - 1)) == []
    [rescued] = await store.rescue_expired(at(LEASE + 1))
    assert rescued.job_id == early.job_id
    assert rescued.status is Status.PENDING and rescued.run_at == at(LEASE + 1)
    assert rescued.attempt == 1  # the lost attempt counts
    assert (await store.get_job(late.job_id)).status is Status.RUNNING  # type: ignore[union-attr]
    assert (await store.get_job(tracked.job_id)).status is Status.RUNNING  # type: ignore[union-attr]
    assert await store.rescue_expired(at(LEASE + 1)) == []


async def test_rescue_respects_retries(store: Store) -> None:
    job = await insert(store, max_retries=1)
    await claim_one(store, T0)
    [first] = await store.rescue_expired(at(100))
    assert first.status is Status.PENDING
    second = await claim_one(store, at(100))
    assert second.attempt == 2
    [last] = await store.rescue_expired(at(200))
    assert last.job_id == job.job_id
    assert last.status is Status.FAILED
    assert last.error_message == "Worker lost: lease expired"
    assert last.completed_at == at(200)


async def test_rescue_finishes_expired_cancelling_jobs(store: Store) -> None:
    job = await insert(store)
    await claim_one(store, T0)
    await store.cancel(job.job_id, at(1))
    [rescued] = await store.rescue_expired(at(100))
    assert rescued.status is Status.CANCELLED and rescued.completed_at == at(100)


async def test_fail_timed_out_tracked(store: Store) -> None:
    short = await insert(store, Mode.TRACKED, timeout=10)
    forever = await insert(store, Mode.TRACKED, timeout=0)
    pending = await insert(store, Mode.TRACKED, timeout=10)
    queued = await insert(store, timeout=10)
    for job in (short, forever):
        await store.start(job.job_id, T0)
    await claim_one(store, T0)
    assert await store.fail_timed_out_tracked(at(9)) == []
    [failed] = await store.fail_timed_out_tracked(at(11))
    assert failed.job_id == short.job_id
    assert failed.status is Status.FAILED
    assert failed.error_message == "Job timed out after 10 seconds"
    assert failed.completed_at == at(11)
    for job in (forever, pending, queued):
        assert (await store.get_job(job.job_id)).status is not Status.FAILED  # type: ignore[union-attr]
    assert await store.fail_timed_out_tracked(at(10_000)) == []


async def test_next_run_at_is_the_earliest_pending_queued_job(store: Store) -> None:
    assert await store.next_run_at(T0) is None
    await insert(store, run_at=at(90))
    await insert(store, run_at=at(30))
    await insert(store, Mode.TRACKED)
    assert await store.next_run_at(T0) == at(30)
    assert (await store.next_run_at(T0)).tzinfo is not None  # type: ignore[union-attr]
    assert T0 + timedelta(seconds=30) == at(30)
