"""Signals: wake-ups between writers and waiters in one process."""

from __future__ import annotations

import asyncio

import pytest

from jobdeck.events.signals import Signals


async def test_a_waiter_cancelled_as_its_signal_fires_stays_cancelled() -> None:
    """Worker shutdown cancels waiters; a cancellation lost to a racing fire hung drain()."""
    signals = Signals()
    waiter = asyncio.create_task(signals.wait("jobs", signals.mark("jobs"), 10.0))
    await asyncio.sleep(0)  # the waiter is now blocked on the event
    signals.fire("jobs")
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
