import time
import uuid

from jobdeck.domain.ids import new_job_ids


def test_job_ids_are_distinct_uuid7_strings() -> None:
    ids = new_job_ids(20_000)
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)  # a batch's jobs take them in order: index appends
    for text in ids[:500]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text  # canonical lower-case form
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122


def test_job_ids_carry_their_creation_time_so_later_ids_sort_after() -> None:
    before = time.time_ns() // 1_000_000
    first = new_job_ids(1)[0]
    time.sleep(0.002)
    second = new_job_ids(1)[0]
    after = time.time_ns() // 1_000_000
    stamp = uuid.UUID(first).int >> 80
    assert before <= stamp <= after
    assert first < second
