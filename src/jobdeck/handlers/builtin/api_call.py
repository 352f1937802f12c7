"""``api_call``: a request to a route of this jobdeck application, in process, as the
job's creator (docs/builtin-types.md, "Identity").

The creator (``created_by``) is looked up when the attempt runs: a token as it stands
then (revoked or gone: the job fails without a retry), a plugin's principal, or the
local operator. The request never leaves the process and carries no credential: the
transport ``Services.api_transport`` gives hands the caller to the application's auth
layer out of band. ``Authorization`` and ``Cookie`` are refused in ``headers``, at
creation and again when the job runs.

A 2xx answer completes the job; 5xx and 429 are retried with the job's backoff; any
other answer (401, 403 for a scope the creator lacks, 404, …) fails it without retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from jobdeck.errors import JobdeckError, PermanentFailure, ValidationError
from jobdeck.handlers.builtin.common import BuiltinHandler, capped
from jobdeck.handlers.builtin.webhook import KEPT_HEADERS, RETRIED_STATUSES, _body, _read

if TYPE_CHECKING:
    from jobdeck.handlers.services import Services

# The base URL requests are built on: never resolved, the transport is in process.
IN_PROCESS_BASE = "http://jobdeck.internal"
# Credentials, and what jobdeck or the transport sets: a configuration may not choose them.
REFUSED_HEADERS = (
    "authorization|cookie|host|content-length|transfer-encoding|connection"
    "|idempotency-key|x-jobdeck-attempt"
)
RELATIVE = r"^/(?![/\\])[^\s#\\]*$"
DEFAULT_TIMEOUT_MS = 30_000


class ApiCallFailed(JobdeckError):
    """The route answered with an error worth retrying."""


class ApiCallHandler(BuiltinHandler):
    """Call a route of this application (a plugin route) as the job's creator."""

    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "url": {
                "type": "string",
                "maxLength": 4096,
                "pattern": RELATIVE,
                "description": "must be a path of this application, like /api/my-plugin/sync",
            },
            "endpoint": {
                "type": "string",
                "maxLength": 4096,
                "pattern": RELATIVE,
                "description": "must be a path of this application, like /api/my-plugin/sync",
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
                    "pattern": rf"^(?!(?i:{REFUSED_HEADERS})$)[!#$%&'*+.^_`|~0-9A-Za-z-]+$",
                    "description": "api_call acts as the job's creator: no credentials or"
                    " transport headers (Authorization, Cookie, Host, …)",
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
        },
    }

    @classmethod
    def check_more(cls, config: Mapping[str, Any], services: Services | None) -> None:
        given = [key for key in ("url", "endpoint") if key in config]
        if len(given) != 1:
            raise ValidationError("payload.url: give url (or endpoint), exactly one of them")
        for name, value in (config.get("headers") or {}).items():
            if any(c in value for c in "\r\n\x00") or any(c in name for c in "\r\n"):
                raise ValidationError(
                    f"payload.headers.{name}: a header value may not contain CR, LF or NUL"
                )

    async def run(self, config: dict[str, Any]) -> Any:
        import httpx

        job = self.job
        path = config.get("url", config.get("endpoint"))
        if not isinstance(path, str) or not path.startswith("/") or path.startswith("//"):
            # A variable's value may not turn the path into something else.
            raise PermanentFailure("api_call: url must stay a path of this application")
        principal = await self.services.principal_for(job.created_by)
        method = str(config.get("method", "POST")).upper()
        content, content_type = _body(config)
        headers = httpx.Headers(config.get("headers") or {})
        if content_type and "content-type" not in headers:
            headers["Content-Type"] = content_type
        headers["Idempotency-Key"] = job.job_id
        headers["X-Jobdeck-Attempt"] = str(job.attempt)
        seconds = config.get("timeout", DEFAULT_TIMEOUT_MS) / 1000
        request = httpx.Request(method, IN_PROCESS_BASE + path, headers=headers, content=content)
        transport = self.services.api_transport(principal)
        try:
            async with asyncio.timeout(seconds):
                response = await transport.handle_async_request(request)
                try:
                    body, truncated = await _read(response)
                finally:
                    await response.aclose()
        except TimeoutError:
            raise ApiCallFailed(f"api_call: no answer from {path} within {seconds:g} s") from None
        finally:
            await transport.aclose()
        text = body.decode("utf-8", "replace")
        status = response.status_code
        if 200 <= status < 300:
            result: dict[str, Any] = {
                "status": status,
                "headers": {k: response.headers[k] for k in KEPT_HEADERS if k in response.headers},
                "body": text,
                "truncated": truncated,
            }
            if not truncated and "json" in response.headers.get("content-type", ""):
                with contextlib.suppress(ValueError):
                    result["json"] = json.loads(text)
            return result
        message = f"api_call: HTTP {status} from {method} {path}: {capped(text, 200)[0]}"
        if status >= 500 or status in RETRIED_STATUSES:
            raise ApiCallFailed(message)
        raise PermanentFailure(message)
