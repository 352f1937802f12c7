"""Every error answers ``{"success": false, "message": …}`` with the status of its
cause (docs/api.md, "Envelopes and errors")."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from jobdeck.api.context import context
from jobdeck.api.cron_schemas import cron_job_json
from jobdeck.api.schemas import PayloadTooLarge
from jobdeck.errors import (
    CronJobExists,
    CronJobNotFound,
    InvalidTransition,
    JobdeckError,
    JobNotFound,
    StoreError,
    ValidationError,
)

log = logging.getLogger("jobdeck.api")


class ApiError(Exception):
    """An HTTP error with a message for the client."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def failure(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"success": False, "message": message}, status, headers=headers)


def unauthorized(message: str = "authentication required") -> ApiError:
    return ApiError(401, message, {"WWW-Authenticate": "Bearer"})


def forbidden(message: str) -> ApiError:
    return ApiError(403, message)


def not_found(what: str = "job") -> ApiError:
    return ApiError(404, f"{what} not found")


# Most specific first: the first matching class decides the status.
STATUS_OF: list[tuple[type[Exception], int]] = [
    (PayloadTooLarge, 413),
    (ValidationError, 400),
    (JobNotFound, 404),
    (CronJobNotFound, 404),
    (CronJobExists, 409),
    (InvalidTransition, 409),
    (StoreError, 503),
    (JobdeckError, 400),
]


def status_of(exc: Exception) -> int:
    for kind, status in STATUS_OF:
        if isinstance(exc, kind):
            return status
    return 500


def describe(errors: Any) -> str:
    """Pydantic errors as ``field: problem; …`` (the field a client has to fix)."""
    parts = []
    for error in errors:
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
        field = ".".join(loc) or "body"
        parts.append(f"{field}: {error.get('msg', 'invalid')}")
    return "; ".join(parts[:5]) or "invalid request"


def install(app: FastAPI) -> None:
    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return failure(exc.status, exc.message, exc.headers)

    async def jobdeck_error(request: Request, exc: Exception) -> JSONResponse:
        status = status_of(exc)
        if status >= 500:
            log.error("store failure on %s %s: %s", request.method, request.url.path, exc)
            return failure(status, "the job store is unavailable, try again")
        if isinstance(exc, CronJobExists):
            # The existing schedule beside the message: a plugin that creates its
            # schedule on every start reads its id either way (docs/api.md, errors).
            existing = cron_job_json(exc.existing, context(request).deck.crons)
            return JSONResponse({"success": False, "message": str(exc), "job": existing}, status)
        return failure(status, str(exc))

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return failure(422, describe(exc.errors()))

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return failure(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    async def crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return failure(500, "internal error")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(JobdeckError, jobdeck_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, crash)
