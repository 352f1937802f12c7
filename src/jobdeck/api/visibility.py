"""Which jobs a caller may see: one rule for every route that takes a job id.

A job outside the token's binding (docs/security.md, "Bound tokens") is answered as if
it did not exist, so a bound token cannot even learn that an id is in use.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from jobdeck.api import schemas as s
from jobdeck.api.context import context
from jobdeck.api.errors import not_found
from jobdeck.domain.values import check_text
from jobdeck.tokens import Principal


async def find_visible(deck: Any, principal: Principal, job_id: str) -> Any:
    """The job's handle, or None when it is unknown or outside the token's binding."""
    job = await deck.get_job(job_id)
    if job is None or not principal.sees(s.snapshot(job)):
        return None
    return job


async def visible_job(
    request: Request, principal: Principal, job_id: str, field: str = "jobId"
) -> Any:
    """The job, or 404 when it is unknown or outside the token's binding; ``field``
    names the id in a validation error."""
    check_text(field, job_id)
    job = await find_visible(context(request).deck, principal, job_id)
    if job is None:
        raise not_found()
    return job
