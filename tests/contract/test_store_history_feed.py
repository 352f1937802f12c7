"""History rows, their bound, progress, the change feed, cleanup and pruning."""

from __future__ import annotations

import pytest
from store_support import LEASE, T0, OpenStore, at, claim_one, fence_of, insert, new_job

from jobdeck.domain.job import Mode, Status
from jobdeck.errors import ValidationError
from jobdeck.store.base import Store


async def kinds(store: Store, job_id: str) -> list[str]:
    return [event.kind for event in await store.get_history(job_id)]


async def test_history_of_a_tracked_job(store: Store) -> None:
    job = await insert(store, Mode.TRACKED)
    await store.start(job.job_id, at(1))
    await store.update_progress(job.job_id, 10.0, {"a": 1}, None, at(2))  # no message: no row
    await store.update_progress(job.job_id, 50.0, None, "Halfway", at(3))
    await store.add_history(job.job_id, "log", "a line", {"level": "info"}, at(4))
    await store.complete(job.job_id, {"n": 1}, at(5))
    history = await store.get_history(job.job_id)
    assert [e.kind for e in history] == ["created", "started", "progress", "log", "completed"]
    assert [e.created_at for e in history] == [T0, at(1), at(3), at(4), at(5)]
    assert history[2].message == "Halfway"
    assert history[3].message == "a line" and history[3].data == {"level": "info"}
    assert all(e.job_id == job.job_id for e in history)
    assert history[0].id < history[-1].id


async def test_history_of_queued_job_retries_and_errors(store: Store) -> None:
    job = await insert(store, max_retries=1)
    fence = fence_of(await claim_one(store, at(1)))
    await store.retry_later(fence, "flaky", at(30), at(2))
    fence = fence_of(await claim_one(store, at(30)))
    await store.fail(job.job_id, "broken", at(31), fence)
    history = await store.get_history(job.job_id)
    assert [e.kind for e in history] == ["created", "started", "retry", "started", "error"]
    retry = history[2]
    assert retry.message == "flaky"
    assert retry.data is not None and "run_at" in retry.data
    assert history[4].message == "broken"


async def test_history_of_cancel_rescue_timeout_release(store: Store) -> None:
    cancelled = await insert(store, Mode.TRACKED)
    await store.cancel(cancelled.job_id, at(1))
    assert (await kinds(store, cancelled.job_id))[-1] == "cancelled"

    stopping = await insert(store)
    fence = fence_of(await claim_one(store, at(1)))
    await store.cancel(stopping.job_id, at(2))
    await store.mark_cancelled(fence, at(3))
    assert (await kinds(store, stopping.job_id))[-2:] == ["cancelling", "cancelled"]

    lost = await insert(store)
    await claim_one(store, at(1))
    await store.rescue_expired(at(1 + LEASE + 1))
    assert (await kinds(store, lost.job_id))[-1] == "rescued"
    await store.cancel(lost.job_id, at(40))  # not claimable any more

    released = await insert(store, run_at=at(100))
    fence = fence_of(await claim_one(store, at(100)))
    await store.release([fence], at(101))
    assert (await kinds(store, released.job_id))[-1] == "released"

    slow = await insert(store, Mode.TRACKED, timeout=5)
    await store.start(slow.job_id, at(1))
    await store.fail_timed_out_tracked(at(10))
    assert (await kinds(store, slow.job_id))[-1] == "timeout"


async def test_history_is_bounded(open_store: OpenStore) -> None:
    store = await open_store(history_limit=5)
    job = await insert(store, Mode.TRACKED)
    await store.start(job.job_id, at(1))
    for i in range(12):
        await store.add_history(job.job_id, "log", f"line {i}", None, at(2 + i))
    history = await store.get_history(job.job_id)
    assert [e.message for e in history] == [f"line {i}" for i in range(7, 12)]
    await store.complete(job.job_id, None, at(20))
    history = await store.get_history(job.job_id, limit=100)
    assert len(history) == 5 and history[-1].kind == "completed"
    assert [e.message for e in await store.get_history(job.job_id, limit=2)] == ["line 11", None]


