"""Shared by the benchmarks: a fresh database, the bench handlers, worker processes.

The worker-level benchmarks (enqueue, drain, pickup, progress) run on either backend::

    .venv/bin/python bench/drain.py                       # SQLite (default)
    .venv/bin/python bench/drain.py --database postgres   # a scratch PostgreSQL database

Not a benchmark itself (``make bench`` runs it too; it does nothing then).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from jobdeck.config import Settings
from jobdeck.deck import JobDeck
from jobdeck.plugins import PluginManager

BENCH = Path(__file__).resolve().parent
PLUGINS = BENCH / "plugins"
JOBDECK = str(Path(sys.executable).parent / "jobdeck")
ADMIN_URL = os.environ.get(
    "JOBDECK_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def description(doc: str | None) -> str:
    """A script's docstring's first paragraph on one line: its argparse description
    (the first line alone may stop mid-sentence)."""
    return " ".join((doc or "").strip().split("\n\n", 1)[0].split())


def option_parser(doc: str | None) -> argparse.ArgumentParser:
    """The command line every worker-level benchmark accepts (which backend to run
    on), described by the first paragraph of ``doc``; a script may add to it."""
    parser = argparse.ArgumentParser(description=description(doc))
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--admin-url",
        default=ADMIN_URL,
        help="PostgreSQL server to create the scratch database on "
        "[default: $JOBDECK_BENCH_ADMIN_URL or %(default)s]",
    )
    return parser


def options(doc: str | None) -> argparse.Namespace:
    """``option_parser(doc)``'s arguments."""
    return option_parser(doc).parse_args()


def require_postgres(admin_url: str = ADMIN_URL) -> None:
    """Exit 0, saying so, when no PostgreSQL server answers at ``admin_url``: a script
    that needs one is skipped (``make bench`` on a machine without PostgreSQL goes on
    with the next script)."""
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as error:
        shown = urlsplit(admin_url)
        if shown.password:
            netloc = shown.netloc.replace(f":{shown.password}@", ":***@")
            shown = shown._replace(netloc=netloc)
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"skipped: no PostgreSQL at {urlunsplit(shown)} ({reason})", flush=True)
        raise SystemExit(0) from None


@contextlib.contextmanager
def database(backend: str = "sqlite", admin_url: str = ADMIN_URL) -> Iterator[str]:
    """The URL of a new, empty database of ``backend``, removed afterwards."""
    if backend == "postgres":
        with postgres_database(admin_url) as url:
            yield url
        return
    with tempfile.TemporaryDirectory(prefix="jobdeck-bench-") as folder:
        yield f"sqlite:///{Path(folder) / 'bench.db'}"


@contextlib.contextmanager
def postgres_database(admin_url: str = ADMIN_URL) -> Iterator[str]:
    """A scratch database on the server of ``admin_url``, dropped afterwards (even if
    a worker process still holds a connection to it)."""
    name = "jobdeck_bench_" + uuid.uuid4().hex[:12]
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(admin_url)._replace(path="/" + name))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


PG_BIN = Path(os.environ.get("JOBDECK_PG_BIN", "/usr/lib/postgresql/15/bin"))


class PrivateServer:
    """A throw-away PostgreSQL server of our own (its own data directory and port in a
    temporary folder), so a scenario may stop and restart it without disturbing the
    shared one. Run as ``postgres`` when we are root (the server refuses root)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="jobdeck-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")

    @staticmethod
    def missing() -> str | None:
        """Why no private server can run here, or None."""
        if not (PG_BIN / "initdb").exists():
            return f"no PostgreSQL binaries in {PG_BIN} to run a private server"
        return None

    def _run(self, *args: str) -> None:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-N")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"),
                  "-w", "start")  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def crash(self) -> None:
        """Stop without a shutdown checkpoint: the next start replays the WAL."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivateServer]:
    """A private PostgreSQL server, started on entry, stopped and removed on exit."""
    server = PrivateServer()
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.remove()


def _stat(pid: int | str) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name: [0] is the state (field
    3 of proc(5)), [1] the parent's pid, [11] utime, [12] stime, [13] cutime, [14]
    cstime (in clock ticks)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (Linux /proc; 0.0 once it is gone)."""
    try:
        fields = _stat(pid)
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU used so far by every process named ``postgres`` on this machine, whoever
    they work for: the local server's live backends and background processes, and,
    through each postmaster's (a ``postgres`` process whose parent is not one)
    children's times, those that have exited (backends of closed connections,
    autovacuum workers)."""
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() != "postgres":
                        continue
                stats[int(entry)] = _stat(entry)
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
    ticks = 0
    for fields in stats.values():
        ticks += int(fields[11]) + int(fields[12])
        if int(fields[1]) not in stats:  # a postmaster: add its children that exited
            ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def settings(url: str) -> Settings:
    return Settings.from_env(database_url=url, plugins_dir=str(PLUGINS))


