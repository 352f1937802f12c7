"""The email type against a real SMTP server (aiosmtpd) on loopback (docs/builtin-types.md)."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from jobdeck import JobDeck, Settings, Status, ValidationError
from jobdeck.clock import FrozenClock


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    with socket.socket() as probe:  # aiosmtpd needs a known port to check it started
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def make_deck(tmp_path: Path, smtp_url: str | None) -> JobDeck:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'jobs.db'}",
        smtp_url=smtp_url,
        templates_dir=str(tmp_path / "templates"),
    )
    return JobDeck(settings=settings, clock=FrozenClock())


@pytest.fixture
async def deck(tmp_path: Path, smtp: tuple[Inbox, int]) -> AsyncIterator[JobDeck]:
    async with make_deck(tmp_path, f"smtp://127.0.0.1:{smtp[1]}?from=jobs@example.com") as deck:
        yield deck


async def run(deck: JobDeck, config: dict[str, Any]) -> Any:
    job = await deck.schedule_job("email", config, max_retries=0)
    await deck.drain()
    return await job.refresh()


async def test_the_seed_example_renders_daily_report(
    deck: JobDeck, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    job = await run(
        deck,
        {
            "to": "admin@example.com",
            "subject": "Daily Report",
            "template": "daily-report",
            "data": {"reportDate": "{{current_date}}", "summary": "<b>all good</b>"},
        },
    )
    assert job.status is Status.COMPLETED, job.error_message
    assert job.result["to"] == ["admin@example.com"]
    [(sender, recipients, message)] = inbox.messages
    assert sender == "jobs@example.com"
    assert recipients == ["admin@example.com"]
    assert message["Subject"] == "Daily Report"
    assert message["To"] == "admin@example.com"
    html = message.get_body(("html",))
    text = message.get_body(("plain",))
    assert html is not None and text is not None
    assert "Daily report for 2026-01-01" in html.get_content()
    assert "&lt;b&gt;all good&lt;/b&gt;" in html.get_content()  # autoescaped
    assert "<b>all good</b>" in text.get_content()  # plain text is not HTML


async def test_inline_body_to_several_recipients(deck: JobDeck, smtp: tuple[Inbox, int]) -> None:
    inbox, _ = smtp
    job = await run(
        deck,
        {
            "to": ["a@example.com", "b@example.org"],
            "subject": "Hi {{job.id}}",
            "body": "Plain {{ current_date }} {% raw %}",
        },
    )
    assert job.status is Status.COMPLETED, job.error_message
    [(_, recipients, message)] = inbox.messages
    assert recipients == ["a@example.com", "b@example.org"]
    assert message["Subject"] == f"Hi {job.job_id}"
    assert message.get_content().strip() == "Plain 2026-01-01 {% raw %}"  # not a template


async def test_templates_folder_and_sandbox(
    tmp_path: Path, deck: JobDeck, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "mine.txt").write_text("Hello {{ name }}")
    (folder / "escape.txt").write_text("{{ ''.__class__.__mro__[1].__subclasses__() }}")
    job = await run(
        deck, {"to": "a@example.com", "subject": "s", "template": "mine", "data": {"name": "Ada"}}
    )
    assert job.status is Status.COMPLETED, job.error_message
    assert inbox.messages[0][2].get_content().strip() == "Hello Ada"
    job = await run(deck, {"to": "a@example.com", "subject": "s", "template": "escape"})
    assert job.status is Status.FAILED
    assert "email: template 'escape'" in job.error_message and "unsafe" in job.error_message
    job = await run(deck, {"to": "a@example.com", "subject": "s", "template": "missing"})
    assert job.status is Status.FAILED and "no template 'missing'" in job.error_message
    assert len(inbox.messages) == 1


@pytest.mark.parametrize(
    ("config", "field"),
    [
        (
            {"to": "a@example.com", "subject": "x\r\nBcc: victim@example.com", "body": "b"},
            "payload.subject",
        ),
        ({"to": "a@example.com", "subject": "x\n", "body": "b"}, "payload.subject"),
        ({"to": "a@example.com\r\nBcc: v@example.com", "subject": "x", "body": "b"}, "payload.to"),
        ({"to": "a@example.com\n", "subject": "x", "body": "b"}, "payload.to"),
        ({"to": "Ada <a@example.com>", "subject": "x", "body": "b"}, "payload.to"),
        ({"to": ["a@example.com", "b@x, c@y"], "subject": "x", "body": "b"}, "payload.to"),
        ({"to": "a@example.com", "subject": "x"}, "payload: give either body or template"),
        ({"to": "a@example.com", "subject": "x", "body": "b", "template": "t"}, "payload: give"),
        ({"to": "a@example.com", "subject": "x", "template": "../etc/passwd"}, "payload.template"),
        ({"to": "a@example.com", "subject": "{{__class__}}", "body": "b"}, "payload.subject"),
    ],
)
async def test_header_injection_and_bad_configurations_are_refused(
    deck: JobDeck, config: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError, match=field.replace(".", r"\.")):
        await deck.schedule_job("email", config)


async def test_crlf_from_a_secret_is_refused_when_the_job_runs(
    deck: JobDeck, smtp: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOBDECK_SECRET_SUBJ", "x\r\nBcc: victim@example.com")
    job = await run(deck, {"to": "a@example.com", "subject": "{{secret:SUBJ}}", "body": "b"})
    assert job.status is Status.FAILED
    assert "CR, LF" in job.error_message
    assert smtp[0].messages == []


async def test_credentials_need_starttls(tmp_path: Path, smtp: tuple[Inbox, int]) -> None:
    async with make_deck(tmp_path, f"smtp://user:pw@127.0.0.1:{smtp[1]}") as deck:
        job = await run(deck, {"to": "a@example.com", "subject": "s", "body": "b"})
    assert job.status is Status.FAILED
    assert "does not offer STARTTLS" in job.error_message
    assert smtp[0].messages == []


async def test_no_smtp_server_configured(tmp_path: Path) -> None:
    async with make_deck(tmp_path, None) as deck:
        job = await deck.schedule_job("email", {"to": "a@example.com", "subject": "s", "body": "b"})
        await deck.drain()
        job = await job.refresh()
    assert job.status is Status.FAILED and job.attempt == 1
    assert "no SMTP server is configured" in job.error_message
