"""PostgreSQL store benchmark: enqueue, claim+complete throughput, LISTEN/NOTIFY wake latency.

    .venv/bin/python bench/pg_store.py [--admin-url postgresql://postgres@127.0.0.1/postgres]

Runs on a scratch database it creates and drops (skipped, exit 0, when no PostgreSQL
server answers). Measures the store alone (no handler, no runtime): worker-level drain
benchmarks live with the runtime.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from common import ADMIN_URL, description, postgres_database, require_postgres

from jobdeck.domain.job import Fence, Mode, NewJob
from jobdeck.store.postgres.store import PostgresStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)  # run_at in the past: everything is claimable


def jobs(n: int) -> list[NewJob]:
    return [NewJob(name="bench", type="bench:noop", mode=Mode.QUEUED) for _ in range(n)]


async def enqueue_single(url: str, n: int) -> float:
    store = PostgresStore(url, listen=False)
    await store.open()
    started = time.perf_counter()
    for _ in range(n):
        await store.insert_jobs(jobs(1), T0)
    elapsed = time.perf_counter() - started
    await store.close()
    return n / elapsed


async def enqueue_bulk(url: str, n: int, batch: int) -> float:
    store = PostgresStore(url, listen=False)
    await store.open()
    started = time.perf_counter()
    for _ in range(n // batch):
        await store.insert_jobs(jobs(batch), T0)
    elapsed = time.perf_counter() - started
    await store.close()
    return n / elapsed


async def drain(url: str, worker: str, batch: int) -> int:
    """claim → complete_many until nothing is left; returns the jobs done."""
    store = PostgresStore(url, listen=False)
    await store.open()
    done = 0
    while True:
        claimed = await store.claim(worker, batch, T0, 30)
        if not claimed:
            break
        finished = await store.complete_many(
            [(Fence(j.job_id, j.attempt, worker), None) for j in claimed], T0
        )
        assert all(finished)
        done += len(claimed)
    await store.close()
    return done


async def progress_writes(url: str, worker: str, tasks: int, writes: int) -> int:
    """``tasks`` concurrent writers, each updating its own tracked job: single-row writes
    from many places at once (until schema version 7 all serialized on the feed lock)."""
    store = PostgresStore(url, listen=False, max_connections=tasks)
    await store.open()
    news = [NewJob(name=f"{worker}-{i}", type="bench", mode=Mode.TRACKED) for i in range(tasks)]
    tracked = await store.insert_jobs(news, T0)
    for job in tracked:
        await store.start(job.job_id, T0)

    async def write(job_id: str) -> None:
        for i in range(writes):
            await store.update_progress(job_id, i % 100, None, None, T0)

    await asyncio.gather(*(write(j.job_id) for j in tracked))
    await store.close()
    return tasks * writes


def _process(kind: str, url: str, worker: str, batch: int, start: Any, out: Any) -> None:
    start.wait()
    if kind == "drain":
        out.put(asyncio.run(drain(url, worker, batch)))
    else:
        out.put(asyncio.run(progress_writes(url, worker, 8, batch)))


def run_processes(kind: str, url: str, processes: int, batch: int) -> tuple[float, int]:
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    out: Any = ctx.Queue()
    procs = [
        ctx.Process(target=_process, args=(kind, url, f"bench-{i}", batch, start, out))
        for i in range(processes)
    ]
    for p in procs:
        p.start()
    time.sleep(1.0)  # let the interpreters import before the clock starts
    began = time.perf_counter()
    start.set()
    total = sum(out.get() for _ in procs)
    elapsed = time.perf_counter() - began
    for p in procs:
        p.join()
    return total / elapsed, total


def _waiter_process(url: str, n: int, ready: Any, out: Any) -> None:
    async def run() -> None:
        store = PostgresStore(url)
        await store.open()
        ready.set()
        for _ in range(n):
            mark = store.signals.mark("enqueue")
            await store.signals.wait("enqueue", mark, 10.0)
            out.put(time.monotonic())  # CLOCK_MONOTONIC: comparable across processes
        await store.close()

    asyncio.run(run())


async def wake_latency(url: str, n: int) -> list[float]:
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    out: Any = ctx.Queue()
    proc = ctx.Process(target=_waiter_process, args=(url, n, ready, out))
    proc.start()
    await asyncio.to_thread(ready.wait, 30)
    producer = PostgresStore(url, listen=False)
    await producer.open()
    latencies = []
    for _ in range(n):
        sent = time.monotonic()
        await producer.insert_jobs(jobs(1), T0)
        received = await asyncio.to_thread(out.get, True, 10)
        latencies.append(received - sent)
        await asyncio.sleep(0.005)
    await producer.close()
    await asyncio.to_thread(proc.join, 10)
    return latencies


async def main() -> None:
    parser = argparse.ArgumentParser(description=description(__doc__))
    parser.add_argument("--admin-url", default=ADMIN_URL)
    parser.add_argument("--jobs", type=int, default=40_000)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    require_postgres(args.admin_url)
    with postgres_database(args.admin_url) as url:
        warm = PostgresStore(url, listen=False)
        await warm.open()  # migrate once, outside the timings
        await warm.close()
        print(f"enqueue single      {await enqueue_single(url, 2000):>9,.0f} jobs/s")
        await drain(url, "cleanup", 500)
        print(f"batch size for claim/complete_many: {args.batch}")
        print(f"enqueue bulk x1000  {await enqueue_bulk(url, args.jobs, 1000):>9,.0f} jobs/s")
        rate, total = await asyncio.to_thread(run_processes, "drain", url, 1, args.batch)
        print(f"claim+complete_many {rate:>9,.0f} jobs/s  1 process ({total:,})")
        await enqueue_bulk(url, args.jobs, 1000)
        rate, total = await asyncio.to_thread(run_processes, "drain", url, 2, args.batch)
        print(f"claim+complete_many {rate:>9,.0f} jobs/s  2 processes ({total:,})")
        rate, _ = await asyncio.to_thread(run_processes, "progress", url, 2, 500)
        print(f"update_progress     {rate:>9,.0f} writes/s 2 processes x 8 tasks")
        latencies = sorted(await wake_latency(url, 200))
        p50 = statistics.median(latencies) * 1000
        p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
        print(f"NOTIFY wake latency  p50 {p50:.2f} ms  p99 {p99:.2f} ms  (other process)")


if __name__ == "__main__":
    asyncio.run(main())
