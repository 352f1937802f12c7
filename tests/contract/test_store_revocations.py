"""Token revocations are records of the change feed (docs/feed.md, "Revocations")."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from store_support import T0, OpenStore, at, insert, new_job

from jobdeck.domain.feed import TOKENS, Change, Revocation
from jobdeck.store.base import Store


def described(changes: list[Change]) -> list[tuple[int, str]]:
    return [(c.seq, type(c.record).__name__) for c in changes]


async def test_a_revocation_is_a_record_of_the_feed_in_sequence(store: Store) -> None:
    token = await store.create_token("doomed", "h1", ["jobs:read"], None, None, T0)
    start = await store.last_seq()
    before = await insert(store)
    assert await store.revoke_token("doomed", at(1))
    revoked_at = await store.last_seq()
    after = await insert(store)
    changes = await store.changes_since(start)
    assert described(changes) == [
        (before.seq, "Job"),
        (revoked_at, "Revocation"),
        (after.seq, "Job"),
    ]
    assert before.seq < revoked_at < after.seq
    change = changes[1]
    assert change.record == Revocation(token_id=token.id, name="doomed")
    assert change.revocation == change.record and change.job is None
    assert change.topic == TOKENS
    assert await store.changes_since(revoked_at) == changes[2:]


async def test_revoking_ends_grants_and_is_written_once(store: Store) -> None:
    token = await store.create_token("t", "h2", ["jobs:read"], None, None, T0)
    later = T0 + timedelta(hours=1)
    await store.create_grant("session", "s1", token.id, later)
    await store.create_grant("ticket", "t1", token.id, later)
    assert await store.revoke_token("t", at(1))
    seq = await store.last_seq()
    assert await store.use_grant("session", "s1", at(2), consume=False) is None
    assert await store.use_grant("ticket", "t1", at(2), consume=True) is None
    assert await store.token_by_hash("h2") is None
    # Nothing left to revoke: no record, no new seq.
    assert not await store.revoke_token("t", at(3))
    assert not await store.revoke_token("never-existed", at(3))
    assert await store.last_seq() == seq
    assert len(await store.changes_since(seq - 1)) == 1


async def test_pages_keep_revocations_in_order(store: Store) -> None:
    start = await store.last_seq()
    for i in range(5):
        await store.create_token(f"t{i}", f"h{i}", ["jobs:read"], None, None, T0)
    for i in range(5):
        await store.insert_jobs([new_job(name=f"a{i}"), new_job(name=f"b{i}")], at(i))
        await store.revoke_token(f"t{i}", at(i))
    everything = await store.changes_since(start, 1000)
    assert [type(c.record).__name__ for c in everything] == ["Job", "Job", "Revocation"] * 5
    for limit in (1, 2, 3, 4):
        seen: list[Change] = []
        cursor = start
        while page := await store.changes_since(cursor, limit):
            seen.extend(page)
            cursor = page[-1].seq
        assert seen == everything


async def test_a_follower_reads_every_revocation_among_concurrent_writes(
    store: Store, open_store: OpenStore
) -> None:
    # On PostgreSQL a revocation's seq is registered like every feed write's (and never
    # passed over): one committing after a higher seq was read would be skipped.
    revoker = await open_store()
    writers = [await open_store() for _ in range(3)]
    names = [f"tok{i}" for i in range(20)]
    for i, name in enumerate(names):
        await store.create_token(name, f"hash{i}", ["jobs:read"], None, None, T0)
    start = await store.last_seq()
    done = asyncio.Event()

    async def write(writer: Store, n: int) -> None:
        for i in range(40):
            await writer.insert_jobs([new_job(name=f"w{n}-{i}")], at(i))

    async def revoke() -> None:
        for name in names:
            assert await revoker.revoke_token(name, at(1))
            await asyncio.sleep(0)

    seen: list[Revocation] = []

    async def follow() -> None:
        cursor = start
        while True:
            finished = done.is_set()
            page = await store.changes_since(cursor, 5)
            for change in page:
                assert change.seq > cursor
                if change.revocation is not None:
                    seen.append(change.revocation)
            if page:
                cursor = page[-1].seq
            elif finished:
                return

    async def produce() -> None:
        await asyncio.gather(revoke(), *(write(w, n) for n, w in enumerate(writers)))
        done.set()

    await asyncio.gather(produce(), follow())
    assert sorted(r.name for r in seen) == sorted(names)
