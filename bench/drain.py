"""Drain throughput: no-op jobs through 1 and then 2 ``jobdeck worker`` processes.

Usage: ``python bench/drain.py [--database sqlite|postgres]``
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from common import database, open_deck, options, report, wait_until_completed, workers

JOBS = 20_000
BATCH = 2_000
HEAD_START = 2.0  # seconds: every job becomes due at once, after the inserts
TIME_LIMIT = 60.0


async def drain(backend: str, admin_url: str, processes: int) -> float:
    with database(backend, admin_url) as url, workers(url, processes):
        async with open_deck(url) as deck:
            due = time.perf_counter() + HEAD_START
            run_at = datetime.now(UTC) + timedelta(seconds=HEAD_START)
            for _ in range(0, JOBS, BATCH):
                jobs = await deck.schedule_jobs([{"type": "bench:noop", "run_at": run_at}] * BATCH)
            lead = due - time.perf_counter()
            if lead < 0:
                raise RuntimeError("inserting took longer than the head start; raise HEAD_START")
            await asyncio.sleep(lead)
            seconds = await wait_until_completed(deck, JOBS, TIME_LIMIT, jobs[-1].job_id)
            return JOBS / seconds


async def main() -> None:
    args = options(__doc__)
    for processes in (1, 2):
        rate = await drain(args.database, args.admin_url, processes)
        target = ""
        if processes == 2:
            target = ">= 7,000 jobs/s" if args.database == "postgres" else ">= 5,000 jobs/s"
        report(f"drain, {processes} worker process(es)", rate, "jobs/s", target)


if __name__ == "__main__":
    asyncio.run(main())
