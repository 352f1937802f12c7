"""The change feed a subscriber follows (docs/feed.md).

First it catches up with ``store.changes_since(since)``, then follows live: it waits
on the store's ``jobs`` signal and asks again from the last sequence it yielded.
Signals carry no data, so a missed or merged signal only delays the next query; the
``poll_seconds`` timeout bounds that delay. Each :class:`Change` is a job's state
after write number ``seq``: several writes to one job between two queries arrive as
its latest state, and nothing committed is ever skipped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from jobdeck.domain.feed import Change
from jobdeck.store.base import Store

BATCH = 1000


async def follow(
    store: Store, since: int = 0, *, poll_seconds: float = 1.0, batch: int = BATCH
) -> AsyncIterator[Change]:
    """Yield every change after ``since``, forever (cancel or ``aclose()`` to stop)."""
    seq = since
    while True:
        mark = store.signals.mark("jobs")
        changes = await _next_changes(store, seq, batch)
        for change in changes:
            yield change
            seq = change.seq
        if not changes:
            await store.signals.wait("jobs", mark, poll_seconds)


async def _next_changes(store: Store, seq: int, batch: int) -> list[Change]:
    """The changes after ``seq``, never cutting one write's jobs in two.

    Jobs written in one transaction share a sequence number; when a full page ends
    inside such a group, the group is left for the next query (or, when the page is
    one group only, the page grows until the group fits).
    """
    limit = batch
    while True:
        changes = await store.changes_since(seq, limit)
        if len(changes) < limit:
            return changes
        last = changes[-1].seq
        whole = [change for change in changes if change.seq != last]
        if whole:
            return whole
        limit *= 2
