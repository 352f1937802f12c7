"""What the UI reads (docs/ui.md): sort orders, text search by index, history after an
event, jobs finished per minute, worker presence — on every backend."""

from __future__ import annotations

from datetime import timedelta

import pytest
from store_support import LEASE, T0, WORKER, at, claim_one, insert, new_job

from jobdeck.domain.job import JobFilter, Mode, Priority, Status
from jobdeck.domain.listing import JOB_SORT_KEYS, JobSort, WorkerPresence
from jobdeck.errors import ValidationError
from jobdeck.store.base import Store


async def test_every_sort_key_orders_then_breaks_ties_by_id(store: Store) -> None:
    names = ["b", "a", "c", "a", "B"]
    priorities = [Priority.LOW, Priority.URGENT, Priority.NORMAL, Priority.URGENT, Priority.HIGH]
    jobs = []
    for i, (name, priority) in enumerate(zip(names, priorities, strict=True)):
        [job] = await store.insert_jobs([new_job(name=name, priority=priority)], at(i))
        jobs.append(job)
    await store.start((await insert(store, Mode.TRACKED, name="t", now=at(9))).job_id, at(10))
    everything = [*(await store.list_jobs(JobFilter(), 100, 0))]
    assert [j.name for j in everything] == ["t", "B", "a", "c", "a", "b"]  # newest first
    for key in JOB_SORT_KEYS:
        for descending in (False, True):
            order = await store.list_jobs(JobFilter(), 100, 0, JobSort(key, descending))
            attribute = {"created_at": "id"}.get(key, key)

            def sort_value(job, attribute=attribute):  # type: ignore[no-untyped-def]
                value = getattr(job, attribute)
                return (value.value if isinstance(value, Status) else value, job.id)

            assert [j.id for j in order] == [
                j.id for j in sorted(everything, key=sort_value, reverse=descending)
            ], (key, descending)
    by_name = await store.list_jobs(JobFilter(), 3, 1, JobSort("name", descending=False))
    assert [j.name for j in by_name] == ["a", "a", "b"]  # code point order: "B" < "a"


def test_sort_parse() -> None:
    assert JobSort.parse(None) == JobSort()
    assert JobSort.parse("-updated_at") == JobSort("updated_at", True)
    assert JobSort.parse("name") == JobSort("name", False)
    with pytest.raises(ValidationError, match="sort must be one of"):
        JobSort.parse("payload")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("shop", {"Import from Shopify", "Shop sync"}),
        ("SHOPIFY", {"Import from Shopify"}),
        ("ify", {"Import from Shopify"}),  # inside a word
        ("nightly", {"Export"}),  # the description
        ("ex", {"Export", "Index"}),  # shorter than a trigram: still a substring test
        ('say "hi"', {'Say "hi" 100%'}),  # quotes and % are text, not syntax
        ("100%", {'Say "hi" 100%'}),
        ("zzz", set()),
    ],
)
async def test_text_search_is_a_substring_of_name_description_or_type(
    store: Store, text: str, expected: set[str]
) -> None:
    specs = [
        ("Import from Shopify", None, "import"),
        ("Shop sync", None, "sync"),
        ("Export", "The nightly run", "export"),
        ("Index", None, "reindex"),
        ('Say "hi" 100%', None, "greet"),
    ]
    await store.insert_jobs([new_job(name=n, description=d, type=t) for n, d, t in specs], T0)
    where = JobFilter(text=text)
    # Exact before the index holds the jobs (a backend may fill it later), and after.
    for indexed in (False, True):
        if indexed:
            while await store.index_text(2):
                pass
        found = await store.list_jobs(where, 100, 0)
        assert {j.name for j in found} == expected, indexed
        assert await store.count_jobs(where) == len(expected)
        counts = await store.count_by_status(where)
        assert sum(counts.values()) == len(expected)


async def test_text_search_finds_a_bulk_at_every_stage_of_its_jobs(store: Store) -> None:
    """Jobs enqueued in bulk (by COPY on PostgreSQL) are found at once, while some are
    claimed or cancelled, after a maintenance pass that leaves the younger ones, and
    after every job is indexed: a backend may index them at any of these points."""
    bulk = [new_job(name=f"Needle {i}", description="bulk") for i in range(150)]
    bulk[7] = new_job(name="Haystack", description="the odd one")
    await store.insert_jobs(bulk, T0)
    await store.insert_jobs([new_job(name="Needle later")], at(60))

    async def check() -> None:
        found = await store.list_jobs(JobFilter(text="needle"), 200, 0)
        assert len(found) == 150 and "Haystack" not in {j.name for j in found}
        assert await store.count_jobs(JobFilter(text="NEEDLE")) == 150
        assert sum((await store.count_by_status(JobFilter(text="needle"))).values()) == 150
        [odd] = await store.list_jobs(JobFilter(text="odd one"), 200, 0)
        assert odd.name == "Haystack"
        assert [j.name for j in await store.list_jobs(JobFilter(text="later"), 10, 0)] == [
            "Needle later"
        ]

    await check()
    claimed = await store.claim(WORKER, 5, at(1), LEASE)
    await store.cancel((await store.list_jobs(JobFilter(text="needle 99"), 1, 0))[0].job_id, at(1))
    assert len(claimed) == 5
    await check()
    await store.index_text(20, now=at(61))  # may leave "Needle later" and the due ones
    await check()
    while await store.index_text(50):
        pass
    await check()


