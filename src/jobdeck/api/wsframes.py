"""Pre-framed WebSocket messages: encode a message's frame once, write it to many sockets.

Through ASGI every message is framed again for every socket, and written with one
``transport.write`` each: a few microseconds per frame, which a fan-out of 100 job
states to 200 sockets (20,000 frames) multiplies into most of a core. Server→client
frames are unmasked (RFC 6455 §5.1), so a frame's bytes are the same for every
socket: :func:`jobdeck.api.frames.text_frame` builds them once, and the ASGI extension that
:class:`FramedWebSocketProtocol` adds to the scope writes many of them in one call.

The extension relies on uvicorn's ``websockets-sansio`` protocol internals (its
transport, flow control and connection state; uvicorn >= 0.52.1 for the flow
control): see ``send_frames``.
"""

from __future__ import annotations

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from jobdeck.api.frames import EXTENSION


class FramedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's ``websockets-sansio`` protocol plus the :data:`EXTENSION` ASGI extension."""

    async def run_asgi(self) -> None:
        # The scope exists once the handshake request is parsed; the app sees it here.
        self.scope.setdefault("extensions", {})[EXTENSION] = {"send": self.send_frames}
        await super().run_asgi()

    async def send_frames(self, frames: bytes) -> None:
        """Write complete frames (one or several, joined) to the socket.

        Every frame is whole and final, so the ``websockets`` protocol object, which
        frames everything else this connection sends (pings, the close frame), never
        sees a fragmented message in progress. Waits, like ``send``, while the
        transport's buffer is above its high-water mark: that is the backpressure a
        client that stopped reading exerts."""
        await self.writable.wait()
        if (
            self.disconnected
            or self.close_sent
            or self.conn.state is not State.OPEN
            or self.transport.is_closing()
        ):
            raise ClientDisconnected()
        self.transport.write(frames)
