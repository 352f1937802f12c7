"""The typed change feed: jobs, schedules and executions in one sequence (docs/feed.md)."""

from __future__ import annotations

import asyncio

from cron_support import fire, fire_one, make, run_job
from store_support import OpenStore, at, claim_one, fence_of, insert, new_job

from jobdeck.domain.feed import CRON, JOBS, Change, Record
from jobdeck.domain.job import Job, JobFilter
from jobdeck.domain.schedule import CronJob, Execution, OverlapPolicy, TriggeredBy
from jobdeck.store.base import Store


def key(record: Record) -> tuple[str, int]:
    return type(record).__name__, record.id


def described(changes: list[Change]) -> list[tuple[int, str]]:
    return [(c.seq, type(c.record).__name__) for c in changes]


async def current(store: Store, record: Record) -> Record | None:
    if isinstance(record, Job):
        return await store.get_job(record.job_id)
    if isinstance(record, Execution):
        return await store.get_execution(record.id)
    return await store.get_cron_job(record.id)


async def follow(store: Store, since: int, limit: int) -> list[Change]:
    """Every change after ``since``, a page of ``limit`` at a time."""
    seen: list[Change] = []
    cursor = since
    while page := await store.changes_since(cursor, limit):
        assert page[0].seq > cursor
        seen.extend(page)
        cursor = page[-1].seq
    return seen


async def test_records_are_typed_and_current(store: Store) -> None:
    start = await store.last_seq()
    cron = await make(store)
    changes = await store.changes_since(start)
    assert [(c.seq, c.record, c.topic, c.job) for c in changes] == [(cron.seq, cron, CRON, None)]
    mark = await store.last_seq()
    [execution] = await fire(store, cron, at(60)) or []
    changes = await store.changes_since(mark)
    # One transaction: one seq; jobs, then executions, then schedules.
    assert described(changes) == [
        (execution.seq, "Job"),
        (execution.seq, "Execution"),
        (execution.seq, "CronJob"),
    ]
    assert [c.topic for c in changes] == [JOBS, CRON, CRON]
    for change in changes:  # each record as it now reads
        assert change.record == await current(store, change.record)
    assert changes[0].job is not None and changes[0].job.job_id == execution.job_id
    assert await store.last_seq() == execution.seq


async def test_a_job_and_its_execution_share_each_write(store: Store) -> None:
    cron = await make(store)
    execution = await fire_one(store, cron, at(60))
    mark = await store.last_seq()
    job = await claim_one(store, at(61))
    changes = await store.changes_since(mark)
    assert described(changes) == [(job.seq, "Job"), (job.seq, "Execution")]
    mark = job.seq
    progressed = await store.update_progress(job.job_id, 50.0, None, "half", at(62), fence_of(job))
    # Progress leaves the execution as it is: only the job changes.
    assert described(await store.changes_since(mark)) == [(progressed.seq, "Job")]
    mark = progressed.seq
    done = await store.complete(job.job_id, {"ok": 1}, at(63), fence_of(job))
    changes = await store.changes_since(mark)
    assert described(changes) == [(done.seq, "Job"), (done.seq, "Execution"), (done.seq, "CronJob")]
    ended = changes[1].record
    assert isinstance(ended, Execution) and ended.id == execution.id and ended.result == {"ok": 1}
    schedule = changes[2].record
    assert isinstance(schedule, CronJob) and schedule.success_count == 1


async def test_every_schedule_write_reaches_the_feed(store: Store) -> None:
    cron = await make(store)
    seqs = [cron.seq]
    seqs.append((await store.set_paused(cron.id, True, None, at(1))).seq)
    seqs.append((await store.set_paused(cron.id, False, at(60), at(2))).seq)
    seqs.append((await store.update_cron_job(cron.id, cron.definition, at(60), at(3))).seq)
    execution = await store.run_now(cron.id, run_job(cron), TriggeredBy.MANUAL, None, at(4), "x")
    seqs.append(execution.seq)
    assert seqs == sorted(set(seqs))
    changes = await store.changes_since(cron.seq)
    # Each record once, in its latest state: the schedule as updated (a manual run
    # leaves it alone), then the run's job and execution.
    assert described(changes) == [(seqs[3], "CronJob"), (seqs[4], "Job"), (seqs[4], "Execution")]


