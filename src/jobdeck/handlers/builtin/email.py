"""``email``: a message through the operator's SMTP server (docs/builtin-types.md).

``body`` is plain text as written. ``template`` names ``<name>.html`` and/or
``<name>.txt`` in the templates folders (``JOBDECK_TEMPLATES_DIR``, then folders
plugins added, then the ones shipped here, such as ``daily-report``), rendered with
``data`` in Jinja2's sandbox, HTML autoescaped. Header values holding CR or LF are
refused, and the recipients are handed to SMTP explicitly, never read back from
the headers.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from jobdeck.errors import PermanentFailure, ValidationError
from jobdeck.handlers.builtin.common import BuiltinHandler

if TYPE_CHECKING:
    from jobdeck.handlers.services import Services

SHIPPED_TEMPLATES = Path(__file__).with_name("templates")
ADDRESS = r"^[^\s@<>()\[\],;:\"\\]+@[^\s@<>()\[\],;:\"\\]+$"
_ADDRESS = re.compile(ADDRESS[1:-1])  # fullmatch: no newline slips in before ``$``
MAX_RECIPIENTS = 50

_address_schema = {
    "type": "string",
    "maxLength": 320,
    "pattern": ADDRESS,
    "description": "must be one plain e-mail address (no name, no CR/LF)",
}


class EmailHandler(BuiltinHandler):
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["to", "subject"],
        "properties": {
            "to": {
                "anyOf": [
                    _address_schema,
                    {
                        "type": "array",
                        "items": _address_schema,
                        "minItems": 1,
                        "maxItems": MAX_RECIPIENTS,
                    },
                ]
            },
            "subject": {
                "type": "string",
                "minLength": 1,
                "maxLength": 998,
                "pattern": r"^[^\r\n\x00]*$",
                "description": "a subject may not contain CR, LF or NUL",
            },
            "body": {"type": "string", "maxLength": 1_000_000},
            "template": {
                "type": "string",
                "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$",
                "description": "must be a template name (letters, digits, - and _)",
            },
            "data": {"type": "object"},
            "timeout": {"type": "integer", "minimum": 1, "maximum": 300_000},
        },
    }

    @classmethod
    def check_more(cls, config: Mapping[str, Any], services: Services | None) -> None:
        if ("body" in config) == ("template" in config):
            raise ValidationError("payload: give either body or template")
        # Python's ``$`` also matches before a final newline: the schema patterns
        # alone would let "subject\n" through.
        if not _header_safe(config["subject"]):
            raise ValidationError("payload.subject: a subject may not contain CR, LF or NUL")
        try:
            _recipients(config["to"])
        except PermanentFailure as exc:
            raise ValidationError(f"payload.to: {exc.message.removeprefix('email: ')}") from None

    async def run(self, config: dict[str, Any]) -> Any:
        # Here, not at the top: smtplib and the SMTP client wait for the first email job
        # (docs/internals.md, "Imports that wait until used"); services.smtp imports the
        # mailer too.
        import smtplib

        from jobdeck.handlers.builtin import mailer

        smtp = self.services.smtp
        recipients = _recipients(config["to"])
        subject = config["subject"]
        if not isinstance(subject, str) or not _header_safe(subject):
            raise PermanentFailure("email: the subject may not contain CR, LF or NUL")
        message = EmailMessage()
        message["From"] = smtp.sender
        message["To"] = ", ".join(recipients)
        message["Subject"] = subject
        message["Message-ID"] = make_msgid(domain="jobdeck")
        if "body" in config:
            message.set_content(config["body"])
        else:
            text, html = self._render(config["template"], config.get("data") or {})
            message.set_content(text if text is not None else "This message is HTML only.")
            if html is not None:
                message.add_alternative(html, subtype="html")
        seconds = config.get("timeout", 30_000) / 1000
        try:
            await asyncio.to_thread(mailer.send, smtp, message, recipients, seconds)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPAuthenticationError) as exc:
            raise PermanentFailure(f"email: {exc}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise RuntimeError(f"email: {smtp.host}:{smtp.port}: {exc}") from None
        return {
            "sent": True,
            "to": recipients,
            "subject": subject,
            "message_id": message["Message-ID"],
        }

    def _render(self, name: str, data: dict[str, Any]) -> tuple[str | None, str | None]:
        # Imported here, not with jobdeck: every jobdeck process would pay ~20 ms for it.
        import jinja2
        from jinja2.sandbox import SandboxedEnvironment

        settings = self.services.settings
        folders = [Path(settings.templates_dir), *self.services.template_dirs, SHIPPED_TEMPLATES]
        env = SandboxedEnvironment(
            loader=jinja2.FileSystemLoader([str(f) for f in folders]),
            autoescape=jinja2.select_autoescape(["html", "htm", "xml"], default=False),
        )
        rendered: list[str | None] = []
        for extension in ("txt", "html"):
            try:
                template = env.get_template(f"{name}.{extension}")
            except jinja2.TemplateNotFound:
                rendered.append(None)
                continue
            try:
                rendered.append(template.render(**data))
            except jinja2.TemplateError as exc:  # SecurityError included
                raise PermanentFailure(f"email: template {name!r}: {exc}") from None
        if rendered == [None, None]:
            raise PermanentFailure(f"email: no template {name!r} (.txt or .html)")
        return rendered[0], rendered[1]


def _header_safe(value: str) -> bool:
    return not any(c in value for c in "\r\n\x00")


def _recipients(to: Any) -> list[str]:
    found = [to] if isinstance(to, str) else list(to)
    for address in found:
        # Checked again after variables were replaced: a secret could hold anything.
        if not isinstance(address, str) or not _ADDRESS.fullmatch(address):
            raise PermanentFailure(f"email: not a plain e-mail address: {address!r}")
    return found
