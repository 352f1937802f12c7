"""The API calls the UI's pages make, with 100,000 jobs (docs/ui.md, "Lists at 100,000 jobs").

Usage: ``python bench/ui_api.py [--database sqlite|postgres] [--jobs N] [--runs R]``

Each call goes through the real HTTP API (the ASGI app in this process, no network):
the jobs page's first page, a filtered page, a text search (each with its total), a
deep page, the overview's counts and throughput. Every call is measured ``SAMPLES``
times per run after a warm-up; a line per call gives min / median / p95 / max of the
medians and p95s over the runs. Target: p95 < 100 ms.

Setting the data up: jobs are enqueued in bulk (``schedule_jobs``), then one UPDATE
per backend spreads them over the statuses and finish times a busy deck would hold,
which the public API cannot do quickly (that would be running 100,000 jobs).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime

import httpx
from common import ADMIN_URL, database, description, open_deck, percentile

from jobdeck.api import create_app

SAMPLES = 30
BATCH = 2_000
TARGET_MS = 100.0

CALLS = {
    "jobs: first page": "/api/v1/jobs?limit=25",
    "jobs: status + type filter": "/api/v1/jobs?status=failed&type=bench:noop-3&limit=25",
    "jobs: store filter, sorted by update": "/api/v1/jobs?storeId=store-7&sort=-updatedAt&limit=25",
    "jobs: text search": "/api/v1/jobs?q=shopify&limit=25",
    "jobs: page 100": "/api/v1/jobs?limit=25&offset=2475",
    "overview: counts by status": "/api/v1/stats/counts",
    "overview: throughput, 60 min": "/api/v1/stats/throughput?minutes=60",
}

NAMES = ("Import products from Shopify", "Export orders", "Nightly backup", "Sync stock")

SPREAD_SQLITE = """
UPDATE jobs SET
  status = CASE id % 20 WHEN 0 THEN 'failed' WHEN 1 THEN 'running' WHEN 2 THEN 'cancelled'
           WHEN 3 THEN 'pending' ELSE 'completed' END,
  progress = CASE WHEN id % 20 IN (1, 3) THEN id % 100 ELSE 100 END,
  completed_at = CASE WHEN id % 20 IN (1, 3) THEN NULL ELSE :now - (id % 7200) * 1000000 END,
  error_message = CASE WHEN id % 20 = 0 THEN 'Timeout talking to the API' END,
  updated_at = :now - (id % 7200) * 1000000
"""

# text_indexed: in the trigram index, as each job's claim would have put it (migration
# 0011), without a write of its own; the pending ones (due) wait for their claim.
SPREAD_POSTGRES = """
UPDATE jobdeck_jobs SET
  status = CASE id %% 20 WHEN 0 THEN 'failed' WHEN 1 THEN 'running' WHEN 2 THEN 'cancelled'
           WHEN 3 THEN 'pending' ELSE 'completed' END,
  progress = CASE WHEN id %% 20 IN (1, 3) THEN id %% 100 ELSE 100 END,
  completed_at = CASE WHEN id %% 20 IN (1, 3) THEN NULL
                 ELSE %(now)s - make_interval(secs => id %% 7200) END,
  error_message = CASE WHEN id %% 20 = 0 THEN 'Timeout talking to the API' END,
  updated_at = %(now)s - make_interval(secs => id %% 7200),
  text_indexed = id %% 20 <> 3
"""


def spread(url: str) -> None:
    now = datetime.now(UTC)
    if url.startswith("sqlite:"):
        import sqlite3

        micros = int(now.timestamp() * 1_000_000)
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute(SPREAD_SQLITE, {"now": micros})
            conn.execute("ANALYZE")
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SPREAD_POSTGRES, {"now": now})
        conn.execute("VACUUM ANALYZE jobdeck_jobs")


async def fill(deck: object, total: int) -> None:
    done = 0
    while done < total:
        batch = [
            {
                "type": f"bench:noop-{(done + i) % 5}",
                "payload": {"n": done + i},
                "name": f"{NAMES[(done + i) % 4]} #{done + i}",
                "source": f"plugin-{(done + i) % 10}",
                "store_id": f"store-{(done + i) % 20}",
            }
            for i in range(min(BATCH, total - done))
        ]
        await deck.schedule_jobs(batch)  # type: ignore[attr-defined]
        done += len(batch)


async def measure(client: httpx.AsyncClient, path: str) -> list[float]:
    for _ in range(3):
        (await client.get(path)).raise_for_status()
    times = []
    for _ in range(SAMPLES):
        start = time.perf_counter()
        response = await client.get(path)
        times.append(time.perf_counter() - start)
        response.raise_for_status()
    return times


async def main() -> None:
    parser = argparse.ArgumentParser(description=description(__doc__))
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--admin-url", default=ADMIN_URL)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with database(args.database, args.admin_url) as url:
        async with open_deck(url) as deck:
            for n in range(5):
                deck.register_job_type(f"bench:noop-{n}", deck.registry.get("bench:noop"))
            start = time.perf_counter()
            await fill(deck, args.jobs)
            spread(url)
            # As maintenance passes would: with their `now`, which on PostgreSQL leaves due
            # jobs to their claims (migration 0011).
            while await deck.store.index_text(now=datetime.now(UTC)):
                pass
            print(
                f"{args.database}: {args.jobs:,} jobs set up in "
                f"{time.perf_counter() - start:.1f} s; {args.runs} runs of {SAMPLES} calls",
                flush=True,
            )
            _, secret = await deck.tokens.create_token("bench", ["admin"])
            app = create_app(deck)
            transport = httpx.ASGITransport(app=app)
            headers = {"Authorization": f"Bearer {secret}"}
            results: dict[str, list[tuple[float, float]]] = {name: [] for name in CALLS}
            async with httpx.AsyncClient(
                transport=transport, base_url="http://bench", headers=headers, timeout=30
            ) as client:
                for _ in range(args.runs):
                    for name, path in CALLS.items():
                        ms = [t * 1000 for t in await measure(client, path)]
                        results[name].append((statistics.median(ms), percentile(ms, 0.95)))
            print(f"{'call':<40} {'median ms (min/med/max)':>26} {'p95 ms (min/med/max)':>24}")
            worst = 0.0
            for name, runs in results.items():
                medians = [m for m, _ in runs]
                p95s = [p for _, p in runs]
                worst = max(worst, max(p95s))
                print(
                    f"{name:<40} {min(medians):7.1f} {statistics.median(medians):7.1f} "
                    f"{max(medians):7.1f}   {min(p95s):7.1f} {statistics.median(p95s):7.1f} "
                    f"{max(p95s):7.1f}",
                    flush=True,
                )
            verdict = "met" if worst < TARGET_MS else "MISSED"
            print(f"worst p95 {worst:.1f} ms: target p95 < {TARGET_MS:.0f} ms {verdict}")


if __name__ == "__main__":
    asyncio.run(main())
