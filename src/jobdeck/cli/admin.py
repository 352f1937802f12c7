"""``jobdeck cleanup`` and ``jobdeck migrate``."""

from __future__ import annotations

import click

from jobdeck.cli.common import (
    global_options,
    open_deck,
    redact_url,
    run,
    settings_from,
    setup_logging,
)


@click.command()
@global_options
@click.option(
    "--days", type=click.IntRange(min=0), default=30, show_default=True, help="Age in days."
)
@click.pass_context
def cleanup(ctx: click.Context, days: int) -> None:
    """Delete finished jobs (completed, failed, cancelled) older than --days, with their history."""
    setup_logging(ctx)

    async def main() -> int:
        async with open_deck(settings_from(ctx)) as (deck, _):
            return int(await deck.cleanup_old_jobs(days))

    click.echo(f"Deleted {run(main())} old jobs")


@click.command()
@global_options
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Create or upgrade the database schema (every command also does it when needed)."""
    setup_logging(ctx)
    settings = settings_from(ctx)

    async def main() -> int:
        async with open_deck(settings) as (deck, _):
            return int(await deck.schema_version())

    version = run(main())
    click.echo(f"Database {redact_url(settings.database_url)} is at schema version {version}")
