"""PostgreSQL's trigram index joins new jobs after their insert (migration 0011): at
their claim or start, which write every index of the row anyway, or, when no claim
can take them within its settling time, through a maintenance pass once they are older
than that. Searches stay exact
throughout (tests/contract/test_store_listing.py checks that on every backend); these
check where each row is, and that an enqueue writes no trigram entry.

Skipped when no PostgreSQL server is reachable locally; a failure in CI (``CI=true``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from jobdeck.clock import FrozenClock
from jobdeck.config import Settings
from jobdeck.domain.job import Fence, JobFilter, Mode, NewJob
from jobdeck.runtime.maintenance import Maintenance
from jobdeck.store.postgres.listing import TEXT_PASS, TEXT_SETTLE
from jobdeck.store.postgres.queries import MIGRATIONS, Q
from jobdeck.store.postgres.store import COPY_FROM, PostgresStore, _filter

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def store(make_store: Callable[..., Awaitable[PostgresStore]]) -> PostgresStore:
    return await make_store()


async def _indexed(store: PostgresStore) -> dict[str, bool]:
    async with await psycopg.AsyncConnection.connect(store.database_url) as c:
        cur = await c.execute("SELECT name, text_indexed FROM jobdeck_jobs")
        return {name: indexed for name, indexed in await cur.fetchall()}


async def _trigram_entries(store: PostgresStore) -> int:
    """Rows the trigram index holds (its predicate), found through it."""
    async with await psycopg.AsyncConnection.connect(store.database_url) as c:
        await c.execute("SET enable_seqscan = off")
        await c.execute("SET enable_indexscan = off")
        cur = await c.execute(
            "SELECT count(*) FROM jobdeck_jobs WHERE text_indexed AND"
            " (name || E'\\n' || coalesce(description, '') || E'\\n' || type) ILIKE '%job%'"
        )
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])


async def test_an_enqueue_writes_no_trigram_entry(store: PostgresStore) -> None:
    """One job (insert_job), a few (insert_jobs) and a bulk (COPY): none is indexed yet,
    and each is found at once."""
    await store.insert_jobs([NewJob(name="job single", type="test:noop", mode=Mode.QUEUED)], T0)
    await store.insert_jobs(
        [NewJob(name=f"job few {i}", type="test:noop", mode=Mode.QUEUED) for i in range(3)], T0
    )
    bulk = [
        NewJob(name=f"job bulk {i}", type="test:noop", mode=Mode.QUEUED) for i in range(COPY_FROM)
    ]
    await store.insert_jobs(bulk, T0)
    assert not any((await _indexed(store)).values())
    assert await _trigram_entries(store) == 0
    found = await store.list_jobs(JobFilter(text="BULK 7"), 100, 0)
    assert sorted(j.name for j in found) == sorted(j.name for j in bulk if "bulk 7" in j.name)


async def test_a_claim_or_a_start_indexes_the_job(store: PostgresStore) -> None:
    await store.insert_jobs([NewJob(name="job queued", type="test:noop", mode=Mode.QUEUED)], T0)
    tracked = await store.insert_jobs(
        [NewJob(name="job tracked", type="test:noop", mode=Mode.TRACKED)], T0
    )
    [claimed] = await store.claim("w", 1, T0, 30.0)
    await store.start(tracked[0].job_id, T0)
    assert await _indexed(store) == {"job queued": True, "job tracked": True}
    # Later versions stay in the index.
    fence = Fence(claimed.job_id, claimed.attempt, "w")
    assert await store.complete_many([(fence, None)], T0) == [True]
    assert await _trigram_entries(store) == 2
    assert await store.count_jobs(JobFilter(text="job")) == 2


async def test_maintenance_indexes_jobs_once_they_have_settled(store: PostgresStore) -> None:
    """Younger jobs and jobs a claim could take are left to their claim; the others join,
    oldest first, at most a batch per pass; a pass without `now` takes every job."""

    def tracked(name: str) -> NewJob:
        return NewJob(name=name, type="test:noop", mode=Mode.TRACKED)

    await store.insert_jobs([tracked(f"job old {i}") for i in range(3)], T0)
    later = T0 + TEXT_SETTLE
    await store.insert_jobs([tracked("job young")], later)
    maintenance = Maintenance(store, settings=Settings(), clock=FrozenClock(later))
    report = await maintenance.run_once()
    assert report.text_indexed == 0  # the old ones are not older than the settling time
    late = later + timedelta(seconds=1)
    assert await store.index_text(2, now=late) == 2
    assert await store.index_text(10, now=late) == 1
    indexed = await _indexed(store)
    assert indexed == {"job old 0": True, "job old 1": True, "job old 2": True, "job young": False}
    assert await store.count_jobs(JobFilter(text="job")) == 4
    assert await store.index_text() == 1
    assert await store.index_text() == 0
    assert await _trigram_entries(store) == 4


async def test_maintenance_leaves_due_jobs_to_their_claim(store: PostgresStore) -> None:
    """A due queued job is what claimers want next: a pass that locked it would make
    them skip it for a later one (claim order) and write it once more before its claim.
    A job due later, or cancelled while pending, is indexed."""
    later = T0 + timedelta(hours=1)
    due, _, cancelled = await store.insert_jobs(
        [
            NewJob(name="job due", type="test:noop", mode=Mode.QUEUED),
            NewJob(name="job future", type="test:noop", mode=Mode.QUEUED, run_at=later),
            NewJob(name="job cancelled", type="test:noop", mode=Mode.QUEUED),
        ],
        T0,
    )
    await store.cancel(cancelled.job_id, T0)
    now = T0 + TEXT_SETTLE * 2
    assert await store.index_text(now=now) == 2
    assert await _indexed(store) == {"job due": False, "job future": True, "job cancelled": True}
    [claimed] = await store.claim("w", 10, now, 30.0)
    assert claimed.job_id == due.job_id
    assert (await _indexed(store))["job due"]
    assert await store.count_jobs(JobFilter(text="job")) == 3


async def test_the_planner_knows_how_common_a_searched_term_is(store: PostgresStore) -> None:
    """Statistics of the indexed expression (migration 0011): a partial index's own are
    not used for estimates, and with a default guess of a few matches a page of a common
    term sorted all of them instead of walking the primary key backwards."""
    names = ["common" if i % 2 else "rare" for i in range(2_000)]
    await store.insert_jobs([NewJob(name=n, type="test:noop", mode=Mode.QUEUED) for n in names], T0)
    while await store.index_text():
        pass
    params = _filter(JobFilter(text="common")) | {"limit": 25, "offset": 0}
    async with await psycopg.AsyncConnection.connect(store.database_url, autocommit=True) as c:
        await c.execute("ANALYZE jobdeck_jobs")
        cur = await c.execute("EXPLAIN (FORMAT JSON) " + Q["list_jobs"], params)
        row = await cur.fetchone()
    assert row is not None
    [plan] = row[0]
    estimated = plan["Plan"]["Plans"][0]["Plan Rows"]  # under the Limit
    assert estimated >= 250, plan  # 1,000 match


async def test_jobs_written_before_version_11_stay_in_the_trigram_index(
    postgres_url: str, make_store: Callable[..., Awaitable[PostgresStore]]
) -> None:
    """The migration marks the rows already there (they were in the old index) and
    rebuilds the index with them: an upgraded database's searches find them through it."""
    async with await psycopg.AsyncConnection.connect(postgres_url) as c:
        await c.execute(Q["schema_table"])
        for version, sql in MIGRATIONS:
            if version <= 10:
                await c.execute(sql, prepare=False)
                await c.execute(Q["schema_record"], {"version": version})
        await c.execute(
            "INSERT INTO jobdeck_jobs (job_id, name, type, mode, status, run_at, created_at,"
            " updated_at, seq) VALUES ('old-job', 'job from before', 'test:noop', 'queued',"
            " 'pending', now(), now(), now(), 1)"
        )
    upgraded = await make_store()
    assert await upgraded.schema_version() == len(MIGRATIONS)
    assert await _indexed(upgraded) == {"job from before": True}
    assert await _trigram_entries(upgraded) == 1
    assert [j.job_id for j in await upgraded.list_jobs(JobFilter(text="FROM BEF"), 10, 0)] == [
        "old-job"
    ]


