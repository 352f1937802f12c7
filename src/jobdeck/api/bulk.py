"""``POST /api/v1/jobs/bulk``: cancel, retry or delete many jobs, named or matched by
the job list's filters (docs/ui.md, "API endpoints added for the UI").

Each job is its own transition, as if asked one by one: one that cannot take the
action (a running job cannot be deleted) is reported and the others go on. A
filter is resolved to job ids first (at most ``MATCH_LIMIT``, newest first), then
acted on, so jobs that change meanwhile are judged by their state at their turn.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from jobdeck.api import schemas as s
from jobdeck.api.auth import Writer
from jobdeck.api.context import context
from jobdeck.api.errors import ApiError, status_of
from jobdeck.api.insights import list_filters
from jobdeck.api.schemas import error_responses
from jobdeck.api.visibility import find_visible
from jobdeck.domain.values import check_text
from jobdeck.errors import JobdeckError
from jobdeck.tokens import Principal

router = APIRouter(prefix="/api/v1", tags=["jobs (v1)"])

IDS_LIMIT = 1000  # job ids one request may name
MATCH_LIMIT = 10_000  # jobs one filter may act on
PAGE = 1000


class BulkFilter(s.Input):
    status: list[str] | str | None = None
    type: str | None = Field(None, max_length=s.SHORT)
    source: str | None = Field(None, max_length=s.SHORT)
    storeId: str | None = Field(None, max_length=s.SHORT)
    pluginId: str | None = Field(None, max_length=s.SHORT)
    mode: str | None = Field(None, max_length=20)
    q: str | None = Field(None, max_length=s.SHORT)


class BulkBody(s.Input):
    action: Literal["cancel", "retry", "delete"]
    jobIds: list[str] | None = Field(None, max_length=IDS_LIMIT)
    filter: BulkFilter | None = None


class Outcome(BaseModel):
    jobId: str
    ok: bool
    status: str | None = None
    code: int | None = None
    message: str | None = None


class BulkOut(BaseModel):
    success: Literal[True]
    action: str
    matched: int
    succeeded: int
    failed: int
    truncated: bool
    results: list[Outcome]


async def matching_ids(request: Request, principal: Principal, raw: BulkFilter) -> list[str]:
    statuses = [raw.status] if isinstance(raw.status, str) else raw.status
    filters = list_filters(
        principal,
        status=statuses,
        type=raw.type,
        source=raw.source,
        storeId=raw.storeId,
        pluginId=raw.pluginId,
        mode=raw.mode,
        q=raw.q,
    )
    deck = context(request).deck
    ids: list[str] = []
    while len(ids) <= MATCH_LIMIT:
        page = await deck.get_jobs(**filters, limit=PAGE, offset=len(ids))
        ids.extend(job.job_id for job in page)
        if len(page) < PAGE:
            break
    return ids[: MATCH_LIMIT + 1]


async def act(request: Request, principal: Principal, action: str, job_id: str) -> dict[str, Any]:
    deck = context(request).deck
    try:
        job = await find_visible(deck, principal, job_id)
        if job is None:
            return {"jobId": job_id, "ok": False, "code": 404, "message": "job not found"}
        if action == "cancel":
            job = await deck.cancel_job(job_id)
        elif action == "retry":
            job = await deck.retry_job(job_id)
        else:
            await deck.delete_job(job_id)
            return {"jobId": job_id, "ok": True, "status": "deleted"}
    except JobdeckError as exc:
        code = status_of(exc)
        if code >= 500:
            raise
        return {"jobId": job_id, "ok": False, "code": code, "message": str(exc)}
    return {"jobId": job_id, "ok": True, "status": s.snapshot(job).status.value}


@router.post(
    "/jobs/bulk",
    responses={200: {"model": BulkOut}, **error_responses(400, 401, 403, 413, 422)},
)
async def bulk(request: Request, principal: Writer, body: BulkBody) -> JSONResponse:
    """Cancel, retry or delete the jobs named by ``jobIds`` (at most 1,000) or matched
    by ``filter`` (the job list's filters; at most 10,000, newest first, ``truncated``
    when more matched). One outcome per job."""
    if (body.jobIds is None) == (body.filter is None):
        raise ApiError(400, "give either jobIds or filter")
    truncated = False
    if body.jobIds is not None:
        for job_id in body.jobIds:
            check_text("jobIds", job_id)
            if not job_id or len(job_id) > 200:
                raise ApiError(400, "jobIds: each must be a job id")
        ids = list(dict.fromkeys(body.jobIds))
    else:
        assert body.filter is not None
        ids = await matching_ids(request, principal, body.filter)
        truncated = len(ids) > MATCH_LIMIT
        ids = ids[:MATCH_LIMIT]
    results = [await act(request, principal, body.action, job_id) for job_id in ids]
    succeeded = sum(1 for r in results if r["ok"])
    return JSONResponse(
        {
            "success": True,
            "action": body.action,
            "matched": len(ids),
            "succeeded": succeeded,
            "failed": len(results) - succeeded,
            "truncated": truncated,
            "results": results,
        }
    )
