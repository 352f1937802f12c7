"""deck.crons refuses a bad schedule when it is made, with a message naming the problem,
the same way for the Python API, the CLI and the HTTP API (they all come through here)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from jobdeck import BaseJobHandler, CronJobExists, JobDeck, UnknownJobType, ValidationError


class Ok(BaseJobHandler):
    async def execute(self) -> None:
        return None


@pytest.fixture
async def deck(tmp_path: Path) -> AsyncIterator[JobDeck]:
    async with JobDeck(f"sqlite:///{tmp_path / 'c.db'}") as deck:
        deck.register_job_type("ok", Ok)
        yield deck


def seedish(**changes: Any) -> dict[str, Any]:
    return {"name": "n", "cron_expression": "0 2 * * *", "job_type": "ok", **changes}


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"cron_expression": "61 * * * *"}, ValidationError, "cron_expression"),
        ({"cron_expression": "* * *"}, ValidationError, "expected 5 fields"),
        ({"timezone": "Mars/Base"}, ValidationError, "timezone"),
        ({"job_type": "nope"}, UnknownJobType, "unknown job type 'nope'"),
        ({"configuration": [1]}, ValidationError, "configuration must be an object"),
        (
            {"job_type": "webhook", "configuration": {"method": "POST"}},
            ValidationError,
            "configuration",
        ),
        ({"misfire_policy": "sometimes"}, ValidationError, "misfire_policy must be one of"),
        ({"max_runs": 0}, ValidationError, "max_runs must be from 1 to 2147483647"),
        ({"timeout_seconds": 2**40}, ValidationError, "timeout_seconds must be from 0 to"),
        ({"misfire_grace_seconds": 2**40}, ValidationError, "misfire_grace_seconds must be"),
        ({"name": None}, ValidationError, "name is required"),
        ({"colour": "red"}, ValidationError, "unknown field(s): colour"),
        ({"plugin_id": "jobdeck"}, ValidationError, "reserved"),
    ],
)
async def test_bad_schedules_are_refused(
    deck: JobDeck, changes: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as caught:
        await deck.add_cron_job(**seedish(**changes))
    assert message in str(caught.value)
    assert (await deck.crons.search()).total == 0


async def test_a_webhook_schedule_is_checked_by_its_schema(deck: JobDeck) -> None:
    with pytest.raises(ValidationError, match=r"^configuration"):
        await deck.add_cron_job(**seedish(job_type="webhook", configuration={"url": 5}))
    cron = await deck.add_cron_job(
        **seedish(job_type="webhook", configuration={"url": "https://example.com/hook"})
    )
    assert cron.definition.job_type == "webhook"


async def test_a_name_is_unique_per_plugin_and_store(deck: JobDeck) -> None:
    first = await deck.add_cron_job(**seedish(plugin_id="p", store_id="s"))
    with pytest.raises(CronJobExists) as caught:
        await deck.add_cron_job(**seedish(plugin_id="p", store_id="s"))
    assert caught.value.existing.id == first.id
    other = await deck.add_cron_job(**seedish(plugin_id="p", store_id="t"))
    with pytest.raises(ValidationError, match="2 cron jobs are named 'n'"):
        await deck.crons.resolve("n")
    assert (await deck.crons.resolve(str(other.id))).id == other.id


async def test_max_failures_zero_never_pauses(deck: JobDeck) -> None:
    assert (await deck.add_cron_job(**seedish(max_failures=0))).definition.max_failures is None
    default = await deck.add_cron_job(**seedish(name="d", max_failures=None))
    assert default.definition.max_failures == 5


async def test_update_recomputes_the_next_run(deck: JobDeck) -> None:
    cron = await deck.add_cron_job(**seedish())
    updated = await deck.crons.update(cron.id, cron_expression="*/5 * * * *")
    assert updated.definition.cron_expression == "*/5 * * * *"
    assert updated.next_run_at is not None and updated.next_run_at.minute % 5 == 0
    assert len(deck.crons.next_runs(updated)) == 5
    description, runs = deck.crons.preview("0 9 * * mon-fri", "Europe/Berlin")
    assert "09:00" in description and len(runs) == 5


async def test_retention_days_is_a_daily_cleanup_schedule(tmp_path: Path) -> None:
    from jobdeck import Settings
    from jobdeck.plugins import PluginManager

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'r.db'}", retention_days=7)
    async with JobDeck(settings=settings) as deck:
        await PluginManager(deck, tmp_path / "none", entry_points=False).load(declare=True)
        await PluginManager(deck, tmp_path / "none", entry_points=False).load(
            declare=True
        )  # a restart
        [cron] = (await deck.crons.search()).items
        d = cron.definition
        assert (d.job_type, d.configuration) == (
            "cleanup",
            {"target": "jobs", "older_than_days": 7},
        )
        assert cron.declared_by == "jobdeck" and cron.scheduled
    async with JobDeck(settings=settings.with_(retention_days=0)) as deck:
        await PluginManager(deck, tmp_path / "none", entry_points=False).load(declare=True)
        [cron] = (await deck.crons.search()).items
        assert not cron.definition.is_active  # unset: deactivated, its history kept


async def test_a_plugin_declaring_a_name_twice_is_refused(deck: JobDeck) -> None:
    with pytest.raises(ValidationError, match="plugin 'p' declares the cron job 'n' twice"):
        await deck.crons.declare("p", [seedish(), seedish(cron_expression="@hourly")])


async def test_one_off_commands_do_not_declare(tmp_path: Path) -> None:
    from jobdeck import Settings
    from jobdeck.plugins import PluginManager

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'o.db'}", retention_days=7)
    async with JobDeck(settings=settings) as deck:
        await PluginManager(deck, tmp_path / "none", entry_points=False).load()
        assert (await deck.crons.search()).total == 0
