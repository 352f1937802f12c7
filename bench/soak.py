"""Soak: ``jobdeck serve`` + 2 ``jobdeck worker`` + 50 WebSocket clients under mixed load.

A bench script, not a CI test (30 minutes by default)::

    python bench/soak.py [--minutes 30] [--database sqlite|postgres] [--clients 50]

Load, every second: 40 short jobs, 2 tracked ones reporting progress 10 times, 2
failing ones (one retry each), one job cancelled while it runs, 5 REST reads of the
job list and one of a job; every 10 s a WebSocket client leaves and comes back with
``subscribe since``; every 60 s finished jobs are cleaned up, so the tables stay
small. Half of the clients subscribe with ``batch``.

Every 5 s it samples the resident memory (VmRSS) and the open file descriptors of
each process. It reports, per process, the values after warm-up (the first fifth of
the run, at least a minute) and at the end, and the least-squares slope per hour
over the samples after warm-up: flat means no leak.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PLUGINS, database, description, open_deck
from faults import Worker, WsClient, free_port, start_serve, start_worker, stop

from jobdeck.deck import JobDeck
from jobdeck.errors import JobdeckError

SAMPLE_EVERY = 5.0


def sample(pid: int) -> tuple[float, int] | None:
    """(RSS in MiB, open file descriptors) of ``pid``, or None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError):
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024, fds
    return None


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, per hour."""
    if len(points) < 3:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return float(statistics.linear_regression(xs, ys).slope * 3600)


async def load(deck: JobDeck, port: int, token: str, until: float, counts: dict[str, int]) -> None:
    rng = random.Random(11)
    headers = {"Authorization": f"Bearer {token}"}
    base = f"http://127.0.0.1:{port}/api/v1"
    last_cleanup = time.monotonic()
    async with httpx.AsyncClient(headers=headers, timeout=10) as http:
        while time.monotonic() < until:
            tick = time.monotonic()
            try:
                batch: list[dict[str, Any]] = [
                    {"type": "fault:record", "payload": {"sleep": rng.uniform(0.0, 0.05)}}
                    for _ in range(40)
                ]
                batch += [{"type": "bench:steps", "payload": {"steps": 10, "every": 0.1}}] * 2
                batch += [{"type": "bench:fail", "max_retries": 1, "retry_delays": [0.5]}] * 2
                batch.append({"type": "fault:record", "payload": {"sleep": 5.0}})
                handles = await deck.schedule_jobs(batch)
                counts["jobs enqueued"] += len(handles)
                asyncio.get_running_loop().call_later(
                    0.5, lambda h=handles[-1]: asyncio.ensure_future(cancel(deck, h.job_id))
                )
                for _ in range(5):
                    answer = await http.get(f"{base}/jobs", params={"limit": 20})
                    counts[f"HTTP {answer.status_code}"] += 1
                answer = await http.get(f"{base}/jobs/{handles[0].job_id}")
                counts[f"HTTP {answer.status_code}"] += 1
                if tick - last_cleanup > 60:
                    counts["jobs cleaned up"] += await deck.cleanup_old_jobs(days=0)
                    last_cleanup = tick
            except (JobdeckError, httpx.HTTPError) as exc:
                counts[f"load error {type(exc).__name__}"] += 1
            await asyncio.sleep(max(0.0, tick + 1.0 - time.monotonic()))


async def cancel(deck: JobDeck, job_id: str) -> None:
    with contextlib.suppress(JobdeckError):  # it may have finished already
        await deck.cancel_job(job_id)


async def churn(clients: list[WsClient], until: float) -> None:
    """Every 10 s one client leaves; it comes back with ``subscribe since``."""
    index = 0
    while time.monotonic() < until:
        await asyncio.sleep(10)
        clients[index % len(clients)].drop.set()
        index += 1


async def soak(backend: str, minutes: float, clients: int) -> dict[str, Any]:
    seconds = minutes * 60
    warmup = max(60.0, seconds / 5) if seconds >= 180 else seconds / 3
    token = "jdk_soak_" + os.urandom(12).hex()
    port = free_port()
    counts = _Counts(dict.fromkeys(("jobs enqueued", "jobs cleaned up"), 0))
    with database(backend) as url, tempfile.TemporaryDirectory() as scratch:
        records = Path(scratch)
        async with open_deck(url) as deck:
            processes: dict[str, Worker] = {
                "serve": await asyncio.to_thread(
                    start_serve, url, records, port, token, "--no-worker"
                )
            }
            for n in (1, 2):
                processes[f"worker {n}"] = await asyncio.to_thread(start_worker, url, records, 20)
            done = asyncio.Event()
            followers = [WsClient(i) for i in range(clients)]
            tasks = [
                asyncio.create_task(c.run(f"ws://127.0.0.1:{port}/ws", token, done))
                for c in followers
            ]
            async with asyncio.timeout(30):
                await asyncio.gather(*(c.ready.wait() for c in followers))
            started = time.monotonic()
            until = started + seconds
            loaders = [
                asyncio.create_task(load(deck, port, token, until, counts)),
                asyncio.create_task(churn(followers, until)),
            ]
            samples: dict[str, list[tuple[float, float, int]]] = {n: [] for n in processes}
            while time.monotonic() < until:
                now = time.monotonic() - started
                for name, proc in processes.items():
                    found = sample(proc.pid)
                    if found is not None:
                        samples[name].append((now, *found))
                await asyncio.sleep(SAMPLE_EVERY)
            await asyncio.gather(*loaders)
            exited = [n for n, p in processes.items() if p.proc.poll() is not None]
            statuses = {str(s): n for s, n in (await deck.count_by_status()).items() if n}
            done.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            codes = stop(list(processes.values()))
    figures: dict[str, Any] = {
        "backend": backend,
        "minutes": minutes,
        "warm-up seconds": round(warmup),
        "WebSocket clients": clients,
    }
    for name, points in samples.items():
        after = [p for p in points if p[0] >= warmup]
        if not after:
            continue
        rss = slope_per_hour([(t, r) for t, r, _ in after])
        fds = slope_per_hour([(t, float(f)) for t, _, f in after])
        first, last = after[0], after[-1]
        figures[f"{name}: RSS MiB after warm-up → end"] = f"{first[1]:.1f} → {last[1]:.1f}"
        figures[f"{name}: RSS slope MiB/hour"] = round(rss, 1)
        figures[f"{name}: open FDs after warm-up → end (max)"] = (
            f"{first[2]} → {last[2]} ({max(p[2] for p in after)})"
        )
        figures[f"{name}: FD slope per hour"] = round(fds, 1)
    figures["processes that exited"] = exited
    figures["exit codes after SIGTERM"] = codes
    figures["statuses at the end"] = statuses
    figures["load"] = dict(counts)
    figures["WebSocket updates seen (min per client)"] = min(len(c.status) for c in followers)
    figures["WebSocket resumes (all clients)"] = sum(c.resumes for c in followers)
    figures["WebSocket failed connections"] = sum(sum(c.refused.values()) for c in followers)
    figures["WebSocket error messages"] = sum(len(c.errors) for c in followers)
    return figures


class _Counts(dict[str, int]):
    def __missing__(self, key: str) -> int:
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=description(__doc__))
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args()
    os.environ.setdefault("JOBDECK_PLUGINS_DIR", str(PLUGINS))
    figures = asyncio.run(soak(args.database, args.minutes, args.clients))
    for key, value in figures.items():
        print(f"{key:<52} {json.dumps(value) if isinstance(value, dict) else value}")


if __name__ == "__main__":
    main()
