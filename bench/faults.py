"""The fault battery: jobdeck under failures, with figures.

Each scenario prints its figures; ``tests/integration/test_faults.py`` runs a short
version of each in CI. Usage::

    python bench/faults.py workers-killed [--database sqlite|postgres] [--jobs N] [--sleep S]
    python bench/faults.py graceful-stop
    python bench/faults.py disk-full
    python bench/faults.py read-only          # needs root (the writer runs as nobody)

workers-killed: 4 ``jobdeck worker`` processes drain the queue while a random one is
SIGKILLed every 2 s and replaced. Every job must complete; a job that ran more than
once must owe each extra run to an attempt of a killed worker; no worker log holds a
"database is locked" or a traceback.

graceful-stop: SIGTERM to a worker running 100 long jobs (async and sync handlers).
It must exit within its shutdown grace even with a sync handler still running, and
its jobs must be back in the queue at once (not after the lease) and finish on
another worker.

disk-full / read-only: SQLite writes refused by the storage. The caller gets a clear
error, nothing half-written, reads keep working, and writes resume when space (or
permission) returns.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import JOBDECK, PLUGINS, database, open_deck

from jobdeck.deck import JobDeck
from jobdeck.domain.job import Status
from jobdeck.errors import JobdeckError

LEASE = 2.0
HEARTBEAT = 0.5
BAD_LINES = ("database is locked", "Traceback")


# --- worker processes ----------------------------------------------------------
@dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    log: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid


def start_worker(url: str, records: Path, concurrency: int, **env: str) -> Worker:
    proc = subprocess.Popen(
        [JOBDECK, "worker", "--concurrency", str(concurrency)],
        env={
            **os.environ,
            "JOBDECK_DATABASE_URL": url,
            "JOBDECK_PLUGINS_DIR": str(PLUGINS),
            "JOBDECK_FAULT_RECORDS": str(records),
            "JOBDECK_LEASE_SECONDS": str(LEASE),
            "JOBDECK_HEARTBEAT_SECONDS": str(HEARTBEAT),
            "JOBDECK_MAINTENANCE_SECONDS": "0.5",
            **env,
        },
        stderr=subprocess.PIPE,
    )
    worker = Worker(proc)
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline().decode(errors="replace")
        if not line:
            raise RuntimeError(f"worker exited early ({proc.wait()})")
        worker.log.append(line)
        if "jobdeck worker on" in line:
            break

    def read() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            worker.log.append(raw.decode(errors="replace"))

    threading.Thread(target=read, daemon=True).start()
    return worker


def stop(workers: list[Worker]) -> list[int]:
    for w in workers:
        if w.proc.poll() is None:
            w.proc.send_signal(signal.SIGTERM)
    codes = []
    for w in workers:
        try:
            codes.append(w.proc.wait(timeout=40))
        except subprocess.TimeoutExpired:
            w.proc.kill()
            codes.append(w.proc.wait())
    return codes


def records_of(folder: Path) -> list[tuple[str, str, int]]:
    found = []
    for path in folder.glob("*.log"):
        for line in path.read_text().splitlines():
            event, job_id, pid = line.split()
            found.append((event, job_id, int(pid)))
    return found


@contextmanager
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="jobdeck-faults-") as folder:
        path = Path(folder) / "records"
        path.mkdir()
        yield path


async def enqueue(deck: JobDeck, jobs: int, payload: dict[str, Any], type: str) -> list[str]:
    ids: list[str] = []
    for start in range(0, jobs, 2000):
        batch = [{"type": type, "payload": payload}] * min(2000, jobs - start)
        ids.extend(h.job_id for h in await deck.schedule_jobs(batch))
    return ids


# --- workers killed ----------------------------------------------------------------
async def workers_killed(
    backend: str = "sqlite",
    jobs: int = 20_000,
    every: float = 2.0,
    concurrency: int = 50,
    sleep: float = 0.005,
) -> dict[str, Any]:
    rng = random.Random(7)
    client_errors: list[str] = []
    with database(backend) as url, scratch() as records:
        async with open_deck(url) as deck:
            alive = [start_worker(url, records, concurrency) for _ in range(4)]
            started = time.monotonic()
            await enqueue(deck, jobs, {"sleep": sleep}, "fault:record")
            everyone = list(alive)
            killed: set[int] = set()
            next_kill = started + every
            while True:
                try:
                    done = await deck.count_jobs(status="completed")
                except JobdeckError as exc:  # the client of this scenario is this deck
                    client_errors.append(str(exc))
                    done = 0
                if done >= jobs:
                    break
                if time.monotonic() > started + 600:
                    raise TimeoutError(f"only {done} of {jobs} jobs completed in 600 s")
                if time.monotonic() >= next_kill:
                    victim = rng.choice(alive)
                    victim.proc.kill()
                    victim.proc.wait()
                    killed.add(victim.pid)
                    alive.remove(victim)
                    next_kill = time.monotonic() + every
                    replacement = await asyncio.to_thread(start_worker, url, records, concurrency)
                    alive.append(replacement)
                    everyone.append(replacement)
                await asyncio.sleep(0.1)
            total = time.monotonic() - started
            codes = stop(alive)
            counts = {s: n for s, n in (await deck.count_by_status()).items() if n}
        lines = records_of(records)
    starts: dict[str, list[int]] = collections.defaultdict(list)
    ends: dict[str, list[int]] = collections.defaultdict(list)
    for event, job_id, pid in lines:
        (starts if event == "start" else ends)[job_id].append(pid)
    duplicates = {j: pids for j, pids in starts.items() if len(pids) > 1}
    # Each extra run must follow a start by a killed worker (an attempt it never ended).
    unexplained = [
        j for j, pids in duplicates.items() if sum(1 for p in pids if p in killed) < len(pids) - 1
    ]
    # A killed worker's attempt either had its handler running, or had finished it
    # but not yet recorded the completion (workers batch them): both run again.
    in_flight = sum(
        1 for j, pids in starts.items() for p in pids if p in killed and p not in ends[j]
    )
    unrecorded = sum(
        1 for j, pids in duplicates.items() for p in pids if p in killed and p in ends[j]
    )
    bad = [line for w in everyone for line in w.log if any(b in line for b in BAD_LINES)]
    return {
        "backend": backend,
        "jobs": jobs,
        "completed": counts.get(Status.COMPLETED, 0),
        "lost": jobs - counts.get(Status.COMPLETED, 0),
        "statuses": {str(s): n for s, n in counts.items()},
        "workers killed": len(killed),
        "killed in-flight attempts (handler running)": in_flight,
        "killed attempts finished, not yet recorded": unrecorded,
        "jobs run more than once": len(duplicates),
        "duplicates not explained by a killed worker": len(unexplained),
        "bad log lines (locked / traceback)": len(bad),
        "client errors": len(client_errors),
        "exit codes of the last workers": codes,
        "runs per worker": sorted(
            collections.Counter(p for _, pids in starts.items() for p in pids).values()
        ),
        "total seconds": round(total, 1),
        "jobs/s": round(jobs / total),
        "_bad": bad[:5] + client_errors[:5],
    }


# --- graceful stop ---------------------------------------------------------------
async def graceful_stop(
    backend: str = "sqlite", jobs: int = 100, grace: float = 3.0, sleep: float = 30.0
) -> dict[str, Any]:
    with database(backend) as url, scratch() as records:
        async with open_deck(url) as deck:
            half = jobs // 2
            ids = await enqueue(deck, half, {"sleep": sleep}, "fault:record")
            ids += await enqueue(deck, jobs - half, {"sleep": sleep}, "fault:sync")
            first = start_worker(url, records, jobs, JOBDECK_SHUTDOWN_GRACE_SECONDS=str(grace))
            deadline = time.monotonic() + 30
            while await deck.count_jobs(status="running") < jobs:
                if time.monotonic() > deadline:
                    raise TimeoutError("the worker did not start every job")
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
            signalled = time.monotonic()
            first.proc.send_signal(signal.SIGTERM)
            code = first.proc.wait(timeout=grace + 20)
            exited = time.monotonic() - signalled
            # At once: every job back in the queue right after the exit, no lease wait.
            counts = {s: n for s, n in (await deck.count_by_status()).items() if n}
            pending_at_exit = counts.get(Status.PENDING, 0)
            # Finished elsewhere: short jobs now, so the test does not wait `sleep` again.
            second = start_worker(url, records, jobs)
            finish_started = time.monotonic()
            while await deck.count_jobs(status="completed") < jobs:
                if time.monotonic() - finish_started > 60:
                    break
                await asyncio.sleep(0.1)
            finished_in = time.monotonic() - finish_started
            stop([second])
            final = {str(s): n for s, n in (await deck.count_by_status()).items() if n}
            ends = {(j, p) for e, j, p in records_of(records) if e == "end"}
            by_second = sum(1 for j in ids if (j, second.pid) in ends)
    return {
        "backend": backend,
        "jobs (half async, half sync)": jobs,
        "grace seconds": grace,
        "exit code": code,
        "seconds from SIGTERM to exit": round(exited, 2),
        "back in the queue at exit": pending_at_exit,
        "final statuses": final,
        "finished by the second worker": by_second,
        "seconds for the second worker": round(finished_in, 1),
    }


# --- storage faults (SQLite) -------------------------------------------------------
async def disk_full() -> dict[str, Any]:
    """PRAGMA max_page_count caps the file as a full disk would."""
    figures: dict[str, Any] = {}
    with database("sqlite") as url:
        path = url.removeprefix("sqlite:///")
        async with open_deck(url) as deck:
            await enqueue(deck, 10, {}, "fault:record")
            before = await deck.count_jobs()
            with sqlite3.connect(path) as conn:
                pages = conn.execute("PRAGMA page_count").fetchone()[0]
            # The store's connection holds its own max_page_count: set it there.
            store: Any = deck.store
            await store._db.run(lambda c: c.execute(f"PRAGMA max_page_count = {pages}"))
            error = None
            try:
                await enqueue(deck, 5000, {"blob": "x" * 2000}, "fault:record")
            except JobdeckError as exc:
                error = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # not a clear error: reported as such
                error = f"UNCLEAR {type(exc).__name__}: {exc}"
            figures["error to the caller"] = error
            figures["jobs after the refused write (was 10)"] = await deck.count_jobs()
            figures["reads keep working"] = (await deck.get_jobs(limit=1)) is not None
            await store._db.run(lambda c: c.execute("PRAGMA max_page_count = 4294967294"))
            await enqueue(deck, 5, {}, "fault:record")
            figures["writes resume (jobs now, want 15)"] = await deck.count_jobs()
            figures["nothing half-written"] = (
                figures["jobs after the refused write (was 10)"] == before
            )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=("workers-killed", "graceful-stop", "disk-full"))
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument(
        "--sleep", type=float, default=0.005, help="workers-killed: seconds each job sleeps"
    )
    args = parser.parse_args()
    if args.scenario == "workers-killed":
        default = 50_000 if args.database == "postgres" else 20_000
        figures = asyncio.run(workers_killed(args.database, args.jobs or default, sleep=args.sleep))
    elif args.scenario == "graceful-stop":
        figures = asyncio.run(graceful_stop(args.database, args.jobs or 100))
    else:
        figures = asyncio.run(disk_full())
    for key, value in figures.items():
        if not key.startswith("_"):
            print(f"{key:<48} {value}")
    for line in figures.get("_bad", []):
        print("  !", line.rstrip())


if __name__ == "__main__":
    main()
