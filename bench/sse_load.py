"""SSE load: many legacy MCP SSE sessions, each a closed loop of ``tools/call``, in raw HTTP.

The rows made with it measure the server, not a client: the ``mcp`` Python client spends more CPU
per call than either server, so a row driven by it measures the client. Here every session is a
``GET /sse`` stream read with a small chunked/SSE parser and one keep-alive connection for its
POSTs; a call is one POST (``202``) and one ``message`` event on the stream. No JSON is parsed on
the hot path: the answer is recognised by its id and checked by its bytes (``"text":"5"``).

Each of ``--sessions`` sessions opens, makes the handshake (``--mode legacy``: ``initialize`` at
2025-06-18 and ``notifications/initialized``, as BlackBox and third-party clients do; ``--mode
modern``: no handshake, every request with the 2026-07-28 ``_meta`` envelope, as the ``mcp``
client's default mode does over SSE), then calls ``add(2, 3)`` in a loop: ``--warmup`` seconds,
then ``--duration`` timed seconds. The server's CPU time over the timed window is read from
``/proc/<--pid>/stat`` (utime + stime): CPU per call is that divided by the calls answered in the
window. Prints one JSON line: calls, calls/s, p50/p99 latency (POST sent to answer read), the
server's CPU per call, and the first wrong answer if any.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import time
from urllib.parse import urlsplit

_TICKS = os.sysconf("SC_CLK_TCK")
_EVENT_END = re.compile(rb"\r\n\r\n|\n\n")
_ID = re.compile(rb'"id":\s*(\d+)')
_MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "bench-sse-load", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


def cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid`` (fields 14 and 15 of /proc/<pid>/stat), in seconds."""
    with open(f"/proc/{pid}/stat", "rb") as fh:
        fields = fh.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


