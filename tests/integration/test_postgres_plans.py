"""The PostgreSQL store's hot statements keep index plans through a long drain
(docs/postgres.md, "Plans that stay fast").

Every pooled connection runs with ``plan_cache_mode = force_generic_plan`` (queries.sql,
"session"): a statement is planned once, without its parameters' values. Once the jobs
table has statistics, such a plan may hash or scan the whole table on every call: the
claim did, at the start of a drain (17 ms at 20,000 jobs). Two states of one database:

* the start of a drain: 100,000 jobs pending, a few running, statistics taken;
* after 100,000 completions, before vacuum has run: each completed job left the two
  dead row versions of its claim and its completion (and their index entries), a few
  thousand jobs are still pending, some running, statistics are up to date.

In each, every hot statement runs once on a connection configured as the store's, in a
transaction rolled back afterwards; auto_explain reports the plan it ran with, and the
server's counters the pages of the jobs and history tables and indexes it touched. So
do the job list and count with a text search, which the store plans for their values
(custom plans: PostgresStore._search).
Plan shapes and page counts, not timings (bench/claim_plan.py prints the claim's).
Skipped when no PostgreSQL server is reachable locally; a failure in CI.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
import pytest_asyncio
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb

import pg
from jobdeck.domain.job import TERMINAL, Fence, JobFilter, Mode, NewJob, Priority
from jobdeck.store.postgres.database import FEED_LATE_SECONDS, Database
from jobdeck.store.postgres.listener import connection_defaults
from jobdeck.store.postgres.listing import TEXT_PASS, TEXT_SETTLE
from jobdeck.store.postgres.queries import Q
from jobdeck.store.postgres.store import (
    PostgresStore,
    _completions,
    _fence,
    _fences,
    _filter,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LEASE = timedelta(seconds=30)
COMPLETED = 100_000
BY_VERBS = 3_000  # the drain's last completions go through claim and complete_many
PENDING = 3_000
WORKERS = ("w1", "w2", "w3", "w4")  # each holds BATCH running jobs
BATCH = 50
INSERT_CHUNK = 20_000
# What PostgresStore(url) passes as keep: its default history_limit - 1 (Database._keep).
KEEP = inspect.signature(Database).parameters["history_limit"].default - 1
TABLES = frozenset({"jobdeck_jobs", "jobdeck_history"})
SCANS = frozenset({"Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan"})
BITMAPS = frozenset({"Bitmap Index Scan", "BitmapAnd", "BitmapOr"})

# What the bulk of the drain does to each job, one statement per transition: the
# claim's UPDATE, then the completion's, each reserving its event's history id instead
# of storing a row (queries.sql, derived_events). A seq per row, as a drain of small
# batches leaves them (no follower runs during the set-up).
CLAIMABLE = "status = 'pending' AND mode = 'queued' ORDER BY priority DESC, run_at, id"
BULK_CLAIM = f"""
WITH picked AS (SELECT id FROM jobdeck_jobs WHERE {CLAIMABLE} LIMIT %(n)s)
UPDATE jobdeck_jobs j
SET status = 'running', attempt = j.attempt + 1, locked_by = 'bulk',
    lease_expires_at = %(lease)s, started_at = %(now)s, progress_at = %(now)s,
    updated_at = %(now)s, seq = nextval('jobdeck_seq'),
    history_count = j.history_count + 1, text_indexed = true,
    started_event = nextval('jobdeck_history_id_seq'), started_by = 'bulk'
WHERE j.id IN (SELECT id FROM picked)
"""
BULK_COMPLETE = """
UPDATE jobdeck_jobs j
SET status = 'completed', progress = 100, eta_seconds = 0, completed_at = %(now)s,
    updated_at = %(now)s, locked_by = NULL, lease_expires_at = NULL,
    seq = nextval('jobdeck_seq'), history_count = j.history_count + 1,
    completed_event = nextval('jobdeck_history_id_seq')
