"""The Job record's enums: Priority parsing and ordering, Status, Mode."""

from __future__ import annotations

import pytest

from jobdeck.domain.job import Fence, JobFilter, Mode, NewJob, Priority, Status, parse_statuses
from jobdeck.errors import ValidationError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("urgent", Priority.URGENT),
        ("HIGH", Priority.HIGH),
        ("Normal", Priority.NORMAL),
        ("low", Priority.LOW),
        (0, Priority.LOW),
        (3, Priority.URGENT),
        (Priority.HIGH, Priority.HIGH),
    ],
)
def test_priority_parse(value: str | int | Priority, expected: Priority) -> None:
    assert Priority.parse(value) is expected


@pytest.mark.parametrize("value", ["critical", "", 4, -1, True, 1.0, None])
def test_priority_parse_rejects(value: object) -> None:
    with pytest.raises(ValidationError, match="urgent, high, normal, low"):
        Priority.parse(value)  # type: ignore[arg-type]


def test_priority_orders_numerically_not_as_text() -> None:
    ordered = sorted(Priority, reverse=True)
    assert ordered == [Priority.URGENT, Priority.HIGH, Priority.NORMAL, Priority.LOW]
    assert [p.label for p in ordered] == ["urgent", "high", "normal", "low"]


def test_status_and_mode_values() -> None:
    assert [s.value for s in Status] == [
        "pending",
        "running",
        "cancelling",
        "completed",
        "failed",
        "cancelled",
    ]
    assert Status("running") is Status.RUNNING
    assert {m.value for m in Mode} == {"tracked", "queued"}


def test_defaults() -> None:
    new = NewJob(name="n", type="t", mode=Mode.QUEUED)
    assert new.priority is Priority.NORMAL and new.max_retries == 3
    assert new.show_notification is True and new.payload == {} and new.metadata == {}
    assert NewJob(name="n", type="t", mode=Mode.QUEUED).payload is not new.payload
    assert JobFilter().status == ()
    assert Fence("j", 1, "w") == Fence("j", 1, "w")


def test_status_names_are_read_by_one_rule() -> None:
    assert parse_statuses(None) == ()
    assert parse_statuses("failed") == (Status.FAILED,)
    assert parse_statuses(["completed,failed", " failed ", ""]) == (
        Status.COMPLETED,
        Status.FAILED,
    )
    with pytest.raises(ValidationError, match=r"filter.status: unknown status 'done' \(known"):
        parse_statuses(["done"], "filter.status")
    with pytest.raises(ValidationError, match="status must be a status name"):
        parse_statuses(3)
