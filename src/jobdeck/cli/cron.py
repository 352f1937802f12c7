"""``jobdeck cron list|add|show|pause|resume|run|delete|history`` (README.md; docs/cron.md).

Every subcommand but ``list`` and ``add`` takes a cron job's id or its name; a name
held by several schedules (other plugins or stores) is an error listing them, so the
id picks one. Definitions go through ``deck.crons`` and so through the same checks as
the API: a bad expression, timezone, job type or configuration is one line naming
the problem and exit code 1.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.markup import escape

from jobdeck.cli.common import global_options, open_deck, run, settings_from, setup_logging
from jobdeck.cli.cron_output import (
    cron_detail,
    cron_dict,
    crons_table,
    description,
    execution_dict,
    executions_table,
    page_summary,
)
from jobdeck.cli.enqueue import PRIORITIES
from jobdeck.cli.output import console, to_json, when
from jobdeck.cron_inputs import STATUSES
from jobdeck.domain.schedule import CRON_SORT_KEYS, CronJob, MisfirePolicy, OverlapPolicy
from jobdeck.errors import CronJobExists, ValidationError

if TYPE_CHECKING:
    from jobdeck.deck import JobDeck

T = TypeVar("T")
SHOWN_EXECUTIONS = 10
REF = click.argument("ref", metavar="ID_OR_NAME")
JSON_FLAG = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def with_deck(
    ctx: click.Context, work: Callable[[JobDeck], Awaitable[T]], *, plugins: bool = False
) -> T:
    """Run ``work`` on an open deck; ``plugins``: with the plugins' job types registered
    (what checks a schedule's type and runs it)."""
    setup_logging(ctx)

    async def main() -> T:
        async with open_deck(settings_from(ctx), plugins=plugins) as (deck, _):
            return await work(deck)

    return run(main())


def parse_config(value: str) -> Any:
    """JSON syntax is the CLI's to check; what the value must be is the service's."""
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="'--config'") from None


@click.group()
@global_options
def cron() -> None:
    """List, add, inspect, pause and run cron schedules."""


