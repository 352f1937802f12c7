"""``/api/cron-jobs`` (docs/api-cron.md): cron schedules in snake_case.

Bodies are passed to ``deck.crons`` as given (read-only CronJob keys dropped): the
service checks every field, so the API, the CLI and plugins refuse a bad schedule
with the same 400 message. This module adds only what depends on the caller: the
token's binding (a bound token sees and changes only its own schedules, and its
creates take its plugin/store), admin-only job types, and who created or ran what.

``/types`` and ``/preview`` are registered before ``/{id}`` so they are never read
as ids.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import JSONResponse

from jobdeck.api import cron_schemas as cs
from jobdeck.api.auth import CronReader, CronWriter, bearer_secret
from jobdeck.api.context import context
from jobdeck.api.errors import forbidden, not_found
from jobdeck.api.schemas import SHORT, OkOut, error_responses, iso, snapshot
from jobdeck.domain.schedule import CronJob, Execution, TriggeredBy
from jobdeck.domain.values import check_text
from jobdeck.errors import ValidationError
from jobdeck.tokens import Principal

router = APIRouter(
    prefix="/api/cron-jobs",
    tags=["cron jobs"],
    responses=error_responses(400, 401, 403, 413, 422),
)

CronId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the cron job's id")]
Page = Annotated[int, Query(ge=1, le=2**31)]
Limit = Annotated[int, Query(ge=1, le=1000)]
Text = Annotated[str | None, Query(max_length=SHORT)]
LAST_EXECUTIONS = 10  # beside a schedule in GET /{id}
SNAKE = ("store_id", "plugin_id")  # how binding conflicts name the fields here


def _body(schema: type[Any]) -> dict[str, Any]:
    """OpenAPI for a body read as a plain object (see the module docstring)."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema.model_json_schema()}},
        }
    }


Fields = Annotated[dict[str, Any], Body(description="the schedule's fields")]


def _definition_fields(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key not in cs.READ_ONLY}


def _json(request: Request, cron: CronJob) -> dict[str, Any]:
    return cs.cron_job_json(cron, context(request).deck.crons)


async def visible_cron(request: Request, principal: Principal, cron_id: int) -> CronJob:
    """The schedule, or 404 when it is unknown or outside the token's binding."""
    cron: CronJob = await context(request).deck.crons.get(cron_id)
    if not principal.sees(cron):
        raise not_found("cron job")
    return cron


def check_allowed(
    request: Request, principal: Principal, fields: dict[str, Any], *job_types: Any
) -> None:
    """403 for a job type or a secret reference that needs an admin token (the rule is
    ``Principal.refusal``, shared with /api/background-jobs/schedule)."""
    registry = context(request).deck.registry
    for job_type in job_types:
        refusal = principal.refusal(job_type, None, registry)
        if refusal:
            raise forbidden(f"job_{refusal}")
    refusal = principal.refusal(None, fields.get("configuration"), registry)
    if refusal:
        raise forbidden(f"configuration: {refusal}")


def check_not_borrowing(principal: Principal, current: CronJob, fields: dict[str, Any]) -> None:
    """A schedule's jobs act as its creator (``api_call`` calls routes with the
    creator's rights, docs/builtin-types.md): changing what they do — the job type or
    the configuration — is for the creator or an admin, else a token could borrow
    another's rights by editing their schedule."""
    changes_work = any(
        key in fields and fields[key] != getattr(current.definition, key)
        for key in ("job_type", "configuration")
    )
    if changes_work and not principal.is_admin and principal.created_by != current.created_by:
        raise forbidden(
            "job_type/configuration: only the schedule's creator or an admin may change "
            "what its jobs do (they run as the creator)"
        )


def bind(principal: Principal, fields: dict[str, Any], *, create: bool) -> None:
    """Hold the fields to the token's binding: a conflicting plugin/store is a 403, a
    bound token's own plugin/store is set (on update too, so a schedule cannot be moved
    out of the binding by sending null)."""
    conflict = principal.binding_conflict(
        fields.get("store_id"), fields.get("plugin_id"), fields=SNAKE
    )
    if conflict:
        raise forbidden(conflict)
    if principal.plugin is not None and (create or "plugin_id" in fields):
        fields["plugin_id"] = principal.plugin
    if principal.store is not None and (create or "store_id" in fields):
        fields["store_id"] = principal.store


