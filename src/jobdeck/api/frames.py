"""Server→client WebSocket text frames as bytes (RFC 6455 §5.2), and the name of the
ASGI extension that writes them (see ``wsframes.py``). No server imports here: the hub
frames its entries whichever ASGI server runs the app.
"""

from __future__ import annotations

import struct

# scope["extensions"][EXTENSION]["send"]: a coroutine function taking whole frames.
EXTENSION = "jobdeck.websocket.frames"

_FIN_TEXT = 0x81  # FIN bit + opcode 0x1; RSV1 clear: uncompressed even under deflate


def text_frame(payload: bytes) -> bytes:
    """A complete, unfragmented, unmasked text frame carrying ``payload`` (UTF-8)."""
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", _FIN_TEXT, length)
    elif length < 1 << 16:
        head = struct.pack("!BBH", _FIN_TEXT, 126, length)
    else:
        head = struct.pack("!BBQ", _FIN_TEXT, 127, length)
    return head + payload
