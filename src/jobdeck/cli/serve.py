"""``jobdeck serve``: the API, a worker, the cron scheduler and the maintenance loop in
one process."""

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
from jobdeck.cli.running import (
    Service,
    api_service,
    run_until_stopped,
    serve_api_calls,
    stop_on_signals,
)

logger = logging.getLogger("jobdeck.cli")


@click.command()
@global_options
@click.option("--host", default=None, help="Address to listen on  [default: 127.0.0.1]")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="[default: 8000]")
@click.option("--no-worker", is_flag=True, help="Do not run jobs in this process.")
@click.option("--no-scheduler", is_flag=True, help="Do not fire cron schedules in this process.")
@click.option("--concurrency", type=click.IntRange(min=1), default=None, help="Jobs at once.")
@click.pass_context
def serve(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    no_worker: bool,
    no_scheduler: bool,
    concurrency: int | None,
) -> None:
    """Run the HTTP API, a worker, the cron scheduler and the maintenance loop until stopped."""
    setup_logging(ctx, logging.INFO)
    settings = settings_from(ctx, host=host, port=port, concurrency=concurrency)

    async def main() -> int:
        with stop_on_signals() as stop:
            return await serve_until(stop)

    async def serve_until(stop: asyncio.Event) -> int:
        async with open_deck(settings, plugins=True, declare=True) as (deck, manager):
            assert manager is not None
            # api_call jobs may run before the API starts; it replaces this app with
            # the one it serves.
            serve_api_calls(deck, manager)
            services: dict[str, Service] = {}
            if no_worker:
                services["maintenance"] = deck.run_maintenance_loop
            else:
                # The worker also runs the maintenance loop (rescues, timeouts, retention).
                services["worker"] = lambda stop: deck.run_worker(settings.concurrency, stop=stop)
            if not no_scheduler:
                services["scheduler"] = deck.run_scheduler
            api = api_service(deck, settings.host, settings.port, manager)
            if api is not None:
                services["api"] = api
            logger.info(
                "jobdeck serving %s (worker: %s, scheduler: %s, plugins: %s)",
                redact_url(settings.database_url),
                "off" if no_worker else f"{settings.concurrency} at once",
                "off" if no_scheduler else "on",
                ", ".join(manager.names) or "none",
            )
            # 'init' actions run once everything is up; they may take long (a plugin
            # driving a demo job), so they run beside the services.
            return await run_until_stopped(
                services,
                stop,
                grace=settings.shutdown_grace_seconds + 5,
                after_start=lambda: manager.run_action("init"),
            )

    code = run(main())
    exit_abandoning_handlers(code)
    ctx.exit(code)
