"""Pre-framed WebSocket messages (``jobdeck.api.wsframes``) and the hub's wake-up pacing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from jobdeck.api.frames import text_frame
from jobdeck.api.hub import Hub
from jobdeck.api.metrics import Metrics
from jobdeck.domain.feed import Change
from jobdeck.domain.job import Job, Mode, Status
from jobdeck.tokens import Principal


def parse(data: bytes) -> Frame:
    """One server frame, read by the ``websockets`` library's own parser."""
    reader = StreamReader()
    reader.feed_data(data)
    parser = Frame.parse(reader.read_exact, mask=False)
    with pytest.raises(StopIteration) as done:
        next(parser)
    frame: Frame = done.value.value
    assert not reader.buffer, "the frame's length must cover exactly its payload"
    return frame


@pytest.mark.parametrize(
    ("size", "header"),
    [(0, 2), (125, 2), (126, 4), (65_535, 4), (65_536, 10), (200_000, 10)],
)
def test_text_frame_in_each_length_form(size: int, header: int) -> None:
    payload = ("é" * (size // 2) + "x" * (size % 2)).encode()  # size bytes of UTF-8
    data = text_frame(payload)
    assert len(data) == header + size
    frame = parse(data)
    assert frame.opcode is Opcode.TEXT and frame.fin and not frame.rsv1
    assert frame.data == payload
    assert data == Frame(Opcode.TEXT, payload).serialize(mask=False)


def _change(seq: int, job_id: str) -> Change:
    job = Job(1, job_id, "n", "t", Mode.TRACKED, Status.RUNNING, created_at=datetime.now(UTC))
    return Change(seq, job)


async def test_wake_ups_are_paced_but_an_isolated_update_leaves_at_once() -> None:
    hub = Hub(None, Metrics(), flush_interval=0.5)
    client = hub.new_client(Principal(1, "t", ("admin",)))
    loop = asyncio.get_running_loop()

    hub.publish([_change(1, "a")])
    await asyncio.wait_for(client.wake.wait(), 0.25)  # the first: not held back
    woken = loop.time()
    client.wake.clear()

    hub.publish([_change(2, "a")])
    hub.publish([_change(3, "b")])  # joins the pending wake-up
    await asyncio.wait_for(client.wake.wait(), 2)
    assert loop.time() - woken >= 0.3  # a stream: once per flush_interval (0.5 s)
    client.wake.clear()
    assert [e.seq for e in client.pending(hub.board)] == [2, 3]

    await asyncio.sleep(0.6)  # quiet for longer than flush_interval
    hub.publish([_change(4, "a")])
    await asyncio.wait_for(client.wake.wait(), 0.25)
    await hub.stop()


async def test_a_batching_client_keeps_its_own_faster_pace() -> None:
    hub = Hub(None, Metrics(), flush_interval=0.8, batch_window=0.2)
    plain = hub.new_client(Principal(1, "t", ("admin",)))
    batching = hub.new_client(Principal(1, "t", ("admin",)))
    batching.batch = True
    loop = asyncio.get_running_loop()

    hub.publish([_change(1, "a")])
    await asyncio.wait_for(plain.wake.wait(), 0.15)  # both at once after a quiet spell
    assert batching.wake.is_set()
    plain.wake.clear()
    batching.wake.clear()
    start = loop.time()

    hub.publish([_change(2, "a")])
    await asyncio.wait_for(batching.wake.wait(), 2)
    assert 0.1 <= loop.time() - start < 0.6 and not plain.wake.is_set()
    batching.wake.clear()
    batching.pending(hub.board)  # it took seq 2: nothing new for it until seq 3

    await asyncio.wait_for(plain.wake.wait(), 2)
    assert loop.time() - start >= 0.6
    assert not batching.wake.is_set()
    await hub.stop()
