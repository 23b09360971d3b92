"""toolserver: write a tool once, serve it to AI agents over MCP, webhooks and the WebSocket.

The API for plugin authors is what this module exports::

    from toolserver import CircuitPolicy, Plugin, PluginSettings, Sensitive, ToolContext, ToolError

Embedding the server in an application of your own: :mod:`toolserver.app` (``create_app``,
``Settings``). Testing a plugin: :mod:`toolserver.testing`.
"""

from toolserver.core.circuits import CircuitPolicy
from toolserver.core.context import ToolContext
from toolserver.core.errors import ToolError
from toolserver.core.plugin import Plugin, PluginSettings
from toolserver.core.sensitive import Sensitive

__version__ = "0.1.0"

__all__ = [
    "CircuitPolicy",
    "Plugin",
    "PluginSettings",
    "Sensitive",
    "ToolContext",
    "ToolError",
    "__version__",
]
