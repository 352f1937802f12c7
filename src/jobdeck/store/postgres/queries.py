"""The named statements of ``queries.sql``, loaded once at import."""

from __future__ import annotations

import re
from importlib.resources import files
from typing import LiteralString

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def parse(text: str) -> dict[str, LiteralString]:
    """Split ``-- name: xyz`` blocks; each block runs until the next name."""
    parts = _NAME.split(text)
    queries: dict[str, LiteralString] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"queries.sql: duplicate query name {name!r}")
        # The file is part of the package, not user input: as literal as a string in
        # the source, which is what psycopg's LiteralString typing asks for.
        queries[name] = body.strip()
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
