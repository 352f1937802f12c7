"""Running long-lived services (worker, maintenance, API) until SIGTERM/SIGINT.

Every service receives the same stop event (set by SIGTERM/SIGINT) and ends by
itself once it is set: the
worker stops claiming, lets running jobs finish within the shutdown grace and
releases the rest for other workers. A second signal interrupts at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any

from jobdeck.errors import PermanentFailure
from jobdeck.runtime import install_signal_handlers

if TYPE_CHECKING:
    import httpx

    from jobdeck.deck import JobDeck
    from jobdeck.plugins import PluginManager
    from jobdeck.tokens import Principal

logger = logging.getLogger("jobdeck.cli")

Service = Callable[[asyncio.Event], Coroutine[Any, Any, Any]]


def api_service(
    deck: JobDeck, host: str, port: int, manager: PluginManager | None
) -> Service | None:
    """The HTTP API when this installation has it, else None."""
    try:
        from jobdeck.api.server import serve_api
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("jobdeck.api"):
            logger.warning("the HTTP API is not available in this installation")
            return None
        raise
    accepted = inspect.signature(serve_api).parameters
    kwargs: dict[str, Any] = {}
    if manager is not None and "plugins" in accepted:
        kwargs["plugins"] = manager

    async def serve(stop: asyncio.Event) -> None:
        try:
            if "stop" in accepted:
                await serve_api(deck, host, port, stop=stop, **kwargs)
            else:
                await _until(stop, serve_api(deck, host, port, **kwargs))
        except SystemExit:
            # uvicorn exits the process when it cannot start (port in use, ...); it
            # has logged why. Turned into an error so the other services stop cleanly.
            raise ServiceFailed(f"the HTTP API could not start on {host}:{port}") from None

    return serve


def serve_api_calls(deck: JobDeck, manager: PluginManager | None) -> None:
    """The application in this process, plugin routes included, for the ``api_call``
    jobs this process runs (docs/builtin-types.md); it serves no socket. Built when the
    first such job runs: most workers never run one, and importing the application
    costs a worker about 0.6 s of start-up."""
    deck.services.serve_api_calls(_ApiCallsOnDemand(deck, manager))


class _ApiCallsOnDemand:
    def __init__(self, deck: JobDeck, manager: PluginManager | None) -> None:
        self._deck = deck
        self._manager = manager
        self._calls: Callable[[Principal], httpx.AsyncBaseTransport] | None = None

    def __call__(self, principal: Principal) -> httpx.AsyncBaseTransport:
        if self._calls is None:
            self._calls = self._build()
        return self._calls(principal)

    def _build(self) -> Callable[[Principal], httpx.AsyncBaseTransport]:
        try:
            from jobdeck.api import create_app, plugin_router
            from jobdeck.api.in_process import ApiCalls
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("jobdeck.api"):
                raise PermanentFailure(
                    "api_call: the HTTP API is not available in this installation"
                ) from exc
            raise
        router = plugin_router(self._manager)
        app = create_app(self._deck, routers=[router], websockets=False)
        return ApiCalls(app, router.routes)


class ServiceFailed(Exception):
    """A service could not run; the reason was logged."""


async def _until(stop: asyncio.Event, work: Coroutine[Any, Any, Any]) -> None:
    """Run ``work`` until it ends or ``stop`` is set (then cancel it)."""
    task = asyncio.create_task(work)
    waiter = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.contextmanager
def stop_on_signals() -> Iterator[asyncio.Event]:
    """An event SIGTERM/SIGINT set. Install it first thing, so that a signal during
    start-up (opening the database, loading plugins) also ends in a clean stop."""
    stop = asyncio.Event()
    remove_handlers = install_signal_handlers(stop)
    try:
        yield stop
    finally:
        remove_handlers()


async def run_until_stopped(
    services: dict[str, Service],
    stop: asyncio.Event,
    *,
    grace: float,
    after_start: Callable[[], Coroutine[Any, Any, Any]] | None = None,
) -> int:
    """Run ``services`` until ``stop`` is set (exit code 0) or until one of them ends
    or fails by itself (exit code 1). Services still running ``grace`` seconds after
    the stop are cancelled."""
    tasks = {name: asyncio.create_task(start(stop), name=name) for name, start in services.items()}
    extra = asyncio.create_task(after_start(), name="init") if after_start else None
    stopping = asyncio.create_task(stop.wait())
    code = 0
    try:
        await asyncio.wait([*tasks.values(), stopping], return_when=asyncio.FIRST_COMPLETED)
        if not stop.is_set():
            code = 1  # a service ended without being asked to: stop the others too
            for name, task in tasks.items():
                if task.done() and not task.cancelled() and task.exception() is None:
                    logger.error("%s stopped unexpectedly", name)
            stop.set()
        logger.info("stopping")
        if extra is not None:
            await _cancel(extra)
        running = [task for task in tasks.values() if not task.done()]
        if running:
            _, late = await asyncio.wait(running, timeout=grace)
            for task in late:
                logger.warning("%s did not stop within %.0f s", task.get_name(), grace)
                await _cancel(task)
        for name, task in tasks.items():
            error = None if task.cancelled() else task.exception()
            if error is not None:
                code = 1
                # One line; the traceback only with --debug, or for a real bug.
                detail = logger.isEnabledFor(logging.DEBUG) or not isinstance(error, ServiceFailed)
                logger.error("%s failed: %s", name, error, exc_info=error if detail else None)
        return code
    finally:
        stopping.cancel()


async def _cancel(task: asyncio.Task[Any]) -> None:
    if not task.done():
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        try:
            await task
        except Exception:
            logger.exception("%s failed while stopping", task.get_name())
