"""Concurrent single-job enqueue (docs/postgres.md, "Measuring"): 16 clients over 2
processes, each enqueuing one job per call, beside a plain INSERT of a narrow row at
the same concurrency, in the same session; a fresh database for every measurement.

Usage::

    .venv/bin/python bench/enqueue_concurrent.py [--database both|postgres|sqlite]
        [--rounds 5] [--seconds 5] [--processes 2] [--clients 8]

Contenders, each run once per round, in turn, on a new database:

``jobdeck postgres`` / ``jobdeck sqlite``
    ``deck.schedule_job("bench:noop", {"n": i})`` on a deck opened with default
    settings (common.open_deck), the way an application enqueues.
``INSERT``
    psycopg, autocommit, one connection per client: ``INSERT`` of a narrow row
    (``bench_narrow``: id, type, payload jsonb), the same payload.
``INSERT+NOTIFY``
    the same INSERT and a ``pg_notify`` in one statement: one transaction that
    notifies, as an enqueue that wakes workers through its own commit would be.
``sqlite3 INSERT``
    the narrow INSERT through one sqlite3 connection per process (WAL, as jobdeck
    opens its file), the clients taking turns on it as jobdeck's do on its thread.

The processes connect, wait until all are ready, run for ``--seconds`` and report
their counts and CPU time; a round's rate is the sum of the counts over the longest
process's elapsed time. Prints every round, then min / median / max per contender,
the ratio of jobdeck's median to the plain INSERT's on the same backend (target on
PostgreSQL: >= 50 %), and the client processes' CPU per job (this machine's cores are
shared between the clients and the server). With PostgreSQL (``postgres``, ``both``)
it is skipped (exit 0) when no server answers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import psycopg
from common import ADMIN_URL, database, description, open_deck, require_postgres, spread
from psycopg.types.json import Jsonb

NARROW_TABLE = "CREATE TABLE bench_narrow (id bigserial PRIMARY KEY, type text, payload jsonb)"
INSERT = "INSERT INTO bench_narrow (type, payload) VALUES (%s, %s)"
INSERT_NOTIFY = (
    "WITH i AS (INSERT INTO bench_narrow (type, payload) VALUES (%s, %s) RETURNING id) "
    "SELECT pg_notify('bench_enqueue', '') FROM i"
)
SQLITE_TABLE = "CREATE TABLE bench_narrow (id INTEGER PRIMARY KEY, type TEXT, payload TEXT)"
SQLITE_INSERT = "INSERT INTO bench_narrow (type, payload) VALUES (?, ?)"

POSTGRES = ("jobdeck postgres", "INSERT", "INSERT+NOTIFY")
SQLITE = ("jobdeck sqlite", "sqlite3 INSERT")

Call = Callable[[int], Awaitable[object]]


# --- the client processes ---------------------------------------------------------
async def _clients(call: Call, clients: int) -> dict[str, float]:
    """Tell the parent we are ready, wait for its go, run ``clients`` loops of ``call``
    until the deadline it gives."""
    print("ready", flush=True)
    go = await asyncio.to_thread(sys.stdin.readline)
    seconds = float(go.split()[1])
    cpu = time.process_time()
    start = time.perf_counter()
    deadline = start + seconds
    counts = [0] * clients

    async def loop(k: int) -> None:
        n = 0
        while time.perf_counter() < deadline:
            await call(k * 1_000_000_000 + n)
            n += 1
        counts[k] = n

    await asyncio.gather(*(loop(k) for k in range(clients)))
    return {
        "count": sum(counts),
        "elapsed": time.perf_counter() - start,
        "cpu": time.process_time() - cpu,
    }


async def child(kind: str, url: str, clients: int) -> dict[str, float]:
    if kind.startswith("jobdeck"):
        async with open_deck(url) as deck:

            async def enqueue(n: int) -> object:
                return await deck.schedule_job("bench:noop", {"n": n})

            return await _clients(enqueue, clients)
    if kind == "sqlite3 INSERT":
        return await _sqlite_clients(url, clients)
    statement = INSERT if kind == "INSERT" else INSERT_NOTIFY
    conns = [await psycopg.AsyncConnection.connect(url, autocommit=True) for _ in range(clients)]
    try:

        async def insert(n: int) -> object:
            return await conns[n // 1_000_000_000].execute(
                statement, ("bench:noop", Jsonb({"n": n}))
            )

        return await _clients(insert, clients)
    finally:
        for conn in conns:
            await conn.close()


async def _sqlite_clients(url: str, clients: int) -> dict[str, float]:
    path = url.removeprefix("sqlite:///")
    thread = ThreadPoolExecutor(1)
    loop = asyncio.get_running_loop()

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "busy_timeout = 30000"):
            conn.execute(f"PRAGMA {pragma}").fetchall()
        return conn

    conn = await loop.run_in_executor(thread, connect)

    def insert_one(n: int) -> None:
        conn.execute(SQLITE_INSERT, ("bench:noop", json.dumps({"n": n})))

    async def insert(n: int) -> object:
        return await loop.run_in_executor(thread, insert_one, n)

    try:
        return await _clients(insert, clients)
    finally:
        await loop.run_in_executor(thread, conn.close)
        thread.shutdown()


# --- the parent --------------------------------------------------------------------
def _prepare(kind: str, url: str) -> None:
    if kind in ("INSERT", "INSERT+NOTIFY"):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(NARROW_TABLE)
    elif kind == "sqlite3 INSERT":
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute("PRAGMA journal_mode = WAL").fetchall()
            conn.execute(SQLITE_TABLE)
    # jobdeck creates its schema when the first deck opens (before the processes say
    # they are ready): nothing to do.


def measure(
    kind: str, admin_url: str, processes: int, clients: int, seconds: float
) -> dict[str, float]:
    backend = "sqlite" if kind in SQLITE else "postgres"
    with database(backend, admin_url) as url:
        _prepare(kind, url)
        procs = []
        try:
            for _ in range(processes):
                procs.append(
                    subprocess.Popen(
                        [sys.executable, __file__, "--child", kind, url, str(clients)],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        text=True,
                    )
                )
                # One at a time: jobdeck's first deck migrates the new database.
                _expect_ready(procs[-1])
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write(f"go {seconds}\n")
                proc.stdin.flush()
            results = []
            for proc in procs:
                out, _ = proc.communicate(timeout=seconds + 60)
                if proc.returncode != 0:
                    raise RuntimeError(f"{kind}: a client process exited with {proc.returncode}")
                results.append(json.loads(out.strip().splitlines()[-1]))
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    count = sum(r["count"] for r in results)
    return {
        "rate": count / max(r["elapsed"] for r in results),
        "cpu_us": 1e6 * sum(r["cpu"] for r in results) / max(count, 1),
    }


def _expect_ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        raise RuntimeError(f"a client process did not start: {line!r}")


def summary(kind: str, rates: list[float], cpu: list[float]) -> float:
    median = spread(kind, rates)
    print(f"  client CPU {statistics.median(cpu):,.0f} µs/job (median of the rounds)", flush=True)
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=description(__doc__))
    parser.add_argument("--database", choices=("both", "postgres", "sqlite"), default="both")
    parser.add_argument("--admin-url", default=ADMIN_URL)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8, help="asyncio clients per process")
    parser.add_argument(
        "--child", nargs=3, metavar=("KIND", "URL", "CLIENTS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        kind, url, clients = args.child
        print(json.dumps(asyncio.run(child(kind, url, int(clients)))), flush=True)
        return

    kinds = {"postgres": POSTGRES, "sqlite": SQLITE, "both": POSTGRES + SQLITE}[args.database]
    if args.database != "sqlite":
        require_postgres(args.admin_url)
    print(
        f"{args.processes} processes x {args.clients} clients, one job per call, "
        f"{args.seconds:g} s per measurement, {args.rounds} rounds",
        flush=True,
    )
    rates: dict[str, list[float]] = {k: [] for k in kinds}
    cpu: dict[str, list[float]] = {k: [] for k in kinds}
    for round_ in range(1, args.rounds + 1):
        line = []
        for kind in kinds:
            result = measure(kind, args.admin_url, args.processes, args.clients, args.seconds)
            rates[kind].append(result["rate"])
            cpu[kind].append(result["cpu_us"])
            line.append(f"{kind} {result['rate']:,.0f}")
        print(f"round {round_}: " + "   ".join(line), flush=True)
    medians = {kind: summary(kind, rates[kind], cpu[kind]) for kind in kinds}
    for ours, theirs, target in (
        ("jobdeck postgres", "INSERT", " (target >= 50%)"),
        ("jobdeck postgres", "INSERT+NOTIFY", ""),
        ("jobdeck sqlite", "sqlite3 INSERT", ""),
    ):
        if ours in medians and theirs in medians:
            per_round = [a / b for a, b in zip(rates[ours], rates[theirs], strict=True)]
            print(
                f"{ours} / {theirs}: medians {medians[ours] / medians[theirs]:.0%}{target};"
                f" per round min {min(per_round):.0%} max {max(per_round):.0%}"
            )


if __name__ == "__main__":
    main()