WHERE j.status = 'running' AND j.locked_by = 'bulk'
"""


@dataclass(frozen=True)
class Context:
    """What the statements under test are given in a state of the database."""

    running: list[Fence]  # WORKERS[0]'s jobs
    tracked_pending: str
    follower_seq: int  # a follower in step with the writers has read up to here


@dataclass(frozen=True)
class State:
    """The plans of the hot statements in one state of the database, and its sizes."""

    name: str
    pages: dict[str, int]  # of jobdeck_jobs and of each of its indexes
    plans: dict[str, Plan]


# --- plans -----------------------------------------------------------------------

Node = dict[str, Any]
AdminConn = psycopg.AsyncConnection[DictRow]


class Plan:
    """One statement's plan as auto_explain reported it (FORMAT JSON), the rows the
    statement returned, and the pages of the jobs and history tables and of their
    indexes it touched (buffer hits and reads: to find its rows and to write them)."""

    def __init__(
        self,
        name: str,
        explained: dict[str, Any],
        rows: int,
        touched: int,
        prepared: list[DictRow],
    ) -> None:
        self.name = name
        self.root: Node = explained["Plan"]
        self.rows = rows
        self.touched = touched
        self.prepared = prepared  # pg_prepared_statements while it ran

    def nodes(self, node: Node | None = None) -> Iterator[Node]:
        node = self.root if node is None else node
        yield node
        for child in node.get("Plans", ()):
            yield from self.nodes(child)

    def scans(self, node: Node | None = None) -> list[Node]:
        """The scans of the jobs and history tables."""
        return [n for n in self.nodes(node) if n["Node Type"] in SCANS and _table(n) in TABLES]

    def hashed_tables(self) -> set[str]:
        """Tables read into a hash: a Hash node over a scan of them."""
        return {
            str(_table(n))
            for hashed in self.nodes()
            if hashed["Node Type"] == "Hash"
            for n in self.scans(hashed)
        }

    def indexes_of_updates(self) -> set[str]:
        """The indexes through which the UPDATEs of the jobs table find their rows."""
        found: set[str] = set()
        for node in self.nodes():
            if node["Node Type"] == "ModifyTable" and _table(node) == "jobdeck_jobs":
                outer = [c for c in node.get("Plans", ()) if c["Parent Relationship"] != "InitPlan"]
                for child in outer:
                    for scan in self.scans(child):
                        if _table(scan) != "jobdeck_jobs":
                            continue
                        if "Index Name" in scan:
                            found.add(scan["Index Name"])
                        found |= {n["Index Name"] for n in _bitmap_nodes(scan) if "Index Name" in n}
                        if scan["Node Type"] == "Seq Scan":
                            found.add("(whole table)")
        return found

    def describe(self) -> str:
        lines = [f"{self.name} ({self.rows} rows, {self.touched} pages touched):"]

        def walk(node: Node, depth: int) -> None:
            where = node.get("Index Name") or node.get("Relation Name") or ""
            lines.append(
                f"{'  ' * depth}{node['Node Type']} {where} rows={node.get('Actual Rows')}"
                f" loops={node.get('Actual Loops')} buffers={_buffers(node)}"
            )
            for child in node.get("Plans", ()):
                walk(child, depth + 1)

        walk(self.root, 0)
        return "\n".join(lines)


def _table(node: Node) -> str | None:
    name = node.get("Relation Name")
    return None if name is None else str(name)


def _buffers(node: Node) -> int:
    return int(node.get("Shared Hit Blocks", 0)) + int(node.get("Shared Read Blocks", 0))


def _bitmap_nodes(scan: Node) -> list[Node]:
    """A bitmap heap scan's index scans (and the ANDs and ORs of them)."""
    found = []
    todo = [c for c in scan.get("Plans", ()) if c["Node Type"] in BITMAPS]
    while todo:
        node = todo.pop()
        found.append(node)
        todo += [c for c in node.get("Plans", ()) if c["Node Type"] in BITMAPS]
    return found


async def _store_connection(url: str) -> psycopg.AsyncConnection[DictRow]:
    """A connection as the store's pool makes them (Database.__init__ and _configure)."""
    conn = await psycopg.AsyncConnection.connect(
        url,
        **connection_defaults(url),
        autocommit=True,
        row_factory=dict_row,
        prepare_threshold=0,
    )
    await conn.execute(Q["session"], prepare=False)
    return conn


