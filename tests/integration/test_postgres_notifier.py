"""The PostgreSQL Notifier paces each channel on its own (docs/postgres.md, "Wake-ups").

Under a steady stream of writes a process sends ``jobdeck_jobs`` at most once per
25 ms, while ``jobdeck_enqueue`` (an idle worker's pickup) still goes at once, and so
do the first ``jobdeck_jobs`` after a quiet spell and the one right after it. Checked
with a real LISTEN connection, as another process would hear them. Timings are medians
of a few probes: the machine is noisy.

Skipped when no PostgreSQL server is reachable locally; a failure in CI.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import psycopg
import pytest

from jobdeck.domain.job import Mode, NewJob, Status
from jobdeck.store.postgres.database import NOTIFY_INTERVAL, NOTIFY_INTERVALS, Notifier
from jobdeck.store.postgres.queries import Q
from jobdeck.store.postgres.store import PostgresStore

pytestmark = pytest.mark.postgres

JOBS, ENQUEUE = "jobdeck_jobs", "jobdeck_enqueue"
PACE = NOTIFY_INTERVALS[JOBS]
AT_ONCE = 0.012  # seconds: well under the jobs channel's pace, well over a round trip


class Heard:
    """What a LISTEN connection receives, with the loop time of each arrival."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[str, float]] = []
        self.changed = asyncio.Event()

    def times(self, channel: str) -> list[float]:
        return [at for name, at in self.arrivals if name == channel]

    async def next(self, channel: str, timeout: float = 5.0) -> float:
        """The arrival time of the next notification of ``channel`` from now on."""
        seen = len(self.times(channel))
        async with asyncio.timeout(timeout):
            while len(self.times(channel)) == seen:
                self.changed.clear()
                await self.changed.wait()
        return self.times(channel)[seen]


@pytest.fixture
async def heard(postgres_url: str) -> AsyncIterator[Heard]:
    heard = Heard()
    conn = await psycopg.AsyncConnection.connect(postgres_url, autocommit=True)
    # As a feed follower listens (listener.py): with the follower lock.
    await conn.execute(Q["listen_jobs"], prepare=False)
    await conn.execute(Q["listen_enqueue"], prepare=False)
    loop = asyncio.get_running_loop()

    async def pump() -> None:
        async for notify in conn.notifies():
            heard.arrivals.append((notify.channel, loop.time()))
            heard.changed.set()

    task = asyncio.create_task(pump())
    yield heard
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await conn.close()


@pytest.fixture
async def notifier(postgres_url: str) -> AsyncIterator[Notifier]:
    notifier = Notifier(postgres_url)
    notifier.start()
    yield notifier
    await notifier.stop()


def test_jobs_waits_longer_than_enqueue() -> None:
    # docs/feed.md: the hub's 0.065 s rounds + the jobs pace + the feed read <= 100 ms.
    assert NOTIFY_INTERVAL == 0.005 and NOTIFY_INTERVALS.get(ENQUEUE, NOTIFY_INTERVAL) == 0.005
    assert 0.005 < PACE <= 0.025


async def test_steady_writes_pace_jobs_but_not_enqueue(notifier: Notifier, heard: Heard) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    async def writes() -> None:  # a busy worker: a write every millisecond or so
        while not stop.is_set():
            notifier.send(JOBS)
            await asyncio.sleep(0.001)

    writer = asyncio.create_task(writes())
    start = loop.time()
    latencies = []
    try:
        for _ in range(5):
            await asyncio.sleep(0.1)
            # Right after a jobs NOTIFY: the jobs channel is not due for 25 ms, so only
            # its own pace can make the enqueue go at once.
            await heard.next(JOBS)
            asked = loop.time()
            notifier.send(JOBS, ENQUEUE)  # a write that made a job claimable
            latencies.append(await heard.next(ENQUEUE) - asked)
    finally:
        stop.set()
        await writer
    elapsed = loop.time() - start
    jobs = [at for at in heard.times(JOBS) if at >= start]

    assert statistics.median(latencies) < AT_ONCE, latencies
    # At most one per pace, the first at once (arrivals may bunch up: allow one more).
    assert len(jobs) <= elapsed / PACE + 2, (len(jobs), elapsed)
    assert len(jobs) >= elapsed / PACE / 4, (len(jobs), elapsed)  # and never starved
    gaps = [b - a for a, b in itertools.pairwise(jobs)]
    assert statistics.median(gaps) >= PACE * 0.8, gaps


async def test_first_after_a_quiet_spell_goes_at_once(notifier: Notifier, heard: Heard) -> None:
    loop = asyncio.get_running_loop()
    latencies = []
    for _ in range(5):
        await asyncio.sleep(PACE * 2)  # quiet for longer than the pace
        asked = loop.time()
        notifier.send(JOBS)
        latencies.append(await heard.next(JOBS) - asked)
    assert statistics.median(latencies) < AT_ONCE, latencies


async def test_a_write_right_after_a_quiet_one_goes_soon(notifier: Notifier, heard: Heard) -> None:
    # A job claimed and completed in another process at once: both heard within a few
    # ms (the pace applies from the third NOTIFY of a burst on).
    loop = asyncio.get_running_loop()
    latencies = []
    for _ in range(5):
        await asyncio.sleep(PACE * 2)
        notifier.send(JOBS)  # the claim, after a quiet spell
        await heard.next(JOBS)
        asked = loop.time()
        notifier.send(JOBS)  # the completion
        latencies.append(await heard.next(JOBS) - asked)
    assert statistics.median(latencies) < AT_ONCE, latencies


