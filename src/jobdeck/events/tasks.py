"""Stopping background tasks: cancel, then wait until they have really ended."""

from __future__ import annotations

import asyncio
from typing import Any


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
    await asyncio.wait(running)
    for task in running:
        if not task.cancelled():
            task.exception()
