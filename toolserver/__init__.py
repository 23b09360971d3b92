"""toolserver: write a tool once, serve it to AI agents over MCP, webhooks and the WebSocket.

The public API for plugin authors::

    from toolserver import Plugin, PluginSettings, ToolContext, ToolError
"""

from toolserver.core.context import Surface, ToolContext
from toolserver.core.errors import FailureKind, PluginError, ToolError, ToolFailure
from toolserver.core.executor import Executor, ToolResult
from toolserver.core.idempotency import IdempotencyStore, MemoryIdempotencyStore
from toolserver.core.plugin import Plugin, PluginSettings, Tool
from toolserver.core.registry import Registry
from toolserver.core.schema import ToolSchema, tool_schema

__version__ = "0.1.0"

__all__ = [
    "Executor",
    "FailureKind",
    "IdempotencyStore",
    "MemoryIdempotencyStore",
    "Plugin",
    "PluginError",
    "PluginSettings",
    "Registry",
    "Surface",
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolFailure",
    "ToolResult",
    "ToolSchema",
    "__version__",
    "tool_schema",
]
