"""SQLite specifics the conformance suite cannot see: URLs, locks, idle claims, closing."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jobdeck.domain.job import JobFilter, Mode, NewJob
from jobdeck.errors import StoreError, ValidationError
from jobdeck.store.named_queries import parse
from jobdeck.store.sqlite import SQLiteStore
from jobdeck.store.sqlite.connection import Database, database_path
from jobdeck.store.sqlite.queries import Q, migrations, repeated_values, statements

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LATEST = migrations()[-1][0]  # each migration applied once, in order from 1


def job() -> NewJob:
    return NewJob(name="n", type="t", mode=Mode.QUEUED)


@pytest.fixture
async def store(tmp_path: Path) -> SQLiteStore:
    store = SQLiteStore(f"sqlite:///{tmp_path / 'db' / 'jobdeck.db'}")
    await store.open()
    yield store  # type: ignore[misc]
    await store.close()


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///jobdeck.db", "jobdeck.db"),
        ("sqlite:///./data/jobdeck.db", "./data/jobdeck.db"),
        ("sqlite:////var/lib/jobdeck.db", "/var/lib/jobdeck.db"),
        ("sqlite:////tmp/x.db?mode=rwc", "/tmp/x.db"),
    ],
)
def test_database_path(url: str, path: str) -> None:
    assert database_path(url) == path


@pytest.mark.parametrize(
    "url", ["sqlite://", "sqlite:///", "postgresql://x/y", "sqlite:///:memory:", "jobdeck.db"]
)
def test_bad_urls(url: str) -> None:
    with pytest.raises(ValidationError):
        database_path(url)


def test_queries_parse_names_and_fragments() -> None:
    queries = parse(
        "-- header\n-- name: a\nSELECT {f} FROM t;\n-- fragment: f\n  x, y\n-- name: b\nSELECT 1;"
    )
    assert queries == {"a": "SELECT x, y FROM t;", "b": "SELECT 1;"}
    assert "{cron_filter}" not in Q["count_cron_jobs"] and "is_paused" in Q["count_cron_jobs"]
    # The job list's pieces are left for listing.py to join (no fragment of that name).
    assert "{where}" in Q["jobs_page"] and "{order}" in Q["jobs_page"]
    assert statements("PRAGMA a;\n-- note\nPRAGMA b;\n") == ["PRAGMA a;", "-- note\nPRAGMA b;"]
    assert repeated_values("insert_job", 3).count("'pending'") == 3


async def test_open_creates_the_folder_and_migrates(store: SQLiteStore, tmp_path: Path) -> None:
    assert (tmp_path / "db" / "jobdeck.db").exists()
    assert await store.schema_version() == LATEST


async def test_concurrent_opens_of_a_new_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    stores = [SQLiteStore(url) for _ in range(4)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        assert {await s.schema_version() for s in stores} == {LATEST}
        conn = sqlite3.connect(tmp_path / "new.db")
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT count(*) FROM schema_version").fetchone()[0] == LATEST
        conn.close()
    finally:
        for s in stores:
            await s.close()


async def test_a_held_write_lock_is_waited_for_not_reported(
    store: SQLiteStore, tmp_path: Path
) -> None:
    other = sqlite3.connect(
        tmp_path / "db" / "jobdeck.db", isolation_level=None, check_same_thread=False
    )
    other.execute("BEGIN IMMEDIATE")
    released = threading.Event()

    def release_soon() -> None:
        released.wait(0.2)
        other.rollback()

    thread = threading.Thread(target=release_soon)
    thread.start()
    try:
        [inserted] = await store.insert_jobs([job()], T0)  # waits for the lock
    finally:
        released.set()
        thread.join()
        other.close()
    assert await store.get_job(inserted.job_id) == inserted


def test_residual_lock_errors_are_retried() -> None:
    attempts = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise sqlite3.OperationalError("database is locked")
        return "done"

    assert Database("sqlite:///unused.db")._call(flaky) == "done"
    assert len(attempts) == 3


def test_other_driver_errors_become_store_errors() -> None:
    def broken() -> None:
        raise sqlite3.OperationalError("no such table: jobs")

    with pytest.raises(StoreError) as caught:
        Database("sqlite:///unused.db")._call(broken)
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)


async def test_idle_claims_write_nothing(store: SQLiteStore, tmp_path: Path) -> None:
    # Workers poll claim(); when nothing is due that must not commit anything, or every
    # poll would wake every other process watching data_version.
    await store.insert_jobs(
        [NewJob(name="n", type="t", mode=Mode.QUEUED, run_at=T0.replace(year=2030))], T0
    )
    watcher = sqlite3.connect(tmp_path / "db" / "jobdeck.db")
    before = watcher.execute("PRAGMA data_version").fetchone()[0]
    seq = await store.last_seq()
    assert await store.claim("w", 10, T0, 30) == []
    assert await store.rescue_expired(T0) == []
    assert await store.fail_timed_out_tracked(T0) == []
    assert watcher.execute("PRAGMA data_version").fetchone()[0] == before
    assert await store.last_seq() == seq
    watcher.close()


async def test_history_limit_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        SQLiteStore(f"sqlite:///{tmp_path / 'x.db'}", history_limit=0)


async def test_closed_store_refuses_work_and_stops_watching(tmp_path: Path) -> None:
    store = SQLiteStore(f"sqlite:///{tmp_path / 'x.db'}")
    await store.open()
    await store.open()  # idempotent
    await store.close()
    await store.close()  # idempotent
    with pytest.raises(StoreError):
        await store.get_job("x")
    pending = [t for t in asyncio.all_tasks() if t.get_name() == "jobdeck-sqlite-watch"]
    assert pending == []


async def test_unserialisable_json_is_a_validation_error(store: SQLiteStore) -> None:
    with pytest.raises(ValidationError):
        await store.insert_jobs(
            [NewJob(name="n", type="t", mode=Mode.QUEUED, payload={"x": object()})], T0
        )


CHILD = """
import asyncio, sys
from datetime import UTC, datetime
from jobdeck.domain.job import JobFilter, Mode, NewJob
from jobdeck.store.sqlite import SQLiteStore

