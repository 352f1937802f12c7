"""The PostgreSQL store under stress: killed connections, concurrent claimers and
followers, several processes' worth of stores (each with its own pool) on one database.

Skipped when no PostgreSQL server is reachable locally; a failure in CI (``CI=true``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

import pg
from jobdeck.domain.job import Fence, JobFilter, Mode, NewJob, Status
from jobdeck.store.postgres import database
from jobdeck.store.postgres.queries import MIGRATIONS, Q
from jobdeck.store.postgres.store import PostgresStore

# One private-server helper, bench/common.py's, for the fault battery and these tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from common import PrivateServer

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
Factory = Callable[..., Awaitable[PostgresStore]]


def queued(n: int, name: str = "job") -> list[NewJob]:
    return [NewJob(name=f"{name}-{i}", type="test:noop", mode=Mode.QUEUED) for i in range(n)]


async def wait_for(channel: str, store: PostgresStore, mark: int, timeout: float = 10.0) -> None:
    assert await store.signals.wait(channel, mark, timeout), f"no {channel!r} signal"


async def test_calls_and_listener_survive_killed_connections(
    make_store: Factory, postgres_url: str
) -> None:
    store = await make_store(max_connections=4)
    other = await make_store()
    [job] = await store.insert_jobs(queued(1), T0)
    listener = store._listener
    assert listener is not None and listener.connects == 1

    mark = store.signals.mark("jobs")
    assert await pg.terminate_connections(postgres_url) >= 3  # both pools and both listeners

    # Every pooled connection is dead now: calls must retry on fresh ones, not fail.
    assert (await store.get_job(job.job_id)) is not None
    [claimed] = await store.claim("w", 5, T0, 30)
    assert claimed.job_id == job.job_id
    assert await store.complete_many([(Fence(job.job_id, 1, "w"), {"ok": 1})], T0) == [True]
    done = await store.get_job(job.job_id)
    assert done is not None and done.status is Status.COMPLETED

    # The listener reconnects by itself and fires every channel (followers catch up by seq).
    await wait_for("jobs", store, mark)
    while listener.connects < 2:
        await store.signals.wait("jobs", store.signals.mark("jobs"), 0.05)
    assert listener.connected

    # ...and still delivers other processes' notifications.
    mark = store.signals.mark("enqueue")
    await other.insert_jobs(queued(1, "after"), T0)
    await wait_for("enqueue", store, mark)


async def test_writes_keep_landing_while_connections_are_killed(
    make_store: Factory, postgres_url: str
) -> None:
    store = await make_store(max_connections=4)
    inserted: list[str] = []
    stop = asyncio.Event()

    async def writer() -> None:
        for i in range(150):
            jobs = await store.insert_jobs(queued(3, f"w{i}"), T0)
            inserted.extend(j.job_id for j in jobs)
        stop.set()

    async def killer() -> int:
        kills = 0
        while not stop.is_set():
            kills += await pg.terminate_connections(postgres_url)
            await asyncio.wait([asyncio.create_task(stop.wait())], timeout=0.02)
        return kills

    _, kills = await asyncio.gather(writer(), killer())
    assert kills > 0
    # Each insert landed exactly once, retried or not (job_ids make retries idempotent).
    assert len(inserted) == len(set(inserted)) == 450
    fresh = await make_store()
    assert await fresh.count_jobs(where=JobFilter()) == 450
    history = await fresh.get_history(inserted[0])
    assert [e.kind for e in history] == ["created"]


async def test_concurrent_claimers_never_share_a_job(make_store: Factory) -> None:
    stores = [await make_store(max_connections=2) for _ in range(4)]
    total = 2000
    for start in range(0, total, 500):
        await stores[0].insert_jobs(queued(500, f"b{start}"), T0)

    async def drain(store: PostgresStore, worker: str) -> list[str]:
        got: list[str] = []
        while True:
            jobs = await store.claim(worker, 25, T0, 30)
            if not jobs:
                return got
            got.extend(j.job_id for j in jobs)
            fences = [(Fence(j.job_id, j.attempt, worker), None) for j in jobs]
            done = await store.complete_many(fences, T0)
            assert all(done)

    results = await asyncio.gather(
        *(drain(s, f"w{i}-{k}") for i, s in enumerate(stores) for k in range(2))
    )
    claimed = [job_id for got in results for job_id in got]
    assert len(claimed) == total
    assert len(set(claimed)) == total
    assert sum(1 for got in results if got) > 1  # the work really was shared
    counts = await stores[0].count_by_status(JobFilter())
    assert counts == {Status.COMPLETED: total}


async def test_feed_never_skips_a_commit_under_concurrent_writers(make_store: Factory) -> None:
    """A follower reading changes_since(cursor) must eventually see every write: the seq a
    writer got back (or a later one for the same job). With seqs that did not follow
    commit order, a slow transaction's seq would land below the cursor and be lost."""
    writers = [await make_store(max_connections=3) for _ in range(3)]
    follower = await make_store()
    jobs = await writers[0].insert_jobs(
        [NewJob(name=f"t{i}", type="t", mode=Mode.TRACKED) for i in range(30)], T0
    )
    for job in jobs:
        await writers[0].start(job.job_id, T0)
    written: list[tuple[str, int]] = []
    seen: dict[str, int] = {}
    done = asyncio.Event()

    async def write(store: PostgresStore, offset: int) -> None:
        for i in range(60):
            job = jobs[(i * 7 + offset) % len(jobs)]
            now = T0 + timedelta(seconds=i)
            updated = await store.update_progress(job.job_id, i % 100, {"i": i}, None, now)
            written.append((updated.job_id, updated.seq))

    async def follow() -> None:
        cursor = 0
        while True:
            finished = done.is_set()
            for change in await follower.changes_since(cursor, limit=7):
                assert change.seq >= cursor
                cursor = change.seq
                seen[change.job.job_id] = max(seen.get(change.job.job_id, 0), change.seq)
            if finished and cursor >= await follower.last_seq():
                return
            await asyncio.sleep(0)

    async def writers_then_done() -> None:
        await asyncio.gather(*(write(s, k) for k, s in enumerate(writers) for _ in range(2)))
        done.set()

    await asyncio.gather(writers_then_done(), follow())
    missed = [(job_id, seq) for job_id, seq in written if seen.get(job_id, 0) < seq]
    assert not missed


