"""What the overview page shows (docs/ui.md): counts by status, jobs finished
per minute, workers alive. Same access rules as the job list: a bound token counts
only its plugin's or store's jobs and sees only those among what workers run."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from jobdeck.api import schemas as s
from jobdeck.api.auth import Reader
from jobdeck.api.context import context
from jobdeck.api.jobs_v1 import parse_mode, parse_statuses, scoped_filters
from jobdeck.api.schemas import error_responses, iso
from jobdeck.domain.job import Status
from jobdeck.domain.values import check_text

router = APIRouter(
    prefix="/api/v1",
    tags=["jobs (v1)"],
    responses=error_responses(400, 401, 403, 422),
)

FINISHED = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)


class CountsOut(BaseModel):
    success: Literal[True]
    data: dict[str, int]
    total: int


class MinuteOut(BaseModel):
    minute: str
    completed: int
    failed: int
    cancelled: int


class ThroughputOut(BaseModel):
    success: Literal[True]
    data: list[MinuteOut]
    minutes: int
    completed: int
    failed: int
    cancelled: int
    failureRate: float | None


class RunningOut(BaseModel):
    jobId: str
    name: str
    type: str
    status: str
    progress: float


class WorkerOut(BaseModel):
    workerId: str
    host: str
    pid: int
    concurrency: int
    running: list[RunningOut]
    hidden: int
    startedAt: str | None
    lastSeenAt: str | None


class WorkersOut(BaseModel):
    success: Literal[True]
    data: list[WorkerOut]


def list_filters(
    principal: Any,
    *,
    status: list[str] | None = None,
    type: str | None = None,
    source: str | None = None,
    storeId: str | None = None,
    pluginId: str | None = None,
    mode: str | None = None,
    q: str | None = None,
) -> dict[str, Any]:
    """The job list's filters (``GET /api/v1/jobs``), held to the token's binding."""
    for name, value in (
        ("type", type),
        ("source", source),
        ("storeId", storeId),
        ("pluginId", pluginId),
        ("q", q),
    ):
        check_text(name, value)
    return {
        "status": parse_statuses(status),
        "type": type,
        "source": source,
        "mode": parse_mode(mode),
        "q": q or None,
        **scoped_filters(principal, storeId, pluginId),
    }


@router.get("/stats/counts", responses={200: {"model": CountsOut}})
async def counts(
    request: Request,
    principal: Reader,
    type: Annotated[str | None, Query(max_length=s.SHORT)] = None,
    source: Annotated[str | None, Query(max_length=s.SHORT)] = None,
    storeId: Annotated[str | None, Query(max_length=s.SHORT)] = None,
    pluginId: Annotated[str | None, Query(max_length=s.SHORT)] = None,
    mode: Annotated[str | None, Query(max_length=20)] = None,
) -> JSONResponse:
    """Jobs per status (every status, zero when none), with the job list's filters."""
    filters = list_filters(
        principal, type=type, source=source, storeId=storeId, pluginId=pluginId, mode=mode
    )
    found = await context(request).deck.count_by_status(**filters)
    return JSONResponse({"success": True, "data": found, "total": sum(found.values())})


@router.get("/stats/throughput", responses={200: {"model": ThroughputOut}})
async def throughput(
    request: Request,
    principal: Reader,
    minutes: Annotated[int, Query(ge=1, le=1440)] = 60,
    type: Annotated[str | None, Query(max_length=s.SHORT)] = None,
    source: Annotated[str | None, Query(max_length=s.SHORT)] = None,
    storeId: Annotated[str | None, Query(max_length=s.SHORT)] = None,
    pluginId: Annotated[str | None, Query(max_length=s.SHORT)] = None,
) -> JSONResponse:
    """Jobs finished per minute over the last ``minutes`` (the current minute last, every
    minute present), by final status; ``failureRate`` = failed / (completed + failed)."""
    filters = list_filters(principal, type=type, source=source, storeId=storeId, pluginId=pluginId)
    deck = context(request).deck
    found = await deck.finished_per_minute(minutes, **filters)
    last = deck.clock.now().replace(second=0, microsecond=0)
    first = last - timedelta(minutes=minutes - 1)
    table: dict[Any, dict[str, int]] = {}
    for row in found:
        key = row.minute.replace(second=0, microsecond=0)
        table.setdefault(key, {})[row.status.value] = row.count
    series: list[dict[str, Any]] = []
    totals = dict.fromkeys((st.value for st in FINISHED), 0)
    for i in range(minutes):
        minute = first + timedelta(minutes=i)
        counted = table.get(minute, {})
        entry: dict[str, Any] = {"minute": iso(minute)}
        for name in totals:
            entry[name] = counted.get(name, 0)
            totals[name] += entry[name]
        series.append(entry)
    decided = totals["completed"] + totals["failed"]
    rate = totals["failed"] / decided if decided else None
    return JSONResponse(
        {"success": True, "data": series, "minutes": minutes, **totals, "failureRate": rate}
    )


@router.get("/workers", responses={200: {"model": WorkersOut}})
async def workers(request: Request, principal: Reader) -> JSONResponse:
    """Workers seen within three heartbeats, from the presence each records, with the
    jobs they run (only those the token may read; ``hidden`` counts the others)."""
    deck = context(request).deck
    answer = []
    for worker in await deck.workers_alive():
        running, hidden = [], 0
        for job_id in worker.running:
            job = await deck.get_job(job_id)
            if job is None:
                continue  # finished and deleted since the last heartbeat
            snap = s.snapshot(job)
            if not principal.sees(snap):
                hidden += 1
                continue
            running.append(
                {
                    "jobId": snap.job_id,
                    "name": snap.name,
                    "type": snap.type,
                    "status": snap.status.value,
                    "progress": s.number(snap.progress),
                }
            )
        answer.append(
            {
                "workerId": worker.worker_id,
                "host": worker.host,
                "pid": worker.pid,
                "concurrency": worker.concurrency,
                "running": running,
                "hidden": hidden,
                "startedAt": iso(worker.started_at),
                "lastSeenAt": iso(worker.last_seen_at),
            }
        )
    return JSONResponse({"success": True, "data": answer})
