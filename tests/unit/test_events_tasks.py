"""stop_tasks: cancel background tasks and wait until they have ended."""

from __future__ import annotations

import asyncio

import pytest

from jobdeck.events.tasks import stop_tasks


async def test_tasks_end_and_their_errors_stay_theirs() -> None:
    ended: list[str] = []

    async def quiet() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            ended.append("quiet")

    async def noisy() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            ended.append("noisy")
            raise RuntimeError("broke while stopping")

    tasks = [asyncio.create_task(quiet()), asyncio.create_task(noisy())]
    await asyncio.sleep(0)
    await stop_tasks(*tasks, None)
    assert sorted(ended) == ["noisy", "quiet"]
    assert all(task.done() for task in tasks)


async def test_the_callers_own_cancellation_still_reaches_it() -> None:
    release = asyncio.Event()

    async def slow_to_stop() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            await release.wait()  # keeps running after its cancel

    inner = asyncio.create_task(slow_to_stop())
    await asyncio.sleep(0)
    outer = asyncio.create_task(stop_tasks(inner))
    await asyncio.sleep(0.01)
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer
    release.set()
    await asyncio.wait([inner])


async def test_a_task_that_swallows_its_cancellation_is_cancelled_again() -> None:
    swallowed = asyncio.Event()

    async def stubborn() -> None:
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if swallowed.is_set():
                    raise
                swallowed.set()  # once, as a driver turning it into a handled error would

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        await stop_tasks(task)
    assert swallowed.is_set() and task.cancelled()
