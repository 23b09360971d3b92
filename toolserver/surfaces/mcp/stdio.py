"""MCP over stdio: the registry served to one client that started this process.

Desktop MCP clients (Claude Desktop, Cursor, the MCP Inspector) start a local server as a child
process and speak JSON-RPC over its stdin and stdout. The server is the same one the HTTP
transports use -- :func:`~toolserver.surfaces.mcp.server.build_server` over
:class:`~toolserver.surfaces.mcp.server.ToolHandlers`, so every call goes through the one
executor with its validation, timeouts and errors -- only the transport differs.

There is no API key: the client owns the process and its pipes, and nothing listens on a port.
stdout belongs to the protocol, so logs go to stderr (which clients show as the server's log),
and the SDK's transport points file descriptor 1 at stderr while it serves, so a stray ``print``
in a plugin cannot corrupt the stream.
"""

from __future__ import annotations

from typing import Any

from toolserver.runtime import ToolServer
from toolserver.surfaces.mcp.server import ToolHandlers, build_server

__all__ = ["serve_stdio"]


async def serve_stdio(server: ToolServer, *, stdin: Any = None, stdout: Any = None) -> None:
    """Start the plugins, serve MCP on stdin/stdout until the client closes stdin, then stop.

    Args:
        server: what to serve.
        stdin, stdout: async text streams to use instead of the process's own (tests).
    """
    from mcp.server.stdio import stdio_server

    handlers = ToolHandlers(server.registry, server.executor)
    # One connection for the life of the process: it keeps its own state, as an SSE session
    # does (the level ``logging/setLevel`` sets lasts for the connection).
    mcp = build_server(handlers, per_connection=True)
    await server.start()
    try:
        async with stdio_server(stdin, stdout) as (read, write):
            await mcp.run(read, write, mcp.create_initialization_options())
    finally:
        await server.stop()