PREPARED = "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
# The buffer hits and reads of the jobs and history tables and of their indexes, so far.
# A backend reports its counts when idle, at most once a second unless told to.
FLUSH = "SELECT pg_stat_force_next_flush()"
TOUCHED = """
SELECT sum(coalesce(heap_blks_hit, 0) + coalesce(heap_blks_read, 0)
           + coalesce(idx_blks_hit, 0) + coalesce(idx_blks_read, 0)) AS n
FROM pg_statio_user_tables WHERE relname IN ('jobdeck_jobs', 'jobdeck_history')
"""


async def _touched(conn: psycopg.AsyncConnection[DictRow]) -> int:
    await conn.execute(FLUSH, prepare=False)
    cur = await conn.execute(TOUCHED, prepare=False)
    row = await cur.fetchone()
    assert row is not None
    return int(row["n"])


async def explain(url: str, name: str, params: dict[str, Any]) -> Plan:
    """Run statement ``name`` as the store runs it; return the plan it ran with. Its
    changes are rolled back: the database stays in the state under test."""
    conn = await _store_connection(url)
    try:
        reported: list[str] = []
        conn.add_notice_handler(lambda d: reported.append(d.message_primary or ""))
        try:
            await conn.execute(
                "LOAD 'auto_explain'; SET auto_explain.log_analyze = on;"
                " SET auto_explain.log_buffers = on; SET auto_explain.log_timing = off;"
                " SET auto_explain.log_format = json; SET auto_explain.log_level = notice",
                prepare=False,
            )
        except psycopg.errors.InsufficientPrivilege as exc:
            reason = f"auto_explain needs a superuser on the test server: {exc}"
            if os.environ.get("CI") == "true":
                pytest.fail(reason)
            pytest.skip(reason)
        if name in ("changes_since", "last_seq"):
            # As Database._after_horizon runs them: first the horizon, which it leaves
            # in the session.
            late = {"late": timedelta(seconds=FEED_LATE_SECONDS)}
            await conn.execute(Q["feed_horizon"], late)
        before = await _touched(conn)
        await conn.execute("SET auto_explain.log_min_duration = 0", prepare=False)
        async with conn.transaction(force_rollback=True):
            if name in SEARCHES:
                # As Database._search runs them: planned for these values, unprepared.
                await conn.execute(Q["custom_plans"], prepare=False)
                cur = await conn.execute(Q[name], params, prepare=False)
            else:
                cur = await conn.execute(Q[name], params)
            rows = len(await cur.fetchall())
            # Before the rollback, after which psycopg deallocates its statements.
            cur = await conn.execute(PREPARED, prepare=False)
            prepared = await cur.fetchall()
        touched = await _touched(conn) - before
    finally:
        await conn.close()
    # A plan is reported when its statement's portal closes: by the rollback at the latest.
    plans = [json.loads(m[m.index("{") :]) for m in reported if "plan:" in m]
    plans = [p for p in plans if p["Query Text"] not in (PREPARED, FLUSH, TOUCHED)]
    assert len(plans) == 1, f"{name}: expected one plan, auto_explain reported {reported}"
    return Plan(name, plans[0], rows, touched, prepared)


def check_index_plan(plan: Plan) -> None:
    """A generic plan, as on every pooled connection, that reads neither the jobs nor the
    history table whole."""
    assert plan.prepared, f"{plan.name} was not prepared"
    for statement in plan.prepared:
        assert statement["custom_plans"] == 0 and statement["generic_plans"] > 0, statement
    whole = {_table(n) for n in plan.scans() if n["Node Type"] == "Seq Scan"}
    assert not whole, f"sequential scan of {whole}\n{plan.describe()}"
    assert not plan.hashed_tables(), f"hashes {plan.hashed_tables()}\n{plan.describe()}"


# Pages a statement may touch for each row it returns (index descents, heap pages, and
# for a write the new version, its index entries and its history row), and on top.
PER_ROW = 40
SLACK = 100


def check_pages(plan: Plan, walked: int = 0, rows: int | None = None) -> None:
    """The pages touched grow with the rows returned, not with the table. ``walked``: the
    pages of an index the statement steps along, dead entries included, until vacuum;
    ``rows``: the rows it reads, when it returns fewer (a count)."""
    bound = walked + PER_ROW * (plan.rows if rows is None else rows) + SLACK
    assert plan.touched <= bound, f"{plan.touched} > {bound}\n{plan.describe()}"


# --- the statements ----------------------------------------------------------------


