"""``jobdeck enqueue TYPE --payload JSON``: schedule a queued job, print its id."""

from __future__ import annotations

import json
from typing import Any

import click

from jobdeck.cli.common import global_options, open_deck, run, settings_from, setup_logging
from jobdeck.domain.job import Priority

PRIORITIES = [p.label for p in sorted(Priority, reverse=True)]


def parse_object(value: str, option: str) -> dict[str, Any]:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint=f"'{option}'") from None
    if not isinstance(parsed, dict):
        raise click.BadParameter("must be a JSON object", param_hint=f"'{option}'")
    return parsed


@click.command()
@global_options
@click.argument("type_", metavar="TYPE")
@click.option("--payload", default="{}", show_default=True, help="The job's input, a JSON object.")
@click.option("--priority", type=click.Choice(PRIORITIES), default="normal", show_default=True)
@click.option("--delay", type=click.FloatRange(min=0), default=0, help="Seconds before it may run.")
@click.option("--max-retries", type=click.IntRange(min=0), default=3, show_default=True)
@click.option("--metadata", default=None, help="A JSON object stored with the job.")
@click.option("--name", default=None, help="A display name (default: the type).")
@click.pass_context
def enqueue(
    ctx: click.Context,
    type_: str,
    payload: str,
    priority: str,
    delay: float,
    max_retries: int,
    metadata: str | None,
    name: str | None,
) -> None:
    """Schedule a job of a registered TYPE and print its id."""
    setup_logging(ctx)
    body = parse_object(payload, "--payload")
    extra = parse_object(metadata, "--metadata") if metadata is not None else None

    async def main() -> str:
        # Plugins are loaded so that TYPE is checked against the registered handlers.
        async with open_deck(settings_from(ctx), plugins=True) as (deck, _):
            job = await deck.schedule_job(
                type_,
                body,
                priority=priority,
                delay=delay,
                max_retries=max_retries,
                metadata=extra,
                name=name,
                source="cli",
            )
            return str(job.job_id)

    click.echo(run(main()))