async def test_one_statement_carries_the_channels_due(notifier: Notifier, heard: Heard) -> None:
    loop = asyncio.get_running_loop()
    for _ in range(3):  # a burst: the jobs channel now goes at its pace
        notifier.send(JOBS)
        await heard.next(JOBS)
    # Both owed: enqueue is due at once, jobs not for 25 ms. The enqueue goes now, and
    # jobs when its pace is up (not before, not dropped).
    sent = loop.time()
    notifier.send(JOBS, ENQUEUE)
    enqueue, jobs = await heard.next(ENQUEUE), await heard.next(JOBS)
    assert enqueue - sent < PACE
    assert jobs - sent >= PACE * 0.6


async def test_stop_sends_what_is_owed(postgres_url: str, heard: Heard) -> None:
    notifier = Notifier(postgres_url)
    notifier.start()
    notifier.send(JOBS)
    await heard.next(JOBS)
    notifier.send(JOBS)  # paced: owed for the next 25 ms
    arrival = asyncio.ensure_future(heard.next(JOBS))
    await notifier.stop()
    await arrival


async def test_a_lost_connection_is_replaced(
    postgres_url: str, notifier: Notifier, heard: Heard
) -> None:
    notifier.send(JOBS)
    await heard.next(JOBS)
    conn = notifier._conn  # the connection its NOTIFYs go on
    assert conn is not None
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as admin:
        await admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
    # The NOTIFY that finds the connection dead is dropped (followers poll); a later
    # one connects again.
    arrival = asyncio.ensure_future(heard.next(ENQUEUE, timeout=10.0))
    while not arrival.done():
        notifier.send(ENQUEUE)
        await asyncio.sleep(0.05)
    await arrival


async def test_a_store_hears_only_the_channels_it_listens_to(
    make_store: Callable[..., Awaitable[PostgresStore]],
) -> None:
    """A worker-only process (``jobdeck worker``) listens for enqueues and cancels: other
    processes' feed writes do not wake it, their new work and cancels do."""
    api = await make_store()
    worker = await make_store(listen=("enqueue", "cancel"))
    now = datetime(2026, 1, 1, tzinfo=UTC)
    enqueue = worker.signals.mark("enqueue")
    [job] = await api.insert_jobs([NewJob(name="n", type="test:noop", mode=Mode.QUEUED)], now)
    assert await worker.signals.wait("enqueue", enqueue, 5.0)
    [claimed] = await worker.claim("w", 1, now, 30)
    assert claimed.job_id == job.job_id

    jobs = worker.signals.mark("jobs")
    tracked = NewJob(name="t", type="test:noop", mode=Mode.TRACKED)
    [other] = await api.insert_jobs([tracked], now)
    await api.start(other.job_id, now)
    cancel = worker.signals.mark("cancel")
    assert (await api.cancel(job.job_id, now)).status is Status.CANCELLING
    assert await worker.signals.wait("cancel", cancel, 5.0)
    # The cancel's NOTIFY went after the feed writes' ones: they would have arrived.
    assert worker.signals.mark("jobs") == jobs


async def test_jobs_goes_only_while_a_feed_follower_listens(
    postgres_url: str, notifier: Notifier
) -> None:
    """With only workers running nobody follows the feed, and every jobdeck_jobs NOTIFY
    would cost each listening backend a transaction for nothing (docs/postgres.md,
    "Wake-ups"). A follower's listener holds the follower lock: while one does, the
    channel goes as before; once its session has ended, it stops again."""
    loop = asyncio.get_running_loop()
    eavesdropper = Heard()  # listens to both channels without the follower lock
    conn = await psycopg.AsyncConnection.connect(postgres_url, autocommit=True)
    await conn.execute(f"LISTEN {JOBS}; LISTEN {ENQUEUE}")

    async def pump() -> None:
        async for notify in conn.notifies():
            eavesdropper.arrivals.append((notify.channel, loop.time()))
            eavesdropper.changed.set()

    async def jobs_went() -> bool:
        """Whether a write asking for both channels after a quiet spell (one statement)
        sent jobdeck_jobs. A later enqueue is heard after it, if it went."""
        await asyncio.sleep(PACE * 2)
        seen = len(eavesdropper.times(JOBS))
        notifier.send(JOBS, ENQUEUE)
        await eavesdropper.next(ENQUEUE)
        await asyncio.sleep(PACE * 2)
        notifier.send(ENQUEUE)
        await eavesdropper.next(ENQUEUE)
        return len(eavesdropper.times(JOBS)) > seen

    task = asyncio.create_task(pump())
    try:
        assert not await jobs_went()
        follower = await psycopg.AsyncConnection.connect(postgres_url, autocommit=True)
        await follower.execute(Q["listen_jobs"], prepare=False)
        assert await jobs_went()
        await follower.close()  # its lock goes when its backend has exited
        async with asyncio.timeout(5.0):
            while await jobs_went():
                pass
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await conn.close()
