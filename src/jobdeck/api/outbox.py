"""How one socket's messages leave: in turns, pre-framed when the server allows it.

:func:`outbox` picks, per socket, :class:`FrameOutbox` when the ASGI server offers
the pre-framed extension (``jobdeck serve``'s uvicorn, see ``wsframes.py``): a job
update is framed once for every socket and a turn is one write. Otherwise (another
ASGI server, or uvicorn with another WebSocket implementation) :class:`TextOutbox`
sends one ASGI message per update.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

from starlette.websockets import WebSocket

from jobdeck.api.frames import EXTENSION, text_frame
from jobdeck.api.hub import CLOSE_TOO_SLOW, Client, Message

T = TypeVar("T", str, bytes)

# Per turn of the fallback: each ASGI message is a write of its own.
SEND_TURN = 16
# Per turn of the frame path, one write: enough to carry a round of updates in a
# write or two.
FRAME_TURN = 64
# Either way: a turn stays short, and a socket that stopped reading can add at most
# this (and one message) to its buffer beyond the transport's high-water mark.
TURN_BYTES = 64 * 1024


class Outbox(ABC, Generic[T]):
    """Sends in order, a turn at a time; a client that does not take a turn within
    ``send_timeout`` has stopped reading and is dropped.

    A send that fits in the socket's buffer completes without yielding, so without
    turns one loop iteration would carry every socket's whole backlog (200 sockets x
    100 jobs: 20,000 frames), and the feed's next read, and so every client's next
    update, would wait for all of it. The timeout is per turn, so time spent while
    other sockets take theirs never counts against this one."""

    turn_items: int

    def __init__(self, client: Client, send_timeout: float) -> None:
        self.client = client
        self.send_timeout = send_timeout

    @abstractmethod
    def encode(self, text: str) -> T: ...

    @abstractmethod
    def encoded(self, entries: Sequence[Message]) -> list[T]: ...

    @abstractmethod
    async def write(self, turn: list[T]) -> None: ...

    async def send_texts(self, texts: Iterable[str]) -> None:
        await self._send([self.encode(text) for text in texts])

    async def send_entries(self, entries: Sequence[Message]) -> None:
        await self._send(self.encoded(entries))

    async def _send(self, items: list[T]) -> None:
        start = 0
        while start < len(items):
            if start:
                await asyncio.sleep(0)
                if self.client.closed.is_set():
                    return
            end = self._turn_end(items, start)
            try:
                async with asyncio.timeout(self.send_timeout):
                    await self.write(items[start:end])
            except TimeoutError:
                self.client.drop(CLOSE_TOO_SLOW, "client too slow")
                return
            start = end

    def _turn_end(self, items: list[T], start: int) -> int:
        end = min(len(items), start + self.turn_items)
        size = 0
        for i in range(start, end):
            size += len(items[i])
            if size >= TURN_BYTES:
                return i + 1
        return end


class FrameOutbox(Outbox[bytes]):
    turn_items = FRAME_TURN

    def __init__(
        self, send: Callable[[bytes], Awaitable[None]], client: Client, send_timeout: float
    ) -> None:
        super().__init__(client, send_timeout)
        self._send_frames = send

    def encode(self, text: str) -> bytes:
        return text_frame(text.encode())

    def encoded(self, entries: Sequence[Message]) -> list[bytes]:
        return [entry.frame for entry in entries]

    async def write(self, turn: list[bytes]) -> None:
        await self._send_frames(b"".join(turn))


class TextOutbox(Outbox[str]):
    turn_items = SEND_TURN

    def __init__(self, ws: WebSocket, client: Client, send_timeout: float) -> None:
        super().__init__(client, send_timeout)
        self.ws = ws

    def encode(self, text: str) -> str:
        return text

    def encoded(self, entries: Sequence[Message]) -> list[str]:
        return [entry.text for entry in entries]

    async def write(self, turn: list[str]) -> None:
        for text in turn:
            await self.ws.send_text(text)


def outbox(ws: WebSocket, client: Client, send_timeout: float) -> Outbox[Any]:
    extension = (ws.scope.get("extensions") or {}).get(EXTENSION)
    if extension is not None:
        return FrameOutbox(extension["send"], client, send_timeout)
    return TextOutbox(ws, client, send_timeout)
