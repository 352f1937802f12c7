"""database_query on a real SQLite file and on PostgreSQL (docs/builtin-types.md)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import pg
from jobdeck import JobDeck, Settings, Status, ValidationError
from jobdeck.clock import FrozenClock
from jobdeck.handlers.builtin.querydb import _pyformat, placeholders
from jobdeck.tokens import Principal

SLOW = {
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
    "SELECT count(*) FROM c",
    "postgres": "SELECT pg_sleep(10)",
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def query_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    setup = [
        "CREATE TABLE temp_data (id INTEGER PRIMARY KEY, name TEXT, created_at TEXT)",
        "INSERT INTO temp_data (id, name, created_at) VALUES (1, 'old', '2020-01-01'),"
        " (2, 'new', '2030-01-01'), (3, 'it''s :not a param', '2020-01-01')",
    ]
    if request.param == "sqlite":
        path = tmp_path / "query.db"
        with sqlite3.connect(path) as conn:
            for statement in setup:
                conn.execute(statement)
        yield f"sqlite:///{path}"
        return
    async with pg.database() as url:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            for statement in setup:
                await conn.execute(statement)
        yield url


@pytest.fixture
async def deck(tmp_path: Path, query_db: str) -> AsyncIterator[JobDeck]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'jobs.db'}", query_database_url=query_db
    )
    async with JobDeck(settings=settings, clock=FrozenClock()) as deck:
        yield deck


async def run(deck: JobDeck, config: dict[str, Any]) -> Any:
    job = await deck.schedule_job("database_query", config, max_retries=0)
    await deck.drain()
    return await job.refresh()


async def test_select_with_bound_parameters(deck: JobDeck) -> None:
    job = await run(
        deck,
        {
            "query": "SELECT id, name FROM temp_data WHERE created_at < :cutoff"
            " AND name <> ':cutoff' ORDER BY id",
            "parameters": {"cutoff": "{{current_date}}"},
        },
    )
    assert job.status is Status.COMPLETED, job.error_message
    assert job.result["rows"] == [{"id": 1, "name": "old"}, {"id": 3, "name": "it's :not a param"}]
    assert job.result["truncated"] is False


async def test_the_seed_example_deletes_and_counts(deck: JobDeck) -> None:
    job = await run(
        deck,
        {
            "query": "DELETE FROM temp_data WHERE created_at < :cutoff",
            "parameters": {"cutoff": "2025-01-01"},
            "timeout": 30000,
        },
    )
    assert job.status is Status.COMPLETED, job.error_message
    assert job.result["rowcount"] == 2
    job = await run(deck, {"query": "SELECT count(*) AS n FROM temp_data"})
    assert job.result["rows"] == [{"n": 1}]


async def test_injection_stays_a_value(deck: JobDeck) -> None:
    job = await run(
        deck,
        {
            "query": "SELECT count(*) AS n FROM temp_data WHERE name = :name",
            "parameters": {"name": "x' OR '1'='1"},
        },
    )
    assert job.result["rows"] == [{"n": 0}]


async def test_a_slow_statement_times_out(deck: JobDeck, query_db: str) -> None:
    kind = "sqlite" if query_db.startswith("sqlite") else "postgres"
    job = await run(deck, {"query": SLOW[kind], "timeout": 300})
    assert job.status is Status.FAILED
    assert "statement timed out after 300 ms" in job.error_message


async def test_a_bad_statement_fails_without_retry(deck: JobDeck) -> None:
    job = await deck.schedule_job("database_query", {"query": "SELEC nonsense"}, max_retries=3)
    await deck.drain()
    job = await job.refresh()
    assert job.status is Status.FAILED and job.attempt == 1
    assert job.error_message.startswith("database_query: ")


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({}, "'query' is a required property"),
        ({"query": "SELECT :a"}, "payload.parameters: no value for :a"),
        ({"query": "SELECT :a", "parameters": {"a": [1]}}, "payload.parameters.a"),
        ({"query": "SELECT '{{current_date}}'"}, "payload.query: template variables are not"),
        ({"query": "SELECT 1", "timeout": 0}, "payload.timeout"),
    ],
)
async def test_bad_configurations_are_refused(
    deck: JobDeck, config: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError, match=field.replace(".", r"\.")):
        await deck.schedule_job("database_query", config)


async def test_no_query_database_configured(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'jobs.db'}")
    async with JobDeck(settings=settings) as deck:
        job = await run(deck, {"query": "SELECT 1"})
    assert job.status is Status.FAILED
    assert "no query database is configured (JOBDECK_QUERY_DATABASE_URL)" in job.error_message


def test_placeholders_skip_quotes_comments_and_casts() -> None:
    query = (
        "SELECT :a, ':b', \":c\", x::int, $$ :d $$, $t$ :e $t$ -- :f\n /* :g */ FROM t "
        "WHERE y = :h AND z LIKE '100%'"
    )
    assert placeholders(query) == ["a", "h"]
    assert _pyformat(query).startswith("SELECT %(a)s, ':b'")
    assert "y = %(h)s AND z LIKE '100%%'" in _pyformat(query)


def test_admin_only_is_read_from_the_handler(tmp_path: Path) -> None:
    deck = JobDeck(settings=Settings(database_url=f"sqlite:///{tmp_path / 'jobs.db'}"))
    writer = Principal(1, "w", ("jobs:write",))
    admin = Principal(2, "a", ("admin",))
    for job_type in ("database_query", "cleanup"):
        assert deck.registry.admin_only(job_type)
        assert not writer.may_schedule(job_type)
        assert not writer.may_schedule(job_type, deck.registry)
        assert admin.may_schedule(job_type, deck.registry)
    for job_type in ("webhook", "email", "plugin:x:y"):
        assert writer.may_schedule(job_type) and writer.may_schedule(job_type, deck.registry)
