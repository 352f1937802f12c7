"""Cron fire lag: scheduled time → handler start, with one `jobdeck scheduler` and one
idle `jobdeck worker` process, cold (a fresh database and fresh processes each run).

Scenarios:
* spread: 1,000 active schedules spread over the seconds of a minute
  (`S * * * * *`, S = i mod 60), for ``--seconds`` (default 65);
* burst: 1,000 schedules all due at the same second (`0 * * * * *`), one minute;
* idle: the scheduler's CPU use while 1,000 schedules wait for a far-off tick.

Usage: ``python bench/cron_lag.py [--database sqlite|postgres] [--runs 3]``
Targets: spread p99 < 1 s, p50 < 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from common import (
    ADMIN_URL,
    JOBDECK,
    cpu_seconds,
    database,
    description,
    open_deck,
    percentile,
    worker_env,
    workers,
)

SCHEDULES = 1000


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description(__doc__))
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--admin-url", default=ADMIN_URL)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=65.0)
    parser.add_argument("--scenario", choices=("spread", "burst", "idle", "all"), default="all")
    return parser.parse_args()


@contextmanager
def scheduler(url: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([JOBDECK, "scheduler"], env=worker_env(url), stderr=subprocess.PIPE)
    # Keep reading its log so a full pipe never blocks it.
    threading.Thread(target=lambda: proc.stderr and proc.stderr.read(), daemon=True).start()
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


async def create(url: str, expression: str) -> list[int]:
    async with open_deck(url) as deck:
        ids = []
        for i in range(SCHEDULES):
            cron = await deck.add_cron_job(
                name=f"lag-{i}",
                cron_expression=expression.format(second=i % 60),
                job_type="bench:start_time",
            )
            ids.append(cron.id)
        return ids


async def lags(url: str, ids: list[int], since: datetime) -> list[float]:
    out = []
    async with open_deck(url) as deck:
        for cron_id in ids:
            for run in (await deck.crons.executions(cron_id, limit=1000)).items:
                if run.scheduled_for < since or run.job_id is None:
                    continue
                job = await deck.get_job(run.job_id)
                if job is not None and isinstance(job.result, dict):
                    out.append(job.result["started"] - run.scheduled_for.timestamp())
    return out


async def one_run(args: argparse.Namespace, scenario: str) -> list[float] | float:
    with database(args.database, args.admin_url) as url:
        expression = {"spread": "{second} * * * * *", "burst": "0 * * * * *"}.get(
            scenario, "0 0 1 1 *"
        )
        ids = await create(url, expression)
        with workers(url, 1, concurrency=50), scheduler(url) as proc:
            started = datetime.now(UTC)
            if scenario == "idle":
                await asyncio.sleep(5)  # start-up done
                before = cpu_seconds(proc.pid)
                await asyncio.sleep(args.seconds)
                return (cpu_seconds(proc.pid) - before) / args.seconds * 100
            if scenario == "burst":  # wait for second 0 and a little after it
                await asyncio.sleep(60 - time.time() % 60 + 15)
            else:
                await asyncio.sleep(args.seconds)
        return await lags(url, ids, started)


def line(values: list[float]) -> str:
    return (
        f"min {min(values):8.1f}  median {statistics.median(values):8.1f}  max {max(values):8.1f}"
    )


async def main() -> None:
    args = options()
    scenarios = ("spread", "burst", "idle") if args.scenario == "all" else (args.scenario,)
    for scenario in scenarios:
        p50s, p99s, maxes, cpus = [], [], [], []
        for run in range(args.runs):
            outcome = await one_run(args, scenario)
            if isinstance(outcome, float):
                cpus.append(outcome)
                print(f"{args.database} {scenario} run {run + 1}: scheduler CPU {outcome:.2f} %")
                continue
            ms = [v * 1000 for v in outcome]
            if not ms:
                print(f"{args.database} {scenario} run {run + 1}: no run recorded", flush=True)
                continue
            p50s.append(percentile(ms, 0.5))
            p99s.append(percentile(ms, 0.99))
            maxes.append(max(ms))
            print(
                f"{args.database} {scenario} run {run + 1}: n={len(ms)} p50 {p50s[-1]:.1f} ms"
                f"  p99 {p99s[-1]:.1f} ms  max {maxes[-1]:.1f} ms",
                flush=True,
            )
        if not (cpus or p50s):
            continue
        if cpus:
            print(f"{args.database} idle scheduler CPU %:  {line(cpus)}")
        else:
            targets = (
                ("   (target < 100)", "   (target < 1000)") if scenario == "spread" else ("", "")
            )
            print(f"{args.database} {scenario} p50 ms:  {line(p50s)}{targets[0]}")
            print(f"{args.database} {scenario} p99 ms:  {line(p99s)}{targets[1]}")


if __name__ == "__main__":
    asyncio.run(main())
