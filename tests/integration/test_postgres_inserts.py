"""PostgreSQL's two ways of inserting jobs (one statement below COPY_FROM jobs, COPY from
there on): each returns jobs exactly as they read back, and a retry after a commit
whose answer was lost inserts nothing twice (queries.sql, insert_jobs and copy_jobs).

Skipped when no PostgreSQL server is reachable locally; a failure in CI (``CI=true``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

import pg
from jobdeck.domain.ids import new_job_ids
from jobdeck.domain.job import JobFilter, Mode, NewJob, Priority
from jobdeck.store.postgres import store as store_module
from jobdeck.store.postgres.store import COPY_FROM, PostgresStore

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SIZES = [1, COPY_FROM - 1, COPY_FROM]  # one statement, its largest, the first by COPY


@pytest.fixture
async def store() -> AsyncIterator[PostgresStore]:
    async with pg.database() as url:
        opened = PostgresStore(url)
        await opened.open()
        try:
            yield opened
        finally:
            await opened.close()


def jobs(n: int, name: str = "job") -> list[NewJob]:
    paris = ZoneInfo("Europe/Paris")
    return [
        NewJob(
            name=f"{name} {i}",
            type="test:noop",
            mode=Mode.QUEUED if i % 3 else Mode.TRACKED,
            priority=Priority.HIGH,
            payload={"ü": [1, 2.5, None, {"deep": True}], "n": i},
            metadata={"tag": "x"} if i % 2 else {},
            description="d" if i % 2 else None,
            run_at=datetime(2030, 6, 1, 12, 0, tzinfo=paris) if i % 2 else None,
            retry_delays=(1.0, 2.5) if i % 2 else None,
            cron_job_id=i if i % 5 == 0 else None,
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("size", SIZES)
async def test_returned_jobs_are_the_stored_ones(store: PostgresStore, size: int) -> None:
    inserted = await store.insert_jobs(jobs(size), T0)
    assert [j.name for j in inserted] == [f"job {i}" for i in range(size)]
    assert [j.id for j in inserted] == sorted(j.id for j in inserted)
    assert len({j.seq for j in inserted}) == 1  # one transaction, one seq
    for job in inserted:
        stored = await store.get_job(job.job_id)
        assert stored == job
        assert stored is not None and stored.run_at == job.run_at
        assert job.run_at is not None and job.run_at.tzinfo is UTC  # as it reads back
        assert [e.kind for e in await store.get_history(job.job_id)] == ["created"]
    assert [c.record for c in await store.changes_since(0)] == inserted


@pytest.mark.parametrize("size", SIZES)
async def test_a_retry_after_its_commit_inserts_nothing_twice(
    store: PostgresStore, size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a retry of a committed insert sends: the same job_ids, chosen before the first try.
    ids = new_job_ids(size)
    monkeypatch.setattr(store_module, "new_job_ids", lambda n: ids[:n])
    first = await store.insert_jobs(jobs(size), T0)
    again = await store.insert_jobs(jobs(size, "again"), T0)
    assert again == first
    assert await store.count_jobs(JobFilter()) == size