@contextlib.asynccontextmanager
async def open_deck(url: str) -> AsyncIterator[JobDeck]:
    """A deck on ``url`` with the bench handlers registered."""
    deck = JobDeck(settings=settings(url))
    await deck.open()
    try:
        await PluginManager(deck, PLUGINS, entry_points=False).load()
        yield deck
    finally:
        await deck.close()


def worker_env(url: str) -> dict[str, str]:
    return {**os.environ, "JOBDECK_DATABASE_URL": url, "JOBDECK_PLUGINS_DIR": str(PLUGINS)}


@contextlib.contextmanager
def workers(url: str, count: int, concurrency: int = 50) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` ``jobdeck worker`` processes, ready (their start-up line logged) on entry,
    stopped with SIGTERM on exit."""
    procs = [
        subprocess.Popen(
            [JOBDECK, "worker", "--concurrency", str(concurrency)],
            env=worker_env(url),
            stderr=subprocess.PIPE,
        )
        for _ in range(count)
    ]
    try:
        for proc in procs:
            wait_ready(proc)
            # Keep reading its log so a full pipe never blocks the worker.
            threading.Thread(target=_drain, args=(proc,), daemon=True).start()
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _drain(proc: subprocess.Popen[bytes]) -> None:
    if proc.stderr is not None:
        proc.stderr.read()


def wait_ready(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline().decode(errors="replace")
        if not line:
            raise RuntimeError(f"worker exited early with code {proc.wait()}")
        if "jobdeck worker on" in line:
            return
    raise RuntimeError("worker did not start in time")


async def wait_until_completed(deck: JobDeck, total: int, timeout: float, last: str) -> float:
    """Seconds until ``total`` jobs are completed (checked every 20 ms).

    ``last`` is the job claimed last (the newest of equal priority and run_at): until it
    has finished, looking it up stands in for counting. A count of tens of thousands of
    rows every 20 ms would cost the database as much as a busy worker does, on the
    same cores as the workers being measured.
    """
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        job = await deck.get_job(last)
        if (
            job is not None
            and job.status.terminal
            and await deck.count_jobs(status="completed") >= total
        ):
            return time.perf_counter() - start
        await asyncio.sleep(0.02)
    raise TimeoutError(f"{total} jobs were not completed within {timeout} s")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summary_ms(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"p50 {percentile(ms, 0.5):.2f} ms, p99 {percentile(ms, 0.99):.2f} ms, "
        f"mean {statistics.fmean(ms):.2f} ms, max {max(ms):.2f} ms (n={len(ms)})"
    )


def pgqueuer(
    python: str, admin_url: str, command: str, *numbers: int
) -> tuple[dict[str, float], str]:
    """PgQueuer's side of a comparison (bench/pgqueuer_side.py ``command``, run by
    ``python`` of its own virtualenv) on a new database: the figures it printed, and
    "PgQueuer <its version>" to label them with."""
    with postgres_database(admin_url) as url:
        try:
            out = subprocess.run(
                [python, str(BENCH / "pgqueuer_side.py"), command, url, *map(str, numbers)],
                capture_output=True,
                text=True,
                timeout=300,
            )
        except subprocess.TimeoutExpired as error:
            raise RuntimeError(f"PgQueuer's side ({command}) {error}") from None
    if out.returncode != 0:
        raise RuntimeError(
            f"PgQueuer's side ({command}) exited with {out.returncode}:\n{out.stderr.strip()}"
        )
    printed = json.loads(out.stdout.strip().splitlines()[-1])
    version = printed.pop("version", "?")
    return {k: float(v) for k, v in printed.items()}, f"PgQueuer {version}"


def span(values: list[float], unit: str = "jobs/s", digits: int = 0) -> str:
    """Several runs' figures as "min … median … max … <unit>"."""
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"min {low:,.{digits}f}  median {mid:,.{digits}f}  max {high:,.{digits}f} {unit}"


def spread(name: str, values: list[float], target: str = "", unit: str = "jobs/s") -> float:
    """Print the min / median / max rate (``unit``, jobs/s unless said) of several runs
    and the slowest run's share of the median; return the median."""
    median = statistics.median(values)
    suffix = f"  (target {target})" if target else ""
    print(
        f"{name}: {span(values, unit)};"
        f"  slowest = {min(values) / median:.0%} of the median{suffix}",
        flush=True,
    )
    return median


def report(name: str, value: float, unit: str, target: str = "") -> None:
    suffix = f"  (target {target})" if target else ""
    print(f"{name:<44} {value:>12,.1f} {unit}{suffix}", flush=True)