async def executions_json(
    request: Request, principal: Principal, executions: list[Execution]
) -> list[dict[str, Any]]:
    deck = context(request).deck
    out = []
    for execution in executions:
        job = await deck.get_job(execution.job_id) if execution.job_id else None
        if job is not None and not principal.sees(snapshot(job)):
            job = None  # the schedule was moved from another binding since this run
        out.append(cs.execution_json(execution, job))
    return out


def _tags(values: list[str] | None) -> list[str] | None:
    """``tags`` may repeat or be comma-separated."""
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


@router.get("", responses={200: {"model": cs.CronJobList}})
async def list_cron_jobs(
    request: Request,
    principal: CronReader,
    page: Page = 1,
    limit: Limit = 20,
    status: Annotated[str | None, Query(max_length=20)] = None,
    job_type: Text = None,
    search: Text = None,
    sort_by: Annotated[str | None, Query(max_length=40)] = None,
    sort_order: Annotated[str | None, Query(max_length=10)] = None,
    tags: Annotated[list[str] | None, Query(max_length=50)] = None,
    plugin_id: Text = None,
    store_id: Text = None,
) -> JSONResponse:
    for name, value in (("search", search), ("plugin_id", plugin_id), ("store_id", store_id)):
        check_text(name, value)
    conflict = principal.binding_conflict(store_id, plugin_id, fields=SNAKE)
    if conflict:
        raise forbidden(conflict)
    crons = context(request).deck.crons
    found = await crons.search(
        page=page,
        limit=limit,
        sort_by=sort_by,
        sort_order=sort_order,
        status=status,
        job_type=job_type,
        search=search or None,
        tags=_tags(tags),
        plugin_id=principal.plugin or plugin_id,
        store_id=principal.store or store_id,
    )
    return JSONResponse(
        {
            "success": True,
            "data": {
                "cron_jobs": [_json(request, cron) for cron in found.items],
                "pagination": cs.pagination(page, limit, found.total),
            },
        }
    )


@router.post(
    "",
    status_code=201,
    openapi_extra=_body(cs.CronJobIn),
    responses={201: {"model": cs.CronJobEnvelope}, 409: {"model": cs.CronJobExistsOut}},
)
async def create_cron_job(request: Request, principal: CronWriter, body: Fields) -> JSONResponse:
    fields = _definition_fields(body)
    bind(principal, fields, create=True)
    check_allowed(request, principal, fields, fields.get("job_type"))
    cron = await context(request).deck.crons.create(created_by=principal.created_by, **fields)
    return JSONResponse({"success": True, "job": _json(request, cron)}, 201)


def type_info(name: str, handler: type[Any], admin_only: bool) -> dict[str, Any]:
    """A job type as ``GET /types`` lists it. The description: the handler's
    ``description`` attribute, else its own docstring's first line (not one it
    inherits)."""
    description = getattr(handler, "description", None)
    if not isinstance(description, str) or not description:
        doc = handler.__dict__.get("__doc__")
        lines = inspect.cleandoc(doc).splitlines() if isinstance(doc, str) else []
        description = lines[0] if lines else ""
    schema = getattr(handler, "config_schema", None)
    return {
        "type": name,
        "description": description,
        "schema": dict(schema) if isinstance(schema, Mapping) else {"type": "object"},
        "admin_only": admin_only,
    }


@router.get("/types", responses={200: {"model": cs.JobTypeList}})
async def job_types(request: Request, principal: CronReader) -> JSONResponse:
    registry = context(request).deck.registry
    data = [
        type_info(name, registry.get(name), registry.admin_only(name)) for name in registry.types()
    ]
    return JSONResponse({"success": True, "data": data})


@router.post(
    "/preview", openapi_extra=_body(cs.PreviewIn), responses={200: {"model": cs.PreviewOut}}
)
async def preview(request: Request, principal: CronReader, body: Fields) -> JSONResponse:
    unknown = sorted(set(body) - {"cron_expression", "timezone"})
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(unknown)}")
    described, upcoming = context(request).deck.crons.preview(
        body.get("cron_expression"), body.get("timezone")
    )
    return JSONResponse(
        {
            "success": True,
            "description_human": described,
            "next_runs": [iso(at) for at in upcoming],
        }
    )