def params_of(name: str, d: Context) -> dict[str, Any]:
    """What PostgresStore passes statement ``name`` (store.py), in the state ``d``."""
    one = d.running[0]
    verb = {"now": T0, "keep": KEEP}
    running = ["cancelling", "running"]
    batch = sorted(d.running, key=lambda f: f.job_id)  # store._lock_order
    completions = _completions([(f, None) for f in batch])
    cases: dict[str, dict[str, Any]] = {
        "claim": verb | {"worker": "x", "limit": BATCH, "lease": T0 + LEASE},
        "complete_many": verb | completions,
        "complete_and_claim": verb
        | completions
        | {"worker": "x", "limit": BATCH, "lease": T0 + LEASE},
        "complete": verb
        | _fence(one)
        | {"job_id": one.job_id, "allowed": running, "result": Jsonb({"ok": True})},
        "fail": verb | _fence(one) | {"job_id": one.job_id, "allowed": running, "error": "x"},
        "update_progress": verb
        | _fence(one)
        | {
            "job_id": one.job_id,
            "allowed": ["running"],
            "progress": 50.0,
            "metadata": None,
            "message": "half",
        },
        "retry_later": verb
        | _fence(one)
        | {
            "job_id": one.job_id,
            "allowed": running,
            "error": "x",
            "run_at": T0 + timedelta(seconds=5),
            "data": Jsonb({"attempt": one.attempt}),
        },
        "mark_cancelled": verb | _fence(one) | {"job_id": one.job_id, "allowed": ["cancelling"]},
        "release": verb | _fences(batch) | {"allowed": running},
        "heartbeat": {
            "worker": one.worker_id,
            "lease": T0 + LEASE,
            "job_ids": [f.job_id for f in batch],
            "attempts": [f.attempt for f in batch],
        },
        "start": verb | {"job_id": d.tracked_pending, "allowed": ["pending"]},
        # The maintenance loop's usual pass: no lease has run out, no tracked job is late.
        "rescue_expired": {"now": T0 + LEASE / 2, "keep": KEEP},
        "fail_timed_out_tracked": {"now": T0 + LEASE / 2, "keep": KEEP},
        "changes_since": {"seq": d.follower_seq, "limit": 1000},
        "last_seq": {},
        # The maintenance loop's usual pass: nothing finished long enough ago.
        "cleanup": {"before": T0, "statuses": [s.value for s in sorted(TERMINAL)]},
        "next_run_at": {"priorities": [p.value for p in Priority]},
        # The maintenance loop's pass from the first row, an hour after the inserts: the
        # oldest rows not in the trigram index are the due backlog, or were claimed.
        "index_text": {
            "after": 0,
            "limit": TEXT_PASS,
            "before": T0 + timedelta(hours=1) - TEXT_SETTLE,
            "due_by": T0 + timedelta(hours=1) + TEXT_SETTLE,
        },
        # A running job's history, as the API reads it: whole, and a follower's page.
        "get_history": {"job_id": one.job_id, "limit": 500, "history_limit": KEEP + 1},
        "history_after": {
            "job_id": one.job_id,
            "after": 0,
            "limit": 500,
            "history_limit": KEEP + 1,
        },
        "list_jobs": SEARCH | {"limit": 50, "offset": 0},
        "count_jobs": SEARCH,
        "count_by_status": SEARCH,
    }
    return cases[name]


# The claim reads the claim index in claim order: past the entries of every job claimed
# since the last vacuum (marked dead by the claims before it, still on their pages).
CLAIM_WALK = "jobdeck_jobs_claim"
# rescue_expired reads the running jobs of jobdeck_jobs_status: the entry of every
# claim's version since the last vacuum is there too.
RESCUE_WALK = "jobdeck_jobs_status"

HOT = [
    "complete_many",
    "complete_and_claim",
    "complete",
    "fail",
    "update_progress",
    "retry_later",
    "mark_cancelled",
    "release",
    "heartbeat",
    "start",
    "rescue_expired",
    "fail_timed_out_tracked",
    "changes_since",
    "last_seq",
    "cleanup",
    "next_run_at",
    "get_history",
    "history_after",
]
# The text search of the job list (PostgresStore._filter), planned for its values.
SEARCHES = ["list_jobs", "count_jobs", "count_by_status"]
TRACKED = 20  # jobs named "tracked", the only ones the search finds
SEARCH = _filter(JobFilter(text="tracked"))


