"""The lifecycle of SPEC §2.2 as data.

The store enforces these with conditional updates (``... WHERE status IN (...)``);
this table is the single source of the allowed "from" statuses for each verb.
"""

from __future__ import annotations

from jobdeck.domain.job import Mode, Status

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
