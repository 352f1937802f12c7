"""Cron schedules and executions (ScheduleStore): CRUD, listing, firing exactly once,
manual runs, executions mirroring their jobs, code-declared schedules, cleanup."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from cron_support import (
    SCHEDULER,
    cron_now,
    definition,
    execution_now,
    fire,
    fire_one,
    job_of,
    make,
    manual_run,
    run_job,
)
from store_support import T0, OpenStore, at, claim_one, fence_of

from jobdeck.domain.job import JobFilter, Mode, Priority, Status
from jobdeck.domain.schedule import (
    CronFilter,
    CronJob,
    Execution,
    ExecutionStatus,
    MisfirePolicy,
    OverlapPolicy,
    TriggeredBy,
)
from jobdeck.errors import CronJobExists, CronJobNotFound, ValidationError
from jobdeck.store.base import Store

TIMED_OUT = "Job timed out after 300 seconds"  # runtime/executor.py's message


async def cron_jobs_of(store: Store, cron: CronJob) -> list[str]:
    jobs = await store.list_jobs(JobFilter(), 1000, 0)
    return sorted(j.job_id for j in jobs if j.cron_job_id == cron.id)


# --- schedules ----------------------------------------------------------------
async def test_insert_and_read_back_every_field(store: Store) -> None:
    full = definition(
        "report",
        cron_expression="*/5 * * * *",
        job_type="webhook",
        configuration={"url": "https://example.com/hook", "n": [1, 2.5, None]},
        description="Daily report",
        timezone="Europe/Berlin",
        plugin_id="shop",
        store_id="store-7",
        is_active=True,
        max_runs=10,
        max_failures=None,
        timeout_seconds=60,
        misfire_policy=MisfirePolicy.CATCH_UP,
        misfire_grace_seconds=30,
        overlap_policy=OverlapPolicy.ALLOW,
        tags=("ops", "daily"),
        priority=Priority.HIGH,
        max_retries=2,
        show_notification=True,
    )
    cron = await store.insert_cron_job(full, "token:ci", at(300), T0, declared_by=None)
    assert cron.definition == full
    assert cron.created_by == "token:ci" and cron.declared_by is None
    assert cron.next_run_at == at(300) and cron.last_run_at is None
    assert not cron.is_paused and cron.last_status is None and cron.last_error is None
    assert (cron.run_count, cron.success_count, cron.failure_count) == (0, 0, 0)
    assert cron.consecutive_failures == 0
    assert cron.created_at == cron.updated_at == T0
    assert cron.seq > 0 and cron.seq == await store.last_seq()
    assert await store.get_cron_job(cron.id) == cron
    assert await store.get_cron_job(cron.id + 1000) is None

    defaults = await make(store, "defaults")
    assert defaults.definition == definition("defaults")
    assert defaults.definition.tags == () and defaults.definition.max_failures == 5


async def test_name_key_clash_names_the_holder(store: Store) -> None:
    first = await make(store, "sync")
    with pytest.raises(CronJobExists) as raised:
        await make(store, "sync", job_type="other")
    assert raised.value.existing == first  # NULL plugin and store count as one value
    # Other plugins or stores may use the name; a NULL and a value differ.
    in_plugin = await make(store, "sync", plugin_id="shop")
    in_store = await make(store, "sync", plugin_id="shop", store_id="s1")
    other_store = await make(store, "sync", plugin_id="shop", store_id="s2")
    only_store = await make(store, "sync", store_id="s1")
    with pytest.raises(CronJobExists) as raised:
        await make(store, "sync", plugin_id="shop", store_id="s1")
    assert raised.value.existing == in_store
    with pytest.raises(CronJobExists) as raised:
        await make(store, "sync", store_id="s1")
    assert raised.value.existing == only_store
    found = await store.find_cron_jobs("sync")
    assert [c.id for c in found] == sorted(
        c.id for c in (first, in_plugin, in_store, other_store, only_store)
    )
    assert await store.find_cron_jobs("nope") == []


async def test_update_replaces_the_definition_and_keeps_the_rest(store: Store) -> None:
    cron = await make(store, "a", max_failures=None)
    _, job = await manual_run(store, cron, at(1))
    await store.fail(job.job_id, "boom", at(2), fence_of(job))
    paused = await store.set_paused(cron.id, True, None, at(3))
    changed = definition("a2", cron_expression="@hourly", tags=("x",), description="d")
    updated = await store.update_cron_job(cron.id, changed, at(3600), at(4))
    assert updated.definition == changed
    assert updated.next_run_at is None and updated.updated_at == at(4)  # paused
    assert updated.is_paused and updated.failure_count == 1
    assert updated.consecutive_failures == 1 and updated.last_error == "boom"
    assert updated.created_at == cron.created_at and updated.created_by == cron.created_by
    assert updated.seq > paused.seq
    assert await store.get_cron_job(cron.id) == updated

    other = await make(store, "b")
    with pytest.raises(CronJobExists) as raised:
        await store.update_cron_job(other.id, definition("a2"), None, at(5))
    assert raised.value.existing == updated
    same_key = await store.update_cron_job(other.id, definition("b", job_type="t2"), None, at(6))
    assert same_key.definition.job_type == "t2"
    with pytest.raises(CronJobNotFound):
        await store.update_cron_job(other.id + 1000, definition("c"), None, at(7))


async def test_update_decides_next_run_at_from_the_row(store: Store) -> None:
    cron = await make(store, "u", at(60))  # a tick due at 60
    d = cron.definition
    # The caller always passes the next fire time after now; an edit that leaves the
    # expression, timezone and activity alone keeps the stored (due) tick.
    kept = await store.update_cron_job(cron.id, replace(d, description="x"), at(3600), at(100))
    assert kept.next_run_at == at(60) and kept.updated_at == at(100)
    d = kept.definition
    moved = await store.update_cron_job(cron.id, replace(d, cron_expression="@hourly"), at(3600),
                                        at(101))  # fmt: skip
    assert moved.next_run_at == at(3600)
    d = moved.definition
    zoned = await store.update_cron_job(cron.id, replace(d, timezone="Asia/Tokyo"), at(7200),
                                        at(102))  # fmt: skip
    assert zoned.next_run_at == at(7200)
    d = zoned.definition
    off = await store.update_cron_job(cron.id, replace(d, is_active=False), at(9000), at(103))
    assert off.next_run_at is None and not off.definition.is_active
    on = await store.update_cron_job(cron.id, replace(d, is_active=True), at(9100), at(104))
    assert on.next_run_at == at(9100)
    # Paused since the caller read it: no next fire time, whatever is passed, and the
    # pause stays.
    await store.set_paused(cron.id, True, None, at(105))
    paused = await store.update_cron_job(cron.id, replace(d, tags=("t",)), at(9200), at(106))
    assert paused.is_paused and paused.next_run_at is None
    paused = await store.update_cron_job(
        cron.id, replace(d, cron_expression="*/5 * * * *"), at(9300), at(107)
    )
    assert paused.is_paused and paused.next_run_at is None
    # Resumed since the caller read it: the resume's next fire time stays.
    resumed = await store.set_paused(cron.id, False, at(9400), at(108))
    edited = await store.update_cron_job(cron.id, paused.definition, at(9500), at(109))
    assert not edited.is_paused and edited.next_run_at == resumed.next_run_at == at(9400)
    # Active and unpaused with none stored: the given one, so it fires again.
    never = await store.insert_cron_job(definition("never"), "local", None, T0)
    fixed = await store.update_cron_job(never.id, never.definition, at(600), at(110))
    assert fixed.next_run_at == at(600)
    assert [c.id for c in await store.due_cron_jobs(at(600))] == [fixed.id]


async def test_pause_and_resume(store: Store) -> None:
    cron = await make(store, "p", max_failures=None)
    _, job = await manual_run(store, cron, at(1))
    await store.fail(job.job_id, "x", at(2), fence_of(job))
    paused = await store.set_paused(cron.id, True, None, at(3))
    assert paused.is_paused and paused.next_run_at is None and paused.updated_at == at(3)
    assert not paused.scheduled and paused.consecutive_failures == 1
    assert await store.due_cron_jobs(at(10_000)) == []
    assert await store.next_cron_at() is None
    resumed = await store.set_paused(cron.id, False, at(120), at(4))
    assert not resumed.is_paused and resumed.next_run_at == at(120)
    assert resumed.consecutive_failures == 0 and resumed.failure_count == 1
    assert resumed.seq > paused.seq
    assert [c.id for c in await store.due_cron_jobs(at(120))] == [cron.id]
    with pytest.raises(CronJobNotFound):
        await store.set_paused(cron.id + 1000, True, None, at(5))


async def test_delete_takes_executions_and_leaves_jobs(store: Store) -> None:
    cron = await make(store)
    execution = await fire_one(store, cron, at(60))
    kept = await make(store, "kept")
    other = await fire_one(store, kept, at(60))
    await store.delete_cron_job(cron.id)
    assert await store.get_cron_job(cron.id) is None
    assert await store.get_execution(execution.id) is None
    assert await store.count_executions(cron.id) == 0
    job = await job_of(store, execution)  # the job stays, pointing at no schedule
    assert job.cron_job_id == cron.id
    assert await store.get_execution(other.id) == other
    with pytest.raises(CronJobNotFound):
        await store.delete_cron_job(cron.id)
    # A job of a deleted schedule still runs to its end.
    claimed = await claim_one(store, at(61))
    await store.complete(claimed.job_id, None, at(62), fence_of(claimed))


# --- listing ----------------------------------------------------------------
async def listing(store: Store) -> dict[str, CronJob]:
    crons = {
        "alpha": await make(
            store, "alpha", at(300), at(1), job_type="webhook", tags=("a", "b"),
            plugin_id="p1", store_id="s1",
        ),
        "bravo": await make(store, "bravo", at(100), at(2), job_type="email", tags=("b",)),
        "charlie": await make(
            store, "charlie", at(200), at(3), description="Nightly CLEANUP of old rows",
            is_active=False,
        ),
        "delta": await make(store, "delta", at(50), at(4), store_id="s1", plugin_id="p2"),
        "echo": await make(store, "echo", at(400), at(5), tags=("c",)),
    }  # fmt: skip
    crons["bravo"] = await store.set_paused(crons["bravo"].id, True, None, at(6))
    return crons


async def names(store: Store, where: CronFilter, **kwargs: object) -> list[str]:
    limit = kwargs.pop("limit", 100)
    offset = kwargs.pop("offset", 0)
    found = await store.list_cron_jobs(where, limit, offset, **kwargs)  # type: ignore[arg-type]
    return [c.name for c in found]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (CronFilter(), ["alpha", "bravo", "charlie", "delta", "echo"]),
        (CronFilter(status="active"), ["alpha", "delta", "echo"]),
        (CronFilter(status="paused"), ["bravo"]),
        (CronFilter(status="inactive"), ["charlie"]),
        (CronFilter(job_type="webhook"), ["alpha"]),
        (CronFilter(search="cleanup"), ["charlie"]),  # description, any case
        (CronFilter(search="LPH"), ["alpha"]),  # name, any case
        (CronFilter(plugin_id="p1"), ["alpha"]),
        (CronFilter(store_id="s1"), ["alpha", "delta"]),
        (CronFilter(tags=("b",)), ["alpha", "bravo"]),
        (CronFilter(tags=("a", "b")), ["alpha"]),  # every tag
        (CronFilter(tags=("a", "c")), []),
        (CronFilter(status="active", store_id="s1", search="del"), ["delta"]),
    ],
)
async def test_filters_apply_before_paging(
    store: Store, where: CronFilter, expected: list[str]
) -> None:
    await listing(store)
    assert await names(store, where, sort_by="name", descending=False) == expected
    assert await store.count_cron_jobs(where) == len(expected)
    if len(expected) > 1:  # a page of one still counts them all
        assert await names(store, where, limit=1, offset=1, sort_by="name", descending=False) == [
            expected[1]
        ]


async def test_sort_keys_nulls_last_then_id(store: Store) -> None:
    crons = await listing(store)
    everything = CronFilter()
    assert await names(store, everything) == ["echo", "delta", "charlie", "bravo", "alpha"]
    assert await names(store, everything, sort_by="created_at", descending=False) == [
        "alpha", "bravo", "charlie", "delta", "echo",
    ]  # fmt: skip
    assert await names(store, everything, sort_by="name") == [
        "echo", "delta", "charlie", "bravo", "alpha",
    ]  # fmt: skip
    # bravo is paused (no next fire time): last, whichever the direction.
    assert await names(store, everything, sort_by="next_run_at", descending=False) == [
        "delta", "charlie", "alpha", "echo", "bravo",
    ]  # fmt: skip
    assert await names(store, everything, sort_by="next_run_at") == [
        "echo", "alpha", "charlie", "delta", "bravo",
    ]  # fmt: skip
    # last_run_at: only fired schedules have one; the rest by id in the same direction.
    await fire_one(store, crons["delta"], at(50))
    await fire_one(store, crons["alpha"], at(300))
    assert await names(store, everything, sort_by="last_run_at") == [
        "alpha", "delta", "echo", "charlie", "bravo",
    ]  # fmt: skip
    assert await names(store, everything, sort_by="last_run_at", descending=False) == [
        "delta", "alpha", "bravo", "charlie", "echo",
    ]  # fmt: skip
    assert await names(store, everything, sort_by="name", limit=2, offset=3) == ["bravo", "alpha"]
    assert await names(store, everything, sort_by="name", limit=2, offset=5) == []
    with pytest.raises(ValidationError):
        await store.list_cron_jobs(everything, 10, 0, sort_by="priority")


async def test_ties_sort_by_id(store: Store) -> None:
    made = [await make(store, f"same-{i}", now=T0) for i in range(3)]
    ids = [c.id for c in made]
    found = await store.list_cron_jobs(CronFilter(), 10, 0, "created_at", True)
    assert [c.id for c in found] == ids[::-1]
    found = await store.list_cron_jobs(CronFilter(), 10, 0, "created_at", False)
    assert [c.id for c in found] == ids


# --- the scheduler's reads ----------------------------------------------------
async def test_due_cron_jobs_and_next_cron_at(store: Store) -> None:
    assert await store.next_cron_at() is None
    later = await make(store, "later", at(20))
    sooner = await make(store, "sooner", at(10))
    await make(store, "inactive", at(1), is_active=False)
    paused = await make(store, "paused", at(2))
    await store.set_paused(paused.id, True, at(2), at(0))
    await store.insert_cron_job(definition("never"), "local", None, T0)
    assert await store.due_cron_jobs(at(5)) == []
    assert [c.id for c in await store.due_cron_jobs(at(15))] == [sooner.id]
    assert [c.id for c in await store.due_cron_jobs(at(20))] == [sooner.id, later.id]
    assert [c.id for c in await store.due_cron_jobs(at(20), limit=1)] == [sooner.id]
    assert await store.next_cron_at() == at(10)


# --- firing -------------------------------------------------------------------
async def test_fire_records_the_tick_and_its_job(store: Store) -> None:
    cron = await make(store, "tick", created_by="token:9:ci", plugin_id="shop", store_id="s1")
    [execution] = await fire(store, cron, at(60), now=at(60.25)) or []
    assert execution.cron_job_id == cron.id and execution.scheduled_for == at(60)
    assert execution.status is ExecutionStatus.RUNNING
    assert execution.triggered_by is TriggeredBy.SCHEDULER
    assert execution.started_at == at(60.25) and execution.completed_at is None
    assert execution.server_instance == SCHEDULER and execution.triggered_by_user is None
    assert await store.get_execution(execution.id) == execution
    job = await job_of(store, execution)
    assert job.cron_job_id == cron.id and job.mode is Mode.QUEUED
    assert job.status is Status.PENDING and job.name == "tick" and job.type == "test:noop"
    assert job.run_at == at(60.25) and job.created_by == "token:9:ci"
    assert [e.kind for e in await store.get_history(job.job_id)] == ["created"]
    assert job.seq == execution.seq  # one transaction
    after = await cron_now(store, cron)
    assert after.next_run_at == at(3660) and after.last_run_at == at(60.25)
    assert after.run_count == 1 and after.seq == execution.seq
    assert [c.id for c in await store.due_cron_jobs(at(3659))] == []
    claimed = await claim_one(store, at(61))  # an ordinary queued job
    assert claimed.job_id == job.job_id


async def test_fire_is_a_compare_and_set(store: Store) -> None:
    cron = await make(store)
    assert await fire(store, cron, at(59)) is None  # not the next_run_at it holds
    await fire_one(store, cron, at(60))
    assert await fire(store, cron, at(60)) is None  # already fired: moved on
    paused = await make(store, "paused")
    await store.set_paused(paused.id, True, at(60), at(1))
    assert await fire(store, paused, at(60)) is None
    inactive = await make(store, "inactive", is_active=False)
    assert await fire(store, inactive, at(60)) is None
    gone = replace(cron, id=10_000)
    assert await store.fire(gone, [at(60)], None, run_job(cron), at(60), "s") is None
    assert (await cron_now(store, cron)).run_count == 1
    assert await store.count_executions(cron.id) == 1


async def test_fire_refuses_a_schedule_changed_since_it_was_read(store: Store) -> None:
    cron = await make(store, "edited")  # next fire at 60
    [read] = await store.due_cron_jobs(at(60))
    # A user edits the job type while the scheduler holds its read: next_run_at stays.
    changed = await store.update_cron_job(
        cron.id, replace(cron.definition, job_type="test:other"), at(3600), at(30)
    )
    assert changed.next_run_at == read.next_run_at == at(60)
    assert changed.updated_at is not None and read.updated_at is not None
    assert changed.updated_at > read.updated_at
    assert await store.fire(read, [at(60)], at(3660), run_job(read), at(60), SCHEDULER) is None
    assert await store.count_executions(cron.id) == 0
    assert await cron_now(store, cron) == changed  # nothing written
    [reread] = await store.due_cron_jobs(at(60))
    [execution] = (
        await store.fire(reread, [at(60)], at(3660), run_job(reread), at(60), SCHEDULER) or []
    )
    assert (await job_of(store, execution)).type == "test:other"
    # fire moves updated_at: a second fire from the same read is refused too.
    fired = await cron_now(store, cron)
    assert fired.updated_at is not None and fired.updated_at > changed.updated_at
    assert fired.next_run_at == at(3660)
    stale = replace(reread, next_run_at=at(3660))
    assert await store.fire(stale, [at(3660)], at(7260), run_job(reread), at(3660), "s") is None

    # A pause and a resume back to the same next_run_at, even at the same instant as
    # the read's write: updated_at still moved, the read is stale.
    other = await make(store, "resumed", at(60), now=at(5))
    await store.set_paused(other.id, True, None, at(5))
    back = await store.set_paused(other.id, False, at(60), at(5))
    assert back.next_run_at == other.next_run_at and back.updated_at != other.updated_at
    assert await store.fire(other, [at(60)], at(3660), run_job(other), at(60), "s") is None
    assert len(await store.fire(back, [at(60)], at(3660), run_job(back), at(60), "s") or []) == 1


async def test_a_run_ending_does_not_spoil_a_read(store: Store) -> None:
    cron = await make(store, "ends", overlap_policy=OverlapPolicy.ALLOW)
    await fire_one(store, cron, at(60))
    read = await cron_now(store, cron)  # next fire at 3660
    job = await claim_one(store, at(61))
    done = await store.complete(job.job_id, None, at(62), fence_of(job))
    ended = await cron_now(store, cron)
    assert ended.success_count == 1 and ended.seq == done.seq  # the trigger wrote it
    assert ended.updated_at == read.updated_at  # but not its updated_at
    # The read still fires.
    execution = await store.fire(read, [at(3660)], at(7260), run_job(read), at(3660), "s")
    assert execution is not None and len(execution) == 1


async def test_two_schedulers_fire_a_tick_exactly_once(open_store: OpenStore) -> None:
    one, two = await open_store(), await open_store()
    cron = await make(one, overlap_policy=OverlapPolicy.ALLOW)
    for round_ in range(5):
        tick = at(60 + 3600 * round_)
        results = await asyncio.gather(fire(one, cron, tick), fire(two, cron, tick))
        winners = [r for r in results if r is not None]
        assert len(winners) == 1 and len(winners[0]) == 1, results
    assert await one.count_executions(cron.id) == 5
    assert len(await cron_jobs_of(one, cron)) == 5
    assert (await cron_now(two, cron)).run_count == 5


async def test_a_recorded_tick_is_never_recorded_again(store: Store) -> None:
    cron = await make(store, overlap_policy=OverlapPolicy.ALLOW)
    await fire_one(store, cron, at(60))
    # The schedule is set back to a tick that already ran: the CAS passes, the key
    # (cron_job_id, scheduled_for) does not.
    await store.set_paused(cron.id, False, at(60), at(61))
    assert await fire(store, cron, at(60), next_run_at=at(3660), now=at(62)) == []
    assert await store.count_executions(cron.id) == 1
    assert len(await cron_jobs_of(store, cron)) == 1
    after = await cron_now(store, cron)
    assert after.run_count == 1 and after.next_run_at == at(3660)
    # In a catch-up list, only the new ticks run.
    await store.set_paused(cron.id, False, at(60), at(63))
    executions = await fire(store, cron, at(60), due=[at(60), at(120)], now=at(130))
    assert [e.scheduled_for for e in executions or []] == [at(120)]
    assert (await cron_now(store, cron)).run_count == 2


async def test_overlap_skip_records_a_skipped_tick(store: Store) -> None:
    cron = await make(store)  # overlap_policy skip
    first = await fire_one(store, cron, at(60))
    second = await fire_one(store, cron, at(3660))
    assert second.status is ExecutionStatus.SKIPPED and second.job_id is None
    assert second.scheduled_for == at(3660) and second.completed_at == at(3660)
    after = await cron_now(store, cron)
    assert after.run_count == 1 and after.next_run_at == at(7260)
    assert len(await cron_jobs_of(store, cron)) == 1
    # Once the run ends, the next tick fires.
    job = await claim_one(store, at(3661))
    assert job.job_id == first.job_id
    await store.complete(job.job_id, None, at(3662), fence_of(job))
    third = await fire_one(store, cron, at(7260))
    assert third.status is ExecutionStatus.RUNNING and third.job_id is not None


async def test_last_run_at_moves_only_when_a_run_was_created(store: Store) -> None:
    cron = await make(store)  # overlap_policy skip
    await fire_one(store, cron, at(60))
    assert (await cron_now(store, cron)).last_run_at == at(60)
    skipped = await fire_one(store, cron, at(3660))  # the first run is still going
    assert skipped.status is ExecutionStatus.SKIPPED
    after = await cron_now(store, cron)
    assert after.last_run_at == at(60) and after.next_run_at == at(7260)
    # Nothing due (missed ticks under the skip misfire policy): next_run_at moves on,
    # last_run_at stays.
    assert await fire(store, cron, at(7260), due=[], next_run_at=at(14460), now=at(12000)) == []
    after = await cron_now(store, cron)
    assert after.last_run_at == at(60) and after.next_run_at == at(14460)
    assert after.run_count == 1


async def test_overlap_allow_runs_alongside(store: Store) -> None:
    cron = await make(store, overlap_policy=OverlapPolicy.ALLOW)
    await fire_one(store, cron, at(60))
    second = await fire_one(store, cron, at(3660))
    assert second.status is ExecutionStatus.RUNNING and second.job_id is not None
    assert len(await cron_jobs_of(store, cron)) == 2


async def test_catch_up_list_runs_each_tick(store: Store) -> None:
    cron = await make(store, overlap_policy=OverlapPolicy.ALLOW)
    due = [at(60), at(120), at(180)]
    executions = await fire(store, cron, at(60), due=due, next_run_at=at(240), now=at(200))
    assert executions is not None
    assert [e.scheduled_for for e in executions] == due
    assert all(e.status is ExecutionStatus.RUNNING for e in executions)
    assert len({e.job_id for e in executions}) == 3
    assert len({e.seq for e in executions}) == 1
    after = await cron_now(store, cron)
    assert after.run_count == 3 and after.next_run_at == at(240)


async def test_max_runs_deactivates(store: Store) -> None:
    cron = await make(store, max_runs=2, overlap_policy=OverlapPolicy.ALLOW)
    due = [at(60), at(120), at(180)]
    executions = await fire(store, cron, at(60), due=due, next_run_at=at(240), now=at(200))
    assert [e.scheduled_for for e in executions or []] == [at(60), at(120)]
    after = await cron_now(store, cron)
    assert after.run_count == 2 and not after.definition.is_active
    assert after.next_run_at is None
    assert await store.due_cron_jobs(at(10_000)) == []

    one_more = await make(store, "one", max_runs=1)
    await fire_one(store, one_more, at(60))
    assert not (await cron_now(store, one_more)).definition.is_active


async def test_run_now_ignores_overlap_and_max_runs(store: Store) -> None:
    cron = await make(store, max_runs=1)
    await fire_one(store, cron, at(60))  # running, and max_runs reached
    execution = await store.run_now(
        cron.id, run_job(cron), TriggeredBy.API, "ci-token", at(70), "api-1"
    )
    assert execution.triggered_by is TriggeredBy.API
    assert execution.triggered_by_user == "ci-token" and execution.server_instance == "api-1"
    assert execution.scheduled_for == at(70) and execution.started_at == at(70)
    assert execution.status is ExecutionStatus.RUNNING
    job = await job_of(store, execution)
    assert job.cron_job_id == cron.id and job.status is Status.PENDING
    assert job.seq == execution.seq
    again = await store.run_now(cron.id, run_job(cron), TriggeredBy.MANUAL, None, at(70), "x")
    assert again.id != execution.id  # manual runs are not keyed by time
    after = await cron_now(store, cron)
    assert after.run_count == 1  # manual runs are not counted
    assert await store.count_executions(cron.id) == 3
    with pytest.raises(CronJobNotFound):
        await store.run_now(cron.id + 1000, run_job(cron), TriggeredBy.MANUAL, None, at(71), "x")


# --- executions mirror their jobs ----------------------------------------------
async def test_execution_follows_a_successful_job(store: Store) -> None:
    cron = await make(store, max_retries=1)
    execution = await fire_one(store, cron, at(60))
    job = await claim_one(store, at(61))
    running = await execution_now(store, execution)
    assert running.status is ExecutionStatus.RUNNING and running.seq == job.seq
    # A failed attempt with retries left: the run goes on.
    retried = await store.retry_later(fence_of(job), "flaky", at(70), at(62))
    running = await execution_now(store, execution)
    assert running.status is ExecutionStatus.RUNNING and running.completed_at is None
    assert running.seq == retried.seq
    job = await claim_one(store, at(70))
    done = await store.complete(job.job_id, {"rows": 3}, at(63.5 + 10), fence_of(job))
    ended = await execution_now(store, execution)
    assert ended.status is ExecutionStatus.SUCCESS and ended.result == {"rows": 3}
    assert ended.completed_at == at(73.5) and ended.duration_ms == 13_500  # from started_at
    assert ended.error_message is None and ended.seq == done.seq
    after = await cron_now(store, cron)
    assert after.last_status is ExecutionStatus.SUCCESS and after.last_error is None
    assert (after.success_count, after.failure_count, after.consecutive_failures) == (1, 0, 0)
    assert after.seq == done.seq


async def test_failures_count_and_pause_at_max_failures(store: Store) -> None:
    cron = await make(store, max_failures=2)
    first, job = await manual_run(store, cron, at(1))  # manual runs' failures count
    failed = await store.fail(job.job_id, "disk full", at(3), fence_of(job))
    ended = await execution_now(store, first)
    assert ended.status is ExecutionStatus.FAILED and ended.error_message == "disk full"
    assert ended.completed_at == at(3) and ended.duration_ms == 2000
    after = await cron_now(store, cron)
    assert after.last_status is ExecutionStatus.FAILED and after.last_error == "disk full"
    assert (after.failure_count, after.consecutive_failures) == (1, 1)
    assert not after.is_paused and after.seq == failed.seq

    _, job = await manual_run(store, cron, at(4))
    await store.fail(job.job_id, "disk still full", at(5), fence_of(job))
    after = await cron_now(store, cron)
    assert after.is_paused and after.consecutive_failures == 2 and after.failure_count == 2
    assert after.last_error is not None
    assert after.last_error.startswith("Paused after 2 consecutive failures")
    assert after.last_error.endswith("disk still full")
    assert await store.due_cron_jobs(at(10_000)) == []

    # Resuming starts the streak again; a success resets it.
    await store.set_paused(cron.id, False, at(3600), at(6))
    _, job = await manual_run(store, cron, at(7))
    await store.fail(job.job_id, "again", at(8), fence_of(job))
    assert not (await cron_now(store, cron)).is_paused
    _, job = await manual_run(store, cron, at(9))
    await store.complete(job.job_id, None, at(10), fence_of(job))
    after = await cron_now(store, cron)
    assert (after.success_count, after.failure_count, after.consecutive_failures) == (1, 3, 0)


async def test_no_max_failures_never_pauses(store: Store) -> None:
    cron = await make(store, max_failures=None)
    for i in range(3):
        _, job = await manual_run(store, cron, at(10 * i))
        await store.fail(job.job_id, "x", at(10 * i + 1), fence_of(job))
    after = await cron_now(store, cron)
    assert not after.is_paused and after.consecutive_failures == 3


async def test_failures_without_a_limit_never_pause(store: Store) -> None:
    cron = await make(store, max_failures=None)  # NULL: never pause (the default is 5)
    for i in range(7):
        _, job = await manual_run(store, cron, at(10 * i))
        await store.fail(job.job_id, f"x{i}", at(10 * i + 1), fence_of(job))
    after = await cron_now(store, cron)
    assert not after.is_paused and after.consecutive_failures == 7
    assert after.next_run_at == at(60) and after.last_error == "x6"


def us(microseconds: int) -> timedelta:
    return timedelta(microseconds=microseconds)


async def test_the_jobs_trigger_writes_the_same_values_on_every_backend(store: Store) -> None:
    cron = await make(store, "exact", max_failures=2, overlap_policy=OverlapPolicy.ALLOW)
    read = await cron_now(store, cron)

    async def run(start: datetime, length: int, end: str, error: str | None = None) -> Execution:
        execution, job = await manual_run(store, cron, start)
        finish = start + us(length)
        if end == "complete":
            await store.complete(job.job_id, None, finish, fence_of(job))
        elif end == "fail":
            await store.fail(job.job_id, error, finish, fence_of(job))  # type: ignore[arg-type]
        else:
            await store.cancel(job.job_id, finish)
            await store.mark_cancelled(fence_of(job), finish)
        return await execution_now(store, execution)

    # duration_ms rounds to the nearest millisecond, half up.
    assert (await run(at(1), 2_499, "complete")).duration_ms == 2
    assert (await run(at(2), 2_500, "complete")).duration_ms == 3
    assert (await run(at(3), 2_999, "complete")).duration_ms == 3
    assert (await run(at(4), 400, "complete")).duration_ms == 0
    # last_error: the job's error on a failure, kept by a cancel, cleared by a success.
    failed = await run(at(5), 1_000, "fail", "disk full")
    assert failed.error_message == "disk full" and failed.duration_ms == 1
    after = await cron_now(store, cron)
    assert (after.last_status, after.last_error) == (ExecutionStatus.FAILED, "disk full")
    await run(at(6), 1_000, "cancel")
    after = await cron_now(store, cron)
    assert (after.last_status, after.last_error) == (ExecutionStatus.CANCELLED, "disk full")
    assert (after.consecutive_failures, after.is_paused) == (1, False)
    await run(at(7), 1_000, "complete")
    after = await cron_now(store, cron)
    assert (after.last_status, after.last_error, after.consecutive_failures) == (
        ExecutionStatus.SUCCESS, None, 0,
    )  # fmt: skip
    # A failure without a message leaves none (nothing is made up), and the pause says
    # why without one.
    await run(at(8), 1_000, "fail", None)
    after = await cron_now(store, cron)
    assert (after.last_status, after.last_error, after.is_paused) == (
        ExecutionStatus.FAILED, None, False,
    )  # fmt: skip
    await run(at(9), 1_000, "fail", None)
    after = await cron_now(store, cron)
    assert after.is_paused and after.next_run_at is None
    assert after.last_error == "Paused after 2 consecutive failures"
    assert after.updated_at == read.updated_at  # runs ending never move it

    # Paused by hand: more failures count, the pause state is left alone, and
    # last_error is the job's error (not a pause message).
    manual = await make(store, "manual", max_failures=1, overlap_policy=OverlapPolicy.ALLOW)
    held = await store.set_paused(manual.id, True, at(60), at(10))  # as the user left it
    _, job = await manual_run(store, manual, at(11))
    await store.fail(job.job_id, "boom", at(12), fence_of(job))
    after = await cron_now(store, manual)
    assert after.is_paused and after.next_run_at == held.next_run_at == at(60)
    assert after.last_error == "boom" and after.consecutive_failures == 1
    assert after.updated_at == held.updated_at


async def test_a_timed_out_job_is_a_timeout(store: Store) -> None:
    cron = await make(store)
    execution, job = await manual_run(store, cron, at(1))
    await store.fail(job.job_id, TIMED_OUT, at(301), fence_of(job))
    ended = await execution_now(store, execution)
    assert ended.status is ExecutionStatus.TIMEOUT and ended.error_message == TIMED_OUT
    after = await cron_now(store, cron)
    assert after.last_status is ExecutionStatus.TIMEOUT
    assert after.failure_count == 1 and after.consecutive_failures == 1


async def test_cancelled_runs(store: Store) -> None:
    cron = await make(store, overlap_policy=OverlapPolicy.ALLOW)
    pending = await fire_one(store, cron, at(60))
    await store.cancel(pending.job_id or "", at(61))
    assert (await execution_now(store, pending)).status is ExecutionStatus.CANCELLED

    running = await fire_one(store, cron, at(3660))
    job = await claim_one(store, at(3661))
    await store.cancel(job.job_id, at(3662))  # cancelling: the handler still runs
    assert (await execution_now(store, running)).status is ExecutionStatus.RUNNING
    await store.mark_cancelled(fence_of(job), at(3663))
    ended = await execution_now(store, running)
    assert ended.status is ExecutionStatus.CANCELLED and ended.completed_at == at(3663)
    after = await cron_now(store, cron)
    assert after.last_status is ExecutionStatus.CANCELLED
    assert (after.success_count, after.failure_count) == (0, 0)


async def test_a_retried_job_reopens_its_execution(store: Store) -> None:
    cron = await make(store)
    execution, job = await manual_run(store, cron, at(1))
    await store.fail(job.job_id, "x", at(2), fence_of(job))
    await store.retry(job.job_id, at(3))
    reopened = await execution_now(store, execution)
    assert reopened.status is ExecutionStatus.RUNNING and reopened.completed_at is None
    job = await claim_one(store, at(4))
    await store.complete(job.job_id, "ok", at(5), fence_of(job))
    ended = await execution_now(store, execution)
    assert ended.status is ExecutionStatus.SUCCESS and ended.result == "ok"
    after = await cron_now(store, cron)
    assert (after.success_count, after.failure_count, after.consecutive_failures) == (1, 1, 0)


async def test_lost_and_released_attempts(store: Store) -> None:
    cron = await make(store)
    execution, job = await manual_run(store, cron, at(1))
    await store.release([fence_of(job)], at(2))  # shutdown: back to pending
    assert (await execution_now(store, execution)).status is ExecutionStatus.RUNNING
    job = await claim_one(store, at(3))
    await store.rescue_expired(at(3 + 1000))  # max_retries 0: the lost attempt fails
    ended = await execution_now(store, execution)
    assert ended.status is ExecutionStatus.FAILED and ended.error_message is not None


async def test_executions_outlive_their_jobs(store: Store) -> None:
    cron = await make(store, overlap_policy=OverlapPolicy.ALLOW)
    deleted, job = await manual_run(store, cron, at(1))
    await store.complete(job.job_id, {"a": 1}, at(2), fence_of(job))
    await store.delete_job(job.job_id)
    kept = await execution_now(store, deleted)
    assert kept.status is ExecutionStatus.SUCCESS and kept.result == {"a": 1}
    assert kept.job_id == job.job_id and await store.get_job(job.job_id) is None

    cleaned, job = await manual_run(store, cron, at(3))
    await store.fail(job.job_id, "bad", at(4), fence_of(job))
    assert await store.cleanup(at(100)) == 1
    kept = await execution_now(store, cleaned)
    assert kept.status is ExecutionStatus.FAILED and kept.error_message == "bad"
    assert await store.get_job(job.job_id) is None


async def test_list_and_count_executions(store: Store) -> None:
    cron = await make(store, overlap_policy=OverlapPolicy.ALLOW)
    fired = await fire(
        store, cron, at(60), due=[at(60), at(120), at(180)], next_run_at=at(240), now=at(200)
    )
    manual = await store.run_now(cron.id, run_job(cron), TriggeredBy.MANUAL, None, at(150), "x")
    other = await make(store, "other")
    await fire_one(store, other, at(60))
    assert fired is not None
    newest_first = [fired[2], manual, fired[1], fired[0]]
    assert await store.list_executions(cron.id, 10, 0) == newest_first
    assert await store.list_executions(cron.id, 2, 1) == newest_first[1:3]
    assert await store.count_executions(cron.id) == 4
    assert await store.count_executions(cron.id + 1000) == 0
    assert await store.get_execution(10_000) is None


async def test_cleanup_executions(store: Store) -> None:
    cron = await make(store, overlap_policy=OverlapPolicy.ALLOW)
    old, job = await manual_run(store, cron, at(1))
    await store.complete(job.job_id, None, at(2), fence_of(job))
    recent, job = await manual_run(store, cron, at(500))
    await store.complete(job.job_id, None, at(501), fence_of(job))
    going, _ = await manual_run(store, cron, at(3))
    skipper = await make(store, "skipper")
    await fire_one(store, skipper, at(60))
    skipped = await fire_one(store, skipper, at(3660))
    assert await store.cleanup_executions(at(100)) == 1
    assert await store.get_execution(old.id) is None
    for kept in (recent, going, skipped):
        assert await store.get_execution(kept.id) is not None
    assert await store.cleanup_executions(at(10_000)) == 2  # recent and skipped
    assert await store.get_execution(going.id) is not None


# --- code-declared schedules (docs/cron.md) ---------------------------------------
async def test_upsert_declared_inserts_then_updates(store: Store) -> None:
    nightly = definition("nightly", plugin_id="acme")
    hourly = definition("hourly", cron_expression="@hourly", plugin_id="acme")
    first = await store.upsert_declared("acme", [(nightly, at(100)), (hourly, at(200))], T0)
    assert [c.name for c in first] == ["nightly", "hourly"]
    assert all(c.created_by == "plugin:acme" and c.declared_by == "acme" for c in first)
    assert [c.next_run_at for c in first] == [at(100), at(200)]

    # State a restart must keep: counters, a pause, a user's deactivation.
    _, job = await manual_run(store, first[0], at(1))
    await store.fail(job.job_id, "x", at(2), fence_of(job))
    await store.set_paused(first[0].id, True, None, at(3))
    disabled = replace(hourly, is_active=False)
    await store.update_cron_job(first[1].id, disabled, None, at(4))

    again = await store.upsert_declared(
        "acme",
        [
            (replace(nightly, description="new", cron_expression="0 3 * * *"), at(300)),
            (replace(hourly, max_retries=2), at(400)),
        ],
        at(5),
    )
    assert [c.id for c in again] == [c.id for c in first]
    night, hour = again
    assert night.definition.description == "new"
    assert night.definition.cron_expression == "0 3 * * *"
    assert night.is_paused and night.next_run_at is None  # paused: no next fire time
    assert night.failure_count == 1 and night.consecutive_failures == 1
    assert hour.definition.max_retries == 2 and not hour.definition.is_active
    assert await store.find_cron_jobs("nightly") == [night]


async def test_upsert_declared_recomputes_next_run_only_on_a_new_expression(
    store: Store,
) -> None:
    declared = definition("d", plugin_id="acme")
    [cron] = await store.upsert_declared("acme", [(declared, at(100))], T0)
    [same] = await store.upsert_declared("acme", [(replace(declared, tags=("x",)), at(999))], T0)
    assert same.id == cron.id and same.next_run_at == at(100)
    assert same.definition.tags == ("x",)
    unchanged = await store.upsert_declared("acme", [(replace(declared, tags=("x",)), at(9))], T0)
    assert unchanged == [same]  # nothing to change, nothing written
    [moved] = await store.upsert_declared(
        "acme", [(replace(declared, timezone="Europe/Berlin"), at(500))], at(1)
    )
    assert moved.next_run_at == at(500)


async def test_upsert_declared_deactivates_what_is_gone(store: Store) -> None:
    keep = definition("keep", plugin_id="acme")
    gone = definition("gone", plugin_id="acme")
    _, removed = await store.upsert_declared("acme", [(keep, at(10)), (gone, at(10))], T0)
    execution = await fire_one(store, removed, at(10))
    mine = await make(store, "api-made", plugin_id="acme")  # not declared in code
    other = await store.upsert_declared("other", [(definition("x"), at(10))], T0)

    await store.upsert_declared("acme", [(keep, at(10))], at(20))
    after = await cron_now(store, removed)
    assert not after.definition.is_active and after.run_count == 1
    assert await store.get_execution(execution.id) is not None  # history kept
    assert (await cron_now(store, mine)).definition.is_active
    assert (await cron_now(store, other[0])).definition.is_active
    assert [c.name for c in await store.due_cron_jobs(at(10))] == ["keep", "x"]


async def test_a_retired_declaration_comes_back_and_a_user_deactivation_stays(
    store: Store,
) -> None:
    keep = definition("keep", plugin_id="acme")
    gone = definition("gone", plugin_id="acme")
    off = definition("off", plugin_id="acme")
    rests = definition("rests", plugin_id="acme")
    declared = [(keep, at(10)), (gone, at(10)), (off, at(10)), (rests, at(10))]
    _, removed, disabled, paused = await store.upsert_declared("acme", declared, T0)
    assert not any(c.retired for c in (removed, disabled, paused))
    disabled = await store.update_cron_job(disabled.id, replace(off, is_active=False), at(9),
                                           at(1))  # fmt: skip
    assert not disabled.retired and not disabled.definition.is_active
    paused = await store.set_paused(paused.id, True, None, at(2))

    await store.upsert_declared("acme", [(keep, at(10))], at(3))  # three left the code
    retired = await cron_now(store, removed)
    assert retired.retired and not retired.definition.is_active
    assert retired.next_run_at is None and retired.updated_at == at(3)
    assert await cron_now(store, disabled) == disabled  # a user's: not touched, not retired
    assert (await cron_now(store, paused)).retired

    # Declared again, unchanged: the retired ones come back with a fresh next fire time
    # (none while paused); the one the user deactivated stays inactive.
    again = await store.upsert_declared(
        "acme", [(keep, at(10)), (gone, at(500)), (off, at(500)), (rests, at(500))], at(4)
    )
    _, back, still_off, resting = again
    assert back.id == removed.id and back.definition.is_active and not back.retired
    assert back.next_run_at == at(500) and back.updated_at == at(4)
    assert not back.is_paused and back.run_count == 0
    assert still_off == disabled  # nothing written
    assert resting.definition.is_active and not resting.retired
    assert resting.is_paused and resting.next_run_at is None
    assert [c.name for c in await store.due_cron_jobs(at(500))] == ["keep", "gone"]

    # Retired again, then activated by a user: an ordinary schedule from then on.
    await store.upsert_declared("acme", [(keep, at(10))], at(5))
    revived = await store.update_cron_job(back.id, gone, at(700), at(6))
    assert revived.definition.is_active and not revived.retired
    assert revived.next_run_at == at(700)


async def test_upsert_declared_refuses_a_name_declared_twice(store: Store) -> None:
    twice = definition("twice", plugin_id="acme")
    declared = [
        (twice, at(1)),
        (definition("other", plugin_id="acme"), at(1)),
        (replace(twice, description="again"), at(2)),
    ]
    with pytest.raises(ValidationError) as raised:
        await store.upsert_declared("acme", declared, T0)
    assert raised.value.message == "plugin 'acme' declares the cron job 'twice' twice"
    assert await store.find_cron_jobs("twice") == []
    assert await store.find_cron_jobs("other") == []  # nothing written
    # The same name for two stores is two name keys.
    both = await store.upsert_declared(
        "acme", [(replace(twice, store_id="s1"), at(1)), (replace(twice, store_id="s2"), at(1))], T0
    )
    assert len({c.id for c in both}) == 2


async def test_upsert_declared_never_takes_over_another_name(store: Store) -> None:
    taken = await make(store, "shared", plugin_id="acme")
    with pytest.raises(CronJobExists) as raised:
        await store.upsert_declared(
            "acme",
            [
                (definition("fresh", plugin_id="acme"), at(1)),
                (definition("shared", plugin_id="acme"), at(1)),
            ],
            T0,
        )
    assert raised.value.existing == taken
    assert await store.find_cron_jobs("fresh") == []  # one transaction: nothing written


async def test_concurrent_upserts_leave_one_schedule_per_name(open_store: OpenStore) -> None:
    stores = [await open_store() for _ in range(3)]
    declared = [(definition(f"job-{i}", plugin_id="acme"), at(60)) for i in range(5)]
    results = await asyncio.gather(*(s.upsert_declared("acme", declared, T0) for s in stores))
    ids = {tuple(c.id for c in result) for result in results}
    assert len(ids) == 1
    for i in range(5):
        assert len(await stores[0].find_cron_jobs(f"job-{i}")) == 1
    assert await stores[0].count_cron_jobs(CronFilter()) == 5


# --- signals --------------------------------------------------------------------
WAIT = 5.0  # seconds; the waits return as soon as the signal fires


async def test_schedule_writes_wake_the_scheduler(store: Store, open_store: OpenStore) -> None:
    signals = store.signals
    cron_mark, jobs_mark = signals.mark("cron"), signals.mark("jobs")
    cron = await make(store)
    assert await signals.wait("cron", cron_mark, 0) and await signals.wait("jobs", jobs_mark, 0)
    enqueue_mark = signals.mark("enqueue")
    await fire_one(store, cron, at(60))
    assert await signals.wait("enqueue", enqueue_mark, 0)
    for write in (
        lambda: store.set_paused(cron.id, True, None, at(61)),
        lambda: store.set_paused(cron.id, False, at(120), at(62)),
        lambda: store.update_cron_job(cron.id, cron.definition, at(180), at(63)),
        lambda: store.upsert_declared("acme", [(definition("d", plugin_id="acme"), at(9))], T0),
        lambda: store.delete_cron_job(cron.id),
    ):
        cron_mark = signals.mark("cron")
        await write()
        assert await signals.wait("cron", cron_mark, 0)

    # Another process (a second store on the same database) changes a schedule.
    scheduler = await open_store()
    cron_mark = scheduler.signals.mark("cron")
    await make(store, "elsewhere")
    assert await scheduler.signals.wait("cron", cron_mark, WAIT)