@cron.command("list")
@global_options
@click.option("--status", type=click.Choice(STATUSES), help="Only active, paused or inactive.")
@click.option("--type", "job_type", metavar="TYPE", help="Filter by job type.")
@click.option("--search", help="Part of the name or description.")
@click.option("--plugin", "plugin_id", help="Filter by plugin.")
@click.option("--store", "store_id", help="Filter by store.")
@click.option("--sort-by", type=click.Choice(CRON_SORT_KEYS), default="created_at")
@click.option("--asc", is_flag=True, help="Oldest (or smallest) first.")
@click.option("--page", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@JSON_FLAG
@click.pass_context
def list_crons(
    ctx: click.Context,
    status: str | None,
    job_type: str | None,
    search: str | None,
    plugin_id: str | None,
    store_id: str | None,
    sort_by: str,
    asc: bool,
    page: int,
    limit: int,
    as_json: bool,
) -> None:
    """List cron schedules with their next run and last status."""

    async def work(deck: JobDeck) -> None:
        found = await deck.crons.search(
            page=page,
            limit=limit,
            sort_by=sort_by,
            sort_order="asc" if asc else "desc",
            status=status,
            job_type=job_type,
            search=search,
            plugin_id=plugin_id,
            store_id=store_id,
        )
        items: list[CronJob] = found.items
        if as_json:
            data = [cron_dict(deck.crons, item) for item in items]
            listed = {"cron_jobs": data, "total": found.total, "page": page, "limit": limit}
            click.echo(to_json(listed))
            return
        out = console()
        out.print(crons_table(deck.crons, items))
        out.print(page_summary(len(items), found.total, (page - 1) * limit, "cron jobs"))

    with_deck(ctx, work)


@cron.command("add")
@global_options
@click.option("--name", required=True, help="Unique per plugin and store.")
@click.option(
    "--cron",
    "expression",
    required=True,
    metavar="EXPRESSION",
    help="Five fields, six with leading seconds, or @hourly, @daily, …",
)
@click.option("--type", "job_type", required=True, metavar="TYPE", help="A registered job type.")
@click.option("--config", default="{}", show_default=True, help="The job's input, JSON.")
@click.option("--timezone", help="IANA timezone of the expression  [default: UTC]")
@click.option("--description")
@click.option("--plugin", "plugin_id", help="The plugin it belongs to.")
@click.option("--store", "store_id", help="The store it belongs to.")
@click.option("--max-runs", type=int, help="Scheduled runs, then it becomes inactive.")
@click.option("--max-failures", type=int, help="Failures in a row that pause it  [default: 5]")
@click.option(
    "--timeout", "timeout_seconds", type=int, help="Seconds a run may take  [default: 300]"
)
@click.option(
    "--misfire-policy",
    type=click.Choice([p.value for p in MisfirePolicy]),
    help="Ticks missed while no scheduler ran  [default: fire_once]",
)
@click.option(
    "--misfire-grace",
    "misfire_grace_seconds",
    type=int,
    help="Seconds late a tick still counts as on time  [default: 60]",
)
@click.option(
    "--overlap-policy",
    type=click.Choice([p.value for p in OverlapPolicy]),
    help="A tick while the last run still runs  [default: skip]",
)
@click.option("--priority", type=click.Choice(PRIORITIES), help="[default: normal]")
@click.option("--max-retries", type=int, help="Retries of a failed run  [default: 0]")
@click.option("--tag", "tags", multiple=True, help="A tag (repeat for more).")
@click.option(
    "--notify",
    "show_notification",
    is_flag=True,
    default=None,
    help="Show its runs as toasts in the UI.",
)
@click.option("--inactive", is_flag=True, help="Create it disabled.")
@JSON_FLAG
@click.pass_context
def add_cron(
    ctx: click.Context, /, config: str, inactive: bool, as_json: bool, **given: Any
) -> None:
    """Create a cron schedule running job TYPE with --config on --cron."""
    fields = {key: value for key, value in given.items() if value not in (None, ())}
    fields["cron_expression"] = fields.pop("expression")
    fields["configuration"] = parse_config(config)
    if inactive:
        fields["is_active"] = False

    async def work(deck: JobDeck) -> dict[str, Any]:
        try:
            created = await deck.crons.create(**fields)
        except CronJobExists as exc:
            raise ValidationError(_exists(exc, fields["name"])) from None
        return cron_dict(deck.crons, created)

    data = with_deck(ctx, work, plugins=True)
    if as_json:
        click.echo(to_json(data))
        return
    following = "never (inactive)"
    if data["next_runs"]:
        following = when(datetime.fromisoformat(data["next_runs"][0])) + " UTC"
    click.echo(
        f"Created cron job {data['id']} {data['name']!r}: {data['description_human']};"
        f" next run {following}"
    )


def _exists(exc: CronJobExists, name: str) -> str:
    existing = exc.existing
    where = ""
    if isinstance(existing, CronJob):
        where = f" (id {existing.id}, plugin {existing.plugin_id or '-'}, store "
        where += f"{existing.store_id or '-'})"
    return f"a cron job named {name!r} already exists{where}"


@cron.command("show")
@global_options
@REF
@JSON_FLAG
@click.pass_context
def show_cron(ctx: click.Context, ref: str, as_json: bool) -> None:
    """Every field of a schedule, its next 5 runs and its last executions."""

    async def work(deck: JobDeck) -> None:
        found = await deck.crons.resolve(ref)
        page = await deck.crons.executions(found.id, limit=SHOWN_EXECUTIONS)
        if as_json:
            data = cron_dict(deck.crons, found)
            data["executions"] = [execution_dict(e) for e in page.items]
            click.echo(to_json(data))
            return
        console().print(cron_detail(deck.crons, found, page.items))

    with_deck(ctx, work)


def _change(ctx: click.Context, ref: str, verb: str) -> None:
    async def work(deck: JobDeck) -> None:
        found = await deck.crons.resolve(ref)
        if verb == "delete":
            await deck.crons.delete(found.id)
            click.echo(f"Deleted cron job {found.id} {found.name!r} and its executions")
            return
        action = deck.crons.pause if verb == "pause" else deck.crons.resume
        changed = await action(found.id)
        done = "Paused" if verb == "pause" else "Resumed"
        following = f"; next run {when(changed.next_run_at)} UTC" if changed.next_run_at else ""
        click.echo(f"{done} cron job {changed.id} {changed.name!r}{following}")

    with_deck(ctx, work)


@cron.command("pause")
@global_options
@REF
@click.pass_context
def pause_cron(ctx: click.Context, ref: str) -> None:
    """Stop firing a schedule until it is resumed."""
    _change(ctx, ref, "pause")


@cron.command("resume")
@global_options
@REF
@click.pass_context
def resume_cron(ctx: click.Context, ref: str) -> None:
    """Fire a paused schedule again, from its next tick (missed ones are not run)."""
    _change(ctx, ref, "resume")


@cron.command("delete")
@global_options
@REF
@click.pass_context
def delete_cron(ctx: click.Context, ref: str) -> None:
    """Delete a schedule and its execution history (its jobs stay)."""
    _change(ctx, ref, "delete")


@cron.command("run")
@global_options
@REF
@JSON_FLAG
@click.pass_context
def run_cron(ctx: click.Context, ref: str, as_json: bool) -> None:
    """Run a schedule's job now (a manual run: whatever the overlap policy, not counted
    toward --max-runs). Prints the execution and the job id; a worker runs the job."""

    async def work(deck: JobDeck) -> None:
        found = await deck.crons.resolve(ref)
        execution = await deck.crons.run_now(found.id)
        if as_json:
            click.echo(to_json(execution_dict(execution)))
            return
        click.echo(
            f"Execution {execution.id} of cron job {found.id} {found.name!r}"
            f" ({execution.triggered_by.value}): job {execution.job_id}"
        )

    with_deck(ctx, work, plugins=True)


@cron.command("history")
@global_options
@REF
@click.option("--page", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@JSON_FLAG
@click.pass_context
def history_cron(ctx: click.Context, ref: str, page: int, limit: int, as_json: bool) -> None:
    """A schedule's executions, newest first, with their durations and job ids."""

    async def work(deck: JobDeck) -> None:
        found = await deck.crons.resolve(ref)
        executions = await deck.crons.executions(found.id, page=page, limit=limit)
        if as_json:
            data = [execution_dict(e) for e in executions.items]
            total = executions.total
            listed = {"cron_job_id": found.id, "executions": data, "total": total}
            click.echo(to_json({**listed, "page": page, "limit": limit}))
            return
        out = console()
        title = f"cron job {found.id} {found.name!r}: {description(deck.crons, found)}"
        out.print(executions_table(executions.items, title=escape(title)))
        first = (page - 1) * limit
        out.print(page_summary(len(executions.items), executions.total, first, "executions"))

    with_deck(ctx, work)


__all__ = ["cron"]
