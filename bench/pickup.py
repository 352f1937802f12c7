"""Pickup latency: enqueue → handler start, one job at a time, on an idle worker in
another process.

Usage: ``python bench/pickup.py [--database sqlite|postgres] [--runs 3]``

Each run (a fresh database and worker) prints its latencies; with several runs, the
min / median / max of the runs' p50 and p95 follow.
"""

from __future__ import annotations

import asyncio
import time

from common import database, open_deck, option_parser, percentile, span, summary_ms, workers

JOBS = 200
GAP = 0.03  # seconds between jobs, so each one finds the worker idle
TIME_LIMIT = 60.0


async def pickup(backend: str, admin_url: str) -> list[float]:
    """One run's latencies, in seconds."""
    latencies: list[float] = []
    with database(backend, admin_url) as url, workers(url, 1, concurrency=10):
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
    return latencies


async def main() -> None:
    parser = option_parser(__doc__)
    parser.add_argument("--runs", type=int, default=3, help="a fresh database per run [3]")
    args = parser.parse_args()
    target = "10" if args.database == "postgres" else "5"
    p50s: list[float] = []
    p95s: list[float] = []
    for _ in range(args.runs):
        latencies = await pickup(args.database, args.admin_url)
        p50s.append(percentile(latencies, 0.5) * 1000)
        p95s.append(percentile(latencies, 0.95) * 1000)
        print(
            f"pickup latency (enqueue → handler start): {summary_ms(latencies)},"
            f" p95 {p95s[-1]:.2f} ms  (target p50 <= {target} ms)",
            flush=True,
        )
    if len(p50s) > 1:
        print(f"pickup p50 over {len(p50s)} runs: {span(p50s, 'ms', 2)}  (target <= {target} ms)")
        print(f"pickup p95 over {len(p95s)} runs: {span(p95s, 'ms', 2)}")


if __name__ == "__main__":
    asyncio.run(main())
