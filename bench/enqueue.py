"""Enqueue throughput: one job per call, and bulk (``schedule_jobs``).

Usage: ``python bench/enqueue.py [--database sqlite|postgres]``
"""

from __future__ import annotations

import asyncio
import time

from common import database, open_deck, options, report

SINGLE = 2_000
BULK_BATCH = 1_000
BULK_TOTAL = 50_000
TIME_LIMIT = 20.0  # seconds per measurement, whatever the counts


async def main() -> None:
    args = options(__doc__.splitlines()[0])
    with database(args.database, args.admin_url) as url:
        async with open_deck(url) as deck:
            start = time.perf_counter()
            done = 0
            while done < SINGLE and time.perf_counter() - start < TIME_LIMIT:
                await deck.schedule_job("bench:noop", {"n": done})
                done += 1
            report("enqueue, one job per call", done / (time.perf_counter() - start), "jobs/s")

            start, cpu = time.perf_counter(), time.process_time()
            done = 0
            while done < BULK_TOTAL and time.perf_counter() - start < TIME_LIMIT:
                batch = [
                    {"type": "bench:noop", "payload": {"n": done + i}} for i in range(BULK_BATCH)
                ]
                await deck.schedule_jobs(batch)
                done += BULK_BATCH
            rate = done / (time.perf_counter() - start)
            target = ">= 50,000 jobs/s" if args.database == "sqlite" else ""
            report(f"enqueue, bulk of {BULK_BATCH:,}", rate, "jobs/s", target)
            if args.database == "sqlite":
                # A busy machine's wall time includes waiting for a core; this does not
                # (SQLite runs in this process; a PostgreSQL server's CPU would be missing).
                per_cpu = done / (time.process_time() - cpu)
                report("  same, per CPU-second of this process", per_cpu, "jobs/s")


if __name__ == "__main__":
    asyncio.run(main())