async def test_open_migrates_once_when_processes_start_together(postgres_url: str) -> None:
    stores = [PostgresStore(postgres_url, listen=False) for _ in range(5)]
    try:
        await asyncio.gather(*(s.open() for s in stores))
        assert {await s.schema_version() for s in stores} == {len(MIGRATIONS)}
    finally:
        for s in stores:
            await s.close()


async def test_enqueue_wakes_a_store_in_another_pool_quickly(make_store: Factory) -> None:
    waiter = await make_store()
    producer = await make_store()
    latencies: list[float] = []
    for i in range(30):
        mark = waiter.signals.mark("enqueue")
        started = time.perf_counter()
        await producer.insert_jobs(queued(1, f"wake{i}"), T0)
        await wait_for("enqueue", waiter, mark)
        latencies.append(time.perf_counter() - started)
    latencies.sort()
    # Generous bound for a loaded CI machine; bench/pg_store.py reports the real figure.
    assert latencies[len(latencies) // 2] < 0.05


@pytest.mark.parametrize(
    "held", [2.0, pytest.param(10.0, marks=pytest.mark.long)], ids=["2s", "10s"]
)
async def test_a_transaction_held_open_does_not_stall_followers(
    make_store: Factory, postgres_url: str, held: float
) -> None:
    """While one feed write's transaction stays open (2 s, 20 times the late threshold;
    10 s with ``-m long``), other commits reach a follower within 200 ms; the open one is
    passed over, and its record arrives with a new seq, above everything read, once it
    commits."""
    store = await make_store()
    writer = await make_store()
    [slow_job] = await store.insert_jobs([NewJob(name="slow", type="t", mode=Mode.TRACKED)], T0)
    cursor = await store.last_seq()
    latencies: list[float] = []
    params = {"job_id": slow_job.job_id, "kind": "log", "message": "slow", "data": None}
    async with await psycopg.AsyncConnection.connect(postgres_url) as slow:
        await slow.execute(Q["add_history"], params | {"now": T0, "keep": 499})
        opened = time.monotonic()
        while time.monotonic() - opened < held:
            [job] = await writer.insert_jobs(queued(1, "fast"), T0)
            committed = time.perf_counter()
            while True:
                mark = store.signals.mark("jobs")
                page = await store.changes_since(cursor, 100)
                if page:
                    cursor = page[-1].seq
                if any(c.job is not None and c.job.job_id == job.job_id for c in page):
                    latencies.append(time.perf_counter() - committed)
                    break
                await store.signals.wait("jobs", mark, 1.0)
            await asyncio.sleep(0.2)
        read_before_commit = cursor
        await slow.commit()
    latencies.sort()
    assert latencies[-1] < 0.2, latencies
    async with asyncio.timeout(2):
        found = None
        while found is None:
            mark = store.signals.mark("jobs")
            page = await store.changes_since(cursor, 100)
            if page:
                cursor = page[-1].seq
            found = next((c for c in page if c.job and c.job.job_id == slow_job.job_id), None)
            if found is None:
                await store.signals.wait("jobs", mark, 0.05)
    assert found.seq > read_before_commit
    assert [e.message for e in await store.get_history(slow_job.job_id)][-1] == "slow"


@pytest.fixture
def private_server() -> Iterator[PrivateServer]:
    reason = PrivateServer.missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    server = PrivateServer()
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.remove()


@pytest.mark.slow
async def test_store_and_listener_ride_out_a_server_restart(
    private_server: PrivateServer, caplog: pytest.LogCaptureFixture
) -> None:
    store = PostgresStore(private_server.url)
    other = PostgresStore(private_server.url, listen=False)
    await store.open()
    await other.open()
    try:
        [job] = await store.insert_jobs(queued(1), T0)
        listener = store._listener
        assert listener is not None

        await asyncio.to_thread(private_server.stop)
        # The server comes back a moment later; calls made meanwhile wait and retry.
        restart = asyncio.create_task(asyncio.to_thread(private_server.start))
        assert (await store.get_job(job.job_id)) is not None
        jobs = await store.insert_jobs(queued(2, "during"), T0)
        await restart
        assert len(await store.claim("w", 10, T0, 30)) == 3
        assert len(jobs) == 2
        retried = [r for r in caplog.records if "PostgreSQL call failed" in r.getMessage()]
        assert retried, "the calls during the restart should have been retried"

        async with asyncio.timeout(20):
            while listener.connects < 2:
                await store.signals.wait("jobs", store.signals.mark("jobs"), 0.1)
        mark = store.signals.mark("enqueue")
        await other.insert_jobs(queued(1, "after"), T0)
        await wait_for("enqueue", store, mark)
    finally:
        await other.close()
        await store.close()


@pytest.mark.parametrize("connections", [1, 4])  # 4: on the connection kept between verbs
async def test_a_schema_change_by_another_process_does_not_break_prepared_statements(
    make_store: Factory, postgres_url: str, connections: int
) -> None:
    """A newer version migrating the schema (adding a column) while this process runs:
    its pooled connections' prepared ``SELECT *`` plans go stale and are replaced."""
    store = await make_store(max_connections=connections)
    [job] = await store.insert_jobs(queued(1), T0)
    for _ in range(3):
        assert await store.get_job(job.job_id) is not None
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as other:
        await other.execute("ALTER TABLE jobdeck_jobs ADD COLUMN from_the_future text")
    again = await store.get_job(job.job_id)
    assert again is not None and again.job_id == job.job_id
    [claimed] = await store.claim("w", 1, T0, 30)
    assert claimed.job_id == job.job_id


@pytest.mark.slow
async def test_a_crash_never_hands_out_a_seq_twice(private_server: PrivateServer) -> None:
    """Writers are busy when the server crashes (immediate stop, WAL replay on start).
    Every seq a follower read before the crash stays taken: later writes get higher
    seqs, and no two records read ever share a seq but those of one transaction."""
    follower = PostgresStore(private_server.url)
    writers = [PostgresStore(private_server.url, listen=False) for _ in range(4)]
    await follower.open()
    for w in writers:
        await w.open()
    seen: dict[tuple[str, int], str] = {}  # (job_id, seq) -> name

    async def read_all(cursor: int) -> int:
        while page := await follower.changes_since(cursor, 500):
            for c in page:
                assert c.job is not None
                seen[(c.job.job_id, c.seq)] = c.job.name
            cursor = page[-1].seq
        return cursor

    async def write(w: PostgresStore, tag: str, stop: asyncio.Event) -> None:
        i = 0
        while not stop.is_set():
            with contextlib.suppress(Exception):
                await w.insert_jobs(queued(1, f"{tag}-{i}"), T0)
            i += 1

    try:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(write(w, f"before{n}", stop)) for n, w in enumerate(writers)]
        await asyncio.sleep(1.0)
        read_before = await read_all(0)
        await asyncio.to_thread(private_server.crash)
        stop.set()
        await asyncio.to_thread(private_server.start)  # writes in flight retry meanwhile
        await asyncio.gather(*tasks, return_exceptions=True)
        before = dict(seen)
        assert before and read_before == max(seq for _, seq in before)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(write(w, f"after{n}", stop)) for n, w in enumerate(writers)]
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.gather(*tasks)
        await read_all(read_before)
        # Everything read before the crash is still there, at the same seq...
        now = {(c.job.job_id, c.seq) for c in await follower.changes_since(0, 100_000) if c.job}
        assert set(before) <= now
        # ... and every write after it has a seq above all of them, each its own.
        after = {key: name for key, name in seen.items() if name.startswith("after")}
        assert after and min(seq for _, seq in after) > read_before
        seqs = [seq for _, seq in seen]
        assert len(seqs) == len(set(seqs))  # one job per insert: one record per seq
    finally:
        for w in writers:
            await w.close()
        await follower.close()


