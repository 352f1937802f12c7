"""The job lifecycle (docs/lifecycle.md) as data.

The store enforces these with conditional updates (``... WHERE status IN (...)``);
this table is the single source of the allowed "from" statuses for each verb.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jobdeck.domain.job import Fence, Mode, Status
from jobdeck.errors import InvalidTransition, JobdeckError, JobNotFound, StaleWrite

P, R, X, C, F, K = (
    Status.PENDING,
    Status.RUNNING,
    Status.CANCELLING,
    Status.COMPLETED,
    Status.FAILED,
    Status.CANCELLED,
)

# verb -> statuses it may start from
ALLOWED_FROM: dict[str, frozenset[Status]] = {
    "start": frozenset({P}),  # tracked jobs; workers claim queued ones
    "claim": frozenset({P}),
    "progress": frozenset({R, X}),
    "complete": frozenset({R, X}),
    "fail": frozenset({R, X}),
    "retry_later": frozenset({R}),  # a failed attempt with retries left
    "cancel": frozenset({P, R}),
    "mark_cancelled": frozenset({X}),
    "retry": frozenset({F, K}),
    "delete": frozenset({C, F, K}),
    "release": frozenset({R, X}),
}


def cancel_target(mode: Mode, status: Status) -> Status:
    """A running queued job is asked to stop (cancelling); anything else stops at once."""
    if status is R and mode is Mode.QUEUED:
        return X
    return K


def check(verb: str, status: Status) -> bool:
    return status in ALLOWED_FROM[verb]


# Statuses in which a worker's attempt still owns its job: its fenced writes apply.
OWNED = frozenset({R, X})


def owns(state: Mapping[str, Any], fence: Fence) -> bool:
    """Whether the attempt ``fence`` names still holds the job whose row is ``state``."""
    return (
        state["attempt"] == fence.attempt
        and state["locked_by"] == fence.worker_id
        and Status(state["status"]) in OWNED
    )


_ACTIONS = {"progress": "update the progress of"}


def refusal(
    verb: str, job_id: str, state: Mapping[str, Any] | None, fence: Fence | None = None
) -> JobdeckError:
    """Why ``verb`` changed nothing, from the job's current row ``state`` (its status,
    mode, attempt and locked_by; None when there is no such job). Every store raises
    what this returns when a conditional update matched no row, so a refusal reads the
    same on every backend: not found, a stale attempt (its lease lost), or the
    transition not allowed from the job's status (docs/lifecycle.md)."""
    if state is None:
        return JobNotFound(f"no job {job_id}")
    if fence is not None and not owns(state, fence):
        return StaleWrite(
            f"job {job_id}: attempt {fence.attempt} of worker {fence.worker_id} lost its lease"
        )
    status = Status(state["status"])
    if verb == "start" and state["mode"] == Mode.QUEUED.value and status is P:
        return InvalidTransition(f"job {job_id} is queued: a worker starts it")
    if verb == "retry" and state["mode"] == Mode.TRACKED.value:
        return InvalidTransition(f"job {job_id} is tracked: only queued jobs are retried")
    action = _ACTIONS.get(verb, verb.replace("_", " "))
    return InvalidTransition(f"cannot {action} job {job_id}: it is {status.value}")
