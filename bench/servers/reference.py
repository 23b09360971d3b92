"""R1/R2 (and the SSE reference): the ``mcp`` package's own ``MCPServer`` with the same tool.

Built the way its documentation shows, with its defaults (log level INFO, the default Host/Origin
guard for 127.0.0.1). Three apps, chosen by the ``BENCH_REF`` environment variable when uvicorn
loads ``bench.servers.reference:app``:

- ``streamable`` (R1): ``streamable_http_app()`` at ``/mcp`` with its defaults; the sessionless
  2026-07-28 requests need no session.
- ``stateless`` (R2): ``streamable_http_app(stateless_http=True, json_response=True)``.
- ``sse``: ``sse_app()`` at ``/sse`` (messages at ``/messages/``), for the SSE round-trip row.
"""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette

mcp = MCPServer("bench-reference")


@mcp.tool()
async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def build(kind: str) -> Starlette:
    if kind == "sse":
        return mcp.sse_app()
    if kind == "stateless":
        return mcp.streamable_http_app(stateless_http=True, json_response=True)
    if kind == "streamable":
        return mcp.streamable_http_app()
    raise ValueError(f"BENCH_REF must be streamable, stateless or sse, not {kind!r}")


app = build(os.environ.get("BENCH_REF", "streamable"))
