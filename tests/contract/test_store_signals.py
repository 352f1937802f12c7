"""Signals: a store wakes its own waiters after commits, and notices other processes'."""

from __future__ import annotations

from store_support import T0, OpenStore, at, claim_one, fence_of, insert

from jobdeck.domain.job import Mode
from jobdeck.store.base import Store

WAIT = 5.0  # seconds; the waits return as soon as the signal fires


async def test_own_commits_fire_signals(store: Store) -> None:
    jobs, enqueue = store.signals.mark("jobs"), store.signals.mark("enqueue")
    job = await insert(store)
    assert await store.signals.wait("enqueue", enqueue, 0)
    assert await store.signals.wait("jobs", jobs, 0)
    jobs = store.signals.mark("jobs")
    claimed = await claim_one(store, at(1))
    assert claimed.job_id == job.job_id
    assert await store.signals.wait("jobs", jobs, 0)


async def test_other_process_commits_are_seen(store: Store, open_store: OpenStore) -> None:
    # A second store on the same database stands in for another process (an API
    # process enqueueing while a worker process waits for work).
    worker = await open_store()
    enqueue = worker.signals.mark("enqueue")
    job = await insert(store)
    assert await worker.signals.wait("enqueue", enqueue, WAIT)
    claimed = await claim_one(worker, at(1))
    assert claimed.job_id == job.job_id

    jobs = store.signals.mark("jobs")
    await worker.update_progress(job.job_id, 30.0, None, "a third", at(2))
    assert await store.signals.wait("jobs", jobs, WAIT)
    seen = await store.get_job(job.job_id)
    assert seen is not None and seen.progress == 30.0
    changes = await store.changes_since(claimed.seq)
    assert [c.job.progress_message for c in changes] == ["a third"]


async def test_tracked_job_updates_reach_another_process(
    store: Store, open_store: OpenStore
) -> None:
    api = await open_store()
    job = await insert(store, Mode.TRACKED, now=T0)
    jobs = api.signals.mark("jobs")
    await store.start(job.job_id, at(1))
    assert await api.signals.wait("jobs", jobs, WAIT)
    assert (await api.get_job(job.job_id)).started_at == at(1)  # type: ignore[union-attr]


async def test_cancelling_a_running_job_wakes_workers(store: Store, open_store: OpenStore) -> None:
    # The worker running it beats at once instead of at its next heartbeat.
    worker = await open_store()
    job = await insert(store)
    await claim_one(worker, at(1))
    own, other = store.signals.mark("cancel"), worker.signals.mark("cancel")
    await store.cancel(job.job_id, at(2))
    assert await store.signals.wait("cancel", own, 0)
    assert await worker.signals.wait("cancel", other, WAIT)
    # A pending job is cancelled outright: no worker runs it. A store opened now, so
    # that the cancel above is behind its commit watcher's baseline (SQLite) or its
    # LISTEN (PostgreSQL), must hear nothing on "cancel", from itself or its watcher.
    api = await open_store()
    pending = await insert(api)
    own = api.signals.mark("cancel")
    await api.cancel(pending.job_id, at(3))
    await noticed(api, store)
    assert api.signals.mark("cancel") == own


async def test_ordinary_commits_of_another_process_leave_workers_alone(
    store: Store, open_store: OpenStore
) -> None:
    # A worker beats early only for a write that wakes workers. Enqueues, claims,
    # progress and fenced completions of other processes are noticed, but not as
    # "cancel" (on SQLite every commit changes data_version, heartbeats included).
    worker = await open_store()
    cancel = worker.signals.mark("cancel")
    job = await insert(store)
    claimed = await claim_one(store, at(1))
    await store.update_progress(job.job_id, 50.0, None, "half", at(2))
    await store.complete(job.job_id, None, at(3), fence_of(claimed))
    await noticed(worker, store)
    assert worker.signals.mark("cancel") == cancel


async def noticed(reader: Store, writer: Store) -> None:
    """Enqueue through ``writer`` and wait until ``reader`` has noticed: by then it has
    also noticed every commit before it (one data_version change, or NOTIFYs in
    commit order)."""
    enqueue = reader.signals.mark("enqueue")
    await insert(writer)
    assert await reader.signals.wait("enqueue", enqueue, WAIT)


async def test_ending_a_claimed_job_from_outside_wakes_workers(
    store: Store, open_store: OpenStore
) -> None:
    # An operator completes or fails a running job (unfenced): its worker must find it
    # lost soon, not at its next heartbeat. The worker's own (fenced) writes wake no one.
    worker = await open_store()
    done, failed, own = [await insert(store) for _ in range(3)]
    for _ in range(3):
        await claim_one(worker, at(1))
    mark, other = store.signals.mark("cancel"), worker.signals.mark("cancel")
    await store.complete(done.job_id, None, at(2))
    assert await store.signals.wait("cancel", mark, 0)
    assert await worker.signals.wait("cancel", other, WAIT)
    mark, other = store.signals.mark("cancel"), worker.signals.mark("cancel")
    await store.fail(failed.job_id, "stopped by hand", at(3))
    assert await store.signals.wait("cancel", mark, 0)
    assert await worker.signals.wait("cancel", other, WAIT)
    claimed = await worker.get_job(own.job_id)
    assert claimed is not None
    mark = worker.signals.mark("cancel")
    await worker.complete(own.job_id, None, at(4), fence_of(claimed))
    assert worker.signals.mark("cancel") == mark
