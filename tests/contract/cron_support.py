"""Helpers for the cron part of the conformance suite: definitions, schedules, runs."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from store_support import T0, at, claim_one, new_job

from jobdeck.domain.job import Job, NewJob
from jobdeck.domain.schedule import CronDefinition, CronJob, Execution, TriggeredBy
from jobdeck.store.base import Store

SCHEDULER = "scheduler-1"


def definition(name: str = "nightly", **fields: Any) -> CronDefinition:
    fields.setdefault("cron_expression", "0 2 * * *")
    fields.setdefault("job_type", "test:noop")
    return CronDefinition(name=name, **fields)


async def make(
    store: Store,
    name: str = "nightly",
    next_run_at: datetime | None = None,
    now: datetime = T0,
    created_by: str = "local",
    **fields: Any,
) -> CronJob:
    """A schedule (next fire at T0 + 60 s unless told)."""
    first = at(60) if next_run_at is None else next_run_at
    return await store.insert_cron_job(definition(name, **fields), created_by, first, now)


def run_job(cron: CronJob) -> NewJob:
    """The job a run creates (the store sets cron_job_id itself)."""
    d = cron.definition
    return new_job(
        name=d.name,
        type=d.job_type,
        max_retries=d.max_retries,
        timeout=300,
        created_by=cron.created_by,
    )


async def fire(
    store: Store,
    cron: CronJob,
    expected: datetime,
    due: list[datetime] | None = None,
    next_run_at: datetime | None = None,
    now: datetime | None = None,
) -> list[Execution] | None:
    """Fire ``cron``'s ticks ``due`` (default: the one expected) at ``now`` (default:
    the last tick); next fire one hour after ``expected`` unless told.

    As a scheduler that has just read the schedule and found ``expected`` as its
    next_run_at: the compare-and-set gets the current row (its updated_at) with that
    next_run_at, so only next_run_at (and the state) decide here; tests of the
    updated_at half call ``store.fire`` themselves."""
    ticks = [expected] if due is None else due
    when = ticks[-1] if now is None else now
    following = (
        next_run_at if next_run_at is not None else at((expected - T0).total_seconds() + 3600)
    )
    current = await store.get_cron_job(cron.id)
    read = replace(current if current is not None else cron, next_run_at=expected)
    return await store.fire(read, ticks, following, run_job(cron), when, SCHEDULER)


async def fire_one(store: Store, cron: CronJob, tick: datetime) -> Execution:
    executions = await fire(store, cron, tick)
    assert executions is not None and len(executions) == 1, executions
    return executions[0]


async def job_of(store: Store, execution: Execution) -> Job:
    assert execution.job_id is not None, execution
    job = await store.get_job(execution.job_id)
    assert job is not None
    return job


async def execution_now(store: Store, execution: Execution) -> Execution:
    current = await store.get_execution(execution.id)
    assert current is not None
    return current


async def cron_now(store: Store, cron: CronJob) -> CronJob:
    current = await store.get_cron_job(cron.id)
    assert current is not None
    return current


async def manual_run(store: Store, cron: CronJob, now: datetime) -> tuple[Execution, Job]:
    """A run now, claimed by the worker: its execution and running job."""
    execution = await store.run_now(
        cron.id, run_job(cron), TriggeredBy.MANUAL, None, now, SCHEDULER
    )
    job = await claim_one(store, now)
    assert job.job_id == execution.job_id
    return execution, job
