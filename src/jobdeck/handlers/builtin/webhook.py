"""``webhook``: one HTTP request to a URL the user chose, through the egress guard
(docs/builtin-types.md).

A 2xx answer completes the job; 5xx, 429, timeouts and network errors fail the
attempt and are retried with the job's backoff; any other answer (and a refusal by
the guard) fails the job without a retry. Every attempt carries ``Idempotency-Key:
{job_id}`` and ``X-Jobdeck-Attempt: N``; with ``signing_secret`` the request is
signed the Standard Webhooks way. Redirects are followed here, one request at a
time, so the guard sees each target.

Requests go straight to the guarded transport rather than through an httpx client:
the client logs every URL it requests, and a URL may carry a resolved secret.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from jobdeck.errors import JobdeckError, PermanentFailure, ValidationError
from jobdeck.handlers.builtin.common import BODY_LIMIT, BuiltinHandler, capped
from jobdeck.handlers.builtin.egress_guard import EgressGuard

if TYPE_CHECKING:
    import httpx

    from jobdeck.handlers.services import Services

SECRET_REF = r"^\{\{\s*secret:[A-Za-z_][A-Za-z0-9_]*\s*\}\}$"
# Set by jobdeck itself, or by the transport: a configuration may not choose them.
RESERVED_HEADERS = (
    "host|content-length|transfer-encoding|connection|idempotency-key|x-jobdeck-attempt"
    "|webhook-id|webhook-timestamp|webhook-signature"
)
KEPT_HEADERS = ("content-type", "content-length", "date", "etag", "location", "retry-after")
MAX_REDIRECTS = 5
RETRIED_STATUSES = frozenset({429})  # and every 5xx


class WebhookFailed(JobdeckError):
    """The receiver answered with an error worth retrying."""


class WebhookHandler(BuiltinHandler):
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["url"],
        "properties": {
            "url": {
                "type": "string",
                "maxLength": 4096,
                "pattern": r"^(?i:https?)://",
                "description": "must be an http:// or https:// URL",
            },
            "method": {
                "type": "string",
                "pattern": "^(?i:GET|POST|PUT|PATCH|DELETE)$",
                "description": "must be GET, POST, PUT, PATCH or DELETE",
            },
            "headers": {
                "type": "object",
                "maxProperties": 50,
                "propertyNames": {
                    "pattern": rf"^(?!(?i:{RESERVED_HEADERS})$)[!#$%&'*+.^_`|~0-9A-Za-z-]+$",
                    "description": "not a header name a configuration may set",
                },
                "additionalProperties": {
                    "type": "string",
                    "maxLength": 8192,
                    "pattern": r"^[^\r\n\x00]*$",
                    "description": "a header value may not contain CR, LF or NUL",
                },
            },
            "body": {},
            "timeout": {"type": "integer", "minimum": 1, "maximum": 300_000},
            "signing_secret": {
                "type": "string",
                "pattern": SECRET_REF,
                "description": "must be a {{secret:NAME}} reference",
            },
        },
    }

    @classmethod
    def check_more(cls, config: Mapping[str, Any], services: Services | None) -> None:
        # Python's ``$`` also matches before a final newline: check values here too.
        for name, value in (config.get("headers") or {}).items():
            if any(c in value for c in "\r\n\x00") or any(c in name for c in "\r\n"):
                raise ValidationError(
                    f"payload.headers.{name}: a header value may not contain CR, LF or NUL"
                )

    async def run(self, config: dict[str, Any]) -> Any:
        import httpx

        job = self.job
        url = EgressGuard.parse(config["url"])
        method = str(config.get("method", "POST")).upper()
        content, content_type = _body(config)
        headers = httpx.Headers(config.get("headers") or {})
        if content_type and "content-type" not in headers:
            headers["Content-Type"] = content_type
        headers["Idempotency-Key"] = job.job_id
        headers["X-Jobdeck-Attempt"] = str(job.attempt)
        if config.get("signing_secret"):
            now = int(self.services.clock.now().timestamp())
            headers.update(sign(config["signing_secret"], job.job_id, now, content or b""))
        seconds = config.get("timeout", 30_000) / 1000
        request = httpx.Request(method, url, headers=headers, content=content)
        request.extensions["timeout"] = httpx.Timeout(seconds).as_dict()
        return await self._send(self.services.http_transport(), request, seconds)

    async def _send(
        self, transport: httpx.AsyncBaseTransport, request: httpx.Request, seconds: float
    ) -> dict[str, Any]:
        import httpx

        for _hop in range(MAX_REDIRECTS + 1):
            host = request.url.host
            try:
                async with asyncio.timeout(seconds):
                    response = await transport.handle_async_request(request)
                    try:
                        following = _redirect(request, response)
                        body, truncated = (b"", False) if following else await _read(response)
                    finally:
                        await response.aclose()
            except TimeoutError:
                raise WebhookFailed(
                    f"webhook: no answer from {host} within {seconds:g} s"
                ) from None
            except httpx.TransportError as exc:
                raise WebhookFailed(f"webhook: could not reach {host}: {_describe(exc)}") from None
            if following is not None:
                request = following
                continue
            text = body.decode("utf-8", "replace")
            status = response.status_code
            if 200 <= status < 300:
                return {
                    "status": status,
                    "headers": {
                        k: response.headers[k] for k in KEPT_HEADERS if k in response.headers
                    },
                    "body": text,
                    "truncated": truncated,
                }
            message = f"webhook: HTTP {status} from {host}: {capped(text, 200)[0]}".rstrip(": ")
            if status >= 500 or status in RETRIED_STATUSES:
                raise WebhookFailed(message)
            raise PermanentFailure(message)
        raise PermanentFailure(f"webhook: more than {MAX_REDIRECTS} redirects")


def _body(config: dict[str, Any]) -> tuple[bytes | None, str | None]:
    if "body" not in config or config["body"] is None:
        return None, None
    body = config["body"]
    if isinstance(body, str):
        return body.encode(), "text/plain; charset=utf-8"
    return json.dumps(body, separators=(",", ":")).encode(), "application/json"


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Standard Webhooks headers. A ``whsec_``-prefixed secret is base64 (as that
    scheme issues them); any other is used as its UTF-8 bytes."""
    key = base64.b64decode(secret[6:]) if secret.startswith("whsec_") else secret.encode()
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{digest}",
    }


def _redirect(request: httpx.Request, response: httpx.Response) -> httpx.Request | None:
    """The next request when ``response`` redirects (httpx's rules), else None."""
    import httpx

    location = response.headers.get("location")
    if response.status_code not in (301, 302, 303, 307, 308) or not location:
        return None
    url = EgressGuard.parse(str(request.url.join(location)))
    method, content = request.method, request.content
    headers = httpx.Headers(request.headers)
    del headers["host"]
    if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
        method, content = ("GET" if method != "HEAD" else method), b""
        for name in ("content-type", "content-length", "transfer-encoding"):
            headers.pop(name, None)
    if (url.scheme, url.host, url.port) != (request.url.scheme, request.url.host, request.url.port):
        for name in ("authorization", "cookie"):
            headers.pop(name, None)
    headers.pop("content-length", None)
    follow = httpx.Request(method, url, headers=headers, content=content or None)
    follow.extensions["timeout"] = request.extensions.get("timeout")
    return follow


async def _read(response: httpx.Response) -> tuple[bytes, bool]:
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > BODY_LIMIT:
            return bytes(body[:BODY_LIMIT]), True
    return bytes(body), False


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
