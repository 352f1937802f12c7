"""The hub handles a revocation in sequence order (docs/feed.md, "Revocations"): the
token's sockets close before any later record reaches the board or a catch-up."""

from __future__ import annotations

from typing import Any

from jobdeck.api.hub import CLOSE_REVOKED, Hub
from jobdeck.api.metrics import Metrics
from jobdeck.domain.feed import Change, Revocation
from jobdeck.domain.job import Job, Mode, Status
from jobdeck.tokens import Principal


def job(n: int) -> Job:
    return Job(id=n, job_id=f"j{n}", name="n", type="t", mode=Mode.TRACKED, status=Status.RUNNING)


class FeedDeck:
    def __init__(self, changes: list[Change]) -> None:
        self.changes = changes

    async def changes_since(self, seq: int, limit: int) -> list[Change]:
        return [c for c in self.changes if c.seq > seq][:limit]


FEED = [Change(1, job(1)), Change(2, Revocation(7, "doomed")), Change(3, job(3))]


def hub(changes: list[Change] = FEED) -> Hub:
    return Hub(FeedDeck(changes), Metrics())


async def test_publish_closes_the_tokens_sockets_before_later_records() -> None:
    h = hub()
    doomed = h.new_client(Principal(7, "doomed", ("jobs:read",)))
    other = h.new_client(Principal(8, "other", ("jobs:read",)))
    h.publish(FEED[:2])
    assert doomed.closed.is_set() and doomed.close_code == CLOSE_REVOKED
    assert [e.seq for e in doomed.pending(h.board) or []] == [1]  # what came before
    h.publish(FEED[2:])
    assert not other.closed.is_set()
    assert [e.seq for e in other.pending(h.board) or []] == [1, 3]


async def test_a_socket_registered_after_the_revocation_was_read_closes_at_once() -> None:
    h = hub()
    h.publish(FEED)
    late = h.new_client(Principal(7, "doomed", ("jobs:read",)))
    assert late.closed.is_set() and late.close_code == CLOSE_REVOKED


async def test_a_catch_up_stops_at_the_revocation() -> None:
    h = hub()
    doomed = h.new_client(Principal(7, "doomed", ("jobs:read",)))
    messages: list[Any] = await h.catch_up(doomed, 0)
    assert len(messages) == 1 and '"seq":1' in messages[0]
    assert doomed.closed.is_set() and doomed.close_code == CLOSE_REVOKED
    other = h.new_client(Principal(8, "other", ("jobs:read",)))
    assert len(await h.catch_up(other, 0)) == 2 and not other.closed.is_set()
