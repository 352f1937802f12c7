"""Real ``jobdeck worker`` processes on one database, shared by the SQLite and
PostgreSQL integration tests.

Handlers come from tests/fixtures/plugins (``test:record`` appends ``start``/``end``
lines to one file per process), so a test can tell which process ran a job and how
many times.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from asyncio.subprocess import Process
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx

from jobdeck.config import Settings
from jobdeck.deck import JobDeck
from jobdeck.plugins import PluginManager

REPO = Path(__file__).resolve().parents[2]
JOBDECK = str(Path(sys.executable).parent / "jobdeck")
TEST_PLUGINS = REPO / "tests" / "fixtures" / "plugins"
LEASE = "2"
HEARTBEAT = "0.5"


class Cluster:
    """Worker processes on one database, and the records their handlers leave."""

    def __init__(self, url: str, tmp_path: Path) -> None:
        self.url = url
        self.records = tmp_path / "records"
        self.records.mkdir()
        self.env = {
            **os.environ,
            "JOBDECK_DATABASE_URL": self.url,
            "JOBDECK_PLUGINS_DIR": str(TEST_PLUGINS),
            "JOBDECK_LEASE_SECONDS": LEASE,
            "JOBDECK_HEARTBEAT_SECONDS": HEARTBEAT,
            "JOBDECK_MAINTENANCE_SECONDS": "0.2",
            "JOBDECK_POLL_SECONDS": "0.1",
            "JOBDECK_TEST_RECORD_DIR": str(self.records),
        }
        self.workers: list[Process] = []
        self._readers: list[asyncio.Task[bytes]] = []

    def settings(self) -> Settings:
        return Settings.from_env(
            database_url=self.url,
            plugins_dir=str(TEST_PLUGINS),
            lease_seconds=float(LEASE),
            heartbeat_seconds=float(HEARTBEAT),
        )

    async def start_worker(self, concurrency: int = 10) -> Process:
        """A ``jobdeck worker`` process, returned once it logged that it runs."""
        process = await asyncio.create_subprocess_exec(
            JOBDECK,
            "worker",
            "--concurrency",
            str(concurrency),
            env=self.env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self.workers.append(process)
        assert process.stderr is not None
        async with asyncio.timeout(30):
            while True:
                line = await process.stderr.readline()
                if not line:
                    raise AssertionError(f"worker exited early ({await process.wait()})")
                if b"jobdeck worker on" in line:
                    break
        # Keep reading stderr so a chatty worker never blocks on a full pipe.
        self._readers.append(asyncio.create_task(process.stderr.read()))
        return process

    def lines(self) -> list[tuple[str, str, int]]:
        found = []
        for path in self.records.glob("*.log"):
            for line in path.read_text().splitlines():
                event, job_id, pid = line.split()
                found.append((event, job_id, int(pid)))
        return found

    def starts(self, job_id: str) -> list[int]:
        return [pid for event, jid, pid in self.lines() if event == "start" and jid == job_id]

    async def stop_all(self) -> list[int]:
        """SIGTERM to every worker still running; their exit codes."""
        for process in self.workers:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(40):
            return [await process.wait() for process in self.workers]

    async def kill_all(self) -> None:
        for process in self.workers:
            if process.returncode is None:
                process.kill()
                await process.wait()
        for reader in self._readers:
            reader.cancel()


@contextlib.asynccontextmanager
async def own_deck(cluster: Cluster) -> AsyncIterator[JobDeck]:
    """The test's own deck on the shared database, with the test handlers registered."""
    own = JobDeck(settings=cluster.settings())
    await own.open()
    await PluginManager(own, TEST_PLUGINS, entry_points=False).load()
    try:
        yield own
    finally:
        await own.close()


async def until(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            value = check()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(0.05)
    raise AssertionError(what)  # pragma: no cover - the timeout raises first


async def finished(deck: JobDeck, job_id: str) -> Any:
    handle = await deck.get_job(job_id)
    return handle if handle is not None and handle.status.terminal else None


async def check_killed_workers_job_reruns(cluster: Cluster, deck: JobDeck) -> None:
    """kill -9 of a worker mid-job: another worker re-runs it after the lease."""
    # Long enough that the second worker is up before the first one could finish; the
    # re-run need not wait again.
    job = await deck.schedule_job("test:record", {"sleep": 5, "rerun_sleep": 0})
    first = await cluster.start_worker()
    await until(lambda: cluster.starts(job.job_id), "the first worker to start the job")
    second = await cluster.start_worker()

    os.kill(first.pid, signal.SIGKILL)
    await first.wait()
    done = await until(lambda: finished(deck, job.job_id), "the job to be re-run", timeout=40)

    assert done.status.value == "completed"
    assert done.attempt == 2
    assert sorted(cluster.starts(job.job_id)) == sorted([first.pid, second.pid])
    assert [pid for event, _, pid in cluster.lines() if event == "end"] == [second.pid]
    assert done.result == {"pid": second.pid}
    history = [event.kind for event in await deck.get_history(job.job_id)]
    assert "rescued" in history
    assert (await cluster.stop_all())[1] == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def healthy(
    http: httpx.AsyncClient, port: int, check_alive: Callable[[], None] = lambda: None
) -> None:
    """Until ``GET /health`` of the server on ``port`` answers 200. ``check_alive`` raises
    if its process exited meanwhile; bound the wait with a timeout of your own."""
    while True:
        check_alive()
        with contextlib.suppress(httpx.HTTPError):
            if (await http.get(f"http://127.0.0.1:{port}/health")).status_code == 200:
                return
        await asyncio.sleep(0.1)


async def cli(env: dict[str, str], *args: str) -> str:
    """``jobdeck *args``, which must succeed; its output."""
    process = await asyncio.create_subprocess_exec(
        JOBDECK, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def terminate(process: Process) -> int:
    """SIGTERM (a clean stop), SIGKILL if it is still running 30 s later; its exit code."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode
