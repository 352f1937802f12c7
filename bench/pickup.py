"""Pickup latency: enqueue → handler start, one job at a time, on an idle worker in
another process.

Usage: ``python bench/pickup.py [--database sqlite|postgres]``
"""

from __future__ import annotations

import asyncio
import time

from common import database, open_deck, options, percentile, summary_ms, workers

JOBS = 200
GAP = 0.03  # seconds between jobs, so each one finds the worker idle
TIME_LIMIT = 60.0


async def main() -> None:
    args = options(__doc__.splitlines()[0])
    latencies: list[float] = []
    with database(args.database, args.admin_url) as url, workers(url, 1, concurrency=10):
        async with open_deck(url) as deck:
            stop = time.monotonic() + TIME_LIMIT
            for _ in range(JOBS):
                if time.monotonic() > stop:
                    break
                enqueued = time.time()
                job = await deck.schedule_job("bench:start_time")
                since = job.seq
                async for change in deck.subscribe(since=since):
                    if change.job.job_id == job.job_id and change.job.status.terminal:
                        latencies.append(change.job.result["started"] - enqueued)
                        break
                await asyncio.sleep(GAP)
    target = "10" if args.database == "postgres" else "5"
    print(
        f"pickup latency (enqueue → handler start): {summary_ms(latencies)},"
        f" p95 {percentile(latencies, 0.95) * 1000:.2f} ms  (target p50 <= {target} ms)"
    )


if __name__ == "__main__":
    asyncio.run(main())