async def _slow_wal_writer(url: str) -> None:
    """Commits that do not wait for the flush then stay in memory for 10 s."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as admin:
        await admin.execute("ALTER SYSTEM SET wal_writer_delay = '10s'")
        await admin.execute("SELECT pg_reload_conf()")


async def _wal(url: str) -> tuple[bool, str]:
    """Whether the server's WAL is flushed less far than it is written, and how far it
    is written."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT pg_current_wal_flush_lsn() < pg_current_wal_insert_lsn(),"
            " pg_current_wal_insert_lsn()::text"
        )
        row = await cur.fetchone()
        assert row is not None
        return bool(row[0]), str(row[1])


async def _flushed_past(url: str, lsn: str) -> bool:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute("SELECT pg_current_wal_flush_lsn() >= %s::pg_lsn", [lsn])
        row = await cur.fetchone()
        assert row is not None
        return bool(row[0])


@pytest.mark.slow
async def test_worker_writes_do_not_wait_for_the_disk_and_reads_make_them_durable(
    private_server: PrivateServer,
) -> None:
    """queries.sql, worker_seq and durable: a claim and a completion commit without
    flushing the WAL; an enqueue, a feed page, last_seq and a job's history flush it
    through everything they saw before they return. The WAL writer is slowed to 10 s
    so that only the statements themselves flush."""
    url = private_server.url
    await _slow_wal_writer(url)
    store = PostgresStore(url, listen=False)
    await store.open()
    try:
        jobs = await store.insert_jobs(queued(4), T0)
        assert not (await _wal(url))[0]  # the enqueue waited for the flush

        reads: list[Callable[[], Awaitable[object]]] = [
            lambda: store.changes_since(0),
            store.last_seq,
            lambda: store.get_history(jobs[0].job_id),
            lambda: store.get_history(jobs[0].job_id, after=0),
        ]
        for n, read in enumerate(reads):
            job = jobs[n]
            [claimed] = await store.claim("w", 1, T0, 30)
            assert claimed.job_id == job.job_id
            assert (await _wal(url))[0], "the claim waited for the WAL flush"
            assert await store.complete_many([(Fence(job.job_id, 1, "w"), None)], T0) == [True]
            unflushed, lsn = await _wal(url)
            assert unflushed, "the completion waited for the WAL flush"
            await read()
            assert await _flushed_past(url, lsn), f"read {n} handed out what may be undone"
    finally:
        await store.close()


