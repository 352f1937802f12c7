"""Real peers on loopback for the built-in job types: an HTTP server in a thread
that records what it receives and answers from a script."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    echo: bool = False  # answer with the request line and body


class Peer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.received: list[Received] = []
        self.script: list[Answer] = []
        self.default = Answer()
        peer = self

        class Handler(BaseHTTPRequestHandler):
            # The head and the body leave in two writes: without this the body waited
            # for the client's delayed ACK (~40 ms) on a reused connection.
            disable_nagle_algorithm = True

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                peer.received.append(
                    Received(self.command, self.path, dict(self.headers.items()), body)
                )
                answer = peer.script.pop(0) if peer.script else peer.default
                payload = answer.body
                if answer.echo:
                    payload = f"{self.command} {self.path} ".encode() + body
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.host = host
        self.port = self.server.server_address[1]
        self.url = f"http://{host}:{self.port}"

    def answer(self, *answers: Answer) -> None:
        self.script.extend(answers)


@contextlib.contextmanager
def http_peer(host: str = "127.0.0.1") -> Iterator[Peer]:
    peer = Peer(host)
    # shutdown() waits for serve_forever to look again (every 0.5 s by default).
    thread = threading.Thread(target=peer.server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield peer
    finally:
        peer.server.shutdown()
        peer.server.server_close()
        thread.join(5)
