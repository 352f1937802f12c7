"""The worker on a frozen clock over a real SQLite file: order, retries, timeouts,
cancellation, the fence, heartbeats, shutdown and drain."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from jobdeck import BaseJobHandler, JobDeck, Settings, Status
from jobdeck.clock import FrozenClock
from jobdeck.errors import StoreError
from jobdeck.runtime import Worker
from jobdeck.runtime import worker as worker_module
from jobdeck.store.base import Store


def fast_settings(tmp_path: Path, **changes: Any) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'jobs.db'}",
        poll_seconds=0.05,
        heartbeat_seconds=0.05,
        lease_seconds=30,
        cancel_grace_seconds=0.5,
        shutdown_grace_seconds=0.3,
        maintenance_seconds=0.05,
    ).with_(**changes)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def deck(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[JobDeck]:
    async with JobDeck(settings=fast_settings(tmp_path), clock=clock) as deck:
        yield deck


async def until(check: Callable[[], Awaitable[bool] | bool], timeout: float = 3.0) -> None:
    """Poll ``check`` until true, failing after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while True:
            outcome = check()
            if not isinstance(outcome, bool):
                outcome = await outcome
            if outcome:
                return
            await asyncio.sleep(0.01)


async def status_of(deck: JobDeck, job_id: str) -> Status:
    handle = await deck.get_job(job_id)
    assert handle is not None
    return handle.status  # type: ignore[no-any-return]


async def wait_status(deck: JobDeck, job_id: str, status: Status) -> None:
    async def reached() -> bool:
        return await status_of(deck, job_id) == status

    await until(reached)


def start_worker(worker: Worker, stop: asyncio.Event) -> asyncio.Task[None]:
    return asyncio.create_task(worker.run(stop))


def blocking(release: asyncio.Event, runs: list[int]) -> type[BaseJobHandler]:
    """A handler that notes its attempt in ``runs``, then waits for ``release``."""

    class Blocks(BaseJobHandler):
        async def execute(self) -> str:
            runs.append(self.job.attempt)
            await release.wait()
            return f"attempt {self.job.attempt}"

    return Blocks


def undo_claim(tmp_path: Path, job_id: str) -> None:
    """The job's row as before its claim, as a crash of PostgreSQL can leave it
    (docs/postgres.md, "Commits that do not wait for the disk"), here on the SQLite file."""
    with sqlite3.connect(tmp_path / "jobs.db") as db:
        db.execute(
            "UPDATE jobs SET status = 'pending', attempt = attempt - 1, locked_by = NULL,"
            " lease_expires_at = NULL, started_at = NULL WHERE job_id = ?",
            (job_id,),
        )


# --- order and retries ----------------------------------------------------


async def test_priorities_are_claimed_in_order(deck: JobDeck) -> None:
    seen: list[str] = []

    class Record(BaseJobHandler):
        async def execute(self) -> None:
            seen.append(self.job.payload["name"])

    deck.register_job_type("record", Record)
    for priority in ("low", "normal", "urgent", "high", "normal"):
        await deck.schedule_job("record", {"name": priority}, priority=priority)

    assert await deck.drain(concurrency=1) == 5
    assert seen == ["urgent", "high", "normal", "normal", "low"]


async def test_retries_follow_the_backoff_schedule(deck: JobDeck, clock: FrozenClock) -> None:
    class Flaky(BaseJobHandler):
        retry_delays = (5, 30)

        def execute(self) -> None:
            raise RuntimeError(f"boom {self.job.attempt}")

    deck.register_job_type("flaky", Flaky)
    job = await deck.schedule_job("flaky", max_retries=2)

    for attempt, delay in ((1, 5), (2, 30)):
        start = clock.now()
        assert await deck.drain() == 1
        await job.refresh()
        assert job.status == Status.PENDING
        assert job.attempt == attempt
        assert job.error_message == f"boom {attempt}"
        # Up to 10 % jitter on top of the delay.
        assert start + timedelta(seconds=delay) <= job.run_at
        assert job.run_at <= start + timedelta(seconds=delay * 1.1)
        assert await deck.drain() == 0  # not due yet
        clock.advance(delay * 1.1 + 1)

    assert await deck.drain() == 1
    await job.refresh()
    assert job.status == Status.FAILED
    assert job.attempt == 3
    assert job.error_message == "boom 3"
    kinds = [event.kind for event in await deck.get_history(job.job_id)]
    assert kinds.count("retry") == 2


