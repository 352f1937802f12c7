"""Progress rules (SPEC §2.5): clamping, metadata merge, rate and ETA."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
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
    """Seed 1 passes metadata second, seed 2 a message: accept both."""
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


SMOOTHING = 0.3  # weight of the newest sample in the rate's moving average


def estimate(
    prev_rate: float | None,
    prev_progress: float,
    prev_at: datetime | None,
    progress: float,
    now: datetime,
) -> tuple[float | None, float | None]:
    """(rate in percent per second, ETA in seconds) after a progress update.

    An exponential moving average of per-update rates: stateless apart from the
    previous values, so any process can compute it from the stored row.
    """
    if prev_at is None or progress < prev_progress:
        return None, None
    seconds = (now - prev_at).total_seconds()
    if seconds <= 0:
        rate = prev_rate
    else:
        instant = (progress - prev_progress) / seconds
        rate = instant if prev_rate is None else SMOOTHING * instant + (1 - SMOOTHING) * prev_rate
    if not rate or rate <= 0:
        return rate, None
    return rate, max(0.0, (100.0 - progress) / rate)
