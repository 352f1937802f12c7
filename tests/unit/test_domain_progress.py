"""Progress rules (SPEC §2.5): clamp, the two calling conventions, merge, rate and ETA."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from jobdeck.domain.progress import (
    SMOOTHING,
    clamp_progress,
    estimate,
    merge_metadata,
    split_progress_args,
)
from jobdeck.errors import ValidationError

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"), [(0, 0.0), (50, 50.0), (12.5, 12.5), (-3, 0.0), (250, 100.0)]
)
def test_clamp(value: float, expected: float) -> None:
    assert clamp_progress(value) == expected


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, True, "50", None, [1]])
def test_clamp_rejects_non_numbers(value: object) -> None:
    with pytest.raises(ValidationError):
        clamp_progress(value)


def test_split_seed1_metadata_second() -> None:
    assert split_progress_args({"item": 3}, None) == ({"item": 3}, None)
    assert split_progress_args({"item": 3}, "msg") == ({"item": 3}, "msg")


def test_split_seed2_message_second() -> None:
    assert split_progress_args("Fetching data...", None) == (None, "Fetching data...")


def test_split_nothing() -> None:
    assert split_progress_args(None, None) == (None, None)


def test_split_rejects_bad_shapes() -> None:
    with pytest.raises(ValidationError):
        split_progress_args("twice", "twice")
    with pytest.raises(ValidationError):
        split_progress_args([1, 2], None)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        split_progress_args(None, 5)  # type: ignore[arg-type]


def test_split_copies_metadata() -> None:
    original = {"a": 1}
    metadata, _ = split_progress_args(original, None)
    assert metadata == original and metadata is not original


def test_merge_is_shallow_and_keeps_nulls() -> None:
    current = {"a": 1, "nested": {"x": 1}, "keep": True}
    merged = merge_metadata(current, {"a": None, "nested": {"y": 2}, "new": 3})
    assert merged == {"a": None, "nested": {"y": 2}, "keep": True, "new": 3}
    assert current == {"a": 1, "nested": {"x": 1}, "keep": True}
    assert merge_metadata(current, None) == current


def test_estimate_needs_a_previous_point() -> None:
    assert estimate(None, 0.0, None, 10.0, T0) == (None, None)


def test_estimate_first_rate_and_eta() -> None:
    rate, eta = estimate(None, 0.0, T0, 10.0, T0 + timedelta(seconds=10))
    assert rate == pytest.approx(1.0)
    assert eta == pytest.approx(90.0)


def test_estimate_smooths_with_the_previous_rate() -> None:
    rate, eta = estimate(1.0, 10.0, T0, 40.0, T0 + timedelta(seconds=10))  # instant 3 %/s
    assert rate == pytest.approx(SMOOTHING * 3.0 + (1 - SMOOTHING) * 1.0)
    assert eta == pytest.approx(60.0 / rate)


def test_estimate_same_instant_keeps_previous_rate() -> None:
    rate, eta = estimate(2.0, 10.0, T0, 20.0, T0)
    assert rate == 2.0 and eta == pytest.approx(40.0)


def test_estimate_resets_when_progress_goes_back() -> None:
    assert estimate(2.0, 50.0, T0, 10.0, T0 + timedelta(seconds=5)) == (None, None)


def test_estimate_no_progress_means_no_eta() -> None:
    rate, eta = estimate(None, 30.0, T0, 30.0, T0 + timedelta(seconds=5))
    assert rate == 0.0 and eta is None


def test_estimate_done_has_zero_eta() -> None:
    _, eta = estimate(None, 90.0, T0, 100.0, T0 + timedelta(seconds=5))
    assert eta == 0.0
