"""Inserting, reading, JSON round trips, filters before paging, counts, migrations."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import overload

import pytest
from store_support import T0, OpenStore, at, insert, new_job

from jobdeck.domain.job import JobFilter, Mode, NewJob, Priority, Status
from jobdeck.errors import ValidationError
from jobdeck.store.base import Store


@pytest.mark.empty_database  # the first open migrates an empty database
async def test_schema_migration_is_idempotent(store: Store, open_store: OpenStore) -> None:
    version = await store.schema_version()
    assert version >= 1
    job = await insert(store)
    again = await open_store()  # migrates the same database a second time
    assert await again.schema_version() == version
    assert await again.get_job(job.job_id) == job


async def test_insert_returns_new_pending_jobs_in_order(store: Store) -> None:
    jobs = await store.insert_jobs(
        [new_job(name="a"), new_job(Mode.TRACKED, name="b"), new_job(name="c", run_at=at(60))],
        T0,
    )
    assert [j.name for j in jobs] == ["a", "b", "c"]
    assert jobs[0].id < jobs[1].id < jobs[2].id
    assert len({j.job_id for j in jobs}) == 3
    for job in jobs:
        uuid.UUID(job.job_id)
        assert job.status is Status.PENDING and job.attempt == 0
        assert job.created_at == T0 and job.updated_at == T0
        assert job == await store.get_job(job.job_id)
    assert jobs[0].run_at == T0  # defaults to now
    assert jobs[2].run_at == at(60)
    assert await store.insert_jobs([], T0) == []


# One optional field each (plus none at all): a store may write jobs of one batch
# through different statements; the batch must still read back exactly, in order.
OPTIONAL_FIELDS: list[dict[str, object]] = [
    {},
    {"description": "d"},
    {"icon_svg": "<svg/>"},
    {"source": "shop"},
    {"plugin_id": "p"},
    {"store_id": "s"},
    {"user_id": "u"},
    {"created_by": "token:7:ci"},
    {"retry_delays": (1.0, 2.0)},
    {"cron_job_id": 3},
]


async def test_a_mixed_batch_reads_back_exactly_in_order(store: Store) -> None:
    specs = [OPTIONAL_FIELDS[i % len(OPTIONAL_FIELDS)] for i in range(123)]
    jobs = await store.insert_jobs(
        [new_job(name=f"job {i}", **spec) for i, spec in enumerate(specs)], T0
    )
    assert [j.name for j in jobs] == [f"job {i}" for i in range(123)]
    assert [j.id for j in jobs] == sorted(j.id for j in jobs)
    for job, spec in zip(jobs, specs, strict=True):
        assert job == await store.get_job(job.job_id)
        for field, value in spec.items():
            assert getattr(job, field) == value


async def test_created_by_defaults_to_local_and_round_trips(store: Store) -> None:
    jobs = await store.insert_jobs(
        [new_job(), new_job(created_by="token:3:deploy"), new_job(Mode.TRACKED)], T0
    )
    assert [j.created_by for j in jobs] == ["local", "token:3:deploy", "local"]
    for job in jobs:
        assert (await store.get_job(job.job_id)) == job
    [listed] = [j for j in await store.list_jobs(JobFilter(), 10, 0) if j.id == jobs[1].id]
    assert listed.created_by == "token:3:deploy"


async def test_get_unknown_job_is_none(store: Store) -> None:
    assert await store.get_job(str(uuid.uuid4())) is None


async def test_json_and_every_field_round_trip(store: Store) -> None:
    payload = {"nested": {"list": [1, 2.5, "three", None, True]}, "unicode": "Grüße ✓", "n": -1}
    job = await insert(
        store,
        name="Import Products",
        type="plugin:shop:import",
        description="all of them",
        priority=Priority.HIGH,
        payload=payload,
        metadata={"apiUrl": "https://example.com", "empty": {}},
        icon_svg="<svg/>",
        source="shop",
        plugin_id="shop-plugin",
        store_id="store-1",
        user_id="u-1",
        created_by="plugin:shop",
        show_notification=False,
        max_retries=7,
        timeout=42,
        retry_delays=(1.0, 2.5, 60.0),
        cron_job_id=12,
    )
    stored = await store.get_job(job.job_id)
    assert stored == job
    assert stored is not None
    assert stored.payload == payload
    assert stored.retry_delays == (1.0, 2.5, 60.0)
    assert stored.priority is Priority.HIGH and stored.show_notification is False
    assert stored.created_by == "plugin:shop"
    assert stored.created_at is not None and stored.created_at.tzinfo is not None
    for result in ({"a": [1, {"b": None}]}, [1, 2], "text", 3.25, None, True):
        tracked = await insert(store, Mode.TRACKED)
        await store.start(tracked.job_id, at(1))
        done = await store.complete(tracked.job_id, result, at(2))
        assert done.result == result
        assert (await store.get_job(tracked.job_id)).result == result  # type: ignore[union-attr]


async def _catalogue(store: Store) -> None:
    """20 jobs: 4 types x statuses, sources, stores, plugins and modes varied."""
    specs = []
    for i in range(20):
        specs.append(
            new_job(
                Mode.TRACKED if i % 2 else Mode.QUEUED,
                name=f"Job {i} {'Import Products' if i % 5 == 0 else 'sync'}",
                type=f"type-{i % 4}",
                description="Nightly EXPORT" if i % 7 == 0 else None,
                source="alpha" if i % 3 == 0 else "beta",
                store_id=f"store-{i % 2}",
                plugin_id="p1" if i < 10 else "p2",
            )
        )
    jobs = await store.insert_jobs(specs, T0)
    for job in jobs[:6]:
        await store.cancel(job.job_id, at(1))


FILTERS = [
    JobFilter(),
    JobFilter(status=(Status.CANCELLED,)),
    JobFilter(status=(Status.CANCELLED, Status.PENDING)),
    JobFilter(type="type-1"),
    JobFilter(source="alpha"),
    JobFilter(store_id="store-1"),
    JobFilter(plugin_id="p2"),
    JobFilter(mode=Mode.TRACKED),
    JobFilter(text="import products"),
    JobFilter(text="EXPORT"),
    JobFilter(text="TYPE-3"),
    JobFilter(status=(Status.PENDING,), source="beta", mode=Mode.QUEUED, plugin_id="p2"),
    JobFilter(type="nope"),
]


def _matches(where: JobFilter, job: object) -> bool:
    from jobdeck.domain.job import Job

    assert isinstance(job, Job)
    text = (where.text or "").lower()
    haystack = " ".join([job.name, job.description or "", job.type]).lower()
    return (
        (not where.status or job.status in where.status)
        and where.type in (None, job.type)
        and where.source in (None, job.source)
        and where.store_id in (None, job.store_id)
        and where.plugin_id in (None, job.plugin_id)
        and where.mode in (None, job.mode)
        and text in haystack
    )


@pytest.mark.parametrize("where", FILTERS, ids=lambda w: repr(w)[9:60])
async def test_filters_apply_before_paging(store: Store, where: JobFilter) -> None:
    await _catalogue(store)
    everything = await store.list_jobs(JobFilter(), 1000, 0)
    assert [j.id for j in everything] == sorted((j.id for j in everything), reverse=True)
    expected = [j for j in everything if _matches(where, j)]
    assert await store.count_jobs(where) == len(expected)
    assert await store.list_jobs(where, 1000, 0) == expected
    pages = [await store.list_jobs(where, 3, offset) for offset in range(0, 21, 3)]
    assert [j for page in pages for j in page] == expected
    assert all(len(page) == 3 for page in pages[: len(expected) // 3])
    counts: dict[Status, int] = {}
    for job in expected:
        counts[job.status] = counts.get(job.status, 0) + 1
    by_status = {k: v for k, v in (await store.count_by_status(where)).items() if v}
    assert by_status == counts


async def test_offset_past_the_end_is_empty(store: Store) -> None:
    await _catalogue(store)
    assert await store.list_jobs(JobFilter(), 10, 100) == []


class Refused(Sequence[NewJob]):
    """Jobs made as they are read, as the deck's bulk checks make them: reading the
    job at ``bad`` raises, however the store reads (by index, slice or iteration)."""

    def __init__(self, count: int, bad: int) -> None:
        self._count, self._bad = count, bad

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> NewJob: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[NewJob]: ...
    def __getitem__(self, index: int | slice) -> NewJob | Sequence[NewJob]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        if not -self._count <= index < self._count:
            raise IndexError(index)
        if index % self._count == self._bad:
            raise ValidationError(f"job {self._bad} is refused")
        return new_job(name=f"job {index % self._count}")


@pytest.mark.parametrize("count", [1, 5, 500])  # one, a few, a bulk (PostgreSQL: COPY)
async def test_a_job_refused_as_it_is_read_writes_none(store: Store, count: int) -> None:
    with pytest.raises(ValidationError, match=f"job {count - 1} is refused"):
        await store.insert_jobs(Refused(count, count - 1), T0)
    assert await store.count_jobs(JobFilter()) == 0
    assert await store.changes_since(0) == []
    assert len(await store.insert_jobs([new_job()], T0)) == 1
