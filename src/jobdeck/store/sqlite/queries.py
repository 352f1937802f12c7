"""The named statements of ``queries.sql``, loaded once at import.

``-- name: xyz`` starts a statement block, ``-- fragment: xyz`` a reusable piece that
later blocks include as ``{xyz}`` (the job filter shared by list, count and
count-by-status).
"""

from __future__ import annotations

import functools
import sqlite3
from importlib.resources import files


def parse(text: str) -> dict[str, str]:
    blocks: dict[str, list[str]] = {}
    fragments: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("-- name:"):
            current = blocks.setdefault(line.split(":", 1)[1].strip(), [])
        elif line.startswith("-- fragment:"):
            current = fragments.setdefault(line.split(":", 1)[1].strip(), [])
        elif current is not None:
            current.append(line)
    queries: dict[str, str] = {}
    for name, lines in blocks.items():
        sql = "\n".join(lines).strip()
        for fragment, body in fragments.items():
            sql = sql.replace("{" + fragment + "}", "\n".join(body).strip())
        queries[name] = sql
    return queries


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
    folder = files(__package__).joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql") and entry.name[:4].isdigit():
            found.append((int(entry.name[:4]), entry.read_text(encoding="utf-8")))
    return sorted(found)


Q = parse(files(__package__).joinpath("queries.sql").read_text(encoding="utf-8"))


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
