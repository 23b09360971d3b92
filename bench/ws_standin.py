"""The WebSocket row's load: a local stand-in for BlackBox that keeps tool requests in flight.

It serves BlackBox's session WebSocket (protocol page, section 1c) on 127.0.0.1. Each connection
is one measured conversation: after the client's ``initialize`` it sends ``websocketToolRequest``
messages for ``add(2, 3)`` and sends a new one for every answer, so that ``--inflight`` requests
are always outstanding. Every answer is checked (its id must be outstanding, its result must be
``5``, its ``channelId`` present). Answers are counted for ``--duration`` seconds after a
``--warmup``; then no new requests are sent, the outstanding ones are awaited, and the stand-in
ends the conversation the way BlackBox does (a ``conversationResult``, then a normal close).

One JSON line per conversation goes to stdout::

    {"answers": 41234, "seconds": 10.0, "rate": 4123.4, "p50_ms": 7.6, "p99_ms": 12.1, "bad": 0, ...}

After ``--runs`` conversations the process exits. ``READY <port>`` is printed once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import statistics
import sys
import time
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

REQUEST = (
    '{"type":"websocketToolRequest","timestamp":"%s","channelId":null,'
    '"content":{"id":"r%d","toolName":"add","args":{"a":2,"b":3}}}'
)


def _now() -> str:
    now = datetime.datetime.now(datetime.UTC)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Conversation:
    def __init__(self, ws: ServerConnection, args: argparse.Namespace) -> None:
        self.ws = ws
        self.args = args
        self.next_id = 0
        self.sent_at: dict[str, float] = {}
        self.answers = 0
        self.latencies: list[float] = []
        self.bad = 0
        self.first_bad: str | None = None
        self.sending = True

    async def send_request(self) -> None:
        self.next_id += 1
        self.sent_at[f"r{self.next_id}"] = time.perf_counter()
        await self.ws.send(REQUEST % (_now(), self.next_id))

    def _wrong(self, why: str) -> None:
        self.bad += 1
        if self.first_bad is None:
            self.first_bad = why[:400]

    async def run(self) -> dict[str, Any]:
        first = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
        if first.get("type") != "initialize":
            raise RuntimeError(f"the first message was not initialize: {first!r}")
        start = time.perf_counter()
        measure_from = start + self.args.warmup
        measure_to = measure_from + self.args.duration
        for _ in range(self.args.inflight):
            await self.send_request()
        while self.sent_at:
            raw = await asyncio.wait_for(self.ws.recv(), 30)
            now = time.perf_counter()
            message = json.loads(raw)
            if message.get("type") != "websocketToolResponse":
                continue
            content = message.get("content") or {}
            sent = self.sent_at.pop(content.get("id"), None)
            if sent is None:
                self._wrong(f"answer to an unknown id: {raw}")
                continue
            if "channelId" not in message or content.get("result") != 5:
                self._wrong(f"wrong answer: {raw}")
            elif measure_from <= now < measure_to:
                self.answers += 1
                self.latencies.append(now - sent)
            if now >= measure_to:
                self.sending = False
            if self.sending:
                await self.send_request()
        await self.ws.send(
            json.dumps(
                {
                    "type": "conversationResult",
                    "timestamp": _now(),
                    "channelId": None,
                    "content": {"finishReason": "benchmark_done"},
                }
            )
        )
        await self.ws.close(1000, "conversation ended")
        lat = sorted(self.latencies)
        return {
            "answers": self.answers,
            "seconds": self.args.duration,
            "rate": round(self.answers / self.args.duration, 1),
            "p50_ms": round(statistics.median(lat) * 1000, 3) if lat else None,
            "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, 3) if lat else None,
            "inflight": self.args.inflight,
            "sent": self.next_id,
            "bad": self.bad,
            "first_bad": self.first_bad,
        }


async def main(args: argparse.Namespace) -> None:
    done = asyncio.Event()
    finished = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal finished
        try:
            result = await Conversation(ws, args).run()
        except (ConnectionClosed, RuntimeError, TimeoutError, ValueError) as exc:
            result = {"error": f"{type(exc).__name__}: {exc}"}
            await ws.close(1011, "stand-in failed")
        print(json.dumps(result), flush=True)
        finished += 1
        if finished >= args.runs:
            done.set()

    async with serve(handler, "127.0.0.1", args.port, max_size=2**22) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"READY {port}", flush=True)
        try:
            await asyncio.wait_for(done.wait(), args.timeout)
        except TimeoutError:
            print(json.dumps({"error": "the stand-in timed out waiting for conversations"}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--runs", type=int, default=3, help="conversations to serve, then exit")
    parser.add_argument("--inflight", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=600.0, help="give up after this long")
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
