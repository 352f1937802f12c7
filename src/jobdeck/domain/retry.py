"""Retry backoff (docs/lifecycle.md): 5 s, 30 s, 5 min, then 30 min, plus up to 10 % jitter."""

from __future__ import annotations

import random
from collections.abc import Sequence

DEFAULT_DELAYS: tuple[float, ...] = (5.0, 30.0, 300.0, 1800.0)
JITTER = 0.10


def backoff(
    attempt: int,
    delays: Sequence[float] | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before the retry that follows failed attempt number ``attempt`` (1-based).

    The last delay repeats for every later retry.
    """
    table = tuple(delays) if delays else DEFAULT_DELAYS
    base = table[min(max(attempt, 1), len(table)) - 1]
    jitter = (rng or random).uniform(0.0, JITTER) * base
    return float(base + jitter)


def retries_left(attempt: int, max_retries: int) -> bool:
    """``attempt`` attempts were made; the first one is not a retry."""
    return attempt <= max_retries
