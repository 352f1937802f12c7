"""``/api/background-jobs`` (docs/api.md): queued jobs in snake_case.

Fixed paths (``/status``, ``/stats``, ``/activity/recent``, ``/store/{storeId}``)
are registered before ``/{id}`` so they are never read as job ids.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from jobdeck.api import schemas as s
from jobdeck.api import visibility
from jobdeck.api.auth import Reader, Writer
from jobdeck.api.context import context
from jobdeck.api.errors import forbidden
from jobdeck.api.jobs_v1 import parse_statuses, scoped_filters
from jobdeck.api.schemas import JobId, error_responses, job_snake
from jobdeck.domain.job import Status
from jobdeck.domain.values import check_text
from jobdeck.tokens import Principal

router = APIRouter(
    prefix="/api/background-jobs",
    tags=["background jobs"],
    responses=error_responses(400, 401, 403, 413, 422),
)

Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=2**31)]


async def visible_job(request: Request, principal: Principal, job_id: str) -> Any:
    return await visibility.visible_job(request, principal, job_id, "id")


@router.post("/schedule", status_code=201, responses={201: {"model": s.ScheduleOut}})
async def schedule(request: Request, principal: Writer, body: s.ScheduleJob) -> JSONResponse:
    metadata = dict(body.metadata or {})
    wanted_plugin = metadata.get("pluginId") if isinstance(metadata.get("pluginId"), str) else None
    conflict = principal.binding_conflict(body.storeId, wanted_plugin)
    if conflict:
        raise forbidden(conflict)
    refusal = principal.refusal(body.type, body.payload, context(request).deck.registry)
    if refusal:
        raise forbidden(refusal)
    description = body.description
    if description is None and isinstance(metadata.get("description"), str):
        description = metadata["description"]
    job = await context(request).deck.schedule_job(
        body.type,
        body.payload or {},
        priority=body.priority,
        max_retries=body.maxRetries,
        delay=body.delay / 1000.0,  # milliseconds over HTTP, seconds in Python
        name=body.name,
        description=description,
        source=principal.plugin,
        metadata=metadata,
        store_id=principal.store or body.storeId,
        user_id=body.userId,
        plugin_id=principal.plugin or wanted_plugin,
        created_by=principal.created_by,
    )
    data = job_snake(job)
    return JSONResponse(
        {
            "success": True,
            "message": "Job scheduled successfully",
            "job": {
                "id": data["id"],
                "type": data["type"],
                "priority": data["priority"],
                "status": data["status"],
                "scheduled_at": data["run_at"],
                "store_id": data["store_id"],
            },
        },
        201,
    )


@router.get("/status", responses={200: {"model": s.QueueStatusOut}})
async def queue_status(request: Request, principal: Reader) -> JSONResponse:
    deck = context(request).deck
    scope = scoped_filters(principal, None, None)
    counts = await deck.count_by_status(**scope)
    queue = {str(st): int(counts.get(st, counts.get(str(st), 0))) for st in Status}
    queue["total"] = sum(queue.values())
    running = await deck.get_jobs(status=["running", "cancelling"], limit=100, **scope)
    return JSONResponse(
        {
            "success": True,
            "queue": queue,
            "running_jobs": [job_snake(j) for j in running],
            "job_types": sorted(deck.job_types()),
        }
    )


@router.get("/stats", responses={200: {"model": s.StatsOut}})
async def stats(request: Request, principal: Reader) -> JSONResponse:
    deck = context(request).deck
    scope = scoped_filters(principal, None, None)
    counts = await deck.count_by_status(**scope)
    by_status = {str(st): int(counts.get(st, counts.get(str(st), 0))) for st in Status}
    finished = by_status["completed"] + by_status["failed"]
    queued = await deck.count_jobs(mode="queued", **scope)
    return JSONResponse(
        {
            "success": True,
            "stats": {
                "total": sum(by_status.values()),
                "queued_total": queued,
                "by_status": by_status,
                "success_rate": by_status["completed"] / finished if finished else None,
                "job_types": sorted(deck.job_types()),
            },
        }
    )


@router.get("/activity/recent", responses={200: {"model": s.JobsPage}})
async def recent_activity(
    request: Request, principal: Reader, limit: Limit = 20, offset: Offset = 0
) -> JSONResponse:
    deck = context(request).deck
    scope = scoped_filters(principal, None, None)
    jobs = await deck.get_jobs(limit=limit, offset=offset, **scope)
    total = await deck.count_jobs(**scope)
    return JSONResponse(
        {
            "success": True,
            "jobs": [job_snake(j) for j in jobs],
            "total": total,
            "limit": limit,
            "offset": offset,
        }
    )


@router.get("/store/{storeId}", responses={200: {"model": s.JobsPage}})
async def store_jobs(
    request: Request,
    principal: Reader,
    storeId: Annotated[str, Path(max_length=s.SHORT)],
    status: Annotated[list[str] | None, Query(max_length=20)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> JSONResponse:
    check_text("storeId", storeId)
    deck = context(request).deck
    filters = {"status": parse_statuses(status), **scoped_filters(principal, storeId, None)}
    jobs = await deck.get_jobs(limit=limit, offset=offset, **filters)
    total = await deck.count_jobs(**filters)
    return JSONResponse(
        {
            "success": True,
            "store_id": storeId,
            "jobs": [job_snake(j) for j in jobs],
            "total": total,
            "limit": limit,
            "offset": offset,
        }
    )


@router.get("/{id}/status", responses={200: {"model": s.StatusOut}, **error_responses(404)})
async def job_status(request: Request, principal: Reader, id: JobId) -> JSONResponse:
    data = job_snake(await visible_job(request, principal, id))
    keys = ("id", "type", "status", "progress", "progress_message", "result", "last_error")
    return JSONResponse({"success": True, "job": {k: data[k] for k in keys}})


@router.get("/{id}/history", responses={200: {"model": s.HistoryOut}, **error_responses(404)})
async def job_history(request: Request, principal: Reader, id: JobId) -> JSONResponse:
    await visible_job(request, principal, id)
    events = await context(request).deck.get_history(id)
    return JSONResponse(
        {"success": True, "job_id": id, "history": [s.event_snake(e) for e in events]}
    )


@router.post("/{id}/cancel", responses={200: {"model": s.CancelOut}, **error_responses(404, 409)})
async def cancel(request: Request, principal: Writer, id: JobId) -> JSONResponse:
    await visible_job(request, principal, id)
    job = s.snapshot(await context(request).deck.cancel_job(id))
    done = job.status == Status.CANCELLED
    return JSONResponse(
        {
            "success": True,
            "message": "Job cancelled" if done else "Cancellation requested",
            "job": {
                "id": job.job_id,
                "status": str(job.status),
                "cancelled_at": s.iso(job.completed_at) if done else None,
            },
        }
    )


@router.get("/{id}", responses={200: {"model": s.DetailOut}, **error_responses(404)})
async def job_detail(request: Request, principal: Reader, id: JobId) -> JSONResponse:
    job = await visible_job(request, principal, id)
    events = await context(request).deck.get_history(id)
    data = job_snake(job)
    data["history"] = [s.event_snake(e) for e in events]
    return JSONResponse({"success": True, "job": data})
