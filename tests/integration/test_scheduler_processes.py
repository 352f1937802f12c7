"""Three real ``jobdeck scheduler`` processes and one ``jobdeck worker`` on one database,
on SQLite and on PostgreSQL (docs/cron.md): every tick of an every-second schedule fires
exactly once, also while a scheduler is killed with SIGKILL and restarted.

The schedule runs ``test:record`` (tests/fixtures/plugins), which appends a line per
start to a file per process, so the test checks that every job ran once as well as
the rows. Nothing sleeps to wait: each step polls the database with a deadline. The
two 20-tick scenarios of a backend run at the same time, each on its own database:
they mostly wait for ticks.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from cluster import JOBDECK, Cluster, own_deck, until

import pg
from jobdeck.deck import JobDeck
from jobdeck.domain.schedule import CronJob, Execution, ExecutionStatus, TriggeredBy
from jobdeck.store.postgres.queries import Q

EVERY_SECOND = "* * * * * *"  # six fields: a leading seconds field
CI_TICKS = 20  # about 20 s (both scenarios at once)
SLOW_TICKS = 60
SCHEDULERS = 3


class Schedulers(Cluster):
    """A cluster that also runs ``jobdeck scheduler`` processes (kept in ``workers`` too,
    so the cluster's stop and kill reach them)."""

    def __init__(self, url: str, tmp_path: Path) -> None:
        super().__init__(url, tmp_path)
        self.schedulers: list[asyncio.subprocess.Process] = []

    async def start_scheduler(self) -> asyncio.subprocess.Process:
        """A ``jobdeck scheduler`` process, returned once it logged that it runs."""
        process = await asyncio.create_subprocess_exec(
            JOBDECK,
            "scheduler",
            env=self.env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self.workers.append(process)
        self.schedulers.append(process)
        assert process.stderr is not None
        async with asyncio.timeout(30):
            while True:
                line = await process.stderr.readline()
                if not line:
                    raise AssertionError(f"scheduler exited early ({await process.wait()})")
                if b"jobdeck scheduler on" in line:
                    break
        self._readers.append(asyncio.create_task(process.stderr.read()))
        return process

    async def stop(self, processes: list[asyncio.subprocess.Process]) -> list[int]:
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(40):
            return [await process.wait() for process in processes]


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def subfolder(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    return folder


@contextlib.asynccontextmanager
async def schedulers_on(backend: str, folder: Path) -> AsyncIterator[Schedulers]:
    """A cluster on a database of its own (a SQLite file in ``folder``, or a fresh
    PostgreSQL database), every process killed afterwards."""
    async with contextlib.AsyncExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite:///{folder / 'jobdeck.db'}"
        else:
            url = await stack.enter_async_context(pg.database())
        group = Schedulers(url, folder)
        try:
            yield group
        finally:
            await group.kill_all()


async def every_tick_once_on(backend: str, folder: Path, ticks: int, *, kill_one: bool) -> None:
    async with schedulers_on(backend, folder) as cluster, own_deck(cluster) as deck:
        await check_every_tick_once(cluster, deck, ticks, kill_one=kill_one)


async def scheduled(deck: JobDeck, cron_job: CronJob) -> list[Execution]:
    page = await deck.crons.executions(cron_job.id, limit=1000)
    return [e for e in page.items if e.triggered_by is TriggeredBy.SCHEDULER]


async def at_least(deck: JobDeck, cron_job: CronJob, count: int) -> list[Execution] | None:
    found = await scheduled(deck, cron_job)
    return found if len(found) >= count else None


async def check_every_tick_once(
    cluster: Schedulers, deck: JobDeck, ticks: int, *, kill_one: bool
) -> None:
    cron_job = await deck.crons.create(
        name="every second",
        cron_expression=EVERY_SECOND,
        job_type="test:record",
        configuration={},
        overlap_policy="allow",  # a slow run must not turn a tick into a skipped one
    )
    worker = await cluster.start_worker()
    await asyncio.gather(*(cluster.start_scheduler() for _ in range(SCHEDULERS)))
    pids = {process.pid for process in cluster.schedulers}
    deadline = ticks + 40.0

    if kill_one:
        await until(lambda: at_least(deck, cron_job, ticks // 3), "the first ticks", deadline)
        victim = cluster.schedulers[0]
        os.kill(victim.pid, signal.SIGKILL)
        assert await victim.wait() == -signal.SIGKILL
        fired = len(await scheduled(deck, cron_job))
        # The two left keep firing while it is down ...
        await until(lambda: at_least(deck, cron_job, fired + 3), "ticks while one is down", 30)
        # ... and it comes back beside them.
        pids.add((await cluster.start_scheduler()).pid)

    await until(lambda: at_least(deck, cron_job, ticks), f"{ticks} fired ticks", deadline)
    alive = [p for p in cluster.schedulers if p.returncode is None]
    assert len(alive) == SCHEDULERS
    assert await cluster.stop(alive) == [0] * SCHEDULERS

    async def all_terminal() -> list[Execution] | None:
        found = await scheduled(deck, cron_job)
        return found if all(e.status.terminal for e in found) else None

    executions = await until(all_terminal, "every run to finish", 30)
    assert await cluster.stop([worker]) == [0]

    # Exactly one execution per tick from the first fired tick to the last: none missing,
    # none doubled.
    times = sorted(e.scheduled_for for e in executions)
    assert len(times) >= ticks
    expected = [times[0] + timedelta(seconds=n) for n in range(len(times))]
    assert times == expected, "a tick is missing or doubled"
    assert [e.status for e in executions] == [ExecutionStatus.SUCCESS] * len(executions)
    assert all(e.completed_at is not None and e.duration_ms is not None for e in executions)
    # Every tick was fired by one of the scheduler processes.
    instances = {int(str(e.server_instance).rsplit(":", 1)[1]) for e in executions}
    assert instances <= pids

    # One job per execution, each completed, each run exactly once.
    job_ids = [e.job_id for e in executions]
    assert None not in job_ids and len(set(job_ids)) == len(job_ids)
    assert await deck.count_jobs(type="test:record") == len(executions)
    assert await deck.count_jobs(type="test:record", status="completed") == len(executions)
    for handle in await deck.get_jobs(type="test:record", limit=1000):
        assert handle.cron_job_id == cron_job.id
        assert handle.attempt == 1
    starts = Counter(jid for event, jid, _ in cluster.lines() if event == "start")
    assert set(starts) == set(job_ids)
    assert set(starts.values()) == {1}, "a job ran twice"

    final = await deck.crons.get(cron_job.id)
    assert final.run_count == len(executions)
    assert final.success_count == len(executions)
    assert final.last_status is ExecutionStatus.SUCCESS
    assert final.failure_count == final.consecutive_failures == 0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.timeout(150)
async def test_every_tick_fires_exactly_once_with_three_schedulers_and_with_one_killed(
    backend: str, tmp_path: Path
) -> None:
    """Two scenarios, each on a database of its own, at the same time (each waits ~20 s
    of ticks): three schedulers running throughout, and three schedulers one of which is
    killed with SIGKILL mid-run and restarted. Both are checked in full."""
    scenarios = {
        "three schedulers": every_tick_once_on(
            backend, subfolder(tmp_path, "steady"), CI_TICKS, kill_one=False
        ),
        "one killed and restarted": every_tick_once_on(
            backend, subfolder(tmp_path, "killed"), CI_TICKS, kill_one=True
        ),
    }
    outcomes = await asyncio.gather(*scenarios.values(), return_exceptions=True)
    failed = [(n, o) for n, o in zip(scenarios, outcomes, strict=True) if o is not None]
    if failed:
        first = failed[0][1]
        assert isinstance(first, BaseException)
        first.add_note(f"in the scenario '{failed[0][0]}'")
        for name, other in failed[1:]:
            first.add_note(f"the scenario '{name}' failed too: {other!r}")
        raise first


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.long
@pytest.mark.timeout(240)
async def test_a_minute_of_ticks_with_a_scheduler_killed_and_restarted(
    backend: str, tmp_path: Path
) -> None:
    await every_tick_once_on(backend, tmp_path, SLOW_TICKS, kill_one=True)


@pytest.mark.postgres
async def test_schedulers_and_workers_do_not_follow_the_feed(tmp_path: Path) -> None:
    """Neither waits on "jobs", so neither holds the follower lock: while only they run,
    writers send no jobdeck_jobs (docs/postgres.md, "Wake-ups"). A deck opened with the
    default channels does."""
    async with schedulers_on("postgres", tmp_path) as cluster:
        await cluster.start_worker()
        await cluster.start_scheduler()  # both return once their listener is connected
        async with await psycopg.AsyncConnection.connect(cluster.url, autocommit=True) as conn:

            async def followers() -> int:
                row = await (await conn.execute(Q["followers"])).fetchone()
                assert row is not None
                return int(row[0])

            assert await followers() == 0
            async with own_deck(cluster):
                assert await followers() == 1