async def test_text_search_follows_deletes(store: Store) -> None:
    job = await insert(store, Mode.TRACKED, name="Ephemeral report")
    later = await insert(store, Mode.TRACKED, name="Ephemeral too")
    await store.index_text(1)  # the first is indexed, the second not yet
    for each in (job, later):
        await store.cancel(each.job_id, at(1))
    assert await store.count_jobs(JobFilter(text="ephemeral")) == 2
    await store.delete_job(job.job_id)
    assert await store.count_jobs(JobFilter(text="ephemeral")) == 1
    await store.delete_job(later.job_id)
    await store.index_text()
    assert await store.count_jobs(JobFilter(text="ephemeral")) == 0
    await insert(store, Mode.TRACKED, name="Ephemeral again")  # may reuse nothing stale
    await store.index_text()
    assert [j.name for j in await store.list_jobs(JobFilter(text="ephem"), 10, 0)] == [
        "Ephemeral again"
    ]


async def test_filters_combine_with_sort_and_paging(store: Store) -> None:
    await store.insert_jobs(
        [
            new_job(name=f"job {i}", store_id=f"s{i % 2}", plugin_id="p", source="src")
            for i in range(10)
        ],
        T0,
    )
    where = JobFilter(store_id="s1", plugin_id="p", source="src", mode=Mode.QUEUED)
    page = await store.list_jobs(where, 2, 1, JobSort("name", descending=False))
    assert [j.name for j in page] == ["job 3", "job 5"]
    assert await store.count_jobs(where) == 5
    assert await store.count_jobs(JobFilter(status=(Status.PENDING,), store_id="s0")) == 5


async def test_history_after_an_event_pages_forward(store: Store) -> None:
    job = await insert(store, Mode.TRACKED)
    await store.start(job.job_id, at(1))
    for i in range(5):
        await store.add_history(job.job_id, "log", f"line {i}", None, at(2 + i))
    every = await store.get_history(job.job_id)
    assert [e.kind for e in every] == ["created", "started", *["log"] * 5]
    after = await store.get_history(job.job_id, after=every[2].id)
    assert [e.message for e in after] == [f"line {i}" for i in range(1, 5)]
    first_two = await store.get_history(job.job_id, limit=2, after=every[2].id)
    assert [e.message for e in first_two] == ["line 1", "line 2"]
    assert await store.get_history(job.job_id, after=every[-1].id) == []


async def test_finished_per_minute(store: Store) -> None:
    done = [await insert(store, Mode.TRACKED, name=f"d{i}", store_id="a") for i in range(3)]
    for i, job in enumerate(done):
        await store.start(job.job_id, at(0))
        await store.complete(job.job_id, None, at(60 * i + 5))
    failing = await insert(store, Mode.TRACKED, store_id="b")
    await store.start(failing.job_id, at(0))
    await store.fail(failing.job_id, "boom", at(65))
    running = await insert(store, Mode.TRACKED)
    await store.start(running.job_id, at(0))
    counted = await store.finished_per_minute(JobFilter(), at(60))
    table = {(c.minute, c.status): c.count for c in counted}
    assert table == {
        (at(60), Status.COMPLETED): 1,
        (at(60), Status.FAILED): 1,
        (at(120), Status.COMPLETED): 1,
    }
    scoped = await store.finished_per_minute(JobFilter(store_id="a"), T0)
    assert sum(c.count for c in scoped) == 3
    assert all(c.status is Status.COMPLETED for c in scoped)


async def test_worker_presence(store: Store) -> None:
    def presence(worker_id: str, seen: float, running: tuple[str, ...] = ()) -> WorkerPresence:
        return WorkerPresence(worker_id, "host-1", 42, 4, running, T0, at(seen))

    await store.record_worker(presence("w-1", 0))
    await store.record_worker(presence("w-2", 5, ("job-a", "job-b")))
    await store.record_worker(presence("w-1", 10, ("job-c",)))  # replaces its row
    alive = await store.list_workers(at(1))
    assert alive == [presence("w-1", 10, ("job-c",)), presence("w-2", 5, ("job-a", "job-b"))]
    assert [w.worker_id for w in await store.list_workers(at(6))] == ["w-1"]
    assert await store.remove_workers(["w-1"], at(0)) == 1
    assert await store.list_workers(T0) == [presence("w-2", 5, ("job-a", "job-b"))]
    assert await store.remove_workers([], at(6)) == 1  # seen before 6 s: gone
    assert await store.list_workers(T0 - timedelta(days=1)) == []


async def test_a_claimed_job_shows_in_the_presence_its_worker_records(store: Store) -> None:
    job = await insert(store)
    claimed = await claim_one(store, at(1))
    await store.record_worker(WorkerPresence("w", "h", 1, 1, (claimed.job_id,), T0, at(1)))
    [worker] = await store.list_workers(T0)
    assert worker.running == (job.job_id,)
