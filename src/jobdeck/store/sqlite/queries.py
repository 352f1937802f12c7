"""The named statements of ``queries.sql``, loaded once at import by the loader every
backend shares (``jobdeck/store/named_queries.py``: ``-- name:`` blocks, ``-- fragment:``
pieces included as ``{xyz}``, strict about unknown and unused fragments).

``{where}``, ``{order}`` and ``{rows}`` are placeholders filled at run time: the job
list's filter and sort clauses (``listing.py``) and ``json_rows``'s inner query.
"""

from __future__ import annotations

import functools
import sqlite3

from jobdeck.store.named_queries import load_migrations, load_queries

PLACEHOLDERS = ("where", "order", "rows")


def statements(script: str) -> list[str]:
    """Split a script into complete statements (for running inside our own transaction;
    ``executescript`` would commit first)."""
    result: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            result.append(pending.strip())
            pending = ""
    if pending.strip() and not all(
        part.strip().startswith("--") or not part.strip() for part in pending.splitlines()
    ):
        result.append(pending.strip())
    return result


def migrations() -> list[tuple[int, str]]:
    """(version, script) for every ``migrations/NNNN_*.sql``, in version order."""
    return list(load_migrations(__package__))


Q = load_queries(__package__, placeholders=PLACEHOLDERS)


@functools.cache
def repeated_values(name: str, count: int) -> str:
    """The INSERT ``name`` with its VALUES row repeated ``count`` times: one statement
    inserting many rows costs far fewer VM round trips than executemany row by row."""
    head, _, tail = Q[name].rpartition("VALUES")
    row = tail.strip().rstrip(";")
    return f"{head}VALUES {', '.join([row] * count)}"


@functools.cache
def json_rows(name: str) -> str:
    """The query ``name`` (returning job rows) with its rows aggregated into one JSON
    array value by the ``json_rows`` template."""
    return Q["json_rows"].replace("{rows}", Q[name].strip().rstrip(";"))
