"""What the PostgreSQL store reads and sends by its own means rather than psycopg's
(store/postgres/rows.py): jsonb columns read exactly as psycopg's loader reads them,
and the fenced verbs' array literals read back as the lists they were made from.

Skipped when no PostgreSQL server is reachable locally; a failure in CI (``CI=true``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest
from psycopg.pq import Format

from jobdeck.store.postgres.database import Conn
from jobdeck.store.postgres.rows import JsonbLoader, int_array, text_array
from jobdeck.store.postgres.store import PostgresStore

pytestmark = pytest.mark.postgres

Factory = Callable[..., Awaitable[PostgresStore]]

JSONB = [
    "{}",
    "[]",
    "{}  ",
    '{"ü": [1, 2.5, null, {"deep": true}], "n": 0}',
    '"\\ud83d\\ude00 é \\n \\" \\\\ \\u00ff"',
    '"😀"',
    "12345678901234567890123",
    "1.5e300",
    "-0.0",
    "null",
    "true",
    '{"": {}, "a": [{}, []]}',
]
READ = "SELECT v::jsonb AS v FROM unnest(%(texts)s::text[]) WITH ORDINALITY AS t(v, n) ORDER BY n"


async def test_jsonb_reads_as_psycopg_reads_it(make_store: Factory, postgres_url: str) -> None:
    store = await make_store()

    async def read(conn: Conn) -> list[Any]:
        cur = await conn.execute(READ, {"texts": JSONB})
        return [row["v"] for row in await cur.fetchall()]

    async def loader(conn: Conn) -> Any:
        return conn.adapters.get_loader(conn.adapters.types["jsonb"].oid, Format.TEXT)

    assert await store._run(loader) is JsonbLoader  # the store's connections use it
    ours = await store._run(read)
    async with await psycopg.AsyncConnection.connect(postgres_url) as plain:
        cur = await plain.execute(READ, {"texts": JSONB})
        theirs = [row[0] for row in await cur.fetchall()]
    assert repr(ours) == repr(theirs)  # the same values, of the same types


PLAIN = ["e,f", "{g}", " h ", "NULL", "", "ü 😀", "k'l"]  # no quote, no backslash
TEXTS = ['a"b', "c\\d", 'i\\"j', *PLAIN]


@pytest.mark.parametrize("texts", [TEXTS, PLAIN, [], ["x"]])
async def test_array_literals_read_back_as_the_lists(make_store: Factory, texts: list[str]) -> None:
    store = await make_store()
    numbers = list(range(-len(texts), len(texts)))

    async def read(conn: Conn) -> Any:
        cur = await conn.execute(
            "SELECT %(texts)s::text[] AS texts, %(numbers)s::int[] AS numbers",
            {"texts": text_array(texts), "numbers": int_array(numbers)},
        )
        return await cur.fetchone()

    row = await store._run(read)
    assert row["texts"] == texts
    assert row["numbers"] == numbers
