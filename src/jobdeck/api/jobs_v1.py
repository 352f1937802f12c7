"""``/api/v1/jobs`` (docs/api.md): tracked jobs in camelCase."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse, Response

from jobdeck import tokens
from jobdeck.api import schemas as s
from jobdeck.api.auth import Reader, Writer
from jobdeck.api.context import context
from jobdeck.api.errors import ApiError, forbidden, not_found
from jobdeck.api.schemas import JobId, error_responses, job_camel
from jobdeck.api.visibility import visible_job
from jobdeck.domain.job import Mode
from jobdeck.domain.job import parse_statuses as parse_status_names
from jobdeck.domain.svg import sanitize_svg
from jobdeck.domain.values import check_text
from jobdeck.errors import ValidationError
from jobdeck.tokens import Principal

router = APIRouter(
    prefix="/api/v1",
    tags=["jobs (v1)"],
    responses=error_responses(400, 401, 403, 413, 422),
)


ICON_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, max-age=300",
}


def ok(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse({"success": True, "data": data}, status)


def parse_statuses(values: list[str] | None) -> list[str] | None:
    """``status`` may repeat or be comma-separated; unknown names are a 400."""
    return [str(s) for s in parse_status_names(values)] or None


def parse_mode(value: str | None) -> str | None:
    if value is not None and value not in {str(m) for m in Mode}:
        raise ValidationError(f"mode must be tracked or queued, not {value!r}")
    return value


def scoped_filters(
    principal: Principal, store_id: str | None, plugin_id: str | None
) -> dict[str, Any]:
    """The store/plugin filters a bound token is held to."""
    conflict = principal.binding_conflict(store_id, plugin_id)
    if conflict:
        raise forbidden(conflict)
    return {"store_id": principal.store or store_id, "plugin_id": principal.plugin or plugin_id}


# ``sort`` in the API's camelCase → the deck's keys (domain.listing.JOB_SORT_KEYS).
SORT_KEYS = {
    "createdAt": "created_at",
    "updatedAt": "updated_at",
    "priority": "priority",
    "name": "name",
    "status": "status",
    "progress": "progress",
}


def sort_key(value: str | None) -> str | None:
    if not value:
        return None
    key = SORT_KEYS.get(value.removeprefix("-"))
    if key is None:
        raise ValidationError(
            f"sort must be one of {', '.join(SORT_KEYS)} (prefix - for descending), not {value!r}"
        )
    return ("-" if value.startswith("-") else "") + key


@router.get("/jobs", responses={200: {"model": s.JobList}})
async def list_jobs(
    request: Request,
    principal: Reader,
    status: Annotated[list[str] | None, Query(max_length=20)] = None,
    type: Annotated[str | None, Query(max_length=s.SHORT)] = None,
    source: Annotated[str | None, Query(max_length=s.SHORT)] = None,
    storeId: Annotated[str | None, Query(max_length=s.SHORT)] = None,
    pluginId: Annotated[str | None, Query(max_length=s.SHORT)] = None,
    mode: Annotated[str | None, Query(max_length=20)] = None,
    q: Annotated[str | None, Query(max_length=s.SHORT)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
    sort: Annotated[
        str | None,
        Query(
            max_length=20,
            description="createdAt (default -createdAt: newest first), updatedAt, priority, "
            "name, status or progress; a leading - sorts descending",
        ),
    ] = None,
) -> JSONResponse:
    for name, value in (("type", type), ("source", source), ("storeId", storeId), ("q", q)):
        check_text(name, value)
    check_text("pluginId", pluginId)
    filters: dict[str, Any] = {
        "status": parse_statuses(status),
        "type": type,
        "source": source,
        "mode": parse_mode(mode),
        "q": q or None,
        **scoped_filters(principal, storeId, pluginId),
    }
    deck = context(request).deck
    jobs = await deck.get_jobs(**filters, limit=limit, offset=offset, sort=sort_key(sort))
    total = await deck.count_jobs(**filters)
    return JSONResponse(
        {
            "success": True,
            "data": [job_camel(j) for j in jobs],
            "total": total,
            "limit": limit,
            "offset": offset,
        }
    )


@router.post("/jobs", status_code=201, responses={201: {"model": s.JobEnvelope}})
async def create_job(request: Request, principal: Writer, body: s.CreateJob) -> JSONResponse:
    conflict = principal.binding_conflict(body.storeId, body.pluginId)
    if conflict:
        raise forbidden(conflict)
    icon = sanitize_svg(body.iconSvg) if body.iconSvg else None
    job = await context(request).deck.create_job(
        name=body.name,
        type=body.type,
        description=body.description,
        source=body.source or principal.plugin,
        metadata=body.metadata,
        icon_svg=icon,
        show_notification=body.showNotification,
        timeout=body.timeoutSeconds,
        store_id=principal.store or body.storeId,
        plugin_id=principal.plugin or body.pluginId,
        user_id=body.userId,
        created_by=principal.created_by,
    )
    return ok(job_camel(job), 201)


# Registered before /jobs/{jobId}: "cleanup" must not be taken for a job id.
@router.delete("/jobs/cleanup", responses={200: {"model": s.CleanupOut}})
async def cleanup(
    request: Request,
    principal: Writer,
    daysOld: Annotated[int, Query(ge=0, le=36500)] = 30,
) -> JSONResponse:
    if principal.bound:
        raise forbidden("cleanup spans every store and plugin: use an unbound token")
    deleted = await context(request).deck.cleanup_old_jobs(daysOld)
    return JSONResponse(
        {"success": True, "message": f"Deleted {deleted} old jobs", "deleted": deleted}
    )


@router.post("/ws-ticket", responses={200: {"model": s.TicketOut}})
async def ws_ticket(request: Request, principal: Reader) -> JSONResponse:
    if principal.token_id is None:
        raise ApiError(400, "this credential cannot issue tickets")
    deck = context(request).deck
    ticket = await deck.tokens.issue_grant("ticket", principal.token_id, tokens.TICKET_TTL)
    return JSONResponse(
        {"success": True, "ticket": ticket, "expiresIn": int(tokens.TICKET_TTL.total_seconds())},
        headers={"Cache-Control": "no-store"},
    )


@router.get("/jobs/{jobId}", responses={200: {"model": s.JobEnvelope}, **error_responses(404)})
async def get_job(request: Request, principal: Reader, jobId: JobId) -> JSONResponse:
    return ok(job_camel(await visible_job(request, principal, jobId)))


@router.get(
    "/jobs/{jobId}/history", responses={200: {"model": s.EventList}, **error_responses(404)}
)
async def history(
    request: Request,
    principal: Reader,
    jobId: JobId,
    after: Annotated[
        int | None,
        Query(ge=0, le=2**62, description="only events after this event id, oldest first"),
    ] = None,
) -> JSONResponse:
    await visible_job(request, principal, jobId)
    events = await context(request).deck.get_history(jobId, after=after)
    return ok([s.event_camel(e) for e in events])


@router.get(
    "/jobs/{jobId}/icon.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}, **error_responses(404)},
)
async def icon(request: Request, principal: Reader, jobId: JobId) -> Response:
    job = s.snapshot(await visible_job(request, principal, jobId))
    if not job.icon_svg:
        raise not_found("icon")
    return Response(job.icon_svg, media_type="image/svg+xml", headers=ICON_HEADERS)


TRANSITION = {200: {"model": s.JobEnvelope}, **error_responses(404, 409)}


@router.post("/jobs/{jobId}/start", responses=TRANSITION)
async def start(request: Request, principal: Writer, jobId: JobId) -> JSONResponse:
    await visible_job(request, principal, jobId)
    return ok(job_camel(await context(request).deck.start_job(jobId)))


@router.post("/jobs/{jobId}/progress", responses=TRANSITION)
async def progress(
    request: Request, principal: Writer, jobId: JobId, body: s.ProgressBody
) -> JSONResponse:
    await visible_job(request, principal, jobId)
    job = await context(request).deck.update_progress(
        jobId, body.progress, metadata=body.metadata, message=body.message
    )
    return ok(job_camel(job))


@router.post("/jobs/{jobId}/complete", responses=TRANSITION)
async def complete(
    request: Request,
    principal: Writer,
    jobId: JobId,
    body: Annotated[s.CompleteBody | None, Body()] = None,
) -> JSONResponse:
    await visible_job(request, principal, jobId)
    result = body.result if body is not None else None
    return ok(job_camel(await context(request).deck.complete_job(jobId, result)))


@router.post("/jobs/{jobId}/fail", responses=TRANSITION)
async def fail(request: Request, principal: Writer, jobId: JobId, body: s.FailBody) -> JSONResponse:
    await visible_job(request, principal, jobId)
    return ok(job_camel(await context(request).deck.fail_job(jobId, body.errorMessage)))


@router.post("/jobs/{jobId}/cancel", responses=TRANSITION)
async def cancel(request: Request, principal: Writer, jobId: JobId) -> JSONResponse:
    await visible_job(request, principal, jobId)
    return ok(job_camel(await context(request).deck.cancel_job(jobId)))


@router.post("/jobs/{jobId}/retry", responses=TRANSITION)
async def retry(request: Request, principal: Writer, jobId: JobId) -> JSONResponse:
    await visible_job(request, principal, jobId)
    return ok(job_camel(await context(request).deck.retry_job(jobId)))


@router.delete("/jobs/{jobId}", responses={200: {"model": s.OkOut}, **error_responses(404, 409)})
async def delete(request: Request, principal: Writer, jobId: JobId) -> JSONResponse:
    await visible_job(request, principal, jobId)
    await context(request).deck.delete_job(jobId)
    return JSONResponse({"success": True, "message": "Job deleted"})
