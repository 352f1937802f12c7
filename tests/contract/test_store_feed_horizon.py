"""The change feed's guarantee under concurrent writers (docs/feed.md).

A follower that has read seq n never later finds a new record at or below n; nothing
committed is skipped; a transaction left open does not stall followers (PostgreSQL:
it is passed over and its records arrive, with a new seq, when it commits); a
revocation is never passed over.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from store_support import T0, OpenStore, at, fence_of, insert, new_job

from jobdeck.domain.feed import Change
from jobdeck.domain.job import Job, Mode
from jobdeck.store.base import Store


async def _follow_until(
    store: Store, cursor: int, done: asyncio.Event, seen: list[Change], limit: int = 7
) -> int:
    """Page through the feed until ``done`` is set and a page comes back empty; every
    page starts above the cursor and is in seq order. Returns the last cursor."""
    while True:
        finished = done.is_set()
        page = await store.changes_since(cursor, limit)
        for change in page:
            assert change.seq > cursor, (change.seq, cursor)
        assert [c.seq for c in page] == sorted(c.seq for c in page)
        seen.extend(page)
        if page:
            cursor = page[-1].seq
        elif finished:
            return cursor
        else:
            await asyncio.sleep(0.002)


async def test_nothing_is_skipped_under_many_concurrent_writers(
    store: Store, open_store: OpenStore
) -> None:
    # Each writer has its own store (its own connections): inserts, claims, progress
    # and completions commit in every order while a follower pages with a small limit.
    writers = [await open_store() for _ in range(6)]
    start = await store.last_seq()
    done = asyncio.Event()
    written: list[Job] = []  # every write's returned state (its seq)

    async def write(writer: Store, n: int) -> None:
        for i in range(25):
            [job] = await writer.insert_jobs([new_job(Mode.QUEUED, name=f"w{n}-{i}")], at(i))
            written.append(job)
            claimed = await writer.claim(f"worker-{n}", 1, at(i + 1), 30.0)
            for c in claimed:
                written.append(c)
                written.append(
                    await writer.update_progress(
                        c.job_id, 50.0, None, "half", at(i + 2), fence_of(c)
                    )
                )
                written.append(await writer.complete(c.job_id, i, at(i + 3), fence_of(c)))

    async def produce() -> None:
        await asyncio.gather(*(write(w, n) for n, w in enumerate(writers)))
        done.set()

    seen: list[Change] = []
    await asyncio.gather(produce(), _follow_until(store, start, done, seen))
    # Every write reached the follower: its job, at that write's seq or a later one.
    latest: dict[str, int] = {}
    for change in seen:
        if change.job is not None:
            latest[change.job.job_id] = max(latest.get(change.job.job_id, 0), change.seq)
    for job in written:
        assert latest.get(job.job_id, 0) >= job.seq, job
    # ... and the last state it read of each job is the stored one.
    final = {c.job.job_id: c.job for c in seen if c.job is not None}
    for job_id, job in final.items():
        assert await store.get_job(job_id) == job


async def test_a_follower_resuming_anywhere_skips_nothing(
    store: Store, open_store: OpenStore
) -> None:
    # Resuming from any seq a follower has read gives every record written after it.
    writers = [await open_store() for _ in range(4)]
    start = await store.last_seq()
    done = asyncio.Event()

    async def write(writer: Store, n: int) -> None:
        for i in range(30):
            await writer.insert_jobs([new_job(name=f"r{n}-{i}")], at(i))

    async def produce() -> None:
        await asyncio.gather(*(write(w, n) for n, w in enumerate(writers)))
        done.set()

    seen: list[Change] = []
    await asyncio.gather(produce(), _follow_until(store, start, done, seen, limit=3))
    names = sorted(c.job.name for c in seen if c.job is not None)
    assert names == sorted(f"r{n}-{i}" for n in range(4) for i in range(30))
    finished = asyncio.Event()
    finished.set()
    for mark in [c.seq for c in seen][::17]:
        again: list[Change] = []
        await _follow_until(store, mark, finished, again)
        assert again == [c for c in seen if c.seq > mark]


def _postgres(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer: a transaction left open blocks every writer")


async def test_postgres_a_transaction_left_open_does_not_stall_followers(
    store: Store, open_store: OpenStore, database_url: str
) -> None:
    _postgres(database_url)
    import psycopg

    from jobdeck.store.postgres.queries import Q

    writer = await open_store()
    slow_job = await insert(store, Mode.TRACKED, name="slow")
    cursor = await store.last_seq()
    latencies: list[float] = []
    async with await psycopg.AsyncConnection.connect(database_url) as slow:
        # A feed write whose transaction stays open (a client stalled before COMMIT).
        params = {"job_id": slow_job.job_id, "kind": "log", "message": "late", "data": None}
        await slow.execute(Q["add_history"], params | {"now": T0, "keep": 499})
        opened = time.monotonic()
        while time.monotonic() - opened < 2.0:
            job = await insert(writer, name="fast")
            committed = time.perf_counter()
            while True:
                page = await store.changes_since(cursor, 100)
                if any(c.job is not None and c.job.job_id == job.job_id for c in page):
                    latencies.append(time.perf_counter() - committed)
                    cursor = page[-1].seq
                    break
                await store.signals.wait("jobs", store.signals.mark("jobs"), 0.01)
            await asyncio.sleep(0.05)
        read_before_commit = cursor
        await slow.commit()
    # Other commits reached the follower while it stayed open...
    assert max(latencies) < 0.2, latencies
    # ... and its record arrives once it commits, above everything read before.
    deadline = time.monotonic() + 2.0
    found: list[Change] = []
    while not found and time.monotonic() < deadline:
        page = await store.changes_since(cursor, 100)
        found = [c for c in page if c.job is not None and c.job.job_id == slow_job.job_id]
        if page:
            cursor = page[-1].seq
        await asyncio.sleep(0.02)
    assert found, "the late record never arrived"
    assert found[0].seq > read_before_commit
    history = await store.get_history(slow_job.job_id)
    assert [e.message for e in history if e.kind == "log"] == ["late"]
    assert (await store.get_job(slow_job.job_id)) == found[-1].job


async def test_postgres_an_open_revocation_is_never_passed_over(
    store: Store, open_store: OpenStore, database_url: str
) -> None:
    # docs/feed.md: once a revocation has committed, nothing with a higher seq may have
    # been read before it. So while one is in flight the horizon waits for it, however
    # long (a revocation is one statement in autocommit; here it is held open).
    _postgres(database_url)
    import psycopg

    from jobdeck.store.postgres.queries import Q

    await store.create_token("held", "hh", ["jobs:read"], None, None, T0)
    writer = await open_store()
    cursor = await store.last_seq()
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute(Q["revoke_token"], {"name": "held", "now": at(1)})
        assert await cur.fetchall()
        later = await insert(writer, name="after")
        await asyncio.sleep(0.3)  # well past the late threshold
        assert await store.changes_since(cursor, 100) == []
        assert await store.last_seq() == cursor
        await conn.commit()
    changes = await store.changes_since(cursor, 100)
    kinds = [type(c.record).__name__ for c in changes]
    assert kinds == ["Revocation", "Job"]
    assert changes[1].job is not None and changes[1].job.job_id == later.job_id


async def test_postgres_a_row_seq_only_grows_when_its_writers_commit_out_of_order(
    store: Store, open_store: OpenStore, database_url: str
) -> None:
    # A write takes its seq before it waits for the row's lock. When a writer with a
    # later seq commits the row meanwhile, the waiting write must not leave the row at
    # its earlier seq: a client that knows the row at the later seq and waits for
    # anything newer would never hear of it (migration 0008).
    _postgres(database_url)
    import psycopg

    job = await insert(store, Mode.TRACKED, name="contended")
    await store.start(job.job_id, at(1))
    writer = await open_store()
    async with await psycopg.AsyncConnection.connect(database_url) as holder:
        await holder.execute(
            "SELECT 1 FROM jobdeck_jobs WHERE job_id = %s FOR UPDATE", [job.job_id]
        )
        waiting = asyncio.create_task(
            writer.update_progress(job.job_id, 10.0, None, "waited", at(2))
        )
        deadline = time.monotonic() + 5.0
        while True:  # until the write has its seq and waits for the row lock
            cur = await holder.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND query LIKE '%%jobdeck_feed_seq%%' AND pid <> pg_backend_pid()"
            )
            row = await cur.fetchone()
            if (row is not None and row[0]) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.01)
        # Another writer of the row, with a later seq, commits first.
        cur = await holder.execute(
            "UPDATE jobdeck_jobs SET seq = jobdeck_feed_seq() WHERE job_id = %s RETURNING seq",
            [job.job_id],
        )
        row = await cur.fetchone()
        assert row is not None
        later = int(row[0])
        await holder.commit()
    written = await waiting
    assert written.seq > later
    stored = await store.get_job(job.job_id)
    assert stored is not None and stored.seq == written.seq
    changes = await store.changes_since(later, 100)
    assert [c.job.progress for c in changes if c.job is not None] == [10.0]