class Stream:
    """The ``GET /sse`` response: its chunked body decoded, split into events."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
        self.buffer = b""
        self.chunked = True

    async def event(self) -> tuple[bytes, bytes]:
        """The next event as (kind, data); comments (keep-alives) are skipped."""
        while True:
            match = _EVENT_END.search(self.buffer)
            if match:
                raw, self.buffer = self.buffer[: match.start()], self.buffer[match.end() :]
                kind, data = b"message", []
                for line in raw.splitlines():
                    if line.startswith(b"event:"):
                        kind = line[6:].strip()
                    elif line.startswith(b"data:"):
                        data.append(line[5:].lstrip())
                if data:
                    return kind, b"\n".join(data)
                continue
            await self._fill()

    async def _fill(self) -> None:
        if not self.chunked:
            chunk = await self.reader.read(65536)
            if not chunk:
                raise ConnectionError("the stream ended")
            self.buffer += chunk
            return
        size_line = await self.reader.readline()
        if not size_line:
            raise ConnectionError("the stream ended")
        size = int(size_line.strip() or b"0", 16)
        if size == 0:
            raise ConnectionError("the stream ended")
        self.buffer += (await self.reader.readexactly(size + 2))[:-2]


async def read_head(reader: asyncio.StreamReader) -> tuple[int, dict[bytes, bytes]]:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("connection closed")
    status = int(status_line.split(b" ", 2)[1])
    headers = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            return status, headers
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()


class Session:
    """One SSE session: the stream and a keep-alive connection for its POSTs."""

    def __init__(self, url: str, headers: dict[str, str], mode: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.path = parts.path
        self.extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.mode = mode
        self.next_id = 1

    async def open(self) -> None:
        reader, self.stream_writer = await asyncio.open_connection(self.host, self.port)
        self.stream_writer.write(
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Accept: text/event-stream\r\n{self.extra}\r\n".encode()
        )
        status, headers = await read_head(reader)
        if status != 200:
            raise RuntimeError(f"GET {self.path} answered {status}")
        self.stream = Stream(reader)
        self.stream.chunked = headers.get(b"transfer-encoding", b"").lower() == b"chunked"
        kind, data = await self.stream.event()
        if kind != b"endpoint":
            raise RuntimeError(f"the first event is {kind!r}, not the endpoint")
        self.endpoint = data.decode()
        self.post_reader, self.post_writer = await asyncio.open_connection(self.host, self.port)
        self.head = (
            f"POST {self.endpoint} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\n{self.extra}"
        ).encode()
        if self.mode == "legacy":
            init = {
                "jsonrpc": "2.0", "id": 0, "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                           "clientInfo": {"name": "bench-sse-load", "version": "1"}},
            }  # fmt: skip
            await self.post(json.dumps(init).encode())
            await self.answer(0)
            await self.post(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')

    async def post(self, body: bytes) -> None:
        self.post_writer.write(self.head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        status, headers = await read_head(self.post_reader)
        length = int(headers.get(b"content-length", b"0"))
        if length:
            await self.post_reader.readexactly(length)
        if status != 202:
            raise RuntimeError(f"POST {self.endpoint} answered {status}")

    async def answer(self, request_id: int) -> bytes:
        while True:
            kind, data = await self.stream.event()
            found = _ID.search(data)
            if kind == b"message" and found and int(found.group(1)) == request_id:
                return data

    def call_body(self) -> tuple[int, bytes]:
        request_id = self.next_id
        self.next_id += 1
        params: dict[str, object] = {"name": "add", "arguments": {"a": 2, "b": 3}}
        if self.mode == "modern":
            params["_meta"] = _MODERN_META
        return request_id, json.dumps(
            {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params},
            separators=(",", ":"),
        ).encode()

    def close(self) -> None:
        self.stream_writer.close()
        self.post_writer.close()


async def run(args: argparse.Namespace) -> dict[str, object]:
    headers = dict(h.split(":", 1) for h in args.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    sessions = [Session(args.url, headers, args.mode) for _ in range(args.sessions)]
    gate = asyncio.Semaphore(16)

    async def opened(session: Session) -> None:
        async with gate:
            await session.open()

    await asyncio.gather(*(opened(s) for s in sessions))
    latencies: list[float] = []
    bad: list[bytes] = []
    calls = 0

    clock = time.perf_counter  # the loop's own clock may tick in whole milliseconds (uvloop)
    start = clock() + args.warmup
    end = start + args.duration

    async def drive(session: Session) -> None:
        nonlocal calls
        while True:
            request_id, body = session.call_body()
            sent = clock()
            if sent >= end:
                return
            await session.post(body)
            data = await session.answer(request_id)
            done = clock()
            if b'"text":"5"' not in data or b'"isError":false' not in data:
                bad.append(data)
            if sent >= start:
                calls += 1
                latencies.append(done - sent)

    async def measure() -> tuple[float, float, float]:
        await asyncio.sleep(max(0.0, start - clock()))
        cpu0, own0, wall0 = cpu_seconds(args.pid), time.process_time(), clock()
        await asyncio.sleep(max(0.0, end - clock()))
        wall = clock() - wall0
        return cpu_seconds(args.pid) - cpu0, time.process_time() - own0, wall

    drivers = asyncio.gather(*(drive(s) for s in sessions))
    cpu, own, wall = await measure()
    await drivers
    for session in sessions:
        session.close()
    latencies.sort()
    result: dict[str, object] = {
        "sessions": args.sessions,
        "mode": args.mode,
        "calls": calls,
        "rate": calls / wall if wall else 0.0,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else None,
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
        if latencies
        else None,
        "server_cpu_s": cpu,
        "server_cpu_share": cpu / wall if wall else None,
        "cpu_ms_per_call": 1000 * cpu / calls if calls else None,
        "client_cpu_share": own / wall if wall else None,
        "bad": len(bad),
    }
    if bad:
        result["first_bad"] = bad[0][:300].decode(errors="replace")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the server's /sse URL")
    parser.add_argument("--pid", type=int, required=True, help="the server process, for its CPU")
    parser.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    parser.add_argument("--sessions", type=int, default=32)
    parser.add_argument("--mode", choices=["legacy", "modern"], default="legacy")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        result = asyncio.run(run(args))
    except Exception as exc:  # one line the orchestrator can report
        result = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