async def main():
    store = SQLiteStore(sys.argv[1])
    await store.open()
    [job] = await store.insert_jobs([NewJob(name="child", type="t", mode=Mode.QUEUED)],
                                    datetime(2026, 1, 1, tzinfo=UTC))
    print(job.job_id)
    await store.close()

asyncio.run(main())
"""


async def test_another_process_commit_wakes_this_store(store: SQLiteStore, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db' / 'jobdeck.db'}"
    mark = store.signals.mark("enqueue")
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, url, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await child.communicate()
    assert child.returncode == 0
    assert await store.signals.wait("enqueue", mark, 5.0)
    seen = await store.get_job(out.decode().strip())
    assert seen is not None and seen.name == "child"


async def test_many_rows_read_as_one_json_value_match_the_rows(store: SQLiteStore) -> None:
    """Multi-row reads come back as one JSON array (one sqlite3_step); floats keep every
    bit, and past SQLite's length limit the reads fall back to one step per row."""
    jobs = await store.insert_jobs([job() for _ in range(5)], T0)
    [running] = await store.claim("w", 1, T0, 30.0)
    progress = 100 / 3
    await store.update_progress(running.job_id, progress, {"x": 0.1 + 0.2}, None, T0)
    one_step = await store.changes_since(0)
    assert [c.job.job_id for c in one_step][-1] == running.job_id
    assert one_step[-1].job.progress == progress
    assert one_step[-1].job == await store.get_job(running.job_id)
    listed = await store.list_jobs(JobFilter(), 10, 0)

    def small_limit(conn: sqlite3.Connection) -> int:
        return conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 1000)

    await store._db.run(small_limit)
    assert await store.changes_since(0) == one_step
    assert await store.list_jobs(JobFilter(), 10, 0) == listed
    assert [j.id for j in listed] == sorted((j.id for j in jobs), reverse=True)
