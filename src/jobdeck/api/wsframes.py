"""Pre-framed WebSocket messages: encode a message's frame once, write it to many sockets.

Through ASGI every message is framed again for every socket, and written with one
``transport.write`` each: a few microseconds per frame, which a fan-out of 100 job
states to 200 sockets (20,000 frames) multiplies into most of a core. Server→client
frames are unmasked (RFC 6455 §5.1), so a frame's bytes are the same for every
socket: :func:`jobdeck.api.frames.text_frame` builds them once, and the ASGI extension that
:class:`FramedWebSocketProtocol` adds to the scope writes many of them in one call.

The extension relies on uvicorn's ``websockets-sansio`` protocol internals (its
transport, flow control and connection state; uvicorn >= 0.52.1 for the flow
control): see ``send_frames`` and ``INTERNALS``. A uvicorn release that changes them
must not stop ``jobdeck serve``: a connection whose protocol lacks one of them gets no
extension (its updates leave as plain ASGI messages, ``outbox.py``) and the log says
so once; ``server.ws_protocol`` falls back the same way when this module cannot be
imported at all.
"""

from __future__ import annotations

import logging

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from jobdeck.api.frames import EXTENSION

log = logging.getLogger("jobdeck.api")

if not all(hasattr(WebSocketsSansIOProtocol, name) for name in ("run_asgi", "send")):
    raise ImportError("uvicorn's websockets-sansio protocol has no run_asgi or send")

# The private attributes of uvicorn's protocol that send_frames and run_asgi use.
INTERNALS = ("scope", "transport", "writable", "disconnected", "close_sent", "conn")
_warned = False


def fast_path_off(reason: str) -> None:
    """Log, once per process, that WebSocket updates go out as plain ASGI messages."""
    global _warned
    if not _warned:
        _warned = True
        log.warning(
            "WebSocket fast path off (%s): job updates are sent as plain ASGI messages; "
            "check jobdeck/api/wsframes.py against this uvicorn",
            reason,
        )


class FramedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's ``websockets-sansio`` protocol plus the :data:`EXTENSION` ASGI extension."""

    async def run_asgi(self) -> None:
        # The scope exists once the handshake request is parsed; the app sees it here.
        missing = [name for name in INTERNALS if not hasattr(self, name)]
        if missing:
            fast_path_off(f"uvicorn's websockets-sansio protocol lacks {', '.join(missing)}")
        else:
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