async def test_pages_end_on_seq_boundaries_across_tables(store: Store) -> None:
    start = await store.last_seq()
    await insert(store, name="lonely")
    crons = [await make(store, f"c{i}", overlap_policy=OverlapPolicy.ALLOW) for i in range(2)]
    # One transaction writing 3 jobs, 3 executions and a schedule.
    await fire(store, crons[0], at(60), due=[at(60), at(120), at(180)], now=at(200))
    await store.insert_jobs([new_job(name=f"bulk{i}") for i in range(4)], at(201))
    await fire(store, crons[1], at(60), due=[at(60), at(120)], now=at(202))
    for i in range(3):  # each a job, its execution, and the schedule when it ends
        run = await store.run_now(
            crons[1].id, run_job(crons[1]), TriggeredBy.MANUAL, None, at(300 + i), "x"
        )
        await store.cancel(run.job_id or "", at(301 + i))
    everything = await store.changes_since(start, 10_000)
    seqs = [c.seq for c in everything]
    assert seqs == sorted(seqs)
    order = [(c.seq, ["Job", "Execution", "CronJob"].index(type(c.record).__name__), c.record.id)
             for c in everything]  # fmt: skip
    assert order == sorted(order)  # ties: jobs, executions, schedules, then id
    assert len({key(c.record) for c in everything}) == len(everything)
    for limit in (1, 2, 3, 5, 7):
        paged = await follow(store, start, limit)
        assert paged == everything, limit
        first = await store.changes_since(start, limit)
        # About ``limit``: exactly ``limit`` unless that would split a seq group.
        group = [c for c in everything if c.seq == first[-1].seq]
        assert len(first) >= min(limit, len(everything))
        assert len(first) < limit + len(group)


async def test_a_follower_never_misses_a_record(store: Store, open_store: OpenStore) -> None:
    writer = await open_store()
    start = await store.last_seq()
    crons = [
        await make(writer, f"f{i}", overlap_policy=OverlapPolicy.ALLOW, max_failures=None)
        for i in range(3)
    ]
    done = asyncio.Event()

    async def write() -> None:
        for round_ in range(8):
            for cron in crons:
                tick = at(60 + 3600 * round_)
                await fire(writer, cron, tick, now=tick)
            claimed = await writer.claim("w", 10, at(3600 * round_ + 61), 30.0)
            for i, job in enumerate(claimed):
                if i % 2:
                    await writer.fail(job.job_id, "odd", at(3600 * round_ + 62), fence_of(job))
                else:
                    await writer.complete(job.job_id, i, at(3600 * round_ + 62), fence_of(job))
            await writer.insert_jobs([new_job(name=f"r{round_}")], at(3600 * round_))
        done.set()

    latest: dict[tuple[str, int], Change] = {}

    async def read() -> None:
        cursor = start
        while True:
            finished = done.is_set()
            page = await store.changes_since(cursor, 4)
            for change in page:
                assert change.seq > cursor
                latest[key(change.record)] = change
            if page:
                cursor = page[-1].seq
            elif finished:
                return

    await asyncio.gather(write(), read())
    # Every record, in the state it ended in.
    jobs = await store.list_jobs(JobFilter(), 1000, 0)
    expected: list[Record] = [*jobs]
    for cron in crons:
        expected.append(await store.get_cron_job(cron.id) or cron)
        expected.extend(await store.list_executions(cron.id, 1000, 0))
    assert {key(r): r for r in expected} == {k: c.record for k, c in latest.items()}
    assert max(c.seq for c in latest.values()) == await store.last_seq()
