"""Progress updates per second from many concurrent handlers in ``jobdeck worker``
processes, then a check that nothing was lost.

100 jobs (``bench:progress_flood``) each report progress as fast as they can for a few
seconds, every 10th update with a message and a last one with a distinct message. Store
writes may be coalesced (docs/progress.md), but afterwards:

- every job's stored final state is its last update (progress, message, metadata),
  then completed;
- every message written is in its job's history, in order (counted);
- a follower of the change feed (``deck.subscribe``) got every job's final state.

A mismatch is printed and the exit code is 1.

Usage: ``python bench/progress_many.py [--database sqlite|postgres] [--runs 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import sys
import time
from typing import Any

from common import (
    ADMIN_URL,
    database,
    description,
    open_deck,
    report,
    spread,
    wait_until_completed,
    workers,
)

from jobdeck.deck import JobDeck
from jobdeck.domain.job import Job


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description(__doc__))
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--admin-url", default=ADMIN_URL, help="PostgreSQL server for scratch DBs")
    parser.add_argument("--jobs", type=int, default=100, help="concurrent handlers [100]")
    parser.add_argument("--seconds", type=float, default=3.0, help="each handler reports [3]")
    parser.add_argument("--every", type=int, default=10, help="a message every Nth update [10]")
    parser.add_argument("--workers", type=int, default=1, help="worker processes [1]")
    parser.add_argument("--runs", type=int, default=3, help="fresh database per run [3]")
    return parser.parse_args()


def expected_history(result: dict[str, Any], every: int) -> list[tuple[str, str | None]]:
    """Every history row one flood job writes, oldest first (bench_jobs.ProgressFlood)."""
    last = int(result["updates"])
    messages = [f"update {n}" for n in range(every, last, every)] + [f"final {last}"]
    return [
        ("created", None),
        ("started", None),
        *(("progress", m) for m in messages),
        ("completed", None),
    ]


async def check(
    deck: JobDeck, job_ids: list[str], seen: dict[str, Job], every: int, limit: int
) -> tuple[list[str], int]:
    """Problems found, each "job_id: what" (empty: none), and how many messages were
    found in histories."""
    problems: list[str] = []
    found = 0
    for job_id in job_ids:
        job = await deck.get_job(job_id)
        assert job is not None
        result = job.result or {}
        last = result.get("updates")
        if job.status.value != "completed" or last is None:
            problems.append(f"{job_id}: {job.status.value} {job.error_message}")
            continue
        final = f"final {last}"
        if job.progress_message != final or job.metadata.get("n") != last:
            problems.append(
                f"{job_id}: final state {job.progress_message!r} n={job.metadata.get('n')},"
                f" wrote {final!r} n={last}"
            )
        want = expected_history(result, every)
        if len(want) != result["messages"] + 3:
            problems.append(f"{job_id}: handler says {result['messages']} messages")
        events = await deck.get_history(job_id, limit=limit)
        got = [(e.kind, e.message) for e in events]
        found += sum(kind == "progress" for kind, _ in got)
        last_row = next((e for e in reversed(events) if e.kind == "progress"), None)
        if last_row is None or (last_row.data or {}).get("progress") != result["final"]:
            problems.append(f"{job_id}: last progress row {last_row}, wrote {result['final']}")
        if got != want[-limit:]:  # the newest `limit` rows are kept (history_limit)
            missing = [m for kind, m in want if kind == "progress" and (kind, m) not in got]
            problems.append(
                f"{job_id}: history has {len(got)} rows, {len(want)} written;"
                f" missing {missing[:5]}{'…' if len(missing) > 5 else ''}"
            )
        latest = seen.get(job_id)
        if latest is None or latest.seq != job.seq or latest.progress_message != final:
            problems.append(
                f"{job_id}: the feed's last state is seq {latest and latest.seq}"
                f" {latest and latest.progress_message!r}, the store's seq {job.seq} {final!r}"
            )
    return problems, found


async def run(args: argparse.Namespace) -> tuple[float, bool]:
    with database(args.database, args.admin_url) as url:
        async with open_deck(url) as deck:
            seen: dict[str, Job] = {}
            states = 0  # job states the follower received (fewer than writes: latest state)

            async def follow(since: int) -> None:
                nonlocal states
                async for change in deck.subscribe(since=since):
                    seen[change.job.job_id] = change.job
                    states += 1

            following = asyncio.create_task(follow(await deck.last_seq()))
            concurrency = math.ceil(args.jobs / args.workers)
            with workers(url, args.workers, concurrency=max(concurrency, 100)):
                payload = {"seconds": args.seconds, "every": args.every}
                handles = await deck.schedule_jobs(
                    [{"type": "bench:progress_flood", "payload": payload}] * args.jobs
                )
                job_ids = [h.job_id for h in handles]
                timeout = 60 + 10 * args.seconds
                await wait_until_completed(deck, args.jobs, timeout, last=job_ids[-1])
            # The follower catches up with the last writes (latest state within 100 ms
            # when idle; generous here).
            stored = {j: await deck.get_job(j) for j in job_ids}
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and any(
                j not in seen or seen[j].seq < s.seq for j, s in stored.items() if s is not None
            ):
                await asyncio.sleep(0.05)
            following.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await following
            results = [h.result for h in stored.values() if h is not None and h.result]
            updates = sum(r["updates"] for r in results)
            messages = sum(r["messages"] for r in results)
            span = max(r["ended"] for r in results) - min(r["started"] for r in results)
            history_limit = deck.settings.history_limit
            problems, found = await check(deck, job_ids, seen, args.every, history_limit)
    rate = updates / span
    bad = {problem.split(":")[0] for problem in problems}
    report(f"progress updates, {args.jobs} handlers, {args.database}", rate, "updates/s")
    print(
        f"  {updates:,} updates in {span:.2f} s; {messages:,} messages written,"
        f" {found:,} found in histories; the feed follower got {states:,} job states;"
        f" {len(job_ids) - len(bad)}/{len(job_ids)} jobs OK (final state stored and"
        f" seen on the feed, every message in its history)",
        flush=True,
    )
    if found < messages:
        print(f"  (history_limit {history_limit}: each job keeps its newest {history_limit} rows)")
    for problem in problems[:20]:
        print("  MISMATCH", problem, flush=True)
    return rate, not problems


async def main() -> int:
    args = arguments()
    rates: list[float] = []
    ok = True
    for _ in range(args.runs):
        rate, passed = await run(args)
        rates.append(rate)
        ok = ok and passed
    if len(rates) > 1:
        spread(f"updates/s over {len(rates)} runs", rates, unit="updates/s")
    print("check:", "OK" if ok else "FAILED", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
