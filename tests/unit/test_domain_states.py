"""The transition table of docs/lifecycle.md."""

from __future__ import annotations

import pytest

from jobdeck.domain.job import TERMINAL, Fence, Mode, Status
from jobdeck.domain.states import ALLOWED_FROM, cancel_target, check, refusal
from jobdeck.errors import InvalidTransition, JobNotFound, StaleWrite

S = Status


def test_terminal_statuses() -> None:
    assert {s for s in Status if s.terminal} == {S.COMPLETED, S.FAILED, S.CANCELLED}
    assert {S.COMPLETED, S.FAILED, S.CANCELLED} == TERMINAL


@pytest.mark.parametrize(
    ("verb", "allowed"),
    [
        ("start", {S.PENDING}),
        ("claim", {S.PENDING}),
        ("progress", {S.RUNNING, S.CANCELLING}),
        ("complete", {S.RUNNING, S.CANCELLING}),
        ("fail", {S.RUNNING, S.CANCELLING}),
        ("retry_later", {S.RUNNING}),
        ("cancel", {S.PENDING, S.RUNNING}),
        ("mark_cancelled", {S.CANCELLING}),
        ("retry", {S.FAILED, S.CANCELLED}),
        ("delete", {S.COMPLETED, S.FAILED, S.CANCELLED}),
        ("release", {S.RUNNING, S.CANCELLING}),
    ],
)
def test_allowed_from(verb: str, allowed: set[Status]) -> None:
    assert ALLOWED_FROM[verb] == allowed
    for status in Status:
        assert check(verb, status) is (status in allowed)


def test_no_verb_leaves_a_terminal_status_except_retry_and_delete() -> None:
    for verb, allowed in ALLOWED_FROM.items():
        if verb not in ("retry", "delete"):
            assert not allowed & TERMINAL, verb


@pytest.mark.parametrize(
    ("mode", "status", "target"),
    [
        (Mode.QUEUED, S.RUNNING, S.CANCELLING),  # the worker is asked to stop
        (Mode.TRACKED, S.RUNNING, S.CANCELLED),  # its creator drives it: stops at once
        (Mode.QUEUED, S.PENDING, S.CANCELLED),
        (Mode.TRACKED, S.PENDING, S.CANCELLED),
    ],
)
def test_cancel_target(mode: Mode, status: Status, target: Status) -> None:
    assert cancel_target(mode, status) is target


def test_refusal_says_why_a_transition_changed_nothing() -> None:
    row = {"status": "running", "mode": "queued", "attempt": 2, "locked_by": "w1"}
    assert isinstance(refusal("complete", "j", None), JobNotFound)
    stale = refusal("complete", "j", row, Fence("j", 1, "w1"))
    assert isinstance(stale, StaleWrite) and "attempt 1 of worker w1" in stale.message
    assert str(refusal("progress", "j", {**row, "status": "completed"})) == (
        "cannot update the progress of job j: it is completed"
    )
    assert "a worker starts it" in str(refusal("start", "j", {**row, "status": "pending"}))
    tracked = refusal("retry", "j", {**row, "mode": "tracked", "status": "failed"})
    assert isinstance(tracked, InvalidTransition) and "only queued jobs" in str(tracked)
