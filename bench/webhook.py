"""Webhook throughput: ``webhook`` jobs/s through 2 ``jobdeck worker`` processes against a
local HTTP receiver, as a ratio to a plain httpx loop sending the same requests at the
same concurrency, in the same run (docs/builtin-types.md).

The receiver runs in its own process (uvicorn, answering 200 at once) on loopback;
the workers reach it through the egress guard with ``JOBDECK_EGRESS_ALLOW=127.0.0.1/32``.
Each run measures the plain loop, the workers, the plain loop again (its figure is the
mean of both); min / median / max over the runs.

Usage: ``python bench/webhook.py [--database sqlite|postgres] [--jobs N] [--runs R]
[--concurrency C]`` (C per worker; the plain loop uses 2 x C at once).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
from common import ADMIN_URL, database, description, open_deck, wait_until_completed, workers

WORKERS = 2
HEAD_START = 2.0  # seconds: every job becomes due at once, after the inserts
RECEIVER = """
import sys, uvicorn

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            access_log=False)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def receiver() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)])
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("the receiver did not start")
        yield f"http://127.0.0.1:{port}/webhook"
    finally:
        proc.terminate()
        proc.wait(10)


def config(url: str) -> dict[str, object]:
    return {
        "url": url,
        "method": "POST",
        "headers": {"Content-Type": "application/json"},
        "body": {"event": "daily_sync", "timestamp": "{{current_time}}"},
    }


async def plain_loop(url: str, total: int, concurrency: int) -> float:
    """Requests/s of one httpx client sending ``total`` requests, ``concurrency`` at once."""
    body = {"event": "daily_sync", "timestamp": datetime.now(UTC).isoformat()}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(total):
        queue.put_nowait(n)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def send() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                headers = {"Idempotency-Key": str(n), "X-Jobdeck-Attempt": "1"}
                response = await client.post(url, json=body, headers=headers)
                response.raise_for_status()

        start = time.perf_counter()
        await asyncio.gather(*(send() for _ in range(concurrency)))
        return total / (time.perf_counter() - start)


async def through_workers(
    url: str, backend: str, admin_url: str, total: int, concurrency: int
) -> float:
    with database(backend, admin_url) as db, workers(db, WORKERS, concurrency):
        async with open_deck(db) as deck:
            due = time.perf_counter() + HEAD_START
            run_at = datetime.now(UTC) + timedelta(seconds=HEAD_START)
            spec = {"type": "webhook", "payload": config(url), "run_at": run_at, "max_retries": 0}
            jobs = await deck.schedule_jobs([spec] * total)
            lead = due - time.perf_counter()
            if lead < 0:
                raise RuntimeError("inserting took longer than the head start")
            await asyncio.sleep(lead)
            seconds = await wait_until_completed(deck, total, 300, jobs[-1].job_id)
            failed = await deck.count_jobs(status="failed")
            if failed:
                raise RuntimeError(f"{failed} webhook jobs failed")
            return total / seconds


def spread(values: list[float]) -> str:
    return (
        f"min {min(values):,.2f}  median {statistics.median(values):,.2f}  max {max(values):,.2f}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=description(__doc__))
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--admin-url", default=ADMIN_URL)
    parser.add_argument("--jobs", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=10, help="per worker")
    args = parser.parse_args()
    # The workers inherit it (bench/common.worker_env copies the environment).
    os.environ["JOBDECK_EGRESS_ALLOW"] = "127.0.0.1/32"
    plain: list[float] = []
    deck: list[float] = []
    with receiver() as url:
        await plain_loop(url, 200, 4)  # warm the receiver up
        for run in range(1, args.runs + 1):
            # The plain loop runs before and after the workers, and counts as the mean
            # of both: the machine's load drifts within a run (shared cores).
            before = await plain_loop(url, args.jobs, WORKERS * args.concurrency)
            deck.append(
                await through_workers(
                    url, args.database, args.admin_url, args.jobs, args.concurrency
                )
            )
            after = await plain_loop(url, args.jobs, WORKERS * args.concurrency)
            plain.append((before + after) / 2)
            print(
                f"run {run}: plain httpx {plain[-1]:,.0f} req/s, "
                f"jobdeck {deck[-1]:,.0f} jobs/s, ratio {deck[-1] / plain[-1]:.3f}",
                flush=True,
            )
    ratios = [d / p for d, p in zip(deck, plain, strict=True)]
    print(
        f"\nwebhook, {WORKERS} workers x {args.concurrency}, {args.jobs} jobs/run, {args.database}"
    )
    print(f"  plain httpx loop ({WORKERS * args.concurrency} at once), req/s: {spread(plain)}")
    print(f"  jobdeck webhook jobs/s:                      {spread(deck)}")
    print(f"  ratio jobdeck / plain:                       {spread(ratios)}")


if __name__ == "__main__":
    asyncio.run(main())
