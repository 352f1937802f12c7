"""Enqueue throughput: one job per call, and bulk (``schedule_jobs``), one client.

Usage::

    .venv/bin/python bench/enqueue.py [--database sqlite|postgres] [--rounds 3]
        [--pgqueuer /tmp/pgq-venv/bin/python]

Each round enqueues on a new database: 2,000 jobs one per call, then 50,000 in calls
of 1,000 (each at most 20 s). Prints every round, then min / median / max. With
``--pgqueuer PYTHON`` (PostgreSQL only) each round also runs PgQueuer's side
(bench/pgqueuer_side.py, same server, same counts, same payloads, one connection; see
that file for its virtualenv) on a new database of its own, and the ratios jobdeck /
PgQueuer of the medians follow (target: at least 1 on both).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

from common import ADMIN_URL, database, description, open_deck, pgqueuer, spread

SINGLE = 2_000
BULK_BATCH = 1_000
BULK_TOTAL = 50_000
TIME_LIMIT = 20.0  # seconds per measurement, whatever the counts


async def jobdeck_round(backend: str, admin_url: str) -> dict[str, float]:
    with database(backend, admin_url) as url:
        async with open_deck(url) as deck:
            start = time.perf_counter()
            done = 0
            while done < SINGLE and time.perf_counter() - start < TIME_LIMIT:
                await deck.schedule_job("bench:noop", {"n": done})
                done += 1
            single = done / (time.perf_counter() - start)

            start, cpu = time.perf_counter(), time.process_time()
            done = 0
            while done < BULK_TOTAL and time.perf_counter() - start < TIME_LIMIT:
                batch = [
                    {"type": "bench:noop", "payload": {"n": done + i}} for i in range(BULK_BATCH)
                ]
                await deck.schedule_jobs(batch)
                done += BULK_BATCH
            bulk = done / (time.perf_counter() - start)
            figures = {"single": single, "bulk": bulk}
            if backend == "sqlite":
                # A busy machine's wall time includes waiting for a core; this does not
                # (SQLite runs in this process; a PostgreSQL server's CPU would be
                # missing, so it is not counted there).
                figures["bulk_cpu"] = done / (time.process_time() - cpu)
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=description(__doc__))
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--admin-url", default=ADMIN_URL)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pgqueuer", help="the python of PgQueuer's virtualenv (PostgreSQL)")
    args = parser.parse_args()
    if args.pgqueuer and args.database != "postgres":
        raise SystemExit("--pgqueuer needs --database postgres")
    if args.pgqueuer and not Path(args.pgqueuer).exists():  # noqa: ASYNC240
        raise SystemExit(f"{args.pgqueuer} not found: see bench/pgqueuer_side.py")
    ours: dict[str, list[float]] = {"single": [], "bulk": [], "bulk_cpu": []}
    theirs: dict[str, list[float]] = {"single": [], "bulk": []}
    label = "PgQueuer"
    for round_ in range(1, args.rounds + 1):
        mine = await jobdeck_round(args.database, args.admin_url)
        for key, value in mine.items():
            ours[key].append(value)
        line = f"round {round_}: jobdeck single {mine['single']:,.0f}  bulk {mine['bulk']:,.0f}"
        if args.pgqueuer:
            other, label = pgqueuer(args.pgqueuer, args.admin_url, "enqueue", SINGLE, BULK_TOTAL)
            for key, value in other.items():
                theirs[key].append(value)
            line += f"   PgQueuer single {other['single']:,.0f}  bulk {other['bulk']:,.0f}"
        print(line + " jobs/s", flush=True)
    name = f"jobdeck {args.database}"
    single = spread(f"{name}, one job per call", ours["single"])
    bulk_target = ">= 50,000" if args.database == "sqlite" else ""
    bulk = spread(f"{name}, bulk of {BULK_BATCH:,}", ours["bulk"], bulk_target)
    if args.database == "sqlite":
        spread("  same, per CPU-second of this process", ours["bulk_cpu"])
    if args.pgqueuer:
        other_single = spread(f"{label}, one job per call", theirs["single"])
        other_bulk = spread(f"{label}, bulk of {BULK_BATCH:,}", theirs["bulk"])
        for what, a, b, key in (
            ("one job per call", single, other_single, "single"),
            (f"bulk of {BULK_BATCH:,}", bulk, other_bulk, "bulk"),
        ):
            rounds = [x / y for x, y in zip(ours[key], theirs[key], strict=True)]
            print(
                f"jobdeck / PgQueuer, {what}: medians {a / b:.2f} (target >= 1);"
                f" per round min {min(rounds):.2f} max {max(rounds):.2f}",
                flush=True,
            )


if __name__ == "__main__":
    asyncio.run(main())