@pytest.mark.slow
async def test_with_a_synchronous_standby_reads_wait_for_it(
    private_server: PrivateServer,
) -> None:
    """queries.sql, durable: a worker's claim waits neither for the disk nor for a
    synchronous standby, so a feed page that saw it waits for the standby before it is
    handed out, even once the WAL is on the local disk, and even where sessions commit
    with synchronous_commit = local. The standby named here never answers; naming none
    releases the waiting commit."""
    url = private_server.url
    store = PostgresStore(url, listen=False)
    await store.open()
    admin = await psycopg.AsyncConnection.connect(url, autocommit=True)
    try:
        [job] = await store.insert_jobs(queued(1), T0)
        # A first page prunes what the migrations left in the catalogs as it is planned
        # (WAL of its own, which would make the page below wait in any case).
        await store.changes_since(0)
        await admin.execute("ALTER SYSTEM SET synchronous_standby_names = 'nobody'")
        await admin.execute("ALTER SYSTEM SET synchronous_commit = 'local'")
        await admin.execute("SELECT pg_reload_conf()")
        await asyncio.sleep(0.2)  # the reload reaches every backend
        [claimed] = await asyncio.wait_for(store.claim("w", 1, T0, 30), 5.0)
        assert claimed.job_id == job.job_id
        lsn = (await _wal(url))[1]
        async with asyncio.timeout(5.0):
            while not await _flushed_past(url, lsn):  # the WAL writer's local flush
                await asyncio.sleep(0.05)

        page = asyncio.create_task(store.changes_since(0))
        await asyncio.sleep(1.0)
        assert not page.done(), "a page was handed out that the standby may not have"
        await admin.execute("ALTER SYSTEM RESET synchronous_standby_names")
        await admin.execute("SELECT pg_reload_conf()")
        changes = await asyncio.wait_for(page, 10.0)
        assert [(c.job.job_id, c.job.status) for c in changes if c.job] == [
            (job.job_id, Status.RUNNING)
        ]
    finally:
        await admin.close()
        await store.close()