@router.get("/{id}", responses={200: {"model": cs.CronJobDetail}, **error_responses(404)})
async def get_cron_job(request: Request, principal: CronReader, id: CronId) -> JSONResponse:
    cron = await visible_cron(request, principal, id)
    recent = await context(request).deck.crons.executions(id, page=1, limit=LAST_EXECUTIONS)
    return JSONResponse(
        {
            "success": True,
            "job": _json(request, cron),
            "executions": await executions_json(request, principal, recent.items),
        }
    )


@router.put(
    "/{id}",
    openapi_extra=_body(cs.CronJobUpdate),
    responses={
        200: {"model": cs.CronJobEnvelope},
        409: {"model": cs.CronJobExistsOut},
        **error_responses(404),
    },
)
async def update_cron_job(
    request: Request, principal: CronWriter, id: CronId, body: Fields
) -> JSONResponse:
    current = await visible_cron(request, principal, id)
    fields = _definition_fields(body)
    bind(principal, fields, create=False)
    check_allowed(request, principal, fields, current.definition.job_type, fields.get("job_type"))
    check_not_borrowing(principal, current, fields)
    cron = await context(request).deck.crons.update(id, **fields)
    return JSONResponse({"success": True, "job": _json(request, cron)})


@router.delete("/{id}", responses={200: {"model": OkOut}, **error_responses(404)})
async def delete_cron_job(request: Request, principal: CronWriter, id: CronId) -> JSONResponse:
    current = await visible_cron(request, principal, id)
    check_allowed(request, principal, {}, current.definition.job_type)
    await context(request).deck.crons.delete(id)
    return JSONResponse({"success": True, "message": "Cron job deleted"})


@router.post("/{id}/pause", responses={200: {"model": cs.CronJobEnvelope}, **error_responses(404)})
async def pause(request: Request, principal: CronWriter, id: CronId) -> JSONResponse:
    current = await visible_cron(request, principal, id)
    check_allowed(request, principal, {}, current.definition.job_type)
    cron = await context(request).deck.crons.pause(id)
    return JSONResponse({"success": True, "job": _json(request, cron)})


@router.post("/{id}/resume", responses={200: {"model": cs.CronJobEnvelope}, **error_responses(404)})
async def resume(request: Request, principal: CronWriter, id: CronId) -> JSONResponse:
    current = await visible_cron(request, principal, id)
    check_allowed(request, principal, {}, current.definition.job_type)
    cron = await context(request).deck.crons.resume(id)
    return JSONResponse({"success": True, "job": _json(request, cron)})


@router.post(
    "/{id}/execute", responses={200: {"model": cs.ExecutionEnvelope}, **error_responses(404)}
)
async def execute(request: Request, principal: CronWriter, id: CronId) -> JSONResponse:
    """Run now (docs/cron.md, "Firing": whatever the overlap policy, not counted toward max_runs).
    ``triggered_by``: ``api`` for a bearer token, ``manual`` for the UI's session."""
    current = await visible_cron(request, principal, id)
    check_allowed(request, principal, {}, current.definition.job_type)
    by = TriggeredBy.API if bearer_secret(request) is not None else TriggeredBy.MANUAL
    execution = await context(request).deck.crons.run_now(id, triggered_by=by, user=principal.name)
    [data] = await executions_json(request, principal, [execution])
    return JSONResponse({"success": True, "execution": data})


@router.get(
    "/{id}/executions", responses={200: {"model": cs.ExecutionList}, **error_responses(404)}
)
async def executions(
    request: Request, principal: CronReader, id: CronId, page: Page = 1, limit: Limit = 20
) -> JSONResponse:
    await visible_cron(request, principal, id)
    found = await context(request).deck.crons.executions(id, page=page, limit=limit)
    return JSONResponse(
        {
            "success": True,
            "data": {
                "executions": await executions_json(request, principal, found.items),
                "pagination": cs.pagination(page, limit, found.total),
            },
        }
    )
