"""The CLI's small pure parts, in process (the commands themselves: test_cli.py)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from jobdeck.cli import main
from jobdeck.cli.common import redact_url
from jobdeck.cli.enqueue import parse_object
from jobdeck.cli.jobs import split_statuses
from jobdeck.cli.watch import eta_text
from jobdeck.domain.job import Job, Mode, Status


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("sqlite:///./jobdeck.db", "sqlite:///./jobdeck.db"),
        (
            "postgresql://app:s3cret@db.internal:5433/jobs",
            "postgresql://app:***@db.internal:5433/jobs",
        ),
        ("postgresql://app@db/jobs", "postgresql://app@db/jobs"),
    ],
)
def test_database_urls_are_shown_without_their_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_statuses_repeat_or_comma_separate() -> None:
    assert split_statuses(("running,pending", " failed ")) == ["running", "pending", "failed"]
    assert split_statuses(()) == []
    with pytest.raises(click.BadParameter, match="'asleep' is not one of"):
        split_statuses(("running,asleep",))


def test_payload_must_be_a_json_object() -> None:
    assert parse_object('{"a": [1, 2]}', "--payload") == {"a": [1, 2]}
    with pytest.raises(click.BadParameter, match="not valid JSON"):
        parse_object("{a: 1}", "--payload")
    with pytest.raises(click.BadParameter, match="must be a JSON object"):
        parse_object("null", "--payload")


def job(status: Status, eta: float | None) -> Job:
    return Job(
        id=1, job_id="j", name="n", type="t", mode=Mode.QUEUED, status=status, eta_seconds=eta
    )


def test_eta_text() -> None:
    assert eta_text(job(Status.RUNNING, 75.4)) == "ETA 1:15"
    assert eta_text(job(Status.RUNNING, 3 * 3600 + 61)) == "ETA 3:01:01"
    assert eta_text(job(Status.RUNNING, None)) == ""
    assert eta_text(job(Status.COMPLETED, 10)) == ""


def test_every_command_is_listed_and_takes_the_global_options() -> None:
    runner = CliRunner()
    listing = runner.invoke(main, ["--help"]).output
    for command in ("serve", "worker", "enqueue", "jobs", "watch", "cleanup", "migrate"):
        assert command in listing
    for args in (["serve"], ["worker"], ["enqueue"], ["jobs", "list"], ["jobs", "show"],
                 ["jobs", "cancel"], ["jobs", "retry"], ["jobs", "delete"], ["watch"],
                 ["cleanup"], ["migrate"]):  # fmt: skip
        help_text = runner.invoke(main, [*args, "--help"]).output
        assert "--database-url" in help_text and "--debug" in help_text, args
