"""``jobdeck backup PATH`` while workers drain the store: the copy is consistent, and
once restored its running jobs are rescued after their leases and finish."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from cluster import LEASE, Cluster, own_deck, until

import pg
from jobdeck.cli import main
from jobdeck.config import Settings
from jobdeck.deck import JobDeck
from jobdeck.domain.job import Status
from jobdeck.plugins import PluginManager

JOBDECK = str(Path(sys.executable).parent / "jobdeck")
JOBS = 400


async def test_a_backup_taken_mid_drain_restores_to_a_valid_store(tmp_path: Path) -> None:
    cluster = Cluster(f"sqlite:///{tmp_path / 'live.db'}", tmp_path)
    backup = tmp_path / "backup.db"
    async with own_deck(cluster) as deck:
        await deck.schedule_jobs(
            [{"type": "test:record", "payload": {"sleep": 0.2}} for _ in range(JOBS)]
        )
        await cluster.start_worker(concurrency=20)
        await cluster.start_worker(concurrency=20)
        await until(lambda: _completed(deck, 60), "a part of the drain")
        process = await asyncio.create_subprocess_exec(
            JOBDECK, "backup", str(backup), env=cluster.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        assert f"Backed up {JOBS} jobs" in out.decode()
        assert await cluster.stop_all() == [0, 0]

    with sqlite3.connect(backup) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".backup")]

    # Restore: the copy becomes the database of a new deployment.
    restored = tmp_path / "restored.db"
    shutil.copy(backup, restored)
    settings = Settings(
        database_url=f"sqlite:///{restored}",
        lease_seconds=float(LEASE),
        poll_seconds=0.05,
        plugins_dir=str(cluster.settings().plugins_dir),
    )
    async with JobDeck(settings=settings) as deck:
        await PluginManager(deck, settings.plugins_dir, entry_points=False).load()
        counts = {status: n for status, n in (await deck.count_by_status()).items() if n}
        assert sum(counts.values()) == JOBS
        assert set(counts) <= {Status.PENDING, Status.RUNNING, Status.COMPLETED}, counts
        running = [j.job_id for j in await deck.get_jobs(status="running", limit=JOBS)]
        assert running, "the backup was taken mid-drain: some jobs were running"
        assert counts.get(Status.COMPLETED, 0) >= 60 and counts.get(Status.PENDING, 0) > 0
        # The leases of the copy's running jobs belong to workers of the old store:
        # nothing touches them until they expire, then maintenance rescues them.
        assert (await deck.run_maintenance()).rescued == 0
        await asyncio.sleep(float(LEASE) + 0.2)
        assert (await deck.run_maintenance()).rescued == len(running)
        for job_id in running:
            handle = await deck.get_job(job_id)
            assert handle is not None and handle.status is Status.PENDING
        await deck.drain(concurrency=50)  # the rest of the 0.2 s jobs, not 10 at a time
        finished = {status: n for status, n in (await deck.count_by_status()).items() if n}
        assert finished == {Status.COMPLETED: JOBS}


async def _completed(deck: JobDeck, at_least: int) -> bool:
    return await deck.count_jobs(status="completed") >= at_least


def test_backup_of_a_missing_store_is_one_clear_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'absent.db'}"
    result = CliRunner().invoke(main, ["backup", str(tmp_path / "b.db"), "--database-url", url])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: no SQLite database at {tmp_path}/absent.db"
    ]


@pytest.mark.postgres
async def test_backup_of_postgres_points_to_pg_dump(tmp_path: Path) -> None:
    async with pg.database() as url:
        result = CliRunner().invoke(main, ["backup", str(tmp_path / "b.db"), "--database-url", url])
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert "pg_dump" in line
    assert not (tmp_path / "b.db").exists()
