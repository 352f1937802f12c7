"""Progress rules (docs/progress.md): clamp, the two calling conventions, merge, rate and ETA."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from jobdeck.domain.progress import (
    SPACING_US,
    WINDOW_US,
    Sample,
    advance_window,
    clamp_progress,
    estimate,
    eta_of,
    merge_metadata,
    split_progress_args,
    window_rate,
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


US = 1_000_000


def run(updates: list[tuple[float, float]]) -> list[tuple[float | None, float | None]]:
    """(rate, eta) after each (seconds after start, progress) update, from a fresh window."""
    window: list[Sample] | None = None
    out = []
    for seconds, progress in updates:
        window, rate, eta = estimate(window, progress, round(seconds * US))
        out.append((rate, eta))
    return out


def test_the_instant_of_start_is_not_a_sample() -> None:
    # start, 10 % at once, 30 % one second later, 40 % half a second later
    results = run([(0.005, 10.0), (1.005, 30.0), (1.505, 40.0)])
    assert results[0] == (None, None)  # one sample: no rate yet, not 2,000 %/s
    assert results[1][0] == pytest.approx(20.0)
    rate, eta = results[2]
    assert rate == pytest.approx(20.0) and eta == pytest.approx(3.0)


def test_a_burst_at_start_fades_from_the_rate() -> None:
    burst = [(0.001 * i, float(i)) for i in range(1, 11)]  # 10 % in 10 ms
    steady = [(1.0 * i, 10.0 + 2.0 * i) for i in range(1, 30)]  # then 2 %/s
    results = run(burst + steady)
    rate, eta = results[-1]
    assert rate == pytest.approx(2.0) and eta == pytest.approx((100 - 68.0) / 2.0)
    # 3 s in, the burst is still in the window but weighs as the progress it made,
    # not as its instant speed (a moving average of per-update rates gives ~700 %/s).
    assert results[len(burst) + 2][0] == pytest.approx((16.0 - 1.0) / 2.999)


def test_a_stall_brings_the_rate_down() -> None:
    moving = [(1.0 * i, 5.0 * i) for i in range(1, 11)]  # 5 %/s to 50 %
    results = run([*moving, (30.0, 51.0)])  # 20 s without an update, then 1 %
    rate, eta = results[-1]
    assert rate == pytest.approx(1.0 / 20.0)  # from the last update before the stall
    assert eta == pytest.approx(49.0 * 20.0)


def test_no_progress_in_the_window_means_no_eta() -> None:
    rate, eta = run([(1.0, 30.0), (2.0, 30.0), (3.0, 30.0)])[-1]
    assert rate == 0.0 and eta is None


def test_jitter_in_timing_averages_out() -> None:
    offsets = [0.3, -0.25, 0.1, -0.3, 0.2, 0.0, -0.1, 0.25, -0.2, 0.15] * 3
    updates = [(i + offsets[i], 3.0 * i) for i in range(1, 30)]  # 3 %/s, uneven reports
    for rate, _ in run(updates)[12:]:
        assert rate == pytest.approx(3.0, rel=0.08)


def test_a_job_that_speeds_up_gets_its_new_rate_within_the_window() -> None:
    slow = [(1.0 * i, 1.0 * i) for i in range(1, 31)]  # 1 %/s for 30 s
    fast = [(30.0 + i, 30.0 + 5.0 * i) for i in range(1, 13)]  # then 5 %/s
    results = run(slow + fast)
    assert results[len(slow) - 1][0] == pytest.approx(1.0)
    assert results[-1][0] == pytest.approx(5.0)  # 12 s later: only the fast updates
    assert results[-1][1] == pytest.approx(10.0 / 5.0)


def test_progress_going_back_starts_a_new_series() -> None:
    results = run([(1.0, 50.0), (2.0, 60.0), (3.0, 10.0), (4.0, 14.0)])
    assert results[2] == (None, None)
    assert results[3][0] == pytest.approx(4.0)


def test_frequent_updates_keep_the_window_small() -> None:
    window: list[Sample] | None = None
    for i in range(1, 3001):  # 100 updates a second for 30 s
        window, rate, _ = estimate(window, i / 30.0, i * 10_000)
        assert len(window) <= WINDOW_US // SPACING_US + 2
    assert rate == pytest.approx(100 / 30.0)  # 1/30 % every 10 ms


def test_a_sample_from_a_later_clock_is_dropped() -> None:
    window = advance_window([(5 * US, 10.0)], 20.0, 4 * US)
    assert window == [(4 * US, 20.0)]
    assert window_rate(window) is None


def test_same_instant_has_no_rate() -> None:
    window, rate, eta = estimate([(US, 10.0)], 20.0, US)
    assert rate is None and eta is None and len(window) == 2


def test_done_has_zero_eta() -> None:
    assert eta_of(5.0, 100.0) == 0.0
    assert eta_of(0.0, 50.0) is None and eta_of(None, 50.0) is None
