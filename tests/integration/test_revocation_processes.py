"""A token revoked from the CLI while another process writes jobs: its WebSocket on a
`jobdeck serve` process gets nothing written after the revocation and is closed with
1008 (docs/feed.md, "Revocations"). On SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from cluster import JOBDECK, cli, free_port, healthy, terminate
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

import pg
from jobdeck.deck import JobDeck
from jobdeck.domain.feed import Revocation

WRITER = """
import asyncio, sys
from jobdeck.deck import JobDeck

async def main():
    async with JobDeck(sys.argv[1]) as deck:
        n = 0
        while True:
            job = await deck.create_job(name=f"job {n}", type="t")
            await job.start()
            for p in (25, 50, 75):
                await job.update_progress(p)
            await job.complete({"n": n})
            n += 1

asyncio.run(main())
"""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'jobdeck.db'}"
        return
    async with pg.database() as database:
        yield database


@contextlib.asynccontextmanager
async def running(*args: str, env: dict[str, str]) -> AsyncIterator[asyncio.subprocess.Process]:
    process = await asyncio.create_subprocess_exec(
        *args, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        yield process
    finally:
        await terminate(process)


async def revocation_seq(url: str, name: str) -> int:
    async with JobDeck(url) as deck:
        seq = 0
        while page := await deck.changes_since(seq, 1000):
            for change in page:
                if isinstance(change.record, Revocation) and change.record.name == name:
                    return change.seq
            seq = page[-1].seq
    raise AssertionError(f"no revocation of {name} in the feed")


async def test_cli_revocation_closes_the_socket_before_any_later_update(
    url: str, tmp_path: Path
) -> None:
    env = {**os.environ, "JOBDECK_DATABASE_URL": url, "JOBDECK_PLUGINS_DIR": str(tmp_path)}
    await cli(env, "migrate")
    secret = await cli(env, "token", "create", "--name", "watcher", "--scope", "jobs:read")
    secret = secret.strip().splitlines()[-1]
    port = free_port()
    serve = (JOBDECK, "serve", "--no-worker", "--no-scheduler", "--port", str(port))
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    async with running(*serve, env=env), running(sys.executable, str(script), url, env=env):
        async with httpx.AsyncClient() as http, asyncio.timeout(30):
            await healthy(http, port)
        seqs: list[int] = []
        headers = {"Authorization": f"Bearer {secret}"}
        async with connect(f"ws://127.0.0.1:{port}/ws", additional_headers=headers) as ws:
            assert json.loads(await ws.recv())["type"] == "connected"
            await ws.send(json.dumps({"type": "subscribe", "since": 0}))

            async def receive() -> int:
                try:
                    async for raw in ws:
                        message = json.loads(raw)
                        if message["type"] == "job_update":
                            seqs.append(message["seq"])
                except ConnectionClosed:
                    pass
                assert ws.close_code is not None
                return ws.close_code

            receiving = asyncio.create_task(receive())
            async with asyncio.timeout(30):
                while len(seqs) < 50:  # the writer's updates stream in
                    await asyncio.sleep(0.05)
            await cli(env, "token", "revoke", "watcher")
            code = await asyncio.wait_for(receiving, 10)
        revoked = await revocation_seq(url, "watcher")
        async with JobDeck(url) as deck:
            assert await deck.last_seq() > revoked, "the writer wrote after the revocation"
    assert code == 1008
    assert seqs and max(seqs) < revoked, (max(seqs), revoked)
