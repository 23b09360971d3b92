"""What a user pastes to connect a client: a BlackBox agent's ``config.tools[]`` and
``config.mcpConnections[]``, and the MCP server entries of MCP Inspector, Claude Desktop and
Cursor.

The BlackBox blocks come from the shared schema, so the agent sees exactly what the server
serves. ``toolserver export blackbox`` prints them, and the console's Connect page shows them
with the MCP client configs. Secrets are a placeholder unless asked for (the console never asks).
"""

from __future__ import annotations

import math
from typing import Any, Literal

from toolserver.core.registry import Registry
from toolserver.core.schema import tool_schema
from toolserver.runtime import ToolServer
from toolserver.surfaces.mcp.transports import MCP_PATH, SSE_PATH
from toolserver.surfaces.webhooks import tool_path

__all__ = ["SECRET_PLACEHOLDER", "blackbox_config", "mcp_client_configs"]

SECRET_PLACEHOLDER = "<your toolserver API key>"
# BlackBox should give up later than we do, so the agent hears our clear timeout answer.
_TIMEOUT_MARGIN = 2


def blackbox_config(
    server: ToolServer,
    base_url: str,
    *,
    show_secrets: bool = False,
    transport: Literal["SSE", "StreamableHTTP"] = "SSE",
    endpoint: str | None = None,
    retry_count: int = 2,
) -> dict[str, Any]:
    """The agent config blocks for this server at ``base_url``.

    Args:
        base_url: where BlackBox reaches this server (``https://tools.example.com``).
        show_secrets: print the real API key instead of a placeholder.
        transport: the MCP transport of the ``mcpConnections`` entry.
        endpoint: a subset endpoint from ``TOOLSERVER_MCP_ENDPOINTS`` to describe instead of all
            tools.
        retry_count: BlackBox's retries of a failed webhook (0 to 5).
    """
    base = base_url.rstrip("/")
    settings = server.settings
    registry: Registry = server.registry
    prefix = ""
    if endpoint is not None:
        if endpoint not in settings.mcp_endpoints:
            raise ValueError(
                f"no MCP endpoint {endpoint!r} is configured (TOOLSERVER_MCP_ENDPOINTS); "
                f"configured: {', '.join(settings.mcp_endpoints) or 'none'}"
            )
        registry = registry.subset(settings.mcp_endpoints[endpoint])
        prefix = f"/{endpoint}"

    keys = server.resolve_api_keys()
    key = keys[0] if keys and show_secrets else SECRET_PLACEHOLDER
    auth_headers = {settings.auth_header: key} if keys else {}

    tools = []
    for tool in registry:
        schema = tool_schema(tool)
        timeout = server.executor.timeout_for(tool)
        tools.append(
            {
                "name": tool.name,
                "description": schema.description,
                "schema": schema.input_schema,
                "webhook": {
                    "url": base + tool_path(tool.name),
                    "headers": dict(auth_headers),
                    "customSettings": None,
                },
                "fallBackResult": None,
                "timeoutSeconds": min(300, max(1, math.ceil(timeout) + _TIMEOUT_MARGIN)),
                "retryCount": max(0, min(5, retry_count)),
            }
        )
    path = SSE_PATH if transport == "SSE" else MCP_PATH
    connection = {
        "name": endpoint or "toolserver",
        "serverUrl": f"{base}{prefix}{path}",
        "authentication": {"apiKey": key, "headerName": settings.auth_header} if keys else None,
        "customHeaders": {},
        "isEnabled": True,
        "description": "Tools served by toolserver: " + ", ".join(registry.names),
        "transport": transport,
        "blackListTools": None,
        "whiteListTools": None,
    }
    return {"tools": tools, "mcpConnections": [connection]}


def mcp_client_configs(
    server: ToolServer, base_url: str, *, api_key: str = SECRET_PLACEHOLDER
) -> dict[str, Any]:
    """The entry each MCP client's config file takes for this server at ``base_url``, over
    Streamable HTTP (``/mcp``).

    - ``inspector``: MCP Inspector's ``--config`` file (``npx @modelcontextprotocol/inspector
      --config mcp.json --server toolserver``);
    - ``claudeDesktop``: ``claude_desktop_config.json``, which starts local servers only, so the
      entry runs the ``mcp-remote`` bridge (the key passes through an environment variable);
    - ``cursor``: ``.cursor/mcp.json`` (or ``~/.cursor/mcp.json``).
    """
    url = base_url.rstrip("/") + MCP_PATH
    settings = server.settings
    keyed = not settings.auth_disabled
    header = settings.auth_header
    headers = {header: api_key} if keyed else {}
    bridge_args = ["-y", "mcp-remote", url]
    bridge: dict[str, Any] = {"command": "npx", "args": bridge_args}
    if keyed:
        bridge_args += ["--header", f"{header}:${{TOOLSERVER_API_KEY}}"]
        bridge["env"] = {"TOOLSERVER_API_KEY": api_key}
    return {
        "inspector": {
            "mcpServers": {
                "toolserver": {"type": "streamable-http", "url": url, "headers": headers}
            }
        },
        "claudeDesktop": {"mcpServers": {"toolserver": bridge}},
        "cursor": {"mcpServers": {"toolserver": {"url": url, "headers": headers}}},
    }
