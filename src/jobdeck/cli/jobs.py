"""``jobdeck jobs list|show|cancel|retry|delete``."""

from __future__ import annotations

import click

from jobdeck.cli.common import global_options, open_deck, run, settings_from, setup_logging
from jobdeck.cli.output import (
    console,
    event_dict,
    job_detail,
    job_dict,
    jobs_table,
    page_summary,
    to_json,
)
from jobdeck.domain.job import Status
from jobdeck.errors import JobNotFound

STATUSES = [s.value for s in Status]


def split_statuses(values: tuple[str, ...]) -> list[str]:
    """``--status`` may repeat or hold a comma-separated list."""
    statuses = [part.strip() for value in values for part in value.split(",") if part.strip()]
    for status in statuses:
        if status not in STATUSES:
            raise click.BadParameter(
                f"{status!r} is not one of {', '.join(STATUSES)}", param_hint="'--status'"
            )
    return statuses


@click.group()
@global_options
def jobs() -> None:
    """List, inspect and change jobs."""


@jobs.command("list")
@global_options
@click.option("--status", multiple=True, help="Filter by status (repeat or comma-separate).")
@click.option("--type", "type_", metavar="TYPE", help="Filter by job type.")
@click.option("--source", help="Filter by source (plugin name).")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def list_jobs(
    ctx: click.Context,
    status: tuple[str, ...],
    type_: str | None,
    source: str | None,
    limit: int,
    offset: int,
    as_json: bool,
) -> None:
    """List jobs, newest first, with the total matching the filters."""
    setup_logging(ctx)
    statuses = split_statuses(status) or None

    async def main() -> None:
        async with open_deck(settings_from(ctx)) as (deck, _):
            handles = await deck.get_jobs(
                status=statuses, type=type_, source=source, limit=limit, offset=offset
            )
            total = await deck.count_jobs(status=statuses, type=type_, source=source)
        found = [handle.snapshot for handle in handles]
        if as_json:
            data = [job_dict(job) for job in found]
            click.echo(to_json({"jobs": data, "total": total, "limit": limit, "offset": offset}))
            return
        out = console()
        out.print(jobs_table(found))
        out.print(page_summary(len(found), total, offset))

    run(main())


@jobs.command("show")
@global_options
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of panels.")
@click.pass_context
def show_job(ctx: click.Context, job_id: str, as_json: bool) -> None:
    """Every field of a job, its metadata, result and history."""
    setup_logging(ctx)

    async def main() -> None:
        async with open_deck(settings_from(ctx)) as (deck, _):
            handle = await deck.get_job(job_id)
            if handle is None:
                raise JobNotFound(f"no job with id {job_id}")
            history = await deck.get_history(job_id)
        job = handle.snapshot
        if as_json:
            click.echo(to_json({**job_dict(job), "history": [event_dict(e) for e in history]}))
            return
        console().print(job_detail(job, history))

    run(main())


def _transition(ctx: click.Context, verb: str, job_id: str) -> None:
    setup_logging(ctx)

    async def main() -> None:
        async with open_deck(settings_from(ctx)) as (deck, _):
            if verb == "delete":
                await deck.delete_job(job_id)
                click.echo(f"Deleted job {job_id}")
                return
            action = {"cancel": deck.cancel_job, "retry": deck.retry_job}[verb]
            job = (await action(job_id)).snapshot
        done = {"cancel": "Cancelled", "retry": "Retried"}[verb]
        click.echo(f"{done} job {job_id} (status: {job.status.value})")

    run(main())


@jobs.command("cancel")
@global_options
@click.argument("job_id")
@click.pass_context
def cancel_job(ctx: click.Context, job_id: str) -> None:
    """Cancel a pending or running job (a running handler is asked to stop)."""
    _transition(ctx, "cancel", job_id)


@jobs.command("retry")
@global_options
@click.argument("job_id")
@click.pass_context
def retry_job(ctx: click.Context, job_id: str) -> None:
    """Queue a failed or cancelled job again."""
    _transition(ctx, "retry", job_id)


@jobs.command("delete")
@global_options
@click.argument("job_id")
@click.pass_context
def delete_job(ctx: click.Context, job_id: str) -> None:
    """Delete a finished job and its history."""
    _transition(ctx, "delete", job_id)
