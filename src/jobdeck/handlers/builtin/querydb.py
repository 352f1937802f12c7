"""The query database of ``database_query`` (docs/builtin-types.md):
``JOBDECK_QUERY_DATABASE_URL``, SQLite (``sqlite:///path``) or PostgreSQL.

One statement per job, in its own transaction, with ``:name`` placeholders bound
from ``parameters`` (never spliced into the text) and a statement timeout:
``SET LOCAL statement_timeout`` on PostgreSQL, a progress handler that interrupts
the statement on SQLite.
"""

from __future__ import annotations

import asyncio
import base64
import re
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as dtime
from decimal import Decimal
from typing import Any
from uuid import UUID

from jobdeck.errors import PermanentFailure

ROW_LIMIT = 1000

# Skipped while looking for placeholders: quoted text, quoted names, comments, and
# PostgreSQL's dollar quotes and ``::`` casts.
_SKIP = re.compile(
    r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/|(\$[A-Za-z_0-9]*\$).*?\1|::"""
    r"""|(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)""",
    re.DOTALL,
)


def placeholders(query: str) -> list[str]:
    """The ``:name`` placeholders of ``query``, in order of appearance."""
    return [m.group(2) for m in _SKIP.finditer(query) if m.group(2)]


def _pyformat(query: str) -> str:
    """``:name`` → ``%(name)s`` and ``%`` → ``%%``, outside quotes and comments."""
    out: list[str] = []
    last = 0
    for m in _SKIP.finditer(query):
        out.append(query[last : m.start()].replace("%", "%%"))
        token = m.group(0)
        out.append(f"%({m.group(2)})s" if m.group(2) else token.replace("%", "%%"))
        last = m.end()
    out.append(query[last:].replace("%", "%%"))
    return "".join(out)


@dataclass(frozen=True)
class QueryResult:
    rowcount: int
    rows: list[dict[str, Any]]
    truncated: bool


class QueryTimeout(Exception):
    pass


class QueryDatabase:
    def __init__(self, url: str) -> None:
        self.url = url
        self.kind = "sqlite" if url.startswith("sqlite:") else "postgres"
        if self.kind == "postgres" and not url.startswith(("postgresql:", "postgres:")):
            raise PermanentFailure("JOBDECK_QUERY_DATABASE_URL must be sqlite:/// or postgresql://")

    async def run(self, query: str, parameters: Mapping[str, Any], timeout_ms: int) -> QueryResult:
        if self.kind == "sqlite":
            return await asyncio.to_thread(self._sqlite, query, dict(parameters), timeout_ms)
        return await self._postgres(query, dict(parameters), timeout_ms)

    def _sqlite(self, query: str, parameters: dict[str, Any], timeout_ms: int) -> QueryResult:
        path = self.url.removeprefix("sqlite:///").removeprefix("sqlite://")
        deadline = time.monotonic() + timeout_ms / 1000
        conn = sqlite3.connect(path, timeout=timeout_ms / 1000, isolation_level=None)
        try:
            # Called every 1000 virtual machine steps: a non-zero answer interrupts.
            conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
            conn.execute("BEGIN")
            try:
                cursor = conn.execute(query, parameters)
                rows, truncated = _rows(cursor.description, cursor.fetchmany(ROW_LIMIT + 1))
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError) and "interrupted" in str(exc):
                    raise QueryTimeout(f"statement timed out after {timeout_ms} ms") from None
                raise
            return QueryResult(max(cursor.rowcount, 0) or len(rows), rows, truncated)
        finally:
            conn.close()

    async def _postgres(
        self, query: str, parameters: dict[str, Any], timeout_ms: int
    ) -> QueryResult:
        import psycopg  # here, not with jobdeck (see database_query)
        from psycopg.rows import dict_row

        conn = await psycopg.AsyncConnection.connect(
            self.url, connect_timeout=max(1, timeout_ms // 1000), row_factory=dict_row
        )
        try:
            async with conn.transaction():
                # LOCAL: the limit ends with this transaction.
                await conn.execute(
                    "SELECT set_config('statement_timeout', %s, true)", [str(timeout_ms)]
                )
                cursor = await conn.execute(_pyformat(query), parameters)
                fetched = await cursor.fetchmany(ROW_LIMIT + 1) if cursor.description else []
                rows, truncated = _rows(None, fetched)
            return QueryResult(max(cursor.rowcount, 0), rows, truncated)
        except psycopg.errors.QueryCanceled:
            raise QueryTimeout(f"statement timed out after {timeout_ms} ms") from None
        finally:
            await conn.close()


def _rows(description: Any, fetched: list[Any]) -> tuple[list[dict[str, Any]], bool]:
    truncated = len(fetched) > ROW_LIMIT
    fetched = fetched[:ROW_LIMIT]
    if description is not None:  # sqlite3 rows are tuples
        names = [column[0] for column in description]
        fetched = [dict(zip(names, row, strict=True)) for row in fetched]
    return [{k: _json(v) for k, v in row.items()} for row in fetched], truncated


def _json(value: Any) -> Any:
    """A column value as JSON can hold it."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, datetime | date | dtime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    return str(value)