# --- the drain ------------------------------------------------------------------


async def _capture(url: str, name: str, admin: AdminConn, context: Context) -> State:
    cur = await admin.execute(
        "SELECT c.relname AS name,"
        " pg_relation_size(c.oid) / current_setting('block_size')::int AS pages"
        " FROM pg_class c WHERE c.oid = 'jobdeck_jobs'::regclass"
        " OR c.oid IN (SELECT indexrelid FROM pg_index"
        "              WHERE indrelid = 'jobdeck_jobs'::regclass)"
    )
    pages = {r["name"]: int(r["pages"]) for r in await cur.fetchall()}
    names = ["claim", *HOT, *SEARCHES, "index_text"]
    plans = {s: await explain(url, s, params_of(s, context)) for s in names}
    return State(name, pages, plans)


async def _context(admin: AdminConn, running: list[Fence], tracked_pending: str) -> Context:
    # The seq below the newest hundred rows.
    cur = await admin.execute("SELECT seq FROM jobdeck_jobs ORDER BY seq DESC OFFSET 100 LIMIT 1")
    row = await cur.fetchone()
    assert row is not None
    return Context(running, tracked_pending, int(row["seq"]))


async def _past_older_transactions(admin: AdminConn, timeout: float = 60.0) -> None:
    """Wait until no transaction that began before this call is still running."""
    cur = await admin.execute("SELECT pg_current_xact_id()::text::bigint AS xid")
    row = await cur.fetchone()
    assert row is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cur = await admin.execute(
            "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint > %s AS past",
            [row["xid"]],
        )
        past = await cur.fetchone()
        if past is not None and past["past"]:
            return
        await asyncio.sleep(0.1)


async def _counts(admin: AdminConn) -> dict[str, int]:
    cur = await admin.execute(
        "SELECT status, count(*) AS n FROM jobdeck_jobs WHERE mode = 'queued' GROUP BY 1"
    )
    return {r["status"]: r["n"] for r in await cur.fetchall()}


async def _drain(url: str) -> dict[str, State]:
    """Both states of one database, the start of the drain and its end."""
    admin = await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row)
    store = PostgresStore(url, listen=False)
    await store.open()
    states = {}
    try:
        # Dead versions stay (the worst case: vacuum has not caught up), and plans do not
        # change under the test's feet on a server that runs autovacuum.
        for table in sorted(TABLES):
            await admin.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        total = COMPLETED + PENDING + len(WORKERS) * BATCH
        for first in range(0, total, INSERT_CHUNK):
            size = min(INSERT_CHUNK, total - first)
            await store.insert_jobs(
                [NewJob(name="drain", type="test:noop", mode=Mode.QUEUED)] * size, T0
            )
        # Handlers that log: a stored row per job, as a store in use has (every other
        # event of a drained job is derived: queries.sql, derived_events). An empty
        # history table would be planned as one, read whole.
        await admin.execute(
            "INSERT INTO jobdeck_history (job_pk, kind, message, created_at)"
            " SELECT id, 'log', 'a line', created_at FROM jobdeck_jobs ORDER BY id"
        )
        # The backlog is due: maintenance leaves it to its claims (migration 0011), so
        # it is not in the trigram index yet; of the tracked jobs, the 10 started are.
        tracked = await store.insert_jobs(
            [NewJob(name="tracked", type="test:tracked", mode=Mode.TRACKED)] * TRACKED, T0
        )
        for job in tracked[:10]:
            await store.start(job.job_id, T0)
        held: list[Fence] = []
        for worker in WORKERS:
            claimed = await store.claim(worker, BATCH, T0, LEASE.total_seconds())
            held += [Fence(j.job_id, j.attempt, worker) for j in claimed]
        running = [f for f in held if f.worker_id == WORKERS[0]]
        # Autoanalyze runs early in a drain (2% of the rows changed: migration 0001).
        await admin.execute("ANALYZE")
        context = await _context(admin, running, tracked[10].job_id)
        states["start"] = await _capture(url, "start", admin, context)

        bulk = {"n": COMPLETED - BY_VERBS, "now": T0, "lease": T0 + LEASE}
        await admin.execute(BULK_CLAIM, bulk)
        await admin.execute(BULK_COMPLETE, bulk)
        done = 0
        while done < BY_VERBS:
            claimed = await store.claim("drainer", 100, T0, LEASE.total_seconds())
            assert claimed, "the drain ran out of jobs"
            finished = await store.complete_many(
                [(Fence(j.job_id, j.attempt, "drainer"), None) for j in claimed], T0
            )
            assert all(finished)
            done += len(claimed)
        # Each claim steps over the index entries the claims before it left and marks
        # those no transaction can see any more, so later claims skip them (the
        # maintenance loop's rescues do the same in the status index): in a drain, all
        # but the last few are marked. That is the state under test, reached by one more
        # claim and rescue once every transaction older than the drain has ended (any
        # transaction on the server delays the marking; other tests drop databases).
        await _past_older_transactions(admin)
        await store.rescue_expired(T0 + LEASE / 2)
        # The maintenance loop's text pass does the same in the index of rows not in the
        # trigram index yet, whose entries every claim leaves dead (migration 0011): its
        # first probe steps over them. It indexes nothing here (all due or young).
        assert await store.index_text(now=T0) == 0
        await admin.execute(f"SELECT id FROM jobdeck_jobs WHERE {CLAIMABLE} LIMIT 1")
        await admin.execute("ANALYZE")
        assert await _counts(admin) == {
            "completed": COMPLETED,
            "pending": PENDING,
            "running": len(WORKERS) * BATCH,
        }
        context = await _context(admin, running, tracked[10].job_id)
        states["drained"] = await _capture(url, "drained", admin, context)
        return states
    finally:
        await store.close()
        await admin.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def states() -> AsyncIterator[dict[str, State]]:
    async with pg.database() as url:
        yield await _drain(url)