async def test_maintenance_reaches_past_a_due_backlog(store: PostgresStore) -> None:
    """More due jobs than a pass reads, ahead of jobs no claim can take: each pass
    resumes after the last row the one before it read (and starts again from the first
    once it reaches the end), so those jobs are indexed within a few passes, not never."""
    later = T0 + timedelta(hours=1)
    backlog = [NewJob(name=f"job due {i}", type="test:noop", mode=Mode.QUEUED) for i in range(25)]
    await store.insert_jobs(backlog, T0)
    await store.insert_jobs(
        [
            NewJob(name="job tracked", type="test:noop", mode=Mode.TRACKED),
            NewJob(name="job future", type="test:noop", mode=Mode.QUEUED, run_at=later),
        ],
        T0,
    )
    now = T0 + TEXT_SETTLE * 2
    assert [await store.index_text(10, now=now) for _ in range(4)] == [0, 0, 2, 0]
    indexed = await _indexed(store)
    assert indexed.pop("job tracked") and indexed.pop("job future")
    assert not any(indexed.values())  # the due ones are left to their claim
    # After the last rows, the next pass starts from the first again.
    await store.insert_jobs(
        [NewJob(name="job tracked later", type="test:noop", mode=Mode.TRACKED)], T0
    )
    passes = [await store.index_text(10, now=now) for _ in range(4)]
    assert sum(passes) == 1 and (await _indexed(store))["job tracked later"], passes


