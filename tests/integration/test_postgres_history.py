"""PostgreSQL's retention by age hides an attempt's derived events by raising the
history floor (queries.sql, prune_history): it writes no job row, so it neither
rewrites every index of the table nor locks the jobs claimers and verbs need.
What reads return is checked on every backend in tests/contract/test_store_attempt_history.py.
Skipped when no PostgreSQL server is reachable locally; a failure in CI (``CI=true``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from jobdeck.domain.job import Fence, Mode, NewJob
from jobdeck.store.postgres.store import PostgresStore

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def _versions(store: PostgresStore) -> dict[str, str]:
    """Each job row's version (xmin): a write of the row changes it."""
    async with await psycopg.AsyncConnection.connect(store.database_url) as c:
        cur = await c.execute("SELECT job_id, xmin::text FROM jobdeck_jobs")
        return dict(await cur.fetchall())


async def test_prune_history_writes_no_job_row(
    make_store: Callable[..., Awaitable[PostgresStore]],
) -> None:
    store = await make_store()
    jobs = await store.insert_jobs(
        [NewJob(name=f"job {n}", type="test:noop", mode=Mode.QUEUED) for n in range(4)], T0
    )
    claimed = await store.claim("worker-1", 3, at(10), 30)
    await store.complete_many(
        [(Fence(j.job_id, j.attempt, "worker-1"), None) for j in claimed[:2]], at(20)
    )
    before = await _versions(store)

    # Per job: created at T0, and for the claimed ones started at 10 (and two completed
    # at 20); the one never claimed loses only its created event.
    assert await store.prune_history(at(15)) == 4 + 3
    assert await _versions(store) == before
    for job in jobs:
        kinds = [e.kind for e in await store.get_history(job.job_id)]
        assert kinds == (["completed"] if job.job_id in {j.job_id for j in claimed[:2]} else [])
    assert await store.prune_history(at(30)) == 2
    assert await _versions(store) == before
