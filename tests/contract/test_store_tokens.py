"""API tokens (hash only) and short-lived single-use grants."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from store_support import T0, OpenStore, at

from jobdeck.errors import ValidationError
from jobdeck.store.base import Store


async def test_create_and_find_token(store: Store) -> None:
    token = await store.create_token("ci", "hash-1", ["jobs:read", "cron:write"], "p1", "s1", T0)
    assert token.name == "ci"
    assert token.scopes == ("jobs:read", "cron:write")
    assert (token.plugin, token.store) == ("p1", "s1")
    assert token.created_at == T0 and token.revoked_at is None
    assert await store.token_by_hash("hash-1") == token
    assert await store.token_by_hash("nope") is None
    assert await store.list_tokens() == [token]


async def test_token_names_unique_among_unrevoked(store: Store) -> None:
    await store.create_token("ci", "hash-1", ["admin"], None, None, T0)
    with pytest.raises(ValidationError):
        await store.create_token("ci", "hash-2", ["admin"], None, None, T0)
    assert await store.revoke_token("ci", at(1)) is True
    assert await store.revoke_token("ci", at(2)) is False
    assert await store.token_by_hash("hash-1") is None
    again = await store.create_token("ci", "hash-3", ["admin"], None, None, at(3))
    tokens = await store.list_tokens()
    assert [t.revoked_at for t in tokens] == [at(1), None]
    assert tokens[1] == again
    assert await store.revoke_token("unknown", at(4)) is False


async def test_single_use_grant(store: Store) -> None:
    token = await store.create_token("admin", "h", ["admin"], None, None, T0)
    await store.create_grant("login", "code-hash", token.id, at(60))
    assert await store.use_grant("ticket", "code-hash", at(1), consume=True) is None  # kind
    assert await store.use_grant("login", "code-hash", at(1), consume=True) == token
    assert await store.use_grant("login", "code-hash", at(2), consume=True) is None


async def test_grant_expires(store: Store) -> None:
    token = await store.create_token("admin", "h", ["admin"], None, None, T0)
    await store.create_grant("ticket", "t", token.id, at(60))
    assert await store.use_grant("ticket", "t", at(61), consume=True) is None


async def test_session_grant_is_reusable_until_it_expires(store: Store) -> None:
    token = await store.create_token("admin", "h", ["admin"], None, None, T0)
    await store.create_grant("session", "cookie", token.id, T0 + timedelta(hours=12))
    for minute in range(3):
        assert await store.use_grant("session", "cookie", at(60 * minute), consume=False) == token
    assert await store.use_grant("session", "cookie", at(13 * 3600), consume=False) is None


async def test_revoked_token_invalidates_its_grants(store: Store) -> None:
    token = await store.create_token("admin", "h", ["admin"], None, None, T0)
    await store.create_grant("session", "cookie", token.id, at(3600))
    await store.create_grant("ticket", "t", token.id, at(60))
    await store.revoke_token("admin", at(1))
    assert await store.use_grant("session", "cookie", at(2), consume=False) is None
    assert await store.use_grant("ticket", "t", at(2), consume=True) is None


async def test_concurrent_uses_of_a_grant_one_wins(store: Store, open_store: OpenStore) -> None:
    other = await open_store()
    token = await store.create_token("admin", "h", ["admin"], None, None, T0)
    for round_ in range(5):
        await store.create_grant("ticket", f"t{round_}", token.id, at(60))
        uses = [
            s.use_grant("ticket", f"t{round_}", at(1), consume=True)
            for s in (store, other, store, other, store, other)
        ]
        results = await asyncio.gather(*uses)
        assert [r for r in results if r is not None] == [token], round_


async def test_touch_token_records_its_last_use(store: Store) -> None:
    token = await store.create_token("ci", "hash-1", ["admin"], None, None, T0)
    assert token.last_used_at is None
    await store.touch_token(token.id, at(5))
    await store.touch_token(token.id, at(3))  # another process, its clock a little behind
    [listed] = await store.list_tokens()
    assert listed.last_used_at == at(5)
    assert await store.token_by_hash("hash-1") == listed


async def test_purge_grants_deletes_only_expired_ones(store: Store) -> None:
    token = await store.create_token("admin", "h", ["admin"], None, None, T0)
    await store.create_grant("ticket", "used-early", token.id, at(60))
    await store.create_grant("ticket", "never-used", token.id, at(60))
    await store.create_grant("session", "still-valid", token.id, at(3600))
    assert await store.use_grant("ticket", "used-early", at(1), consume=True) == token
    assert await store.purge_grants(at(59)) == 0
    assert await store.purge_grants(at(60)) == 2
    assert await store.purge_grants(at(61)) == 0
    assert await store.use_grant("session", "still-valid", at(61), consume=False) == token
    # A purged grant's secret may be issued again (its row is gone).
    await store.create_grant("ticket", "never-used", token.id, at(120))
