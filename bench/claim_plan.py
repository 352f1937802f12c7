"""The claim statement's generic plan at the start of a drain and after it
(docs/postgres.md, "Plans that stay fast").

    .venv/bin/python bench/claim_plan.py [--jobs 100000] [--batch 50] [--runs 20]
        [--admin-url postgresql://postgres@127.0.0.1/postgres]

On a scratch database it creates and drops: ``--jobs`` queued jobs are inserted
(insert_jobs in chunks) and analyzed, then all but a few thousand are claimed and
completed through the store's verbs as one worker's drain would (claim ``--batch``,
complete_many), with autovacuum off for the jobs and history tables (vacuum has not
caught up), then analyzed again. In each state, and once more after a VACUUM, the claim
statement of queries.sql runs ``--runs`` times under EXPLAIN (ANALYZE, BUFFERS) with
the generic plan the store's sessions use (queries.sql "session"), each run rolled
back. Prints the execution time (min / median / max), the median of the pages the whole
statement touched (buffer hits and reads) and of those it read in the claim index to
pick its rows, and the plan's shape; tests/integration/test_postgres_plans.py checks
the shape. Skipped (exit 0) when no PostgreSQL server answers.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from common import ADMIN_URL, description, postgres_database, require_postgres, span
from psycopg import sql
from psycopg.rows import dict_row

from jobdeck.domain.job import Fence, Mode, NewJob
from jobdeck.store.postgres.queries import Q
from jobdeck.store.postgres.store import PostgresStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)  # run_at in the past: everything is claimable
LEASE = 30.0
LEFT = 3_000  # pending after the drain
CHUNK = 20_000


def prepared_claim() -> tuple[str, list[str]]:
    """queries.sql's claim as a PREPARE body ($n parameters) and its parameter names."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match[1] not in names:
            names.append(match[1])
        return f"${names.index(match[1]) + 1}"

    return re.sub(r"%\((\w+)\)s", number, Q["claim"]), names


def nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    found = [node]
    for child in node.get("Plans", ()):
        found += nodes(child)
    return found


def pages(node: dict[str, Any]) -> int:
    return int(node.get("Shared Hit Blocks", 0)) + int(node.get("Shared Read Blocks", 0))


def statement_pages(root: dict[str, Any]) -> int:
    """The root's pages, and those of the data-modifying CTEs nothing reads (hist,
    pruned), which run after the main plan and are not counted in it."""
    every = nodes(root)
    scanned = {n["CTE Name"] for n in every if n["Node Type"] == "CTE Scan"}
    apart = [
        c
        for c in root.get("Plans", ())
        if c.get("Subplan Name", "").startswith("CTE ")
        and c["Subplan Name"][4:] not in scanned
        and c["Node Type"] == "ModifyTable"
    ]
    return pages(root) + sum(pages(c) for c in apart)


def shape(root: dict[str, Any]) -> str:
    """The scans of the jobs table, in plan order."""
    scans = [
        f"{n['Node Type']} {n.get('Index Name', '')}".strip()
        for n in nodes(root)
        if n.get("Relation Name") == "jobdeck_jobs"
    ]
    hashed = any(n["Node Type"] == "Hash" for n in nodes(root))
    return "; ".join(scans) + ("; HASH" if hashed else "")


