"""``jobdeck cleanup``, ``jobdeck migrate`` and ``jobdeck backup``."""

from __future__ import annotations

from pathlib import Path

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


@click.command()
@global_options
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def backup(ctx: click.Context, path: Path) -> None:
    """Write a consistent copy of the SQLite store to PATH while it is in use.

    For PostgreSQL, use pg_dump (README.md, "Backing up and restoring").
    """
    setup_logging(ctx)
    url = settings_from(ctx).database_url
    if not url.startswith("sqlite:"):
        raise click.ClickException(
            "jobdeck backup copies SQLite stores; for PostgreSQL use pg_dump "
            '(e.g. pg_dump --format=custom --file=jobdeck.dump "$JOBDECK_DATABASE_URL")'
        )
    from jobdeck.store.sqlite.backup import backup as copy_store
    from jobdeck.store.sqlite.connection import database_path

    report = copy_store(database_path(url), path)
    click.echo(
        f"Backed up {report.jobs:,} jobs (schema version {report.schema_version}, "
        f"{report.bytes / 1e6:.1f} MB) to {report.path} in {report.seconds:.2f} s"
    )
