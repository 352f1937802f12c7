"""The token service over a real SQLite file on a frozen clock: last use, grant purge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from jobdeck import JobDeck, Settings
from jobdeck.clock import FrozenClock
from jobdeck.errors import StoreError


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def deck(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[JobDeck]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'jobs.db'}")
    async with JobDeck(settings=settings, clock=clock) as deck:
        yield deck


async def last_used(deck: JobDeck, name: str) -> object:
    [token] = [t for t in await deck.tokens.list_tokens() if t.name == name]
    return token.last_used_at


async def test_last_use_is_recorded_at_most_once_a_minute(
    deck: JobDeck, clock: FrozenClock
) -> None:
    token, secret = await deck.tokens.create_token("ci", ["jobs:read"])
    start = clock.now()
    assert (await deck.tokens.authenticate(secret)).last_used_at == start  # type: ignore[union-attr]
    clock.advance(59)
    await deck.tokens.authenticate(secret)
    assert await last_used(deck, "ci") == start
    clock.advance(1)
    await deck.tokens.authenticate(secret)
    assert await last_used(deck, "ci") == start + timedelta(seconds=60)
    # A session cookie or ticket uses its token too.
    session = await deck.tokens.issue_grant("session", token.id, timedelta(hours=1))
    clock.advance(120)
    assert await deck.tokens.redeem_grant("session", session, consume=False) is not None
    assert await last_used(deck, "ci") == clock.now()
    assert await deck.tokens.authenticate("jdk_wrong") is None


async def test_maintenance_deletes_expired_grants(deck: JobDeck, clock: FrozenClock) -> None:
    token, _ = await deck.tokens.create_token("ui", ["admin"])
    ticket = await deck.tokens.issue_grant("ticket", token.id, timedelta(seconds=60))
    await deck.tokens.issue_grant("session", token.id, timedelta(hours=12))
    assert (await deck.run_maintenance()).grants_purged == 0
    clock.advance(61)
    assert (await deck.run_maintenance()).grants_purged == 1
    assert await deck.tokens.redeem_grant("ticket", ticket, consume=True) is None


async def test_a_failed_last_use_write_does_not_fail_the_request(
    deck: JobDeck, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _, secret = await deck.tokens.create_token("ci", ["jobs:read"])
    store = deck.store

    async def unavailable(token_id: int, now: object) -> None:
        raise StoreError("the database is away")

    monkeypatch.setattr(store, "touch_token", unavailable)
    token = await deck.tokens.authenticate(secret)
    assert token is not None and token.name == "ci"
    assert "could not record the use of token 'ci'" in caplog.text
