"""The loader of the PostgreSQL store's queries.sql (no server needed)."""

from __future__ import annotations

import pytest

from jobdeck.store.named_queries import parse
from jobdeck.store.postgres.queries import Q


def test_parse_splices_fragments_without_their_comments() -> None:
    text = (
        "-- header\n"
        "-- fragment: f\n-- why f exists\nx, y\n"
        "-- name: a\n-- why a exists\nSELECT {f}, '{}'::jsonb FROM t\n"
        "-- name: b\nSELECT 1\n"
    )
    assert parse(text) == {"a": "-- why a exists\nSELECT x, y, '{}'::jsonb FROM t", "b": "SELECT 1"}


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("-- name: a\nSELECT {g}\n", "unknown fragment {g}"),
        ("-- fragment: f\nx\n-- name: a\nSELECT 1\n", "unused fragments ['f']"),
        ("-- name: a\nSELECT 1\n-- name: a\nSELECT 2\n", "duplicate name 'a'"),
    ],
)
def test_parse_rejects_bad_files(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error.replace("[", r"\[").replace("{", r"\{")):
        parse(text)


def test_every_fragment_is_spliced() -> None:
    for name, sql in Q.items():
        assert "{" not in sql.replace("'{}'", ""), name
    assert "pruned AS (" in Q["fail"] and "jobdeck_feed_seq()" in Q["claim"]
    assert "j.status IN ('running', 'cancelling', 'completed')" in Q["get_history"]
