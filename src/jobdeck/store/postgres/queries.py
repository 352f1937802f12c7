"""The named statements of ``queries.sql``, loaded once at import.

``-- name: xyz`` starts a statement block, ``-- fragment: xyz`` a piece that statements
include as ``{xyz}`` (the CTEs and expressions every job write shares). Fragments are
spliced in here, so each statement is still one complete text, prepared as before.
"""

from __future__ import annotations

import re
from importlib.resources import files
from typing import LiteralString

_HEADER = re.compile(r"^-- (name|fragment): (\w+)\s*$", re.MULTILINE)
_INCLUDE = re.compile(r"\{(\w+)\}")  # never matches SQL's '{}' or a JSON object literal
_LEADING_COMMENTS = re.compile(r"\A(?:[ \t]*(?:--[^\n]*)?\n)*")


def parse(text: str) -> dict[str, LiteralString]:
    """Split ``-- name:``/``-- fragment:`` blocks (each runs until the next header) and
    splice the fragments into the statements that name them."""
    parts = _HEADER.split(text)
    blocks: dict[str, dict[str, str]] = {"name": {}, "fragment": {}}
    for kind, name, body in zip(parts[1::3], parts[2::3], parts[3::3], strict=True):
        if name in blocks[kind]:
            raise ValueError(f"queries.sql: duplicate {kind} {name!r}")
        blocks[kind][name] = body.strip()
    # A fragment's leading comment documents it in queries.sql; it is not spliced.
    fragments = {name: _LEADING_COMMENTS.sub("", body) for name, body in blocks["fragment"].items()}
    unused = set(fragments)

    def include(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in fragments:
            raise ValueError(f"queries.sql: unknown fragment {{{name}}}")
        unused.discard(name)
        return fragments[name]

    queries: dict[str, LiteralString] = {}
    for name, body in blocks["name"].items():
        # The file is part of the package, not user input: as literal as a string in
        # the source, which is what psycopg's LiteralString typing asks for.
        queries[name] = _INCLUDE.sub(include, body)
    if unused:
        raise ValueError(f"queries.sql: unused fragments {sorted(unused)}")
    return queries


def _load_migrations() -> list[tuple[int, LiteralString]]:
    folder = files("jobdeck.store.postgres").joinpath("migrations")
    found: list[tuple[int, LiteralString]] = []
    for entry in folder.iterdir():
        match = re.fullmatch(r"(\d+)_\w+\.sql", entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text("utf-8")))
    found.sort()
    versions = [v for v, _ in found]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"postgres migrations must be numbered 1..n without gaps: {versions}")
    return found


Q = parse(files("jobdeck.store.postgres").joinpath("queries.sql").read_text("utf-8"))
MIGRATIONS = _load_migrations()
