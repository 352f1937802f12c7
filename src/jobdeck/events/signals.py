"""Wake-up signals between writers and waiters in one process.

A store fires ``"jobs"`` after any committed change-feed record (a job, a schedule or
an execution), ``"enqueue"`` when a job may have become claimable, ``"cron"`` when a
schedule's next fire time may have changed (the scheduler waits on it) and ``"cancel"``
when a running job was asked to stop or was ended by someone other than its worker
(workers beat soon; store/base.py ``wakes_workers``) — for its own
writes directly, and for other processes' writes when it notices them (SQLite:
``PRAGMA data_version`` polling; PostgreSQL: LISTEN/NOTIFY). Waiters then query the
store; a signal carries no data, so a lost or coalesced signal never loses a change,
it only delays the query to the next one.

Generations make the check-then-wait race harmless: take ``mark()`` before looking
at the store, then ``wait(channel, mark, timeout)`` returns at once if anything
fired in between.
"""

from __future__ import annotations

import asyncio

CHANNELS = ("jobs", "enqueue", "cron", "cancel")


class Signals:
    def __init__(self) -> None:
        self._generation = dict.fromkeys(CHANNELS, 0)
        self._events: dict[str, asyncio.Event] = {}

    def mark(self, channel: str) -> int:
        return self._generation[channel]

    def fire(self, *channels: str) -> None:
        for channel in channels or CHANNELS:
            self._generation[channel] += 1
            event = self._events.pop(channel, None)
            if event is not None:
                event.set()

    async def wait(self, channel: str, since: int, timeout: float | None) -> bool:
        """True when ``channel`` fired after generation ``since``; False on timeout."""
        if self._generation[channel] != since:
            return True
        event = self._events.get(channel)
        if event is None:
            event = self._events[channel] = asyncio.Event()
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation
        # that arrives as the event fires, and a cancelled waiter would then run on.
        try:
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError:
            return self._generation[channel] != since
        return True