async def test_progress_merges_metadata_and_estimates(store: Store) -> None:
    job = await insert(store, Mode.TRACKED, metadata={"keep": 1, "a": 0})
    await store.start(job.job_id, T0)
    first = await store.update_progress(job.job_id, 10.0, {"a": 1}, "Fetching", at(10))
    assert first.progress == 10.0 and first.progress_message == "Fetching"
    second = await store.update_progress(job.job_id, 20.0, {"b": 2, "a": None}, None, at(20))
    assert second.metadata == {"keep": 1, "a": None, "b": 2}  # shallow merge; null is kept
    assert second.progress == 20.0
    assert second.progress_message == "Fetching"  # no new message: the last one stays
    assert second.rate == pytest.approx(1.0)  # percent per second
    assert second.eta_seconds == pytest.approx(80.0)
    assert second.updated_at == at(20)
    assert await store.get_job(job.job_id) == second


async def test_change_feed_follows_every_write(store: Store) -> None:
    start = await store.last_seq()
    jobs = await store.insert_jobs([new_job(name=str(i)) for i in range(3)], T0)
    assert jobs[0].seq > start
    assert await store.last_seq() == jobs[0].seq
    changes = await store.changes_since(start)
    assert {c.job.job_id for c in changes} == {j.job_id for j in jobs}
    mark = await store.last_seq()
    claimed = await claim_one(store, at(1))
    assert claimed.seq > mark
    progressed = await store.update_progress(claimed.job_id, 5.0, None, None, at(2))
    assert progressed.seq > claimed.seq
    await store.add_history(claimed.job_id, "log", "x", None, at(3))  # bumps seq too
    changes = await store.changes_since(mark)
    assert [c.job.job_id for c in changes] == [claimed.job_id]
    assert changes[0].seq == changes[0].job.seq > progressed.seq
    assert changes[0].seq == await store.last_seq()
    assert await store.changes_since(await store.last_seq()) == []


async def test_change_feed_is_ordered_and_strictly_increasing(store: Store) -> None:
    seqs = []
    for i in range(5):
        job = await insert(store, Mode.TRACKED, name=str(i))
        seqs.append(job.seq)
        seqs.append((await store.start(job.job_id, at(i))).seq)
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    changes = await store.changes_since(0)
    assert [c.seq for c in changes] == sorted(c.seq for c in changes)


async def test_change_feed_pages_never_skip_a_job(store: Store) -> None:
    # Jobs written by one transaction may share a seq; a follower paging with a small
    # limit must still see each of them.
    base = await store.last_seq()
    await store.insert_jobs([new_job(name=str(i)) for i in range(5)], T0)
    await store.insert_jobs([new_job(name=str(i)) for i in range(5, 8)], T0)
    seen: list[str] = []
    cursor = base
    for _ in range(20):
        page = await store.changes_since(cursor, limit=2)
        if not page:
            break
        seen.extend(c.job.name for c in page)
        cursor = page[-1].seq
    assert sorted(seen, key=int) == [str(i) for i in range(8)]


async def test_cleanup_deletes_old_terminal_jobs_with_history(store: Store) -> None:
    old_done = await insert(store, Mode.TRACKED, name="old-done")
    await store.start(old_done.job_id, T0)
    await store.complete(old_done.job_id, None, at(10))
    old_failed = await insert(store, Mode.TRACKED, name="old-failed")
    await store.start(old_failed.job_id, T0)
    await store.fail(old_failed.job_id, "x", at(10))
    old_cancelled = await insert(store, Mode.TRACKED, name="old-cancelled")
    await store.cancel(old_cancelled.job_id, at(10))
    new_done = await insert(store, Mode.TRACKED, name="new-done")
    await store.start(new_done.job_id, T0)
    await store.complete(new_done.job_id, None, at(1000))
    running = await insert(store, Mode.TRACKED, name="old-running")
    await store.start(running.job_id, T0)
    pending = await insert(store, name="old-pending")

    assert await store.cleanup(at(500), [Status.FAILED]) == 1
    assert await store.get_job(old_failed.job_id) is None
    assert await store.get_history(old_failed.job_id) == []
    assert await store.cleanup(at(500)) == 2
    for gone in (old_done, old_cancelled):
        assert await store.get_job(gone.job_id) is None
    for kept in (new_done, running, pending):
        assert await store.get_job(kept.job_id) is not None
    assert await store.cleanup(at(500)) == 0
    with pytest.raises(ValidationError):
        await store.cleanup(at(500), [Status.RUNNING])


async def test_prune_history_by_age(store: Store) -> None:
    job = await insert(store, Mode.TRACKED)
    await store.start(job.job_id, at(10))
    await store.add_history(job.job_id, "log", "late", None, at(20))
    assert await store.prune_history(at(15)) == 2  # created (T0) and started (at 10)
    assert await kinds(store, job.job_id) == ["log"]
    assert await store.prune_history(at(15)) == 0
