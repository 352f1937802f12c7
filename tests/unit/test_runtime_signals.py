"""install_signal_handlers: SIGTERM/SIGINT ask for a graceful stop, once."""

from __future__ import annotations

import asyncio
import signal

from jobdeck.runtime import install_signal_handlers


async def test_the_first_signal_sets_stop_and_restores_the_defaults() -> None:
    stop = asyncio.Event()
    remove = install_signal_handlers(stop)
    try:
        signal.raise_signal(signal.SIGTERM)
        await asyncio.wait_for(stop.wait(), 3)
        # The handlers are gone: a second signal would get the default behaviour.
        loop = asyncio.get_running_loop()
        assert not loop.remove_signal_handler(signal.SIGTERM)
        assert not loop.remove_signal_handler(signal.SIGINT)
    finally:
        remove()


async def test_remove_uninstalls_them() -> None:
    stop = asyncio.Event()
    remove = install_signal_handlers(stop)
    remove()
    assert not asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
