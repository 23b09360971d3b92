"""What a user pastes into a BlackBox agent: ``config.tools[]`` and ``config.mcpConnections[]``,
and the call webhooks the plugins' hooks serve (:mod:`toolserver.devtools.agent_webhooks`).

Both blocks come from the shared schema, so the agent sees exactly what the server serves.
Secrets are printed as a placeholder unless asked for.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from toolserver.core.registry import Registry
from toolserver.core.schema import tool_schema
from toolserver.devtools.agent_webhooks import (
    HttpMethod,
    call_webhook_blocks,
    custom_settings,
    fallback_result,
)
from toolserver.runtime import ToolServer
from toolserver.surfaces.mcp.transports import MCP_PATH, SSE_PATH
from toolserver.surfaces.webhooks import tool_path

__all__ = ["SECRET_PLACEHOLDER", "blackbox_config"]

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
    http_methods: Mapping[str, HttpMethod] | None = None,
) -> dict[str, Any]:
    """The agent config blocks for this server at ``base_url``.

    Args:
        base_url: where BlackBox reaches this server (``https://tools.example.com``).
        show_secrets: print the real API key instead of a placeholder.
        transport: the MCP transport of the ``mcpConnections`` entry.
        endpoint: a subset endpoint from ``TOOLSERVER_MCP_ENDPOINTS`` to describe instead of all
            tools.
        retry_count: BlackBox's retries of a failed webhook (0 to 5).
        http_methods: how BlackBox calls each tool webhook, by tool name (``"*"``: every tool
            not named): ``POST`` (the default ``ToolWebHookPayload``) or ``GET``.
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
                    "customSettings": custom_settings(_method(http_methods, tool.name)),
                },
                "fallBackResult": fallback_result(tool),
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
    config = {"tools": tools, "mcpConnections": [connection]}
    config.update(call_webhook_blocks(server, base, auth_headers))
    return config


def _method(methods: Mapping[str, HttpMethod] | None, tool: str) -> HttpMethod:
    methods = methods or {}
    return methods.get(tool, methods.get("*", "POST"))
