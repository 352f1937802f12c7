"""Progress rules (docs/progress.md): clamping, metadata merge, rate and ETA."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from jobdeck.domain.values import check_text
from jobdeck.errors import ValidationError


def clamp_progress(value: object) -> float:
    """A number 0–100; NaN, infinities, bools and non-numbers are an error."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"progress must be a number 0-100, not {value!r}")
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise ValidationError(f"progress must be a finite number, not {value!r}")
    return min(100.0, max(0.0, number))


def split_progress_args(
    metadata: Mapping[str, Any] | str | None, message: str | None
) -> tuple[dict[str, Any] | None, str | None]:
    """The second argument may be metadata (a dict) or the message (a string): accept
    both (docs/progress.md)."""
    if isinstance(metadata, str):
        if message is not None:
            raise ValidationError("give the message once: positionally or as message=")
        metadata, message = None, metadata
    if metadata is not None and not isinstance(metadata, Mapping):
        raise ValidationError(f"metadata must be an object, not {type(metadata).__name__}")
    if message is not None and not isinstance(message, str):
        raise ValidationError("message must be a string")
    check_text("message", message)
    return (dict(metadata) if metadata is not None else None), message


def merge_metadata(current: Mapping[str, Any], patch: Mapping[str, Any] | None) -> dict[str, Any]:
    merged = dict(current)
    if patch:
        merged.update(patch)
    return merged


# The rate's window (docs/progress.md): the updates of the last WINDOW_US, at least
# SPACING_US apart, so a job row holds at most ~21 samples however often it reports.
WINDOW_US = 10_000_000
SPACING_US = 500_000

Sample = tuple[int, float]
"""One progress update: (microseconds since the epoch, progress)."""


def advance_window(samples: Sequence[Sample] | None, progress: float, now_us: int) -> list[Sample]:
    """The samples after an update of ``progress`` at ``now_us``.

    The instant of ``start`` is never a sample: a job that reports 10 % a moment
    after it starts did not move at thousands of percent per second. Samples from a
    later clock than ``now_us`` (another host's) are dropped; progress that went back
    starts a new series. An update closer than SPACING_US to the sample before the
    newest replaces the newest. Samples older than WINDOW_US go, except the newest of
    them when the window would otherwise hold only this update (a job that reports
    rarely, or after a stall, still has a rate).

    jobdeck_progress_window (PostgreSQL migration 5) mirrors this step for step.
    """
    kept = [(int(t), float(p)) for t, p in samples or () if t <= now_us]
    if kept and progress < kept[-1][1]:
        kept = []
    if len(kept) >= 2 and now_us - kept[-2][0] < SPACING_US:
        kept[-1] = (now_us, progress)
    else:
        kept.append((now_us, progress))
    first = 0
    while first < len(kept) - 1 and kept[first][0] < now_us - WINDOW_US:
        first += 1
    if first == len(kept) - 1 and first > 0:
        first -= 1
    return kept[first:]


def window_rate(samples: Sequence[Sample]) -> float | None:
    """Percent per second from the oldest to the newest sample; None with fewer than
    two samples apart in time. jobdeck_window_rate (PostgreSQL migration 5) mirrors it."""
    if len(samples) < 2 or samples[-1][0] <= samples[0][0]:
        return None
    seconds = float(samples[-1][0] - samples[0][0]) / 1_000_000.0
    return (samples[-1][1] - samples[0][1]) / seconds


def eta_of(rate: float | None, progress: float) -> float | None:
    """Seconds to 100 % at ``rate``; None when the rate is 0 or unknown (jobdeck_eta)."""
    if rate is None or rate <= 0:
        return None
    return max(0.0, (100.0 - progress) / rate)


def estimate(
    samples: Sequence[Sample] | None, progress: float, now_us: int
) -> tuple[list[Sample], float | None, float | None]:
    """(the new window, rate in percent per second, ETA in seconds) after an update."""
    window = advance_window(samples, progress, now_us)
    rate = window_rate(window)
    return window, rate, eta_of(rate, progress)
