"""``jobdeck worker``: run queued jobs until stopped."""

from __future__ import annotations

import asyncio
import logging

import click

from jobdeck.cli.common import (
    exit_abandoning_handlers,
    global_options,
    open_deck,
    redact_url,
    run,
    settings_from,
    setup_logging,
)
from jobdeck.cli.running import Service, run_until_stopped, serve_api_calls, stop_on_signals

logger = logging.getLogger("jobdeck.cli")


@click.command()
@global_options
@click.option(
    "--concurrency", type=click.IntRange(min=1), default=None, help="Jobs at once  [default: 10]"
)
@click.pass_context
def worker(ctx: click.Context, concurrency: int | None) -> None:
    """Run queued jobs with the handlers the plugins register, until SIGTERM/SIGINT."""
    setup_logging(ctx, logging.INFO)
    settings = settings_from(ctx, concurrency=concurrency)

    async def main() -> int:
        with stop_on_signals() as stop:
            return await work_until(stop)

    async def work_until(stop: asyncio.Event) -> int:
        # Wake-ups from other processes: new work, and cancels of running jobs. A worker
        # follows no feed and runs no scheduler (docs/postgres.md, "Wake-ups").
        async with open_deck(settings, plugins=True, listen=("enqueue", "cancel")) as (
            deck,
            manager,
        ):
            serve_api_calls(deck, manager)
            # The worker also runs maintenance: with only workers running, the jobs of
            # a worker that died must still be rescued when their lease ends.
            services: dict[str, Service] = {
                "worker": lambda stop: deck.run_worker(settings.concurrency, stop=stop),
            }
            logger.info(
                "jobdeck worker on %s: %d at once, job types: %s",
                redact_url(settings.database_url),
                settings.concurrency,
                ", ".join(deck.job_types()) or "none",
            )
            return await run_until_stopped(
                services, stop, grace=settings.shutdown_grace_seconds + 5
            )

    code = run(main())
    exit_abandoning_handlers(code)
    ctx.exit(code)
