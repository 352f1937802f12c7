"""Cold drains as a new user runs them (docs/postgres.md, "Measuring"): 20,000 no-op
jobs already waiting, then ``jobdeck worker`` processes with default settings; a fresh
database every run.

Usage::

    .venv/bin/python bench/drain_cold.py [--database postgres|sqlite] [--runs 20]
        [--processes 2] [--pgqueuer /tmp/pgq-venv/bin/python] [--cpu]
    .venv/bin/python bench/drain_cold.py [--database postgres|sqlite] --scaling 1,2,4,8

Each run prints its rate (jobs/s from the first job done to the last, polled every
20 ms with two index probes; the workers' start-up is not counted) and the wall time
from starting the workers; then min / median / max and the slowest run as a share of the median.
``--pgqueuer PYTHON`` interleaves as many PgQueuer runs (bench/pgqueuer_side.py, same
server, same no-op job, same process count; see that file for its virtualenv) and
prints the ratio of the medians. ``--scaling`` runs 3 drains per process count instead
(on its own: not with --runs, --pgqueuer or --cpu).
``--cpu`` adds each run's CPU per job: the workers' (start-up included) and that of
every ``postgres`` process on this machine (so only with a local server, and only on
an otherwise quiet one; docs/postgres.md, "The worker's own CPU"); on PostgreSQL also
the commits per job of all the run database's sessions (``xact_commit`` of
pg_stat_database, from before the workers start until they have exited; the 20 ms
progress probes are among them). Skipped (exit 0) on PostgreSQL when no server answers.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from common import (
    ADMIN_URL,
    JOBDECK,
    cpu_seconds,
    database,
    description,
    open_deck,
    pgqueuer,
    postgres_cpu_seconds,
    require_postgres,
    span,
    spread,
    worker_env,
)

JOBS = 20_000
TIME_LIMIT = 120.0
SLOWEST = "slowest >= 80% of the median"


def _progress_sql(backend: str) -> str:
    """Whether a job is done, and whether any is left: two index probes. A count of the
    unfinished jobs scanned the whole jobs table (which keeps every job) on each poll,
    4 ms of server time every 20 ms that the workers had to share the cores with."""
    table = "jobdeck_jobs" if backend == "postgres" else "jobs"
    return (
        f"SELECT EXISTS (SELECT 1 FROM {table} WHERE status = 'completed'),"
        f" EXISTS (SELECT 1 FROM {table} WHERE status IN ('pending', 'running'))"
    )


@dataclass
class Run:
    rate: float  # jobs/s from the first job done to the last
    wall: float  # seconds from starting the workers to the last job done
    worker_us: float  # the workers' CPU per job, their start-up included
    server_us: float  # the local PostgreSQL server's CPU per job (0 on SQLite)
    commits: float | None  # commits per job of all the database's sessions (PostgreSQL)

    def cpu(self) -> str:
        line = f"workers {self.worker_us:4.0f} µs/job, server {self.server_us:4.0f} µs/job"
        if self.commits is not None:
            line += f", all sessions' commits {self.commits:.3f} per job"
        return line


async def commits(admin_url: str, url: str) -> int:
    """``xact_commit`` of the database of ``url`` (read on the admin database), once
    none of its sessions is left: a backend adds its last counts as it exits. Waits
    at most 5 s for them."""
    name = urlsplit(url).path.lstrip("/")
    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as conn:
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            cur = await conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)
            )
            row = await cur.fetchone()
            if row is not None and row[0] == 0:
                break
            await asyncio.sleep(0.05)
        cur = await conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (name,)
        )
        row = await cur.fetchone()
        assert row is not None, name
        return int(row[0])


async def jobdeck_run(backend: str, admin_url: str, processes: int, cpu: bool = False) -> Run:
    with database(backend, admin_url) as url:
        async with open_deck(url) as deck:
            for _ in range(0, JOBS, 1000):
                await deck.schedule_jobs([{"type": "bench:noop"}] * 1000)
        counting = cpu and backend == "postgres"
        committed = await commits(admin_url, url) if counting else 0
        server = postgres_cpu_seconds() if backend == "postgres" else 0.0
        spawned = time.perf_counter()
        procs = [
            subprocess.Popen(  # noqa: ASYNC220 (started once per run, before timing)
                [JOBDECK, "worker"],
                env=worker_env(url),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(processes)
        ]
        try:
            first, now = await _wait_drained(backend, url, spawned)
            workers = sum(cpu_seconds(p.pid) for p in procs)
            if backend == "postgres":
                server = postgres_cpu_seconds() - server
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(30)
        per_job = (await commits(admin_url, url) - committed) / JOBS if counting else None
        rate, us = JOBS / max(now - first, 1e-9), 1e6 / JOBS
        return Run(rate, now - spawned, workers * us, server * us, per_job)


async def _wait_drained(backend: str, url: str, spawned: float) -> tuple[float, float]:
    first = None
    if backend == "postgres":
        conn = await psycopg.AsyncConnection.connect(url, autocommit=True)

        async def progress() -> tuple[bool, bool]:
            cur = await conn.execute(_progress_sql(backend))
            row = await cur.fetchone()
            assert row is not None
            return bool(row[0]), bool(row[1])
    else:
        import sqlite3

        path = url.removeprefix("sqlite:///")
        db = sqlite3.connect(path, timeout=30)

        async def progress() -> tuple[bool, bool]:
            done, left = db.execute(_progress_sql(backend)).fetchone()
            return bool(done), bool(left)

    try:
        while True:
            done, left = await progress()
            now = time.perf_counter()
            if first is None and done:
                first = now
            if not left:
                assert first is not None
                return first, now
            if now - spawned > TIME_LIMIT:
                raise TimeoutError(f"jobs left after {TIME_LIMIT} s")
            await asyncio.sleep(0.02)
    finally:
        if backend == "postgres":
            await conn.close()
        else:
            db.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=description(__doc__))
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--admin-url", default=ADMIN_URL)
    parser.add_argument("--runs", type=int, help="drains of each side [20]")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--pgqueuer", help="the python of PgQueuer's virtualenv")
    parser.add_argument("--scaling", help="process counts, e.g. 1,2,4,8 (3 runs each)")
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="also print the CPU per job of workers and server (and, on PostgreSQL,"
        " all sessions' commits per job)",
    )
    args = parser.parse_args()
    if args.scaling and (args.runs is not None or args.pgqueuer or args.cpu):
        parser.error(
            "--scaling runs 3 drains per process count: not with --runs, --pgqueuer or --cpu"
        )
    if args.pgqueuer and not Path(args.pgqueuer).exists():  # noqa: ASYNC240
        raise SystemExit(f"{args.pgqueuer} not found: see bench/pgqueuer_side.py")
    if args.database == "postgres":
        require_postgres(args.admin_url)
    if args.scaling:
        medians = {}
        for n in [int(x) for x in args.scaling.split(",")]:
            rates = [(await jobdeck_run(args.database, args.admin_url, n)).rate for _ in range(3)]
            print(f"  {n} process(es): " + "  ".join(f"{r:,.0f}" for r in rates), flush=True)
            medians[n] = spread(f"jobdeck {args.database}, {n} process(es)", rates, SLOWEST)
        best = max(medians.values())
        for n, m in medians.items():
            print(f"  {n} process(es): median {m:,.0f} = {m / best:.0%} of the best")
        return
    ours: list[float] = []
    theirs: list[float] = []
    per_job: list[float] = []
    label = "PgQueuer"
    for run in range(1, (args.runs or 20) + 1):
        result = await jobdeck_run(args.database, args.admin_url, args.processes, args.cpu)
        ours.append(result.rate)
        line = f"run {run:>2}: jobdeck {result.rate:>7,.0f} jobs/s (wall {result.wall:5.2f} s)"
        if args.cpu:
            line += f" [{result.cpu()}]"
            if result.commits is not None:
                per_job.append(result.commits)
        if args.pgqueuer:
            other, label = pgqueuer(args.pgqueuer, args.admin_url, "drain", JOBS, args.processes)
            theirs.append(other["rate"])
            line += f"   PgQueuer {other['rate']:>7,.0f} jobs/s (wall {other['wall']:5.2f} s)"
        print(line, flush=True)
    mine = spread(f"jobdeck {args.database}, {args.processes} worker processes", ours, SLOWEST)
    if per_job:
        print(f"all sessions' commits per job: {span(per_job, 'commits/job', 3)}", flush=True)
    if theirs:
        other = spread(f"{label}, {args.processes} processes", theirs)
        print(f"median ratio jobdeck / PgQueuer: {mine / other:.2f} (target >= 1.2)")


if __name__ == "__main__":
    asyncio.run(main())