async def test_per_job_retry_delays_override_the_class(deck: JobDeck, clock: FrozenClock) -> None:
    class Flaky(BaseJobHandler):
        retry_delays = (100,)

        async def execute(self) -> None:
            raise ValueError

    deck.register_job_type("flaky", Flaky)
    job = await deck.schedule_job("flaky", retry_delays=[2], max_retries=1)
    await deck.drain()
    await job.refresh()
    assert job.error_message == "ValueError"
    assert job.run_at <= clock.now() + timedelta(seconds=2.2)


# --- timeouts ---------------------------------------------------------------


async def test_an_async_handler_past_its_timeout_fails(deck: JobDeck) -> None:
    stopped = asyncio.Event()

    class Slow(BaseJobHandler):
        timeout = 1

        async def execute(self) -> None:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                stopped.set()
                raise

    deck.register_job_type("slow", Slow)
    job = await deck.schedule_job("slow", max_retries=1)
    assert job.timeout == 1
    await deck.drain()
    await job.refresh()
    assert stopped.is_set()
    assert job.status == Status.PENDING  # retried
    assert job.error_message == "Job timed out after 1 seconds"


async def test_a_sync_handler_past_its_timeout_fails(deck: JobDeck) -> None:
    class Slow(BaseJobHandler):
        def execute(self) -> None:
            while True:
                self.check_cancelled()  # raises once the timeout passed
                threading.Event().wait(0.01)

    deck.register_job_type("slow", Slow)
    job = await deck.schedule_job("slow", max_retries=0, timeout=1)
    await deck.drain()
    await job.refresh()
    assert job.status == Status.FAILED
    assert job.error_message == "Job timed out after 1 seconds"


# --- cancellation -------------------------------------------------------------


async def test_cancelling_a_pending_job_means_it_never_runs(deck: JobDeck) -> None:
    class Never(BaseJobHandler):
        async def execute(self) -> None:
            raise AssertionError("must not run")

    deck.register_job_type("never", Never)
    job = await deck.schedule_job("never")
    await job.cancel()
    assert job.status == Status.CANCELLED
    assert await deck.drain() == 0


async def test_cancelling_a_running_async_handler(deck: JobDeck) -> None:
    started, saw_cancel = asyncio.Event(), asyncio.Event()

    class Waits(BaseJobHandler):
        async def execute(self) -> None:
            started.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                saw_cancel.set()
                raise

    deck.register_job_type("waits", Waits)
    job = await deck.schedule_job("waits", max_retries=3)
    stop = asyncio.Event()
    worker = Worker(deck.store, deck.registry, settings=deck.settings, clock=deck.clock)
    task = start_worker(worker, stop)
    await asyncio.wait_for(started.wait(), 3)

    await job.cancel()
    assert job.status == Status.CANCELLING
    await wait_status(deck, job.job_id, Status.CANCELLED)
    assert saw_cancel.is_set()
    stop.set()
    await task
    assert worker.stats.cancelled == 1
    assert worker.stats.retried == 0


async def test_cancelling_a_running_sync_handler(deck: JobDeck) -> None:
    started = threading.Event()

    class Loops(BaseJobHandler):
        def execute(self) -> None:
            started.set()
            for step in range(10_000):
                self.update_progress(step % 100)  # raises JobCancelled once cancelling
                threading.Event().wait(0.005)

    deck.register_job_type("loops", Loops)
    job = await deck.schedule_job("loops")
    stop = asyncio.Event()
    worker = Worker(deck.store, deck.registry, settings=deck.settings, clock=deck.clock)
    task = start_worker(worker, stop)
    assert await asyncio.to_thread(started.wait, 3)

    await job.cancel()
    await wait_status(deck, job.job_id, Status.CANCELLED)
    stop.set()
    await task
    assert worker.stats.cancelled == 1


