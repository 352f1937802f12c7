"""Several hosts on one PostgreSQL database, as users deploy it (README.md, docs/feed.md):
three separate process groups, each on its own port or none,

- (a) ``jobdeck serve --no-worker``: a WebSocket client watches here,
- (b) another ``jobdeck serve --no-worker``: jobs are enqueued here over HTTP,
- (c) ``jobdeck worker``: runs them,

and the client on (a) sees, live, each job (c) runs go from pending through running
and its progress to completed. Only the database joins them (LISTEN/NOTIFY).

Skipped when no PostgreSQL server is reachable locally; a failure in CI.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cluster import JOBDECK, TEST_PLUGINS, cli, free_port, healthy, terminate
from websockets.asyncio.client import ClientConnection, connect

import pg

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

# Generous for a loaded 2-core machine; the whole test takes ~10 s on a busy one.
STARTUP = 40.0
STEPS, STEP_SECONDS = 5, 0.3  # each progress state lasts longer than a WebSocket round


class Group:
    """One process group (its own process, log file and, for serve, port)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path) -> None:
        self.name, self.args, self.env = name, args, env
        self.log = logs / f"{name}.log"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("wb") as out:  # the child keeps its own descriptor
            self.process = await asyncio.create_subprocess_exec(
                JOBDECK, *self.args, env=self.env, stdout=out, stderr=out
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def check_alive(self) -> None:
        assert self.process is not None
        code = self.process.returncode
        if code is not None:
            raise AssertionError(f"{self.name} exited ({code}):\n{self.output()}")

    async def stop(self) -> int | None:
        return None if self.process is None else await terminate(self.process)


async def worker_up(group: Group) -> None:
    while "jobdeck worker on" not in group.output():
        group.check_alive()
        await asyncio.sleep(0.05)


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with pg.database() as database:
        yield database


@contextlib.asynccontextmanager
async def groups(*members: Group) -> AsyncIterator[None]:
    try:
        await asyncio.gather(*(member.start() for member in members))
        yield
    finally:
        codes = await asyncio.gather(*(member.stop() for member in members))
    # Each stops cleanly on SIGTERM (checked only when the test body passed).
    assert codes == [0] * len(members), {m.name: m.output()[-2000:] for m in members}


async def watch(ws: ClientConnection, seen: dict[str, list[dict[str, Any]]]) -> None:
    """Collect every job_update per job, with the time it arrived."""
    async for raw in ws:
        message = json.loads(raw)
        if message["type"] == "job_update":
            job = message["job"]
            seen.setdefault(job["jobId"], []).append(
                {"seq": message["seq"], "at": time.time(), **job}
            )


async def until_finished(seen: dict[str, list[dict[str, Any]]], job_ids: list[str]) -> None:
    terminal = {"completed", "failed", "cancelled"}
    while not all(seen.get(j) and seen[j][-1]["status"] in terminal for j in job_ids):
        await asyncio.sleep(0.02)


async def test_a_socket_on_one_api_process_sees_jobs_another_enqueues_and_a_worker_runs(
    url: str, tmp_path: Path
) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("JOBDECK_")  # only what this test sets
    } | {
        "JOBDECK_DATABASE_URL": url,
        "JOBDECK_PLUGINS_DIR": str(TEST_PLUGINS),
        "JOBDECK_TEST_RECORD_DIR": str(tmp_path),
    }
    # Real tokens, from the CLI (the first command on the database also creates the schema).
    watcher, writer = await asyncio.gather(
        cli(env, "token", "create", "--name", "watcher", "--scope", "jobs:read"),
        cli(env, "token", "create", "--name", "writer", "--scope", "jobs:write"),
    )
    watcher, writer = watcher.strip().splitlines()[-1], writer.strip().splitlines()[-1]

    port_a, port_b = free_port(), free_port()
    a = Group("a", ["serve", "--no-worker", "--port", str(port_a)], env, tmp_path)
    b = Group("b", ["serve", "--no-worker", "--port", str(port_b)], env, tmp_path)
    c = Group("c", ["worker", "--concurrency", "4"], env, tmp_path)

    async with groups(a, b, c), httpx.AsyncClient(timeout=30) as http:
        async with asyncio.timeout(STARTUP):
            await asyncio.gather(
                healthy(http, port_a, a.check_alive),
                healthy(http, port_b, b.check_alive),
                worker_up(c),
            )

        seen: dict[str, list[dict[str, Any]]] = {}
        headers = {"Authorization": f"Bearer {watcher}"}
        async with connect(f"ws://127.0.0.1:{port_a}/ws", additional_headers=headers) as ws:
            connected = json.loads(await asyncio.wait_for(ws.recv(), 30))
            assert connected["type"] == "connected"
            # Everything after what (a) had read when we connected: nothing is missed.
            await ws.send(json.dumps({"type": "subscribe", "since": connected["seq"]}))
            watching = asyncio.create_task(watch(ws, seen))

            auth = {"Authorization": f"Bearer {writer}"}
            schedule = f"http://127.0.0.1:{port_b}/api/background-jobs/schedule"
            steps = await http.post(
                schedule,
                headers=auth,
                json={"type": "test:steps", "payload": {"steps": STEPS, "sleep": STEP_SECONDS}},
            )
            record = await http.post(schedule, headers=auth, json={"type": "test:record"})
            assert steps.status_code == record.status_code == 201, (steps.text, record.text)
            steps_id, record_id = steps.json()["job"]["id"], record.json()["job"]["id"]
            try:
                async with asyncio.timeout(30):
                    await until_finished(seen, [steps_id, record_id])
            finally:
                watching.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watching
                for group in (a, b, c):
                    group.check_alive()

        updates = seen[steps_id]
        seqs = [u["seq"] for u in updates]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
        # Live: states in between reached the socket before the job finished, in order.
        statuses = [u["status"] for u in updates]
        assert statuses[-1] == "completed", statuses
        assert "running" in statuses, statuses
        progress = [u["progress"] for u in updates]
        assert progress == sorted(progress), progress
        moving = [u for u in updates if u["status"] == "running" and 0 < u["progress"] < 100]
        assert moving, f"no progress seen while running: {statuses} {progress}"
        assert moving[0]["progressMessage"].startswith("step "), moving[0]
        final = updates[-1]
        # Received while the job still ran (one host, one clock).
        assert moving[0]["at"] < datetime.fromisoformat(final["completedAt"]).timestamp()
        assert final["progress"] == 100
        assert final["result"] == {"steps": STEPS}
        assert final["errorMessage"] is None
        assert seen[record_id][-1]["status"] == "completed"
        assert seen[record_id][-1]["result"] == {"pid": c.pid}

        # Run by (c): the claim's history row names its worker, "host:pid:…".
        read = {"Authorization": f"Bearer {watcher}"}
        answer = await http.get(
            f"http://127.0.0.1:{port_a}/api/v1/jobs/{steps_id}/history", headers=read
        )
        assert answer.status_code == 200, answer.text
        history = answer.json()["data"]
        claims = [e["data"]["worker"] for e in history if e["kind"] == "started"]
        assert len(claims) == 1, history
        assert claims[0].split(":")[1] == str(c.pid), (claims, c.pid, a.pid, b.pid)
        messages = [e["message"] for e in history if e["kind"] == "progress"]
        assert messages == [f"step {n}/{STEPS}" for n in range(1, STEPS + 1)], history
