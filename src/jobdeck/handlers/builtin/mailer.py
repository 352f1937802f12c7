"""SMTP delivery for the ``email`` type (docs/builtin-types.md).

``JOBDECK_SMTP_URL``: ``smtp://[user:password@]host[:25]`` (STARTTLS when the server
offers it, and required whenever credentials are given), ``smtp+starttls://…``
(STARTTLS always required) or ``smtps://…:465`` (TLS from the first byte).
``?from=sender@example.com`` sets the sender. Certificates are verified. The
server is the operator's choice, so the egress guard does not apply to it.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

from jobdeck.errors import PermanentFailure

DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


@dataclass(frozen=True)
class SmtpConfig:
    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None
    sender: str

    @classmethod
    def parse(cls, url: str) -> SmtpConfig:
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise PermanentFailure(
                "JOBDECK_SMTP_URL must be smtp://, smtp+starttls:// or smtps:// with a host"
            )
        sender = parse_qs(parts.query).get("from", [f"jobdeck@{socket.gethostname()}"])[0]
        return cls(
            parts.scheme,
            parts.hostname,
            parts.port or DEFAULT_PORTS[parts.scheme],
            unquote(parts.username) if parts.username else None,
            unquote(parts.password) if parts.password is not None else None,
            sender,
        )

    @property
    def starttls_required(self) -> bool:
        return self.scheme == "smtp+starttls" or (
            self.scheme == "smtp" and self.username is not None
        )


def send(config: SmtpConfig, message: EmailMessage, recipients: list[str], timeout: float) -> None:
    """Deliver ``message`` to exactly ``recipients`` (never read from its headers).
    Blocking: run it in a thread."""
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if config.scheme == "smtps":
        smtp = smtplib.SMTP_SSL(config.host, config.port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(config.host, config.port, timeout=timeout)
    with smtp:
        smtp.ehlo()
        if config.scheme != "smtps":
            if smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
            elif config.starttls_required:
                raise PermanentFailure(
                    f"email: {config.host} does not offer STARTTLS, which is required"
                    " when credentials are set"
                )
        if config.username is not None:
            smtp.login(config.username, config.password or "")
        refused = smtp.send_message(message, from_addr=config.sender, to_addrs=recipients)
    if refused:
        raise PermanentFailure(f"email: recipients refused: {', '.join(sorted(refused))}")
