"""WebSocket fan-out: 200 clients watch 100 running jobs that report progress 20 times/s each.

Processes (loopback only, bounded in time):
  * the API server (``serve_api`` on a fresh SQLite file), its CPU time measured;
  * a producer, like a worker process: 100 tracked jobs, each updated every 50 ms
    with its version and send time in the metadata (2,000 updates/s);
  * client processes holding the WebSocket connections (a minimal frame reader,
    so that the clients' own cost stays small next to the server's).

Latency of an update = time until a client receives that version of the job or a
newer one (the server may coalesce a job's updates for a client that is behind;
seeing the latest state is what counts), measured for every update x every
client. Prints p50/p99 (target p99 <= 250 ms) and the server's CPU in cores
(target < 1).

    python bench/ws_fanout.py [--clients 200] [--jobs 100] [--rate 20] [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import cpu_seconds, database, description, percentile

HERE = Path(__file__).resolve()
WARMUP = 1.0  # seconds of updates not counted (connections and caches settle)


def write_json(path: str, value: Any) -> None:
    Path(path).write_text(json.dumps(value))


# --- server ---------------------------------------------------------------------


async def serve(url: str) -> None:
    from jobdeck.api.server import serve_api
    from jobdeck.config import Settings
    from jobdeck.deck import JobDeck

    deck = JobDeck(settings=Settings(database_url=url))
    await deck.open()
    _, secret = await deck.tokens.create_token("bench", ["admin"])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    print(f"READY {port} {secret}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_reader(sys.stdin.fileno(), stop.set)  # EOF: stop
    try:
        await serve_api(deck, "127.0.0.1", port, stop=stop, announce=False, sockets=[sock])
    finally:
        await deck.close()


# --- producer -------------------------------------------------------------------


async def produce(url: str, jobs: int, rate: float, seconds: float, out: str) -> None:
    from jobdeck.config import Settings
    from jobdeck.deck import JobDeck

    deck = JobDeck(settings=Settings(database_url=url))
    await deck.open()
    handles = []
    for i in range(jobs):
        job = await deck.create_job(name=f"bench job {i}", type="bench", timeout=0)
        await job.start()
        handles.append(job)
    log: dict[str, list[tuple[int, float]]] = {job.job_id: [] for job in handles}
    interval = 1.0 / rate
    start = time.monotonic()
    version = 0
    late = 0
    while time.monotonic() - start < seconds:
        version += 1
        tick = start + version * interval
        for job in handles:
            sent = time.time()
            await deck.update_progress(job.job_id, version % 100, {"v": version, "t": sent})
            log[job.job_id].append((version, sent))
        delay = tick - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            late += 1
    await deck.close()
    write_json(out, {"log": log, "late_ticks": late, "ticks": version})


# --- clients --------------------------------------------------------------------

JOB_ID = re.compile(rb'"jobId":"([0-9a-f-]{36})"')
VERSION = re.compile(rb'"v":(\d+)')


class Reader(asyncio.Protocol):
    """Just enough of a WebSocket client: handshake, then unmasked server frames."""

    def __init__(
        self, index: int, records: list[tuple[int, bytes, int, float]], batch: bool
    ) -> None:
        self.index = index
        self.batch = batch
        self.records = records
        self.buffer = bytearray()
        self.upgraded = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded.done():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end])
            del self.buffer[: end + 4]
            if b" 101 " not in head.split(b"\r\n", 1)[0]:
                self.upgraded.set_exception(RuntimeError(head.decode(errors="replace")))
                return
            self.upgraded.set_result(None)
        self._frames()

    def _frames(self) -> None:
        buf = self.buffer
        now = time.time()
        pos = 0
        while len(buf) - pos >= 2:
            opcode = buf[pos] & 0x0F
            length = buf[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if len(buf) - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if len(buf) - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            if len(buf) - pos < head + length:
                break
            payload = bytes(buf[pos + head : pos + head + length])
            pos += head + length
            if opcode == 0x1:
                if payload.startswith(b'{"type":"connected"'):
                    if self.batch:
                        self._subscribe(json.loads(payload)["seq"])
                    continue
                # One job_update, or several in a job_updates frame: jobId, then its "v".
                jobs = JOB_ID.findall(payload)
                versions = VERSION.findall(payload)
                for job, version in zip(jobs, versions, strict=False):
                    self.records.append((self.index, job, int(version), now))
            elif opcode == 0x9 and self.transport is not None:  # ping -> pong (zero mask)
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
        del buf[:pos]

    def _subscribe(self, since: int) -> None:
        message = json.dumps({"type": "subscribe", "since": since, "batch": True}).encode()
        assert len(message) < 126 and self.transport is not None
        self.transport.write(bytes([0x81, 0x80 | len(message)]) + b"\0\0\0\0" + message)


async def clients(port: int, token: str, count: int, seconds: float, out: str, batch: bool) -> None:
    loop = asyncio.get_running_loop()
    records: list[tuple[int, bytes, int, float]] = []
    readers = []
    for i in range(count):
        transport, reader = await loop.create_connection(
            lambda i=i: Reader(i, records, batch), "127.0.0.1", port
        )
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (
                f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
            ).encode()
        )
        await reader.upgraded
        readers.append((transport, reader))
    print("READY", flush=True)
    await asyncio.sleep(seconds)
    for transport, _ in readers:
        transport.close()
    rows = [(c, j.decode(), v, t) for c, j, v, t in records]
    write_json(out, rows)


# --- orchestration --------------------------------------------------------------


def latencies(
    log: dict[str, list[list[float]]], rows: list[list[Any]], since: float
) -> tuple[list[float], int]:
    """For every update (after ``since``) and every client: time until that client
    received that version or a newer one. Also how many were never seen."""
    seen: dict[tuple[int, str], list[tuple[int, float]]] = {}
    for client, job, version, at in rows:
        seen.setdefault((client, job), []).append((version, at))
    clients_ = sorted({r[0] for r in rows})
    values: list[float] = []
    missed = 0
    for job, updates in log.items():
        counted = [(int(v), t) for v, t in updates if t >= since]
        for client in clients_:
            received = seen.get((client, job), [])
            received.sort()
            i = 0
            for version, sent in counted:
                while i < len(received) and received[i][0] < version:
                    i += 1
                if i == len(received):
                    missed += 1
                    continue
                values.append(max(0.0, received[i][1] - sent))
    return values, missed


def spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(HERE), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=HERE.parent,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=description(__doc__))
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument(
        "--mode",
        choices=["single", "batch", "both"],
        default="both",
        help="single: one frame per job_update (the default protocol); "
        "batch: clients subscribe with batch=true (job_updates frames)",
    )
    options = parser.parse_args()
    if options.seconds <= WARMUP:
        parser.error(f"--seconds must be more than the {WARMUP:g} s of warm-up not counted")
    for batch in {"single": [False], "batch": [True], "both": [False, True]}[options.mode]:
        run(options, batch)


def run(options: argparse.Namespace, batch: bool) -> None:
    with database() as url, tempfile.TemporaryDirectory(prefix="jobdeck-wsbench-") as tmp:
        server = spawn("internal-serve", url)
        try:
            assert server.stdout is not None
            _, port, token = server.stdout.readline().split()
            per = -(-options.clients // options.client_processes)
            client_time = options.seconds + 4.0
            groups = []
            for n in range(options.client_processes):
                count = min(per, options.clients - n * per)
                out = f"{tmp}/clients-{n}.json"
                mode = "batch" if batch else "single"
                args = ("internal-clients", port, token, str(count), str(client_time), out, mode)
                groups.append((spawn(*args), out))
            for proc, _ in groups:
                assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
            produced = f"{tmp}/producer.json"
            cpu0, wall0 = cpu_seconds(server.pid), time.monotonic()
            clients_cpu0 = sum(cpu_seconds(proc.pid) for proc, _ in groups)
            producer = spawn(
                "internal-produce",
                url,
                str(options.jobs),
                str(options.rate),
                str(options.seconds),
                produced,
            )
            producer.wait(timeout=options.seconds + 120)
            cpu1, wall1 = cpu_seconds(server.pid), time.monotonic()
            clients_cpu1 = sum(cpu_seconds(proc.pid) for proc, _ in groups)
            for proc, _ in groups:
                proc.wait(timeout=client_time + 60)
        finally:
            if server.stdin is not None:
                server.stdin.close()
            server.wait(timeout=30)

        data = json.loads(Path(produced).read_text())
        rows: list[list[Any]] = []
        for _, out in groups:
            rows.extend(json.loads(Path(out).read_text()))
        first = min(t for updates in data["log"].values() for _, t in updates)
        values, missed = latencies(data["log"], rows, first + WARMUP)

    updates = sum(len(u) for u in data["log"].values())
    ms = [v * 1000 for v in values]
    cores = (cpu1 - cpu0) / (wall1 - wall0)
    print(
        f"ws fan-out ({'batch=true' if batch else 'one frame per update'}): "
        f"{options.clients} clients, {options.jobs} jobs x {options.rate:g} updates/s "
        f"for {options.seconds:g} s ({updates} updates, {updates / options.seconds:,.0f}/s; "
        f"producer late on {data['late_ticks']} of {data['ticks']} ticks)"
    )
    print(f"  job states received by clients: {len(rows):,}")
    print(
        f"  latency update -> client sees it (or newer): p50 {percentile(ms, 0.5):.1f} ms, "
        f"p99 {percentile(ms, 0.99):.1f} ms, max {max(ms):.1f} ms "
        f"(n={len(ms):,}, never seen {missed})  (target p99 <= 250 ms)"
    )
    client_cores = (clients_cpu1 - clients_cpu0) / (wall1 - wall0)
    print(
        f"  server CPU: {cores:.2f} cores  (target < 1); "
        f"client processes: {client_cores:.2f} cores; machine: {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    # The child processes' modes are words no option of main() starts with, so that
    # `--clients 50` as the first argument is the option, not a client process.
    if len(sys.argv) > 1 and sys.argv[1] == "internal-serve":
        asyncio.run(serve(sys.argv[2]))
    elif len(sys.argv) > 1 and sys.argv[1] == "internal-produce":
        _, _, url, jobs, rate, seconds, out = sys.argv
        asyncio.run(produce(url, int(jobs), float(rate), float(seconds), out))
    elif len(sys.argv) > 1 and sys.argv[1] == "internal-clients":
        _, _, port, token, count, seconds, out, batch = sys.argv
        asyncio.run(clients(int(port), token, int(count), float(seconds), out, batch == "batch"))
    else:
        main()