async def test_maintenance_comes_back_for_a_row_it_passed_while_young(
    store: PostgresStore,
) -> None:
    """A pass that reads past a row too young to mark goes on after it; the row is
    marked once a later pass has started from the first row again."""
    backlog = [NewJob(name=f"job due {i}", type="test:noop", mode=Mode.QUEUED) for i in range(25)]
    await store.insert_jobs(backlog, T0)
    tracked = [NewJob(name="job tracked", type="test:noop", mode=Mode.TRACKED)]
    await store.insert_jobs(tracked, T0 + timedelta(seconds=50))
    now = T0 + timedelta(seconds=60)  # the tracked job is 10 s old: not yet
    assert [await store.index_text(10, now=now) for _ in range(3)] == [0, 0, 0]
    passes = [await store.index_text(10, now=now + TEXT_SETTLE) for _ in range(4)]
    assert sum(passes) == 1 and (await _indexed(store))["job tracked"], passes


async def test_a_maintenance_pass_reads_at_most_its_batch(store: PostgresStore) -> None:
    """Maintenance gives no limit: a pass then reads TEXT_PASS rows, since it holds the
    locks of those it marks until it commits."""
    backlog = [
        NewJob(name=f"job due {i}", type="test:noop", mode=Mode.QUEUED) for i in range(TEXT_PASS)
    ]
    await store.insert_jobs(backlog, T0)
    await store.insert_jobs([NewJob(name="job tracked", type="test:noop", mode=Mode.TRACKED)], T0)
    now = T0 + TEXT_SETTLE * 2
    assert [await store.index_text(now=now) for _ in range(2)] == [0, 1]


async def test_maintenance_leaves_jobs_due_within_the_settling_time_to_their_claim(
    store: PostgresStore,
) -> None:
    """Maintenance read its clock before its other steps, and another host's clock may
    be ahead: a job due just after maintenance's `now` may be what a claimer wants by
    the time the pass locks it. So a pass leaves alone every pending queued job due
    within the settling time of its `now`, and maintenance reads its clock again for it."""
    now = T0 + TEXT_SETTLE * 2
    soon, later = now + TEXT_SETTLE, now + TEXT_SETTLE + timedelta(seconds=1)
    await store.insert_jobs(
        [
            NewJob(name="job soon", type="test:noop", mode=Mode.QUEUED, run_at=soon),
            NewJob(name="job later", type="test:noop", mode=Mode.QUEUED, run_at=later),
        ],
        T0,
    )
    assert await store.index_text(now=now) == 1
    assert await _indexed(store) == {"job soon": False, "job later": True}

    class Stepping(FrozenClock):
        """Each reading a minute later than the one before."""

        def now(self) -> datetime:
            return self.advance(60)

    await store.insert_jobs(
        [
            NewJob(
                name="job next",
                type="test:noop",
                mode=Mode.QUEUED,
                run_at=T0 + timedelta(seconds=100),
            )
        ],
        T0,
    )
    # Maintenance's first reading is T0 + 60 s, the pass's at least T0 + 120 s.
    maintenance = Maintenance(store, settings=Settings(), clock=Stepping(T0))
    await maintenance.run_once()
    assert not (await _indexed(store))["job next"]
