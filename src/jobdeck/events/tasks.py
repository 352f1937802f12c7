"""Stopping background tasks: cancel, then wait until they have really ended."""

from __future__ import annotations

import asyncio
from typing import Any

RECANCEL_SECONDS = 0.5


async def stop_tasks(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel ``tasks`` and wait for them to end. What they raised on the way out is
    theirs (read, so asyncio does not log it as never retrieved); a cancellation of
    the caller itself still reaches the caller (``suppress(CancelledError)`` around
    ``await task`` would swallow that too)."""
    running = [task for task in tasks if task is not None]
    for task in running:
        task.cancel()
    if not running:
        return
    while True:
        _, pending = await asyncio.wait(running, timeout=RECANCEL_SECONDS)
        if not pending:
            break
        # A task may swallow a cancellation it was sent (a driver that turns it into
        # an error the task then logs and goes on from): cancel it again, or its
        # owner would wait for it forever.
        for task in pending:
            task.cancel()
    for task in running:
        if not task.cancelled():
            task.exception()
