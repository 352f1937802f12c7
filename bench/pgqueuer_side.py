"""PgQueuer's side of the PostgreSQL comparisons (bench/drain_cold.py and
bench/enqueue.py run it).

Never a jobdeck dependency: it runs in a virtualenv of its own, made once with::

    python3 -m venv /tmp/pgq-venv
    /tmp/pgq-venv/bin/pip install "pgqueuer>=1.6,<1.7" asyncpg

Commands (each prints one JSON line, with PgQueuer's version as ``"version"``)::

    /tmp/pgq-venv/bin/python bench/pgqueuer_side.py drain DSN JOBS PROCESSES
    /tmp/pgq-venv/bin/python bench/pgqueuer_side.py enqueue DSN SINGLE BULK_TOTAL
    /tmp/pgq-venv/bin/python bench/pgqueuer_side.py worker DSN          (internal)

``drain``: installs PgQueuer's schema, enqueues JOBS no-op jobs, then starts PROCESSES
worker processes (PgQueuer's defaults: batch 10, continuous mode, on the loop `pgq run`
uses) and reports jobs/s from the first job done to the last (the same clock as
bench/drain_cold.py).

``enqueue``: installs the schema, then on one connection enqueues SINGLE jobs one per
call, then BULK_TOTAL in calls of 1,000; jobs/s of each. Each job carries the payload
bench/enqueue.py gives jobdeck's (``{"n": i}``, as JSON bytes: PgQueuer's payload is
bytea).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from importlib.metadata import version

if __name__ == "__main__" and len(sys.argv) < 3:
    # `make bench` runs every script without arguments, in jobdeck's virtualenv, where
    # PgQueuer is not: nothing to do then (bench/enqueue.py and drain_cold.py call this).
    print(__doc__)
    raise SystemExit(0)

import asyncpg
from pgqueuer.adapters.cli.cli import asyncio_run
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Job
from pgqueuer.qm import QueueManager
from pgqueuer.queries import Queries

# The same two probes as bench/drain_cold.py: a job done (logged), any left (each
# status through its partial index; a bare EXISTS would walk the deleted rows).
PROGRESS = (
    "SELECT EXISTS (SELECT 1 FROM pgqueuer_log WHERE status = 'successful'),"
    " EXISTS (SELECT 1 FROM pgqueuer WHERE status = 'queued')"
    " OR EXISTS (SELECT 1 FROM pgqueuer WHERE status = 'picked')"
)


async def _install(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await Queries(AsyncpgDriver(conn)).install()
    finally:
        await conn.close()


async def worker(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    qm = QueueManager(Queries(AsyncpgDriver(conn)))

    @qm.entrypoint("noop")
    async def noop(job: Job) -> None:
        return None

    await qm.run()


async def drain(dsn: str, jobs: int, processes: int) -> dict[str, float]:
    await _install(dsn)
    conn = await asyncpg.connect(dsn)
    queries = Queries(AsyncpgDriver(conn))
    for start in range(0, jobs, 1000):
        n = min(1000, jobs - start)
        await queries.enqueue(["noop"] * n, [None] * n, [0] * n)
    spawned = time.perf_counter()
    command = [sys.executable, __file__, "worker", dsn]
    procs = [subprocess.Popen(command) for _ in range(processes)]  # noqa: ASYNC220
    first = None
    try:
        while True:
            done, left = await conn.fetchrow(PROGRESS)
            now = time.perf_counter()
            if first is None and done:
                first = now
            if not left:
                break
            if now - spawned > 120:
                raise RuntimeError("jobs left after 120 s")
            await asyncio.sleep(0.02)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)
        await conn.close()
    assert first is not None
    return {"rate": jobs / max(now - first, 1e-9), "wall": now - spawned}


def _payload(n: int) -> bytes:
    return json.dumps({"n": n}).encode()


async def enqueue(dsn: str, single: int, bulk_total: int) -> dict[str, float]:
    await _install(dsn)
    conn = await asyncpg.connect(dsn)
    queries = Queries(AsyncpgDriver(conn))
    start = time.perf_counter()
    for n in range(single):
        await queries.enqueue("noop", _payload(n), 0)
    single_rate = single / (time.perf_counter() - start)
    start = time.perf_counter()
    for done in range(0, bulk_total, 1000):
        payloads = [_payload(done + i) for i in range(1000)]
        await queries.enqueue(["noop"] * 1000, payloads, [0] * 1000)
    bulk_rate = bulk_total / (time.perf_counter() - start)
    await conn.close()
    return {"single": single_rate, "bulk": bulk_rate}


def main() -> None:
    command, dsn, *rest = sys.argv[1:]
    if command == "worker":
        # On the loop `pgq run` picks (uvloop where installed, a PgQueuer dependency),
        # as jobdeck's workers run on theirs (jobdeck.cli.common.run).
        asyncio_run(worker(dsn))
        return
    numbers = [int(x) for x in rest]
    if command == "drain":
        figures = asyncio.run(drain(dsn, *numbers))
    elif command == "enqueue":
        figures = asyncio.run(enqueue(dsn, *numbers))
    else:
        raise SystemExit(f"unknown command {command}")
    print(json.dumps({**figures, "version": version("pgqueuer")}))


if __name__ == "__main__":
    main()
