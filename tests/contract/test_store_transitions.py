"""Every verb from every state: the legal ones land, the illegal ones change nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from store_support import STATES, WORKER, at, insert, job_in

from jobdeck.domain.job import Fence, Job, Mode, Status
from jobdeck.errors import InvalidTransition, JobNotFound
from jobdeck.store.base import Store

M, S = Mode, Status
Verb = Callable[[Store, Job, Fence], Awaitable[Any]]

VERBS: dict[str, Verb] = {
    "start": lambda s, j, f: s.start(j.job_id, at(10)),
    "progress": lambda s, j, f: s.update_progress(j.job_id, 50.0, None, None, at(10)),
    "complete": lambda s, j, f: s.complete(j.job_id, None, at(10)),
    "fail": lambda s, j, f: s.fail(j.job_id, "boom", at(10)),
    "cancel": lambda s, j, f: s.cancel(j.job_id, at(10)),
    "retry": lambda s, j, f: s.retry(j.job_id, at(10)),
    "delete": lambda s, j, f: s.delete_job(j.job_id),
    "retry_later": lambda s, j, f: s.retry_later(f, "boom", at(60), at(10)),
    "mark_cancelled": lambda s, j, f: s.mark_cancelled(f, at(10)),
    "fenced_progress": lambda s, j, f: s.update_progress(j.job_id, 50.0, None, None, at(10), f),
    "fenced_complete": lambda s, j, f: s.complete(j.job_id, None, at(10), f),
    "fenced_fail": lambda s, j, f: s.fail(j.job_id, "boom", at(10), f),
}

DELETED = "deleted"

# (verb, mode, status) -> status afterwards; every other combination is illegal.
LEGAL: dict[str, dict[tuple[Mode, Status], Status | str]] = {
    "start": {(M.TRACKED, S.PENDING): S.RUNNING},
    "progress": {
        (M.TRACKED, S.RUNNING): S.RUNNING,
        (M.QUEUED, S.RUNNING): S.RUNNING,
        (M.QUEUED, S.CANCELLING): S.CANCELLING,
    },
    "complete": {
        (M.TRACKED, S.RUNNING): S.COMPLETED,
        (M.QUEUED, S.RUNNING): S.COMPLETED,
        (M.QUEUED, S.CANCELLING): S.COMPLETED,
    },
    "fail": {
        (M.TRACKED, S.RUNNING): S.FAILED,
        (M.QUEUED, S.RUNNING): S.FAILED,
        (M.QUEUED, S.CANCELLING): S.FAILED,
    },
    "cancel": {
        (M.TRACKED, S.PENDING): S.CANCELLED,
        (M.TRACKED, S.RUNNING): S.CANCELLED,
        (M.QUEUED, S.PENDING): S.CANCELLED,
        (M.QUEUED, S.RUNNING): S.CANCELLING,
    },
    "retry": {(M.QUEUED, S.FAILED): S.PENDING, (M.QUEUED, S.CANCELLED): S.PENDING},
    "delete": {
        (mode, status): DELETED for mode in Mode for status in (S.COMPLETED, S.FAILED, S.CANCELLED)
    },
    "retry_later": {(M.QUEUED, S.RUNNING): S.PENDING},
    "mark_cancelled": {(M.QUEUED, S.CANCELLING): S.CANCELLED},
    "fenced_progress": {
        (M.QUEUED, S.RUNNING): S.RUNNING,
        (M.QUEUED, S.CANCELLING): S.CANCELLING,
    },
    "fenced_complete": {
        (M.QUEUED, S.RUNNING): S.COMPLETED,
        (M.QUEUED, S.CANCELLING): S.COMPLETED,
    },
    "fenced_fail": {(M.QUEUED, S.RUNNING): S.FAILED, (M.QUEUED, S.CANCELLING): S.FAILED},
}


@pytest.mark.parametrize("verb", list(VERBS))
async def test_verb_from_every_state(store: Store, verb: str) -> None:
    for mode, status in STATES:
        job, fence = await job_in(store, mode, status)
        assert (job.mode, job.status) == (mode, status)
        before = await store.get_job(job.job_id)
        expected = LEGAL[verb].get((mode, status))
        where = f"{verb} on a {mode.value} {status.value} job"
        if expected is None:
            with pytest.raises(InvalidTransition):
                await VERBS[verb](store, job, fence)
            assert await store.get_job(job.job_id) == before, f"{where} changed it"
            continue
        result = await VERBS[verb](store, job, fence)
        after = await store.get_job(job.job_id)
        if expected == DELETED:
            assert result is None and after is None, where
            continue
        assert after is not None and after.status == expected, where
        assert result == after, f"{where}: returned job differs from the stored one"
        assert before is not None and after.seq > before.seq, f"{where}: seq not bumped"
        # Leave no claimable job behind for the next state's claim.
        if after.status is S.PENDING and mode is M.QUEUED:
            await store.cancel(job.job_id, at(20))


UNKNOWN = "00000000-0000-4000-8000-000000000000"


@pytest.mark.parametrize("verb", list(VERBS))
async def test_unknown_job_is_not_found(store: Store, verb: str) -> None:
    await insert(store)  # the table is not empty
    phantom = Job(id=0, job_id=UNKNOWN, name="x", type="x", mode=M.QUEUED, status=S.RUNNING)
    with pytest.raises(JobNotFound):
        await VERBS[verb](store, phantom, Fence(UNKNOWN, 1, WORKER))


async def test_add_history_of_unknown_job_is_not_found(store: Store) -> None:
    with pytest.raises(JobNotFound):
        await store.add_history(UNKNOWN, "log", "hello", None, at(1))


async def test_complete_sets_result_progress_and_completed_at(store: Store) -> None:
    job = await insert(store, M.TRACKED)
    await store.start(job.job_id, at(1))
    done = await store.complete(job.job_id, {"imported": 3}, at(5))
    assert done.progress == 100
    assert done.result == {"imported": 3}
    assert done.completed_at == at(5)
    assert done.started_at == at(1)
    assert done.locked_by is None and done.lease_expires_at is None


async def test_fail_sets_error_and_completed_at(store: Store) -> None:
    job = await insert(store, M.TRACKED)
    await store.start(job.job_id, at(1))
    failed = await store.fail(job.job_id, "API timeout", at(5))
    assert failed.error_message == "API timeout"
    assert failed.completed_at == at(5)


async def test_cancel_sets_completed_at_only_when_cancelled(store: Store) -> None:
    pending = await insert(store, M.TRACKED)
    assert (await store.cancel(pending.job_id, at(3))).completed_at == at(3)
    queued = await insert(store)
    [claimed] = await store.claim(WORKER, 1, at(1), 30)
    assert claimed.job_id == queued.job_id
    cancelling = await store.cancel(queued.job_id, at(3))
    assert cancelling.status is S.CANCELLING
    assert cancelling.completed_at is None
    assert cancelling.locked_by == WORKER  # the worker still owns it until it stops


async def test_retry_resets_the_job_for_a_new_attempt(store: Store) -> None:
    job = await insert(store, max_retries=0)
    [claimed] = await store.claim(WORKER, 1, at(1), 30)
    await store.update_progress(job.job_id, 40.0, None, "working", at(2))
    await store.fail(job.job_id, "boom", at(3))
    retried = await store.retry(job.job_id, at(100))
    assert retried.status is S.PENDING
    assert retried.run_at == at(100)
    assert retried.error_message is None and retried.result is None
    assert retried.completed_at is None
    [again] = await store.claim(WORKER, 1, at(100), 30)
    assert again.job_id == job.job_id
    assert again.attempt == claimed.attempt + 1  # attempts keep counting: old fences stay stale


async def test_delete_removes_job_and_history(store: Store) -> None:
    job = await insert(store, M.TRACKED)
    await store.cancel(job.job_id, at(1))
    await store.delete_job(job.job_id)
    assert await store.get_job(job.job_id) is None
    assert await store.get_history(job.job_id) == []
    with pytest.raises(JobNotFound):
        await store.delete_job(job.job_id)