# --- the tests ------------------------------------------------------------------

STATES = ["start", "drained"]


@pytest.mark.parametrize("state", STATES)
def test_claim_picks_from_the_claim_index_and_updates_by_primary_key(
    states: dict[str, State], state: str
) -> None:
    pages, plan = states[state].pages, states[state].plans["claim"]
    assert plan.rows == BATCH
    check_index_plan(plan)
    picked = [n for n in plan.scans() if n.get("Index Name") == CLAIM_WALK]
    assert len(picked) == 1 and picked[0]["Node Type"] == "Index Scan", plan.describe()
    assert picked[0]["Actual Rows"] == BATCH, plan.describe()
    assert plan.indexes_of_updates() == {"jobdeck_jobs_pkey"}, plan.describe()
    # Picking reads the claim index (and the picked rows), far from the whole table.
    picking = _buffers(picked[0])
    assert picking <= pages[CLAIM_WALK] + 2 * BATCH, plan.describe()
    assert picking * 10 < pages["jobdeck_jobs"], plan.describe()
    check_pages(plan, walked=pages[CLAIM_WALK])


@pytest.mark.parametrize("state", STATES)
def test_rescue_updates_by_primary_key(states: dict[str, State], state: str) -> None:
    """Not also through the status index: that reads every running version's entry,
    live or dead, on each pass of the maintenance loop, even when nothing expired."""
    pages, plan = states[state].pages, states[state].plans["rescue_expired"]
    check_index_plan(plan)
    assert plan.indexes_of_updates() <= {"jobdeck_jobs_pkey"}, plan.describe()
    check_pages(plan, walked=pages[RESCUE_WALK])


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("name", HOT)
def test_hot_statement_reads_by_index(states: dict[str, State], state: str, name: str) -> None:
    pages, plan = states[state].pages, states[state].plans[name]
    check_index_plan(plan)
    walks = {
        "rescue_expired": RESCUE_WALK,
        "next_run_at": CLAIM_WALK,
        "complete_and_claim": CLAIM_WALK,
    }
    # complete_and_claim answers its completions in one row: it writes BATCH of them.
    written = plan.rows + BATCH - 1 if name == "complete_and_claim" else None
    check_pages(plan, walked=pages[walks[name]] if name in walks else 0, rows=written)


