"""``jobdeck scheduler``: fire due cron ticks until stopped (docs/cron.md).

Any number may run against one database (each tick fires once whatever their
number: see runtime/scheduler.py). Plugins load as in ``worker``, so their job types
are known and the schedules they declare in code are saved before the first tick.
"""

from __future__ import annotations

import asyncio
import logging
import os

import click

from jobdeck.cli.common import (
    global_options,
    open_deck,
    redact_url,
    run,
    settings_from,
    setup_logging,
)
from jobdeck.cli.running import Service, run_until_stopped, stop_on_signals

logger = logging.getLogger("jobdeck.cli")
GRACE = 5.0  # a scheduler pass is short: one transaction per due schedule
SCHEDULER_COMMIT_WATCH = 0.05  # seconds


@click.command()
@global_options
@click.pass_context
def scheduler(ctx: click.Context) -> None:
    """Fire cron schedules as queued jobs, until SIGTERM/SIGINT (run workers beside it)."""
    setup_logging(ctx, logging.INFO)
    settings = settings_from(ctx)
    if "JOBDECK_COMMIT_WATCH_SECONDS" not in os.environ:
        # The scheduler sleeps until each tick itself; another process's schedule
        # change only needs noticing soon, not within milliseconds (docs/cron.md).
        settings = settings.with_(commit_watch_seconds=SCHEDULER_COMMIT_WATCH)

    async def main() -> int:
        with stop_on_signals() as stop:
            return await fire_until(stop)

    async def fire_until(stop: asyncio.Event) -> int:
        # Only "cron" is waited on here: a process listening to jobdeck_jobs makes
        # every writer send it (docs/postgres.md, "Wake-ups").
        async with open_deck(settings, plugins=True, declare=True, listen=("cron",)) as (
            deck,
            manager,
        ):
            assert manager is not None
            services: dict[str, Service] = {"scheduler": deck.run_scheduler}
            logger.info(
                "jobdeck scheduler on %s (plugins: %s)",
                redact_url(settings.database_url),
                ", ".join(manager.names) or "none",
            )
            return await run_until_stopped(services, stop, grace=GRACE)

    ctx.exit(run(main()))
