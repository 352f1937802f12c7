"""Named-query files (``queries.sql``) and numbered migrations, read the same way for
every backend.

``-- name: xyz`` starts a statement, ``-- fragment: xyz`` a piece that statements (and
other fragments) include as ``{xyz}``; each block runs until the next header.
Fragments are spliced in at load, so each statement is one complete text. The loader
is strict: a name or a fragment defined twice, an include naming no fragment, a
fragment that includes itself, or a fragment nobody includes is an error at import,
not a statement that fails when first run. A backend that fills
some ``{name}`` at run time (SQLite's filter and order clauses) declares those names
as ``placeholders``.

Migrations are ``migrations/NNNN_name.sql``, numbered 1..n without gaps.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib.resources import files
from typing import LiteralString

_HEADER = re.compile(r"^-- (name|fragment): (\w+)\s*$", re.MULTILINE)
_INCLUDE = re.compile(r"\{(\w+)\}")  # never matches SQL's '{}' or a JSON object literal
_LEADING_COMMENTS = re.compile(r"\A(?:[ \t]*(?:--[^\n]*)?\n)*")


def parse(text: str, *, placeholders: Iterable[str] = ()) -> dict[str, LiteralString]:
    """The statements of a named-query file, fragments spliced in."""
    kept = frozenset(placeholders)
    parts = _HEADER.split(text)
    blocks: dict[str, dict[str, str]] = {"name": {}, "fragment": {}}
    for kind, name, body in zip(parts[1::3], parts[2::3], parts[3::3], strict=True):
        if name in blocks[kind]:
            raise ValueError(f"queries.sql: duplicate {kind} {name!r}")
        blocks[kind][name] = body.strip()
    # A fragment's leading comment documents it in queries.sql; it is not spliced.
    fragments = {name: _LEADING_COMMENTS.sub("", body) for name, body in blocks["fragment"].items()}
    unused = set(fragments)

    including: list[str] = []  # the fragments being spliced, outermost first

    def include(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in kept:
            return match.group(0)
        if name not in fragments:
            raise ValueError(f"queries.sql: unknown fragment {{{name}}}")
        if name in including:
            chain = " -> ".join([*including, name])
            raise ValueError(f"queries.sql: fragment {name!r} includes itself ({chain})")
        unused.discard(name)
        including.append(name)
        try:
            return _INCLUDE.sub(include, fragments[name])  # a fragment may include others
        finally:
            including.pop()

    queries: dict[str, LiteralString] = {}
    for name, body in blocks["name"].items():
        # The file is part of the package, not user input: as literal as a string in
        # the source, which is what psycopg's LiteralString typing asks for.
        queries[name] = _INCLUDE.sub(include, body)
    if unused:
        raise ValueError(f"queries.sql: unused fragments {sorted(unused)}")
    return queries


def load_queries(package: str, *, placeholders: Iterable[str] = ()) -> dict[str, LiteralString]:
    """``parse`` of ``package``'s ``queries.sql``."""
    text = files(package).joinpath("queries.sql").read_text("utf-8")
    return parse(text, placeholders=placeholders)


def load_migrations(package: str) -> list[tuple[int, LiteralString]]:
    """(version, script) of ``package``'s ``migrations/NNNN_name.sql``, in order."""
    found: list[tuple[int, LiteralString]] = []
    for entry in files(package).joinpath("migrations").iterdir():
        match = re.fullmatch(r"(\d+)_\w+\.sql", entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text("utf-8")))
    found.sort()
    versions = [v for v, _ in found]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"{package} migrations must be numbered 1..n without gaps: {versions}")
    return found
