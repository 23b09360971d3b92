"""The SSE row's load: sequential ``tools/call`` round trips over ``/sse`` with the ``mcp`` client.

For each target (``NAME=URL``, optionally with headers), a round opens one SSE connection with the
SDK's ``Client`` over ``sse_client``, makes ``--warmup`` calls of ``add(2, 3)``, then ``--count``
calls one after another, checking every result is 5, and closes. Rounds alternate between the
targets (``--rounds`` of each) so that both see the same machine. Prints one JSON object:
``{"<name>": [{"rate": ..., "p50_ms": ..., "p99_ms": ...}, ...], ...}``.

``--mode`` is the client's ``mode``: ``auto`` (the default of ``Client``; it speaks the
sessionless 2026-07-28 protocol over the SSE stream to a 2.x server) or ``legacy`` (the
``initialize`` handshake, as third-party clients do).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from mcp import Client
from mcp.client.sse import sse_client


def _value(result: Any) -> Any:
    if result.is_error:
        return f"isError: {result.content}"
    structured = result.structured_content
    if isinstance(structured, dict) and "result" in structured:
        return structured["result"]
    texts = [c.text for c in result.content if getattr(c, "type", None) == "text"]
    return int(texts[0]) if texts and texts[0].strip().isdigit() else texts


async def one_round(url: str, headers: dict[str, str], mode: str, warmup: int, count: int) -> dict[str, Any]:
    async with Client(sse_client(url, headers=headers, timeout=30), mode=mode) as client:
        for _ in range(warmup):
            value = _value(await client.call_tool("add", {"a": 2, "b": 3}))
            if value != 5:
                raise RuntimeError(f"{url}: add(2, 3) answered {value!r}")
        latencies = []
        start = time.perf_counter()
        for _ in range(count):
            t0 = time.perf_counter()
            value = _value(await client.call_tool("add", {"a": 2, "b": 3}))
            latencies.append(time.perf_counter() - t0)
            if value != 5:
                raise RuntimeError(f"{url}: add(2, 3) answered {value!r}")
        elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "rate": round(count / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 3),
        "p99_ms": round(latencies[min(count - 1, int(count * 0.99))] * 1000, 3),
        "calls": count,
    }


def _target(text: str) -> tuple[str, str, dict[str, str]]:
    name, _, rest = text.partition("=")
    url, *header_parts = rest.split(",")
    headers = dict(h.split(":", 1) for h in header_parts if ":" in h)
    return name, url, headers


async def main(args: argparse.Namespace) -> None:
    targets = [_target(t) for t in args.target]
    results: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in targets}
    for _ in range(args.rounds):
        for name, url, headers in targets:
            try:
                results[name].append(await one_round(url, headers, args.mode, args.warmup, args.count))
            except Exception as exc:  # noqa: BLE001 (reported, not raised: the other target's row still counts)
                results[name].append({"error": f"{type(exc).__name__}: {exc}"[:500]})
    print(json.dumps(results))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--target", action="append", required=True,
        help="NAME=URL[,Header:value...], e.g. toolserver=http://127.0.0.1:8000/sse,X-Api-Key:k",
    )  # fmt: skip
    parser.add_argument("--mode", default="auto", choices=["auto", "legacy"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--count", type=int, default=1000)
    asyncio.run(main(parser.parse_args()))