# At the start, the whole table is a due backlog not in the trigram index yet: a search
# reads it (docs/postgres.md, "The trigram index after the insert").
@pytest.mark.parametrize("state", ["drained"])
@pytest.mark.parametrize("name", SEARCHES)
def test_text_search_reads_jobs_by_candidates_from_the_text_index(
    states: dict[str, State], state: str, name: str
) -> None:
    """The candidates come from the jobs table's trigram index (jobdeck_jobs_text,
    migrations 0004 and 0011) and from the index of the rows not in it yet (the pending
    jobs left and half the tracked ones): the job filter repeats their expressions and
    predicates word for word (queries.sql, job_filter). Never a whole-table read."""
    plan = states[state].plans[name]
    assert plan.rows == {"list_jobs": TRACKED, "count_jobs": 1, "count_by_status": 2}[name]
    assert not plan.prepared, f"{name} was prepared: the store plans it for its values"
    whole = {_table(n) for n in plan.scans() if n["Node Type"] == "Seq Scan"}
    assert not whole, f"sequential scan of {whole}\n{plan.describe()}"
    assert not plan.hashed_tables(), f"hashes {plan.hashed_tables()}\n{plan.describe()}"
    indexes = {n.get("Index Name") for n in plan.nodes()}
    assert {"jobdeck_jobs_text", "jobdeck_jobs_unindexed"} <= indexes, plan.describe()
    check_pages(plan, rows=TRACKED)


@pytest.mark.parametrize("state", STATES)
def test_index_text_reads_a_batch_of_the_rows_not_in_the_trigram_index(
    states: dict[str, State], state: str
) -> None:
    """Every process's maintenance runs it every second, behind a due backlog too: it
    reads at most a batch of rows, in the order of jobdeck_jobs_unindexed (migration
    0011), and marks none of them here (all due, or claimed); not the whole table, nor
    ten thousand rows (queries.sql, index_text)."""
    pages, plan = states[state].pages, states[state].plans["index_text"]
    check_index_plan(plan)
    indexes = {n.get("Index Name") for n in plan.nodes()}
    assert "jobdeck_jobs_unindexed" in indexes, plan.describe()
    assert plan.indexes_of_updates() <= {"jobdeck_jobs_pkey"}, plan.describe()
    # Per row read, its entry and heap page, then its lookup by id to be locked; the
    # probe and the batch each step over the dead entries of the claims' old versions.
    bound = 2 * pages["jobdeck_jobs_unindexed"] + 3 * TEXT_PASS + SLACK
    assert plan.touched <= bound, f"{plan.touched} > {bound}\n{plan.describe()}"


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("name", ["get_history", "history_after"])
def test_history_is_read_through_its_jobs_index(
    states: dict[str, State], state: str, name: str
) -> None:
    """The job by its key, then its stored rows through jobdeck_history_job; the events
    derived from the job row (queries.sql, derived_events) come with it."""
    plan = states[state].plans[name]
    assert plan.rows == 3  # created (derived), a log line (stored), started (derived)
    reads = {(_table(n), n.get("Index Name")) for n in plan.scans()}
    assert reads == {
        ("jobdeck_jobs", "jobdeck_jobs_job_id_key"),
        ("jobdeck_history", "jobdeck_history_job"),
    }, plan.describe()


@pytest.mark.parametrize("state", STATES)
def test_cleanup_finds_finished_jobs_by_index(states: dict[str, State], state: str) -> None:
    """By completed_at, in jobdeck_jobs_finished_status (migration 0004), and their
    history by job: not by reading either table whole (check_index_plan)."""
    plan = states[state].plans["cleanup"]
    assert plan.indexes_of_updates() == {"jobdeck_jobs_finished_status"}, plan.describe()


@pytest.mark.parametrize("state", STATES)
def test_next_run_at_probes_the_claim_index_once_per_priority(
    states: dict[str, State], state: str
) -> None:
    """Its first entry in run_at order for each priority, not min(run_at) over all of
    it (queries.sql, next_run_at)."""
    pages, plan = states[state].pages, states[state].plans["next_run_at"]
    assert plan.rows == 1
    [probe] = plan.scans()
    assert probe.get("Index Name") == CLAIM_WALK, plan.describe()
    assert probe["Node Type"] in ("Index Scan", "Index Only Scan"), plan.describe()
    assert probe["Actual Loops"] == len(Priority), plan.describe()
    # Like the claim, it steps past the entries claimed since the last vacuum.
    check_pages(plan, walked=pages[CLAIM_WALK])
