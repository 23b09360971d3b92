"""What ``toolserver export`` prints: the blocks are built in :mod:`toolserver.console.connect`,
which the console's Connect page shows too, so the command line and the browser print the same
config."""

from toolserver.console.connect import (
    MAX_RETRY_COUNT,
    MCP_CLIENTS,
    SECRET_PLACEHOLDER,
    blackbox_config,
    mcp_client_config,
    mcp_client_configs,
    stdio_command,
)

__all__ = [
    "MAX_RETRY_COUNT",
    "MCP_CLIENTS",
    "SECRET_PLACEHOLDER",
    "blackbox_config",
    "mcp_client_config",
    "mcp_client_configs",
    "stdio_command",
]