async def test_a_handler_ignoring_cancel_is_stopped_after_the_grace(deck: JobDeck) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    class Stubborn(BaseJobHandler):
        async def execute(self) -> None:
            started.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                await release.wait()  # ignores the cancel

    deck.register_job_type("stubborn", Stubborn)
    job = await deck.schedule_job("stubborn")
    stop = asyncio.Event()
    worker = Worker(deck.store, deck.registry, settings=deck.settings, clock=deck.clock)
    task = start_worker(worker, stop)
    await asyncio.wait_for(started.wait(), 3)
    await job.cancel()
    await wait_status(deck, job.job_id, Status.CANCELLED)  # cancel_grace_seconds = 0.5
    release.set()
    stop.set()
    await task


async def test_a_handler_may_cancel_its_own_job(deck: JobDeck) -> None:
    from jobdeck import JobCancelled

    class GivesUp(BaseJobHandler):
        async def execute(self) -> None:
            raise JobCancelled("nothing to do")

    deck.register_job_type("gives-up", GivesUp)
    job = await deck.schedule_job("gives-up")
    await deck.drain()
    await job.refresh()
    assert job.status == Status.CANCELLED


# --- leases -----------------------------------------------------------------


async def test_a_rescued_jobs_old_worker_cannot_complete_it(
    deck: JobDeck, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = asyncio.Event()
    runs: list[int] = []
    deck.register_job_type("blocks", blocking(release, runs))
    job = await deck.schedule_job("blocks")
    stop = asyncio.Event()
    worker = Worker(deck.store, deck.registry, settings=deck.settings, clock=clock, concurrency=1)

    async def no_heartbeat() -> None:  # as if the worker hung
        return None

    monkeypatch.setattr(worker, "beat", no_heartbeat)
    task = start_worker(worker, stop)
    await until(lambda: runs == [1])

    clock.advance(deck.settings.lease_seconds + 1)
    rescued = await deck.store.rescue_expired(clock.now())
    assert [j.job_id for j in rescued] == [job.job_id]

    release.set()  # the old attempt finishes: its completion must be rejected
    await wait_status(deck, job.job_id, Status.COMPLETED)
    stop.set()
    await task
    await job.refresh()
    assert job.result == "attempt 2"
    assert runs == [1, 2]
    assert worker.stats.stale_writes == 1


async def test_a_claim_undone_and_made_again_does_not_run_the_job_twice(
    deck: JobDeck, tmp_path: Path
) -> None:
    """A crash of PostgreSQL can undo a worker's claim (docs/postgres.md, "Commits that
    do not wait for the disk"), and the same worker can then claim the job again with
    the same fence: the run under way holds the attempt again, and no second run
    starts."""
    release = asyncio.Event()
    runs: list[int] = []
    deck.register_job_type("blocks", blocking(release, runs))
    job = await deck.schedule_job("blocks")
    stop = asyncio.Event()
    worker = Worker(deck.store, deck.registry, settings=deck.settings, clock=deck.clock)
    task = start_worker(worker, stop)
    await until(lambda: runs == [1])

    undo_claim(tmp_path, job.job_id)
    await until(lambda: worker.stats.claimed == 2)  # claimed again, by the same worker
    await asyncio.sleep(0.1)
    assert runs == [1]

    release.set()
    await wait_status(deck, job.job_id, Status.COMPLETED)
    stop.set()
    await task
    await job.refresh()
    assert (job.attempt, job.result, runs) == (1, "attempt 1", [1])
    assert worker.stats.stale_writes == 0


async def test_a_claim_undone_then_lost_and_made_again_runs_the_job_anew(
    deck: JobDeck, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As above, but a heartbeat found the claim undone first: the run under way was
    told it lost the job and is winding down, so the next claim's attempt runs anew
    rather than being left to it (the job would wait for its lease to expire)."""
    hold = threading.Event()
    runs: list[int] = []

    class Blocks(BaseJobHandler):
        def execute(self) -> str:  # a thread: it stops only when released
            runs.append(self.job.attempt)
            hold.wait(5)
            return "done"

    deck.register_job_type("blocks", Blocks)
    job = await deck.schedule_job("blocks")
    gate = asyncio.Event()
    gate.set()
    claim = deck.store.claim

    async def gated_claim(*args: Any, **kwargs: Any) -> Any:
        await gate.wait()
        return await claim(*args, **kwargs)

    monkeypatch.setattr(deck.store, "claim", gated_claim)
    stop = asyncio.Event()
    worker = Worker(deck.store, deck.registry, settings=deck.settings, clock=deck.clock)
    task = start_worker(worker, stop)
    await until(lambda: runs == [1])

    gate.clear()  # no claim until the heartbeat has found the claim undone
    undo_claim(tmp_path, job.job_id)
    await worker.beat()
    assert [slot.attempt.reason for slot in worker._running.values()] == ["lost"]
    gate.set()
    await until(lambda: runs == [1, 1])  # the same attempt, run anew
    hold.set()
    await wait_status(deck, job.job_id, Status.COMPLETED)
    stop.set()
    await task
    await job.refresh()
    assert (job.attempt, job.result) == (1, "done")


async def test_heartbeats_keep_a_long_job_from_being_rescued(
    deck: JobDeck, clock: FrozenClock
) -> None:
    release, started = asyncio.Event(), asyncio.Event()

    class Long(BaseJobHandler):
        async def execute(self) -> None:
            started.set()
            await release.wait()

    deck.register_job_type("long", Long)
    job = await deck.schedule_job("long")
    stop = asyncio.Event()
    worker = Worker(deck.store, deck.registry, settings=deck.settings, clock=clock)
    task = start_worker(worker, stop)
    await asyncio.wait_for(started.wait(), 3)

    for _ in range(3):  # 60 s in all, twice the lease
        clock.advance(deck.settings.lease_seconds * 2 / 3)
        beats = worker.stats.heartbeats
        await until(lambda beats=beats: worker.stats.heartbeats > beats)  # type: ignore[misc]
        assert await deck.store.rescue_expired(clock.now()) == []

    release.set()
    await wait_status(deck, job.job_id, Status.COMPLETED)
    stop.set()
    await task
    await job.refresh()
    assert job.attempt == 1


# --- shutdown and drain -----------------------------------------------------


async def test_graceful_shutdown_finishes_quick_jobs_and_releases_the_rest(
    deck: JobDeck,
) -> None:
    started: set[str] = set()
    finish = asyncio.Event()

    class Quick(BaseJobHandler):
        async def execute(self) -> str:
            started.add("quick")
            await finish.wait()
            return "done"

    class Endless(BaseJobHandler):
        async def execute(self) -> None:
            started.add("endless")
            await asyncio.Event().wait()

    class EndlessSync(BaseJobHandler):
        def execute(self) -> None:
            started.add("sync")
            while True:
                self.check_cancelled()
                threading.Event().wait(0.01)

    deck.register_job_type("quick", Quick)
    deck.register_job_type("endless", Endless)
    deck.register_job_type("endless-sync", EndlessSync)
    quick = await deck.schedule_job("quick")
    endless = await deck.schedule_job("endless")
    endless_sync = await deck.schedule_job("endless-sync")

    stop = asyncio.Event()
    worker = Worker(deck.store, deck.registry, settings=deck.settings, clock=deck.clock)
    task = start_worker(worker, stop)
    await until(lambda: len(started) == 3)
    stop.set()
    finish.set()
    await asyncio.wait_for(task, 5)

    for handle in (quick, endless, endless_sync):
        await handle.refresh()
    assert quick.status == Status.COMPLETED
    for handle in (endless, endless_sync):
        assert handle.status == Status.PENDING
        assert handle.attempt == 0  # a release does not count as an attempt
    assert worker.stats.released == 2


async def test_cancelling_the_worker_task_releases_running_jobs(deck: JobDeck) -> None:
    started = asyncio.Event()

    class Endless(BaseJobHandler):
        async def execute(self) -> None:
            started.set()
            await asyncio.Event().wait()

    deck.register_job_type("endless", Endless)
    job = await deck.schedule_job("endless")
    task = asyncio.create_task(deck.run_worker(2))
    await asyncio.wait_for(started.wait(), 3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await job.refresh()
    assert job.status == Status.PENDING
    assert job.attempt == 0


async def test_drain_runs_ready_jobs_only(deck: JobDeck, clock: FrozenClock) -> None:
    ran: list[int] = []

    class Count(BaseJobHandler):
        async def execute(self) -> int:
            ran.append(self.job.payload["n"])
            if self.job.payload["n"] == 0:
                # Jobs scheduled by a handler are run by the same drain.
                await deck.schedule_job("count", {"n": 99})
            return len(ran)

    deck.register_job_type("count", Count)
    for n in range(3):
        await deck.schedule_job("count", {"n": n})
    later = await deck.schedule_job("count", {"n": 50}, delay=60)

    assert await deck.drain() == 4
    assert sorted(ran) == [0, 1, 2, 99]
    assert await status_of(deck, later.job_id) == Status.PENDING

    clock.advance(61)
    assert await deck.drain() == 1
    assert await status_of(deck, later.job_id) == Status.COMPLETED


async def test_completions_ride_with_the_next_claim(
    deck: JobDeck, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "COMPLETE_DELAY", 60.0)  # no timer flush meanwhile
    calls: list[tuple[int, int]] = []
    real = deck.store.complete_and_claim

    async def spy(items: Any, *args: Any) -> Any:
        done, claimed = await real(items, *args)
        calls.append((len(items), len(claimed)))
        return done, claimed

    monkeypatch.setattr(deck.store, "complete_and_claim", spy)
    deck.register_job_type("quick", Quick)
    jobs = [await deck.schedule_job("quick") for _ in range(3)]
    worker = Worker(deck.store, deck.registry, settings=deck.settings, clock=clock, concurrency=1)
    assert await worker.drain() == 3
    # Each job's completion went with the claim after it; the last one with an empty claim.
    assert calls == [(1, 1), (1, 1), (1, 0)]
    assert worker.stats.completed == 3
    for job in jobs:
        assert await status_of(deck, job.job_id) == Status.COMPLETED


async def test_a_busy_worker_claims_when_all_its_slots_are_free(
    deck: JobDeck, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Generous, so the test does not depend on the machine's speed; the jobs are quick.
    monkeypatch.setattr(worker_module, "GATHER_DELAY", 5.0)
    limits: list[int] = []
    claim, complete_and_claim = deck.store.claim, deck.store.complete_and_claim

    async def claim_spy(worker_id: str, limit: int, *args: Any) -> Any:
        limits.append(limit)
        return await claim(worker_id, limit, *args)

    async def complete_and_claim_spy(items: Any, worker_id: str, limit: int, *args: Any) -> Any:
        limits.append(limit)
        return await complete_and_claim(items, worker_id, limit, *args)

    monkeypatch.setattr(deck.store, "claim", claim_spy)
    monkeypatch.setattr(deck.store, "complete_and_claim", complete_and_claim_spy)
    turns: asyncio.Queue[None] = asyncio.Queue()

    class OneByOne(BaseJobHandler):
        async def execute(self) -> None:
            await turns.get()

    deck.register_job_type("one_by_one", OneByOne)
    await deck.schedule_jobs([{"type": "one_by_one"}] * 8)
    worker = Worker(deck.store, deck.registry, settings=deck.settings, clock=clock, concurrency=4)
    stop = asyncio.Event()
    task = start_worker(worker, stop)
    await until(lambda: len(worker.running) == 4)
    for _ in range(8):  # the jobs end one at a time
        turns.put_nowait(None)
        await asyncio.sleep(0.02)
    await until(lambda: worker.stats.completed == 8)
    stop.set()
    await task
    # Not a claim of 2 as soon as half the slots were free: 4 jobs per claim, then the
    # claim that finds the queue empty.
    assert limits[:3] == [4, 4, 4], limits


async def test_a_long_job_does_not_hold_back_the_claims_after_it(
    deck: JobDeck, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Were each claim to wait for every slot, each would wait this long for the long
    # job's: 4 claims of 3 quick jobs, 4 s at least.
    monkeypatch.setattr(worker_module, "GATHER_DELAY", 1.0)
    release = asyncio.Event()

    class Long(BaseJobHandler):
        async def execute(self) -> None:
            await release.wait()

    deck.register_job_type("long", Long)
    deck.register_job_type("quick", Quick)
    await deck.schedule_job("long")
    worker = Worker(deck.store, deck.registry, settings=deck.settings, clock=clock, concurrency=4)
    stop = asyncio.Event()
    task = start_worker(worker, stop)
    await until(lambda: len(worker.running) == 1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await deck.schedule_jobs([{"type": "quick"}] * 12)
    await until(lambda: worker.stats.completed == 12, timeout=10.0)
    # The claim after the long job's may wait for it once; the claims after that do not.
    assert loop.time() - started < 3.0
    release.set()
    await until(lambda: worker.stats.completed == 13)
    stop.set()
    await task


async def test_completions_that_cannot_go_with_a_claim_go_alone(
    deck: JobDeck, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "COMPLETE_DELAY", 60.0)
    tried: list[int] = []

    async def unavailable(items: Any, *args: Any) -> Any:
        tried.append(len(items))
        raise StoreError("PostgreSQL error: the test said so")

    monkeypatch.setattr(deck.store, "complete_and_claim", unavailable)
    deck.register_job_type("quick", Quick)
    jobs = [await deck.schedule_job("quick") for _ in range(2)]
    worker = Worker(deck.store, deck.registry, settings=deck.settings, clock=clock, concurrency=1)
    # The claims go on alone; the completions are written on their own (complete_many).
    assert await worker.drain() == 2
    assert tried == [1, 1]  # each tried once with a claim, then written alone
    for job in jobs:
        assert await status_of(deck, job.job_id) == Status.COMPLETED
    assert worker.stats.completed == 2 and worker.stats.stale_writes == 0


class Quick(BaseJobHandler):
    async def execute(self) -> str:
        return "done"


async def test_a_running_worker_picks_up_new_jobs_promptly(deck: JobDeck) -> None:
    done = asyncio.Event()

    class Mark(BaseJobHandler):
        async def execute(self) -> None:
            done.set()

    deck.register_job_type("mark", Mark)
    stop = asyncio.Event()
    task = asyncio.create_task(deck.run_worker(4, stop=stop))
    await asyncio.sleep(0)  # let it reach its idle wait
    loop = asyncio.get_running_loop()
    started = loop.time()
    await deck.schedule_job("mark")
    await asyncio.wait_for(done.wait(), 3)
    # Woken by the enqueue signal, not by the poll interval.
    assert loop.time() - started < deck.settings.poll_seconds * 4
    stop.set()
    await task


async def test_an_unregistered_type_fails_the_attempt(deck: JobDeck, tmp_path: Path) -> None:
    class Known(BaseJobHandler):
        async def execute(self) -> None:
            return None

    deck.register_job_type("known", Known)
    job = await deck.schedule_job("known", max_retries=0)
    store: Store = deck.store
    other = JobDeck(settings=deck.settings, clock=deck.clock, store=store)  # no handlers
    assert await other.drain() == 1
    await job.refresh()
    assert job.status == Status.FAILED
    assert "unknown job type 'known'" in (job.error_message or "")


async def test_a_job_cancelled_while_its_attempt_fails_is_not_retried(
    deck: JobDeck, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, go = asyncio.Event(), asyncio.Event()

    class Fails(BaseJobHandler):
        async def execute(self) -> None:
            started.set()
            await go.wait()
            raise RuntimeError("failed anyway")

    deck.register_job_type("fails", Fails)
    job = await deck.schedule_job("fails", max_retries=3)
    worker = Worker(deck.store, deck.registry, settings=deck.settings, clock=deck.clock)

    async def no_heartbeat() -> None:  # the worker has not heard of the cancel yet
        return None

    monkeypatch.setattr(worker, "beat", no_heartbeat)
    stop = asyncio.Event()
    task = start_worker(worker, stop)
    await asyncio.wait_for(started.wait(), 3)
    await job.cancel()
    go.set()
    await wait_status(deck, job.job_id, Status.CANCELLED)
    stop.set()
    await task
    assert worker.stats.retried == 0


async def test_a_cancel_through_the_deck_reaches_its_own_workers_at_once(
    deck: JobDeck, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = asyncio.Event()

    class Waits(BaseJobHandler):
        async def execute(self) -> None:
            started.set()
            await asyncio.Event().wait()

    async def no_heartbeat(self: Worker) -> None:  # only the direct path is left
        return None

    monkeypatch.setattr(Worker, "beat", no_heartbeat)
    deck.register_job_type("waits", Waits)
    job = await deck.schedule_job("waits")
    stop = asyncio.Event()
    task = asyncio.create_task(deck.run_worker(2, stop=stop, maintenance=False))
    await asyncio.wait_for(started.wait(), 3)
    await job.cancel()
    await wait_status(deck, job.job_id, Status.CANCELLED)
    stop.set()
    await task
