"""The named-query loader every backend shares (jobdeck/store/named_queries.py)."""

from __future__ import annotations

import pytest

from jobdeck.store.named_queries import load_migrations, load_queries, parse

TEXT = """
-- fragment: cond
-- documents the fragment; not spliced
status = 'pending'

-- name: pending
SELECT * FROM jobs WHERE {cond} {order};
"""


def test_fragments_are_spliced_and_placeholders_kept() -> None:
    assert parse(TEXT, placeholders=["order"]) == {
        "pending": "SELECT * FROM jobs WHERE status = 'pending' {order};"
    }


def test_a_fragment_may_include_fragments() -> None:
    text = "-- fragment: a\nx = {b}\n-- fragment: b\n1\n-- name: q\nSELECT {a} AND {b};\n"
    assert parse(text) == {"q": "SELECT x = 1 AND 1;"}


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (TEXT, r"unknown fragment \{order\}"),  # not declared a placeholder
        (
            "-- fragment: a\n{b}\n-- fragment: b\n{a}\n-- name: q\nSELECT {a};\n",
            "fragment 'a' includes itself",
        ),
        (TEXT + "-- name: pending\nSELECT 1;\n", "duplicate name 'pending'"),
        ("-- fragment: lone\nx = 1\n-- name: q\nSELECT 1;\n", "unused fragments"),
    ],
)
def test_the_loader_is_strict(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse(text)


@pytest.mark.parametrize("package", ["jobdeck.store.sqlite", "jobdeck.store.postgres"])
def test_every_backend_s_file_loads(package: str) -> None:
    placeholders = ("where", "order", "rows") if package.endswith("sqlite") else ()
    assert load_queries(package, placeholders=placeholders)
    versions = [v for v, _ in load_migrations(package)]
    assert versions == list(range(1, len(versions) + 1))
