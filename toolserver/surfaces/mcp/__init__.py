"""MCP: the registry served as an MCP server, over legacy HTTP+SSE and Streamable HTTP.

Modules, one concern each:

- :mod:`.results` -- how a tool is listed and how an outcome becomes a ``CallToolResult``;
- :mod:`.server` -- the SDK's low-level server with handlers over the executor;
- :mod:`.transports` -- the SSE and Streamable HTTP routes of one endpoint;
- :mod:`.fastpath` -- plain ``tools/call``, ``tools/list`` and ``ping`` POSTs to ``/mcp``
  answered without the SDK's per-request machinery, everything else handed to the SDK;
- :mod:`.fastwire` -- the fast path's bodies (the SDK's, built directly) and its one response;
- :mod:`.security` -- the Host/Origin guard;
- :mod:`.keepalive` -- proxy-safe event streams;
- :mod:`.surface` -- :class:`McpSurface`, the main endpoint and the subset endpoints.
"""

from toolserver.surfaces.mcp.surface import McpSurface

__all__ = ["McpSurface"]
