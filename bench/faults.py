"""The fault battery: jobdeck under failures, with figures.

Each scenario prints its figures; ``tests/integration/test_faults.py`` runs a short
version of each in CI. Usage::

    python bench/faults.py workers-killed [--database sqlite|postgres] [--jobs N] [--sleep S]
    python bench/faults.py database-restarts   # runs a private PostgreSQL server
    python bench/faults.py graceful-stop
    python bench/faults.py disk-full
    python bench/faults.py read-only          # as root, the writer runs as nobody

workers-killed: 4 ``jobdeck worker`` processes drain the queue while a random one is
SIGKILLed every 2 s and replaced. Every job must complete; a job that ran more than
once must owe each extra run to an attempt of a killed worker; no worker log holds a
"database is locked" or a traceback.

database-restarts: a private PostgreSQL server (its own data directory and port) is
stopped and started twice while two workers drain the queue and ``jobdeck serve`` has
20 WebSocket clients following every job; each client also leaves during each outage
and resumes with ``subscribe since``. No process may exit, no job be lost, and every
client must see every job's final state.

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
import contextlib
import json
import os
import pwd
import random
import shutil
import signal
import socket
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

from common import (
    JOBDECK,
    PLUGINS,
    PrivateServer,
    database,
    description,
    free_port,
    open_deck,
    private_postgres,
)

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
            second = start_worker(url, records, jobs, JOBDECK_FAULT_SLEEP="0")
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


# --- database restarts ---------------------------------------------------------------
FINAL = {"completed", "failed", "cancelled"}


@dataclass
class WsClient:
    """A WebSocket client that follows every job: it subscribes from the seq of its first
    ``connected`` message, and after any close (or when told to ``drop``) reconnects
    and resumes with ``subscribe since`` the last seq it saw."""

    index: int
    seq: int = 0
    status: dict[str, str] = field(default_factory=dict)
    connects: int = 0
    resumes: int = 0  # subscriptions resuming from a seq it had seen
    refused: collections.Counter[str] = field(default_factory=collections.Counter)
    errors: list[str] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    drop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, uri: str, token: str, stop: asyncio.Event) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidStatus

        headers = {"Authorization": f"Bearer {token}"}
        while not stop.is_set():
            try:
                async with connect(uri, additional_headers=headers, open_timeout=5) as ws:
                    hello = json.loads(await ws.recv())
                    if not self.ready.is_set():
                        self.seq = hello["seq"]
                    else:
                        self.resumes += 1
                    await ws.send(json.dumps({"type": "subscribe", "since": self.seq}))
                    self.connects += 1
                    self.ready.set()
                    await self._read(ws, stop)
            except InvalidStatus as exc:
                self.refused[f"HTTP {exc.response.status_code}"] += 1
                body = exc.response.body or b""
                if b"Traceback" in body or b'File "' in body:
                    self.errors.append(body.decode(errors="replace")[:200])
            except Exception as exc:  # refused, or the socket closed: resume
                self.refused[type(exc).__name__] += 1
            if not stop.is_set():
                await asyncio.sleep(0.2 + random.random() * 0.3)

    async def _read(self, ws: Any, stop: asyncio.Event) -> None:
        leave = asyncio.ensure_future(self.drop.wait())
        ended = asyncio.ensure_future(stop.wait())
        try:
            while True:
                receive = asyncio.ensure_future(ws.recv())
                await asyncio.wait([receive, leave, ended], return_when=asyncio.FIRST_COMPLETED)
                if not receive.done():
                    receive.cancel()
                    self.drop.clear()
                    return
                message = json.loads(receive.result())
                kind = message.get("type")
                if kind == "job_update":
                    self._update(message)
                elif kind == "job_updates":
                    for update in message["updates"]:
                        self._update(update)
                elif kind == "error":
                    self.errors.append(message.get("message", ""))
        finally:
            leave.cancel()
            ended.cancel()

    def _update(self, message: dict[str, Any]) -> None:
        job = message["job"]
        self.status[job["jobId"]] = job["status"]
        self.seq = max(self.seq, message["seq"])

    def finals(self, ids: list[str]) -> int:
        return sum(1 for j in ids if self.status.get(j) in FINAL)


def start_serve(url: str, records: Path, port: int, token: str, *args: str) -> Worker:
    """``jobdeck serve`` on ``port``, returned once it accepts connections."""
    proc = subprocess.Popen(
        [JOBDECK, "serve", "--port", str(port), "--no-scheduler", *args],
        env={
            **os.environ,
            "JOBDECK_DATABASE_URL": url,
            "JOBDECK_PLUGINS_DIR": str(PLUGINS),
            "JOBDECK_FAULT_RECORDS": str(records),
            "JOBDECK_ADMIN_TOKEN": token,
            "JOBDECK_LEASE_SECONDS": str(LEASE),
            "JOBDECK_HEARTBEAT_SECONDS": str(HEARTBEAT),
            "JOBDECK_MAINTENANCE_SECONDS": "0.5",
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    server = Worker(proc)

    def read() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            server.log.append(raw.decode(errors="replace"))

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jobdeck serve exited early: {''.join(server.log)[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return server
        time.sleep(0.1)
    raise RuntimeError("jobdeck serve did not listen in time")


def note(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


async def until_completed(deck: JobDeck, target: int, deadline: float) -> int:
    """Completed jobs once at least ``target`` (errors while the server is down retried)."""
    while True:
        with contextlib.suppress(JobdeckError):
            done = await deck.count_jobs(status="completed")
            if done >= target:
                return done
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {target} jobs completed in time")
        await asyncio.sleep(0.05)


async def database_restarts(
    jobs: int = 10_000,
    clients: int = 20,
    restarts: int = 2,
    down: float = 3.0,
    sleep: float = 0.01,
) -> dict[str, Any]:
    """A private PostgreSQL stopped for ``down`` seconds and started again, ``restarts``
    times while two ``jobdeck worker`` processes drain ``jobs`` queued jobs and
    ``jobdeck serve --no-worker`` has ``clients`` WebSocket clients following every job.
    Each client also leaves once during every outage and resumes with ``since``."""
    token = "jdk_faults_" + os.urandom(12).hex()
    port = free_port()
    with private_postgres() as server, scratch() as records:
        url = server.url
        async with open_deck(url) as deck:
            ids = await enqueue(deck, jobs, {"sleep": sleep}, "fault:record")
            serve = await asyncio.to_thread(start_serve, url, records, port, token, "--no-worker")
            done = asyncio.Event()
            followers = [WsClient(i) for i in range(clients)]
            tasks = [
                asyncio.create_task(c.run(f"ws://127.0.0.1:{port}/ws", token, done))
                for c in followers
            ]
            async with asyncio.timeout(30):
                await asyncio.gather(*(c.ready.wait() for c in followers))
            started = time.monotonic()
            processes = {"serve": serve}
            for n in (1, 2):
                processes[f"worker {n}"] = await asyncio.to_thread(start_worker, url, records, 20)
            outages: list[float] = []
            completed_at_stop: list[int] = []
            deadline = started + 600
            for n in range(1, restarts + 1):
                completed_at_stop.append(
                    await until_completed(deck, jobs * n // (restarts + 1), deadline)
                )
                note(f"restart {n}: stopping the server for {down} s")
                stopped = time.monotonic()
                await asyncio.to_thread(server.stop)
                # Every client leaves while the database is down, at a random moment.
                for c in followers:
                    asyncio.get_running_loop().call_later(random.random() * down, c.drop.set)
                await asyncio.sleep(down)
                await asyncio.to_thread(server.start)
                outages.append(round(time.monotonic() - stopped, 1))
            await until_completed(deck, jobs, deadline)
            drained = time.monotonic() - started
            # Every client must resume after its last leave and see every final state.
            converge = time.monotonic()
            while any(c.finals(ids) < jobs or c.resumes < restarts for c in followers):
                if time.monotonic() - converge > 60:
                    break
                await asyncio.sleep(0.2)
            converged = time.monotonic() - converge
            exited = [name for name, p in processes.items() if p.proc.poll() is not None]
            done.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            counts = {str(s): n for s, n in (await deck.count_by_status()).items() if n}
            codes = stop(list(processes.values()))
        starts = collections.Counter(j for e, j, _ in records_of(records) if e == "start")
    bad = [
        "".join(p.log[i : i + 40])
        for p in processes.values()
        for i, line in enumerate(p.log)
        if "Traceback" in line
    ]
    refused: collections.Counter[str] = collections.Counter()
    for c in followers:
        refused.update(c.refused)
    return {
        "backend": "postgres (private server)",
        "jobs": jobs,
        "completed": counts.get("completed", 0),
        "lost": jobs - counts.get("completed", 0),
        "statuses": counts,
        "restarts (seconds down each)": outages,
        "jobs completed when each restart began": completed_at_stop,
        "processes that exited during the run": exited,
        "exit codes after SIGTERM (serve, workers)": codes,
        "jobs run more than once": sum(1 for n in starts.values() if n > 1),
        "WebSocket clients": clients,
        "clients that saw every final state": sum(1 for c in followers if c.finals(ids) == jobs),
        "fewest final states a client saw": min(c.finals(ids) for c in followers),
        "resumes with since (fewest by a client)": min(c.resumes for c in followers),
        "failed connection attempts": dict(refused),
        "error messages to clients": sum(len(c.errors) for c in followers),
        "tracebacks in the logs": len(bad),
        "seconds to drain": round(drained, 1),
        "seconds after the drain until every client saw every final state": round(converged, 1),
        "_bad": bad[:5] + [e for c in followers for e in c.errors][:5],
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


UNPRIVILEGED = "nobody"


def read_only() -> dict[str, Any]:
    """The SQLite file made read-only (chmod 444), then writable again. The writer is a
    process of an unprivileged user (root writes anyway): when we are root, it starts
    as root, imports what it needs, then drops to ``nobody``."""
    folder = Path(tempfile.mkdtemp(prefix="jobdeck-faults-ro-"))
    path = folder / "jobdeck.db"
    if os.geteuid() == 0:
        user = pwd.getpwnam(UNPRIVILEGED)
        os.chown(folder, user.pw_uid, user.pw_gid)
    writer = subprocess.Popen(
        [sys.executable, __file__, "_read-only-writer", str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdin is not None and writer.stdout is not None

    def step(command: str = "") -> dict[str, Any]:
        assert writer.stdin is not None and writer.stdout is not None
        if command:
            writer.stdin.write(command + "\n")
            writer.stdin.flush()
        line = writer.stdout.readline()
        if not line:
            raise RuntimeError(f"the writer exited ({writer.wait()})")
        return dict(json.loads(line))

    try:
        figures = step()  # 10 jobs written by the unprivileged writer, store closed
        path.chmod(0o444)
        figures |= step("read-only")
        path.chmod(0o644)
        figures |= step("writable")
        writer.stdin.close()
        figures["writer exit code"] = writer.wait(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
        shutil.rmtree(folder, ignore_errors=True)
    figures["nothing half-written"] = figures["jobs after the refused write (was 10)"] == 10
    return figures


async def read_only_writer(path: str) -> None:
    """The writer of ``read_only``: one JSON line of figures per step."""
    url = f"sqlite:///{path}"
    with tempfile.TemporaryDirectory() as warm:  # import everything while still root
        async with open_deck(f"sqlite:///{warm}/warm.db") as deck:
            await enqueue(deck, 2, {}, "fault:record")
            await deck.count_jobs()
            await deck.get_jobs(limit=1)
    if os.geteuid() == 0:
        user = pwd.getpwnam(UNPRIVILEGED)
        os.setgroups([])
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)

    def say(figures: dict[str, Any]) -> str:
        print(json.dumps(figures), flush=True)
        return sys.stdin.readline().strip()

    async with open_deck(url) as deck:
        await enqueue(deck, 10, {}, "fault:record")
    say({"writer runs as": pwd.getpwuid(os.geteuid()).pw_name})
    # The file is read-only now: a process starting on it, as after a restart.
    async with open_deck(url) as deck:
        error = None
        try:
            await enqueue(deck, 5000, {"blob": "x" * 200}, "fault:record")
        except JobdeckError as exc:
            error = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # not a clear error: reported as such
            error = f"UNCLEAR {type(exc).__name__}: {exc}"
        try:
            reads = len(await deck.get_jobs(limit=5)) == 5
            count = await deck.count_jobs()
        except Exception as exc:
            reads, count = False, f"{type(exc).__name__}: {exc}"
        say(
            {
                "error to the caller": error,
                "jobs after the refused write (was 10)": count,
                "reads keep working": reads,
            }
        )
        # Writable again: the same store writes, no restart.
        try:
            await enqueue(deck, 5, {}, "fault:record")
            resumed: Any = await deck.count_jobs()
        except Exception as exc:
            resumed = f"{type(exc).__name__}: {exc}"
        say({"writes resume (jobs now, want 15)": resumed})


def main() -> None:
    if sys.argv[1:2] == ["_read-only-writer"]:
        asyncio.run(read_only_writer(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=description(__doc__))
    parser.add_argument(
        "scenario",
        choices=(
            "workers-killed",
            "database-restarts",
            "graceful-stop",
            "disk-full",
            "read-only",
        ),
    )
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument(
        "--sleep", type=float, default=0.005, help="workers-killed: seconds each job sleeps"
    )
    args = parser.parse_args()
    if args.scenario == "workers-killed":
        default = 50_000 if args.database == "postgres" else 20_000
        figures = asyncio.run(workers_killed(args.database, args.jobs or default, sleep=args.sleep))
    elif args.scenario == "database-restarts":
        if reason := PrivateServer.missing():
            sys.exit(reason)
        figures = asyncio.run(database_restarts(args.jobs or 10_000))
    elif args.scenario == "graceful-stop":
        figures = asyncio.run(graceful_stop(args.database, args.jobs or 100))
    elif args.scenario == "read-only":
        figures = read_only()
    else:
        figures = asyncio.run(disk_full())
    for key, value in figures.items():
        if not key.startswith("_"):
            print(f"{key:<48} {value}")
    for line in figures.get("_bad", []):
        print("  !", line.rstrip())


if __name__ == "__main__":
    main()
