"""MCP: the registry served as an MCP server, over legacy HTTP+SSE and Streamable HTTP (and stdio).

Small modules, one concern each, with explicit objects between them; only the SDK's public API is
used (``mcp``, ``mcp_types``, ``opentelemetry``), so an SDK release can only break what it
announces:

- :mod:`.results` -- how a tool is listed, and a call's outcome in its wire form, built once for
  both paths below, with the one place that applies a protocol version's envelope;
- :mod:`.server` -- the SDK's low-level server with handlers over the executor (the SDK path);
- :mod:`.transports` -- the SSE and Streamable HTTP routes of one endpoint;
- :mod:`.fastpath` -- plain ``tools/call``, ``tools/list`` and ``ping`` POSTs to ``/mcp``, judged
  by the SDK's own public request checks and answered without its per-request machinery;
  everything else handed to the SDK;
- :mod:`.fastwire` -- the fast path's JSON-RPC frames and its one HTTP response;
- :mod:`.security` -- the Host/Origin guard;
- :mod:`.keepalive` -- proxy-safe event streams;
- :mod:`.surface` -- :class:`McpSurface`, the main endpoint and the subset endpoints;
- :mod:`.stdio` -- the same registry over MCP stdio, for desktop clients (``toolserver stdio``).
"""

from toolserver.surfaces.mcp.surface import McpSurface

__all__ = ["McpSurface"]