@pytest.mark.slow
async def test_a_crash_never_hands_out_a_seq_a_follower_read_of_worker_writes(
    private_server: PrivateServer,
) -> None:
    """As test_a_crash_never_hands_out_a_seq_twice, with the writes a crash can undo: claims
    and completions (queries.sql, worker_seq). Nothing the follower read before the crash
    is undone by it, so every seq it read stays taken; writes after it get higher ones."""
    await _slow_wal_writer(private_server.url)
    follower = PostgresStore(private_server.url)
    writers = [PostgresStore(private_server.url, listen=False) for _ in range(3)]
    await follower.open()
    for w in writers:
        await w.open()
    await writers[0].insert_jobs(queued(20_000), T0)
    read: dict[int, str] = {}  # seq -> a job written at it

    async def read_page(cursor: int) -> int:
        for c in await follower.changes_since(cursor, 500):
            assert c.job is not None
            read.setdefault(c.seq, c.job.job_id)
            cursor = c.seq
        return cursor

    async def work(w: PostgresStore, name: str, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):
                jobs = await w.claim(name, 5, T0, 30)
                fences = [(Fence(j.job_id, j.attempt, name), None) for j in jobs]
                await w.complete_many(fences, T0)
            await asyncio.sleep(0)

    try:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(work(w, f"w{n}", stop)) for n, w in enumerate(writers)]
        cursor = 0
        for _ in range(30):  # the follower reads as the writes land
            cursor = await read_page(cursor)
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.gather(*tasks)
        # The follower reads the last writes, still in the WAL's last page in memory (the
        # WAL writer waits 10 s), and the server crashes at once.
        while (last := await read_page(cursor)) != cursor:
            cursor = last
        await asyncio.to_thread(private_server.crash)
        await asyncio.to_thread(private_server.start)
        assert read and cursor == max(read)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(work(w, f"v{n}", stop)) for n, w in enumerate(writers)]
        deadline = time.monotonic() + 10.0
        while len(await follower.changes_since(cursor, 200)) < 100:
            assert time.monotonic() < deadline, "no writes after the restart"
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.gather(*tasks)
        # Nothing the follower read was undone: each job it saw at a seq is still there
        # at that seq or later...
        now = {c.job.job_id: c.seq for c in await follower.changes_since(0, 100_000) if c.job}
        assert all(now[job_id] >= seq for seq, job_id in read.items())
        # ... and every write after the crash has a seq above everything read.
        later = [c.seq for c in await follower.changes_since(cursor, 100_000)]
        assert later and min(later) > cursor
    finally:
        for w in writers:
            await w.close()
        await follower.close()


