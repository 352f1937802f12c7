"""PostgreSQL's two ways of inserting jobs (one statement below COPY_FROM jobs, COPY from
there on): each returns jobs exactly as they read back, and a retry after a commit
whose answer was lost inserts nothing twice (queries.sql, insert_jobs and copy_jobs).
Concurrent single inserts go together (store/postgres/singles.py) and stay apart to
their callers: own created_at, own failure, own cancellation.

Skipped when no PostgreSQL server is reachable locally; a failure in CI (``CI=true``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from jobdeck.deck import JobDeck
from jobdeck.domain.ids import new_job_ids
from jobdeck.domain.job import Job, JobFilter, Mode, NewJob, Priority
from jobdeck.errors import StoreError, ValidationError
from jobdeck.handlers.base import BaseJobHandler
from jobdeck.store.postgres import store as store_module
from jobdeck.store.postgres.rows import copy_row
from jobdeck.store.postgres.singles import IN_FLIGHT
from jobdeck.store.postgres.store import COPY_FROM, PostgresStore

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SIZES = [1, COPY_FROM - 1, COPY_FROM]  # one statement, its largest, the first by COPY


@pytest.fixture
async def store(make_store: Callable[..., Awaitable[PostgresStore]]) -> PostgresStore:
    return await make_store()  # on an empty database of its own (integration/conftest.py)


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


async def test_a_single_insert_returns_its_own_id_and_seq(store: PostgresStore) -> None:
    # insert_job's answer is read by position (rows.py, new_row_job): after a batch the
    # next job's id and seq differ, so values read in each other's place would show.
    await store.insert_jobs(jobs(3), T0)
    [job] = await store.insert_jobs(jobs(1, "single"), T0)
    assert job.id != job.seq
    assert await store.get_job(job.job_id) == job
    assert [c.record for c in await store.changes_since(job.seq - 1)] == [job]


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


@pytest.mark.parametrize("callers", [40, COPY_FROM + 50])  # groups by statement, by COPY
async def test_concurrent_single_inserts_go_together_each_at_its_own_time(
    store: PostgresStore, callers: int
) -> None:
    times = [T0 + timedelta(milliseconds=i) for i in range(callers)]
    inserted = await asyncio.gather(
        *(store.insert_jobs([NewJob(name=f"s{i}", type="t", mode=Mode.QUEUED)], at) for i, at in
          enumerate(times))
    )  # fmt: skip
    jobs = [job for [job] in inserted]
    assert [j.name for j in jobs] == [f"s{i}" for i in range(callers)]
    assert len({j.seq for j in jobs}) < callers  # some went in one statement
    for job, at in zip(jobs, times, strict=True):
        assert job.created_at == job.updated_at == job.run_at == at
        assert await store.get_job(job.job_id) == job
        [created] = await store.get_history(job.job_id)
        assert created.created_at == at
    assert [c.record for c in await store.changes_since(0)] == sorted(jobs, key=lambda j: j.seq)


async def test_a_bad_job_fails_only_its_own_caller(store: PostgresStore) -> None:
    # jsonb refuses \\u0000: the server fails the statement of the group it is in.
    real = store._singles._insert
    sent: list[list[str]] = []  # the names of each statement's jobs

    async def recorded(
        jobs: Sequence[NewJob], nows: Sequence[datetime], job_ids: Sequence[str] | None
    ) -> list[Job]:
        sent.append([j.name for j in jobs])
        return await real(jobs, nows, job_ids)

    store._singles._insert = recorded
    specs = [{"n": i} if i != 7 else {"bad": "\x00"} for i in range(20)]
    results = await asyncio.gather(
        *(store.insert_jobs([NewJob(name=f"s{i}", type="t", mode=Mode.QUEUED, payload=p)], T0)
          for i, p in enumerate(specs)),
        return_exceptions=True,
    )  # fmt: skip
    assert isinstance(results[7], StoreError)
    good = [r for i, r in enumerate(results) if i != 7]
    assert all(isinstance(r, list) for r in good)
    assert await store.count_jobs(JobFilter()) == 19
    # It failed a group of several callers' jobs, not only a statement of its own.
    assert any(len(names) > 1 and "s7" in names for names in sent), sent


async def test_a_refused_single_insert_leaves_its_connection_fit_for_the_next(
    store: PostgresStore,
) -> None:
    # One caller at a time: every insert runs on the connection kept between verbs, with
    # that connection's kept cursor (database.py, Conn), the refused one too.
    def one(payload: dict[str, str]) -> list[NewJob]:
        return [NewJob(name="one", type="t", mode=Mode.QUEUED, payload=payload)]

    [before] = await store.insert_jobs(one({"n": "1"}), T0)
    with pytest.raises(StoreError):
        await store.insert_jobs(one({"bad": "\x00"}), T0)
    [after] = await store.insert_jobs(one({"n": "2"}), T0)
    assert [await store.get_job(j.job_id) for j in (before, after)] == [before, after]
    assert await store.count_jobs(JobFilter()) == 2


async def test_a_group_failing_after_its_commit_writes_each_job_once(store: PostgresStore) -> None:
    # The group's statement commits, then its answer fails on the client (not the
    # connection): each job tried alone must find itself there, by the job_id chosen
    # for the group, rather than be written again under a new one.
    real = store._singles._insert
    groups: list[list[str]] = []

    async def lost_answer(
        jobs: Sequence[NewJob], nows: Sequence[datetime], job_ids: Sequence[str] | None
    ) -> list[Job]:
        inserted = await real(jobs, nows, job_ids)
        if len(jobs) > 1 and not groups:
            groups.append([j.job_id for j in inserted])
            raise RuntimeError("the answer was lost after the commit")
        return inserted

    store._singles._insert = lost_answer
    callers = 20
    inserted = await asyncio.gather(
        *(store.insert_jobs([NewJob(name=f"s{i}", type="t", mode=Mode.QUEUED)], T0)
          for i in range(callers))
    )  # fmt: skip
    assert groups, "no group went together"
    jobs = [job for [job] in inserted]
    assert [j.name for j in jobs] == [f"s{i}" for i in range(callers)]
    assert await store.count_jobs(JobFilter()) == callers
    by_id = {j.job_id: j for j in jobs}
    assert set(groups[0]) <= set(by_id)  # the group's rows, read back
    for job in jobs:
        assert await store.get_job(job.job_id) == job


async def test_another_unique_violation_of_a_copy_is_an_error(store: PostgresStore) -> None:
    # Only the job_id index means "our own earlier try": any other is reported.
    async with await psycopg.AsyncConnection.connect(store.database_url, autocommit=True) as c:
        await c.execute("CREATE UNIQUE INDEX test_one_per_name ON jobdeck_jobs (name)")
    with pytest.raises(StoreError, match="test_one_per_name"):
        await store.insert_jobs([NewJob(name="same", type="t", mode=Mode.QUEUED)] * COPY_FROM, T0)
    assert await store.count_jobs(JobFilter()) == 0


async def test_another_unique_violation_of_a_single_insert_is_an_error(
    store: PostgresStore,
) -> None:
    # insert_job has no ON CONFLICT either: only a taken job_id is read back.
    async with await psycopg.AsyncConnection.connect(store.database_url, autocommit=True) as c:
        await c.execute("CREATE UNIQUE INDEX test_one_per_name ON jobdeck_jobs (name)")
    same = [NewJob(name="same", type="t", mode=Mode.QUEUED)]
    await store.insert_jobs(same, T0)
    with pytest.raises(StoreError, match="test_one_per_name"):
        await store.insert_jobs(same, T0)
    assert await store.count_jobs(JobFilter()) == 1


class Picky(BaseJobHandler):
    """A handler whose own check fails with an error that is not a ValidationError."""

    @classmethod
    def check_config(cls, config: Any, services: Any = None) -> None:
        if config.get("boom"):
            raise RuntimeError("the handler's own check broke")

    def execute(self) -> None:
        return None


BAD = COPY_FROM + 10  # the bad job of bulk_with_a_bad_job: the bulk goes by COPY


def bulk_with_a_bad_job(
    store: PostgresStore, bad_payload: dict[str, Any]
) -> tuple[JobDeck, list[dict[str, Any]]]:
    deck = JobDeck(store=store)
    deck.register_job_type("test:picky", Picky)
    specs = [{"type": "test:picky", "payload": {"n": i}} for i in range(COPY_FROM + 20)]
    specs[BAD] = {"type": "test:picky", "payload": bad_payload}
    return deck, specs


async def test_a_bulk_with_a_bad_job_writes_nothing(
    store: PostgresStore, caplog: pytest.LogCaptureFixture
) -> None:
    # schedule_jobs checks each job as the COPY path reads it, once the server has
    # taken the seq and the ids (deck._Scheduled): a bad one rolls all of that back.
    deck, specs = bulk_with_a_bad_job(store, {"n": float("nan")})
    with pytest.raises(ValidationError, match=f"^job {BAD}: payload must be JSON"):
        await deck.schedule_jobs(specs)
    assert await store.count_jobs(JobFilter()) == 0
    assert await store.changes_since(0) == []
    async with await psycopg.AsyncConnection.connect(store.database_url) as c:
        cur = await c.execute("SELECT count(*) FROM jobdeck_history")
        assert await cur.fetchone() == (0,)  # nor any history row
    del specs[BAD]
    written = await deck.schedule_jobs(specs)
    assert [j.payload for j in written] == [s["payload"] for s in specs]
    assert [c.record for c in await store.changes_since(0)] == [j.snapshot for j in written]
    assert "rolling back" not in caplog.text  # the insert rolled back itself (psycopg_pool)


async def test_a_bulk_that_fails_otherwise_writes_nothing_and_leaves_no_transaction(
    store: PostgresStore, caplog: pytest.LogCaptureFixture
) -> None:
    deck, specs = bulk_with_a_bad_job(store, {"boom": True})
    with pytest.raises(RuntimeError, match="broke"):
        await deck.schedule_jobs(specs)
    assert await store.count_jobs(JobFilter()) == 0
    # The insert rolled back itself: the pool did not find its connection in a
    # transaction (psycopg_pool logs "rolling back" when it does).
    assert "rolling back" not in caplog.text


async def test_a_bulk_cancelled_mid_copy_writes_nothing(
    store: PostgresStore, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    deck = JobDeck(store=store)
    deck.register_job_type("test:picky", Picky)
    specs = [{"type": "test:picky", "payload": {"n": i, "x": "y" * 1000}} for i in range(20_000)]
    # Cancelled once the COPY has taken 500 rows: the rest are never sent.
    sent, copying = 0, asyncio.Event()

    def counted(*row: Any) -> tuple[Any, ...]:
        nonlocal sent
        sent += 1
        if sent == 500:
            copying.set()
        return copy_row(*row)

    monkeypatch.setattr(store_module, "copy_row", counted)
    task = asyncio.create_task(deck.schedule_jobs(specs))
    await copying.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert 500 <= sent < len(specs)
    assert await store.count_jobs(JobFilter()) == 0
    assert len(await deck.schedule_jobs(specs[: COPY_FROM + 1])) == COPY_FROM + 1
    assert "rolling back" not in caplog.text


async def test_a_caller_cancelled_while_waiting_writes_nothing(store: PostgresStore) -> None:
    first = [asyncio.create_task(store.insert_jobs(jobs(1, f"a{i}"), T0)) for i in range(IN_FLIGHT)]
    waiting = asyncio.create_task(store.insert_jobs(jobs(1, "cancelled"), T0))
    await asyncio.sleep(0)  # the first ones are running, the last waits for a place
    waiting.cancel()
    await asyncio.gather(*first)
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await store._singles.wait()  # any group sent meanwhile has written its jobs
    names = {j.name for j in await store.list_jobs(JobFilter(), 10, 0)}
    assert names == {f"a{i} 0" for i in range(IN_FLIGHT)}
