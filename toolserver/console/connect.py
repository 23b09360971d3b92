"""What a user pastes into an agent's configuration: printed by ``toolserver export`` and shown on
the console's Connect page, built here once so both show the same.

- :func:`blackbox_config`: a BlackBox agent's ``config.tools[]`` and ``config.mcpConnections[]``,
  from the shared schema, so the agent sees exactly what the server serves, and the call webhooks
  the plugins' hooks serve (:mod:`toolserver.console.agent_webhooks`);
- :func:`mcp_client_config`: the ``mcpServers`` entry of a desktop MCP client (Claude Desktop,
  Cursor, the MCP Inspector), which starts ``toolserver stdio`` itself or reaches ``/mcp``.

Secrets are printed as a placeholder unless asked for. A base URL must be absolute (scheme and
host): ``tools.example.com`` alone would give URLs no client can call.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from toolserver.console.agent_webhooks import (
    HttpMethod,
    call_webhook_blocks,
    custom_settings,
    fallback_result,
)
from toolserver.core.registry import Registry
from toolserver.core.schema import tool_schema
from toolserver.runtime import ToolServer
from toolserver.settings import url_problem
from toolserver.surfaces.mcp.transports import MCP_PATH, SSE_PATH
from toolserver.surfaces.webhooks import tool_path

__all__ = [
    "MCP_CLIENTS",
    "MAX_RETRY_COUNT",
    "SECRET_PLACEHOLDER",
    "blackbox_config",
    "mcp_client_config",
    "mcp_client_configs",
    "stdio_command",
]

SECRET_PLACEHOLDER = "<your toolserver API key>"
# BlackBox should give up later than we do, so the agent hears our clear timeout answer.
_TIMEOUT_MARGIN = 2
MAX_RETRY_COUNT = 5
"""The most retries BlackBox makes of a failed webhook (its agent config refuses more)."""

MCP_CLIENTS = ("claude-desktop", "cursor", "inspector")
"""Clients :func:`mcp_client_config` writes for; each reads an ``mcpServers`` object."""
_HTTP_CLIENTS = ("cursor", "inspector")  # Claude Desktop's file starts servers over stdio only


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
    problem = url_problem(base_url)
    if problem:
        raise ValueError(f"the base URL {problem}")
    if not 0 <= retry_count <= MAX_RETRY_COUNT:
        raise ValueError(f"retry_count must be 0 to {MAX_RETRY_COUNT}, not {retry_count}")
    base = base_url.strip().rstrip("/")
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
                "retryCount": retry_count,
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
    config: dict[str, Any] = {"tools": tools, "mcpConnections": [connection]}
    config.update(call_webhook_blocks(server, base, auth_headers))
    return config


def _method(methods: Mapping[str, HttpMethod] | None, tool: str) -> HttpMethod:
    methods = methods or {}
    return methods.get(tool, methods.get("*", "POST"))


def stdio_command(directory: Path, plugins_dir: Path | None = None) -> tuple[str, list[str]]:
    """The command and arguments that start ``toolserver stdio`` from any working directory.

    A desktop client starts the server with a working directory of its own and almost none of
    the shell's environment, so the command is this installation's absolute path, and
    ``--directory`` makes the server read ``.env`` and find ``plugins/`` where the user exported
    from.
    """
    executable = Path(sys.executable).parent / "toolserver"
    if executable.exists():
        command, args = str(executable), ["stdio"]
    else:  # not installed as a script (a source tree): the interpreter runs the package
        command, args = sys.executable, ["-m", "toolserver", "stdio"]
    args += ["--directory", str(directory.resolve())]
    if plugins_dir is not None:
        args += ["--plugins-dir", str(plugins_dir.resolve())]
    return command, args


def mcp_client_config(
    server: ToolServer,
    client: str,
    *,
    transport: Literal["stdio", "http"] = "stdio",
    base_url: str | None = None,
    name: str = "toolserver",
    directory: Path | None = None,
    plugins_dir: Path | None = None,
    show_secrets: bool = False,
) -> dict[str, Any]:
    """The ``{"mcpServers": {name: ...}}`` object ``client`` reads.

    Args:
        client: ``claude-desktop`` (``claude_desktop_config.json``), ``cursor``
            (``.cursor/mcp.json``) or ``inspector`` (``--config FILE --server NAME``).
        transport: ``stdio``, the client starts ``toolserver stdio`` itself (no server to run, no
            key: the process is the client's own); ``http``, the client reaches a running
            server's ``/mcp`` with the API key (Cursor and the Inspector).
        base_url: where the client reaches the server over ``http``.
        directory: the directory the stdio server reads ``.env`` and ``plugins/`` from
            (default: the working directory).
        plugins_dir: a plugins directory given on the command line, passed on.
    """
    if client not in MCP_CLIENTS:
        raise ValueError(f"unknown MCP client {client!r}: choose one of {', '.join(MCP_CLIENTS)}")
    if transport == "stdio":
        command, args = stdio_command(directory or Path.cwd(), plugins_dir)
        entry: dict[str, Any] = {"command": command, "args": args}
        if client == "inspector":
            entry = {"type": "stdio", **entry}
        return {"mcpServers": {name: entry}}
    if client not in _HTTP_CLIENTS:
        raise ValueError(
            f"{client} starts MCP servers from its configuration file over stdio only; "
            "use --transport stdio"
        )
    if not base_url:
        raise ValueError("--transport http needs --base-url or TOOLSERVER_PUBLIC_URL")
    problem = url_problem(base_url)
    if problem:
        raise ValueError(f"the base URL {problem}")
    keys = server.resolve_api_keys()
    headers = {}
    if keys:
        headers[server.settings.auth_header] = keys[0] if show_secrets else SECRET_PLACEHOLDER
    url = base_url.strip().rstrip("/") + MCP_PATH
    entry = {"url": url, "headers": headers}
    if client == "inspector":
        entry = {"type": "streamable-http", **entry}
    return {"mcpServers": {name: entry}}


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