async def _backend(conn: psycopg.AsyncConnection[Any], hold: float = 0.0) -> int:
    """The verb of the tests below: which server backend ran it (after ``hold`` s)."""
    cur = await conn.execute("SELECT pg_backend_pid() AS pid, pg_sleep(%s)", [hold])
    row = await cur.fetchone()
    assert row is not None
    return int(row["pid"])


async def _live(postgres_url: str, pids: set[int]) -> set[int]:
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as admin:
        cur = await admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s)", [list(pids)]
        )
        return {pid for (pid,) in await cur.fetchall()}


async def test_one_verb_at_a_time_keeps_its_connection_and_others_use_the_pool(
    make_store: Factory, postgres_url: str
) -> None:
    """Database._give_back: verbs one after another run on one connection kept out of
    the pool; verbs at once also take pooled ones (none waits for the kept one); close
    returns it with the others."""
    store = await make_store(max_connections=3)
    alone = {await store._run(_backend) for _ in range(5)}
    assert len(alone) == 1
    together = await asyncio.gather(*(store._run(lambda c: _backend(c, 0.05)) for _ in range(9)))
    assert len(set(together)) == 3
    assert len({await store._run(_backend) for _ in range(5)}) == 1
    await store.close()
    deadline = time.monotonic() + 5.0
    while await _live(postgres_url, alone | set(together)) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not await _live(postgres_url, alone | set(together))


@pytest.mark.parametrize("connections", [1, 2])
async def test_no_verb_waits_for_a_connection_kept_out_of_the_pool(
    make_store: Factory, connections: int
) -> None:
    """While one verb holds a pooled connection for long, the others, alone or at once,
    run on the one left: a connection is kept only while no other verb waits."""
    store = await make_store(max_connections=connections)
    await store._run(_backend)  # one kept
    loop = asyncio.get_running_loop()
    start = loop.time()
    slow = asyncio.ensure_future(store._run(lambda c: _backend(c, 1.0)))
    if connections == 1:  # the kept one is the only one: the others wait for it
        assert len(set(await asyncio.gather(*(store._run(_backend) for _ in range(5))))) == 1
        assert 0.9 <= loop.time() - start < 3.0  # not after the pool's timeout (10 s)
    else:
        await asyncio.sleep(0.1)
        await store._run(_backend)  # alone
        await asyncio.gather(store._run(lambda c: _backend(c, 0.05)), store._run(_backend))
        assert loop.time() - start < 0.6
    await slow


async def test_a_kept_connection_goes_back_to_the_pool_in_time(
    make_store: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await make_store(max_connections=2)
    await store._run(_backend)
    kept = store._kept
    assert kept is not None
    requests = store._pool.get_stats()["requests_num"]
    await store._run(_backend)  # on the kept one, not from the pool
    assert store._kept == kept and store._pool.get_stats()["requests_num"] == requests
    # Its time is up (KEEP_SECONDS after it left the pool): the next verb hands it back
    # and takes one from the pool, which keeps the pool's upkeep (lifetime, checks).
    monkeypatch.setattr(database, "KEEP_SECONDS", 0.0)
    await store._run(_backend)
    assert store._pool.get_stats()["requests_num"] == requests + 1
    assert store._kept is not None and store._kept[1] > kept[1]
