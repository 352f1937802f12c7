"""What every command shares: the global options, settings, opening the deck."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable, Collection, Coroutine
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import click

from jobdeck.config import Settings
from jobdeck.runtime.worker import HANDLER_THREAD

if TYPE_CHECKING:
    from jobdeck.deck import JobDeck
    from jobdeck.plugins import PluginManager

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

DATABASE_URL_KEY = "jobdeck.database_url"
DEBUG_KEY = "jobdeck.debug"


def _remember(key: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    # The options exist on the group and on every command, so that both
    # `jobdeck --database-url X jobs list` and `jobdeck jobs list --database-url X`
    # work; the value is kept on the root context where the value given last wins.
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        if value:
            ctx.find_root().meta[key] = value

    return callback


def global_options(fn: F) -> F:
    fn = click.option(
        "--debug",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_remember(DEBUG_KEY),
        help="Show full tracebacks and debug logs.",
    )(fn)
    fn = click.option(
        "--database-url",
        metavar="URL",
        expose_value=False,
        callback=_remember(DATABASE_URL_KEY),
        help="Database (default: $JOBDECK_DATABASE_URL, else sqlite:///./jobdeck.db).",
    )(fn)
    return fn


def debug_enabled(ctx: click.Context | None = None) -> bool:
    ctx = ctx or click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().meta.get(DEBUG_KEY))


def settings_from(ctx: click.Context, **overrides: Any) -> Settings:
    url = ctx.find_root().meta.get(DATABASE_URL_KEY)
    return Settings.from_env(database_url=url, **overrides)


def setup_logging(ctx: click.Context, level: int = logging.WARNING) -> None:
    """Logs go to stderr; ``--debug`` shows everything."""
    if debug_enabled(ctx):
        level = logging.DEBUG
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine on uvloop where it is installed (a dependency except on
    Windows): its event loop costs a worker about a third less CPU per job, which on
    PostgreSQL drains a quarter more jobs/s (docs/postgres.md, "The worker's own CPU")."""
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(coro)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # Windows, PyPy: asyncio's own loop
        return None
    return uvloop.new_event_loop


def exit_abandoning_handlers(code: int) -> None:
    """Exit with ``code`` even if sync handlers abandoned after the shutdown grace still
    run in their threads. Their jobs were already released (docs/lifecycle.md,
    "Stopping a worker"), but the interpreter would wait for the threads at exit
    (concurrent.futures joins its workers), keeping a stopped worker alive."""
    lingering = [
        t for t in threading.enumerate() if t.name.startswith(HANDLER_THREAD) and t.is_alive()
    ]
    if not lingering:
        return
    logging.getLogger("jobdeck.cli").warning(
        "exiting with %d sync handler(s) still running; their jobs were released",
        len(lingering),
    )
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@asynccontextmanager
async def open_deck(
    settings: Settings,
    *,
    plugins: bool = False,
    declare: bool = False,
    listen: Collection[str] | None = None,
) -> AsyncIterator[tuple[JobDeck, PluginManager | None]]:
    """An open deck, with the plugins loaded (and their handlers registered) if asked;
    ``declare``: also upsert their code-defined schedules (serve and scheduler only);
    ``listen``: the wake-ups it needs from other processes (JobDeck)."""
    from jobdeck.deck import JobDeck
    from jobdeck.plugins import PluginManager

    deck = JobDeck(settings=settings, listen=listen)
    await deck.open()
    try:
        manager = None
        if plugins:
            manager = PluginManager(deck, settings.plugins_dir)
            await manager.load(declare=declare)
        yield deck, manager
    finally:
        await deck.close()


def redact_url(url: str) -> str:
    """The URL without its password, fit for output and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}" if parts.username else f"***@{host}"
    return urlunsplit(parts._replace(netloc=netloc))