def measure(url: str, label: str, batch: int, runs: int) -> None:
    body, names = prepared_claim()
    values = {
        "now": T0,
        "limit": batch,
        "worker": "bench",
        "lease": T0 + timedelta(seconds=LEASE),
        "keep": 499,
    }
    args = sql.SQL(", ").join(sql.Literal(values[n]) for n in names)
    explain = sql.SQL("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE claim_plan({})").format(args)
    times, touched, picking, shapes = [], [], [], set()
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        conn.execute(Q["session"], prepare=False)  # force_generic_plan, as the store's
        conn.execute(sql.SQL("PREPARE claim_plan AS {}").format(sql.SQL(body)))
        for _ in range(runs):
            with conn.transaction(force_rollback=True):
                row = conn.execute(explain).fetchone()
            assert row is not None
            result = row["QUERY PLAN"][0]
            root = result["Plan"]
            times.append(float(result["Execution Time"]))
            touched.append(statement_pages(root))
            claim = [n for n in nodes(root) if n.get("Index Name") == "jobdeck_jobs_claim"]
            picking.append(sum(pages(n) for n in claim))
            shapes.add(shape(root))
        plans = conn.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
            " WHERE name = 'claim_plan'"
        ).fetchone()
        size = conn.execute(
            "SELECT pg_relation_size('jobdeck_jobs') / 8192 AS heap,"
            " pg_relation_size('jobdeck_jobs_claim') / 8192 AS claim,"
            " n_live_tup AS live, n_dead_tup AS dead"
            " FROM pg_stat_user_tables WHERE relname = 'jobdeck_jobs'"
        ).fetchone()
    assert plans is not None and plans["custom_plans"] == 0, plans
    assert size is not None
    print(
        f"{label:<28} claim of {batch}: {span(times, 'ms', 3)};"
        f" pages touched {int(statistics.median(touched))},"
        f" claim index read {int(statistics.median(picking))};"
        f" table {size['heap']} pages ({size['live']} live rows, {size['dead']} dead),"
        f" claim index {size['claim']} pages"
    )
    for plan in sorted(shapes):
        print(f"{'':<28} plan: {plan}")


async def fill(url: str, jobs: int) -> None:
    store = PostgresStore(url, listen=False)
    await store.open()
    try:
        with psycopg.connect(url, autocommit=True) as admin:
            for table in ("jobdeck_jobs", "jobdeck_history"):
                admin.execute(
                    sql.SQL("ALTER TABLE {} SET (autovacuum_enabled = false)").format(
                        sql.Identifier(table)
                    )
                )
        for first in range(0, jobs, CHUNK):
            size = min(CHUNK, jobs - first)
            await store.insert_jobs(
                [NewJob(name="b", type="bench:noop", mode=Mode.QUEUED)] * size, T0
            )
    finally:
        await store.close()


async def drain(url: str, jobs: int, batch: int) -> float:
    """Claim and complete all but LEFT jobs, one batch at a time; the seconds it took."""
    store = PostgresStore(url, listen=False)
    await store.open()
    started = time.perf_counter()
    try:
        done = 0
        while done < jobs - LEFT:
            claimed = await store.claim("drainer", min(batch, jobs - LEFT - done), T0, LEASE)
            assert claimed
            finished = await store.complete_many(
                [(Fence(j.job_id, j.attempt, "drainer"), None) for j in claimed], T0
            )
            assert all(finished)
            done += len(claimed)
    finally:
        await store.close()
    return time.perf_counter() - started


def run_sql(url: str, statement: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement)


async def main() -> None:
    parser = argparse.ArgumentParser(description=description(__doc__))
    parser.add_argument("--jobs", type=int, default=100_000 + LEFT)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--admin-url", default=ADMIN_URL)
    args = parser.parse_args()
    require_postgres(args.admin_url)
    with postgres_database(args.admin_url) as url:
        await fill(url, args.jobs)
        run_sql(url, "ANALYZE")
        measure(url, f"fresh ({args.jobs} pending)", args.batch, args.runs)
        seconds = await drain(url, args.jobs, args.batch)
        print(f"drained {args.jobs - LEFT} jobs in {seconds:.1f} s")
        run_sql(url, "ANALYZE")
        measure(url, f"after {args.jobs - LEFT} completions", args.batch, args.runs)
        run_sql(url, "VACUUM jobdeck_jobs")
        measure(url, "after VACUUM", args.batch, args.runs)


if __name__ == "__main__":
    asyncio.run(main())
