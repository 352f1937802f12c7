"""Retry backoff (docs/lifecycle.md): 5 s, 30 s, 5 min, then 30 min, plus up to 10 % jitter."""

from __future__ import annotations

import random

import pytest

from jobdeck.domain.retry import DEFAULT_DELAYS, JITTER, backoff, retries_left


@pytest.mark.parametrize(
    ("attempt", "base"), [(1, 5.0), (2, 30.0), (3, 300.0), (4, 1800.0), (5, 1800.0), (50, 1800.0)]
)
def test_default_schedule_with_bounded_jitter(attempt: int, base: float) -> None:
    rng = random.Random(1234)
    for _ in range(200):
        delay = backoff(attempt, rng=rng)
        assert base <= delay <= base * (1 + JITTER)


def test_seeded_rng_is_deterministic() -> None:
    first = [backoff(a, rng=random.Random(7)) for a in range(1, 6)]
    second = [backoff(a, rng=random.Random(7)) for a in range(1, 6)]
    assert first == second


def test_jitter_actually_varies() -> None:
    rng = random.Random(42)
    assert len({backoff(1, rng=rng) for _ in range(20)}) > 1


def test_custom_delays_last_repeats() -> None:
    rng = random.Random(0)
    delays = [1.0, 2.0]
    assert 1.0 <= backoff(1, delays, rng) <= 1.1
    assert 2.0 <= backoff(2, delays, rng) <= 2.2
    assert 2.0 <= backoff(9, delays, rng) <= 2.2


def test_empty_delays_fall_back_to_default_and_attempt_zero_is_first() -> None:
    rng = random.Random(0)
    assert DEFAULT_DELAYS[0] <= backoff(1, [], rng) <= DEFAULT_DELAYS[0] * 1.1
    assert DEFAULT_DELAYS[0] <= backoff(0, None, rng) <= DEFAULT_DELAYS[0] * 1.1


def test_backoff_returns_float() -> None:
    assert isinstance(backoff(1, [3], random.Random(0)), float)


@pytest.mark.parametrize(
    ("attempt", "max_retries", "left"),
    [(1, 0, False), (1, 1, True), (2, 1, False), (3, 3, True), (4, 3, False)],
)
def test_retries_left(attempt: int, max_retries: int, left: bool) -> None:
    assert retries_left(attempt, max_retries) is left
