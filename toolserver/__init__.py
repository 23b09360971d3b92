"""toolserver: write a tool once, serve it to AI agents over MCP, webhooks and the WebSocket.

The API for plugin authors is what this module exports::

    from toolserver import CircuitPolicy, Plugin, PluginSettings, ToolContext, ToolError, mcp_header

Embedding the server in an application of your own: :mod:`toolserver.app` (``create_app``,
``Settings``). Testing a plugin: :mod:`toolserver.testing`.
"""

from toolserver.core.circuits import CircuitPolicy
from toolserver.core.context import ToolContext
from toolserver.core.errors import ToolError
from toolserver.core.plugin import Plugin, PluginSettings
from toolserver.core.schema import mcp_header

__version__ = "0.1.0"

__all__ = [
    "CircuitPolicy", "Plugin", "PluginSettings", "ToolContext", "ToolError", "__version__",
    "mcp_header",
]  # fmt: skip
