"""The runtime: the worker, one attempt's executor and the maintenance loop.

A worker never installs signal handlers by itself (it may run inside any asyncio
program). A command-line program that owns the process does::

    stop = asyncio.Event()
    remove = install_signal_handlers(stop)
    try:
        await deck.run_worker(stop=stop)     # SIGTERM/SIGINT: graceful shutdown
    finally:
        remove()
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

from jobdeck.runtime.executor import WorkerStats
from jobdeck.runtime.maintenance import Maintenance, MaintenanceReport
from jobdeck.runtime.worker import Worker

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def install_signal_handlers(
    stop: asyncio.Event, loop: asyncio.AbstractEventLoop | None = None
) -> Callable[[], None]:
    """SIGTERM/SIGINT set ``stop`` once; a second signal gets the default behaviour
    (so a second Ctrl-C interrupts at once). Returns a function that removes them.
    Call from the loop's thread."""
    loop = loop or asyncio.get_running_loop()
    installed: list[signal.Signals] = []

    def remove() -> None:
        while installed:
            loop.remove_signal_handler(installed.pop())

    def on_signal() -> None:
        stop.set()
        remove()

    for sig in SIGNALS:
        try:
            loop.add_signal_handler(sig, on_signal)
        # Windows; or not the main thread (asyncio says RuntimeError, uvloop ValueError)
        except (NotImplementedError, RuntimeError, ValueError):
            continue
        installed.append(sig)
    return remove


__all__ = [
    "Maintenance",
    "MaintenanceReport",
    "Worker",
    "WorkerStats",
    "install_signal_handlers",
]
