"""install_signal_handlers: SIGTERM/SIGINT ask for a graceful stop, once."""

from __future__ import annotations

import asyncio
import signal
import threading

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


def test_off_the_main_thread_commands_run_without_them() -> None:
    """Commands run on the CLI's loop (uvloop where installed), which refuses signal
    handlers off the main thread with another error than asyncio's."""
    from jobdeck.cli.common import run

    async def main() -> bool:
        remove = install_signal_handlers(asyncio.Event())
        remove()
        return True

    answers: list[bool | BaseException] = []

    def in_thread() -> None:
        try:
            answers.append(run(main()))
        except BaseException as exc:  # reported below
            answers.append(exc)

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join(10)
    assert answers == [True]
