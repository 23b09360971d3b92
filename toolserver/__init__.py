"""toolserver: write a tool once, serve it to AI agents over MCP, webhooks and the WebSocket.

The API for plugin authors is what this module exports::

    from toolserver import CircuitPolicy, Plugin, PluginSettings, Sensitive, ToolContext, ToolError
    from toolserver import mcp_header  # SEP-2243 routing headers

and, for the rest of a BlackBox call (``@plugin.on_call_start``, ``@plugin.on_call_result``,
``@plugin.on_transfer``), the payloads the hooks receive, their :class:`CallContext`, and what
they answer (:class:`Reject`, :class:`WarmTransfer`, :class:`ColdTransfer`, :class:`NoTransfer`).

Embedding the server in an application of your own: :mod:`toolserver.app` (``create_app``,
``Settings``). Testing a plugin: :mod:`toolserver.testing`.
"""

from toolserver.core.call_answers import ColdTransfer, NoTransfer, Reject, WarmTransfer
from toolserver.core.call_hooks import CallContext
from toolserver.core.call_payloads import (
    CallDeadLineWebHookPayload,
    CompletedWebHookPayload,
    FailedWebHookPayload,
    ResultWebHookPayload,
    StartWebHookPayload,
    TranscriptEntry,
    TransferWebHookPayload,
)
from toolserver.core.circuits import CircuitPolicy
from toolserver.core.context import ToolContext
from toolserver.core.errors import ToolError
from toolserver.core.plugin import Plugin, PluginSettings
from toolserver.core.schema import mcp_header
from toolserver.core.sensitive import Sensitive

__version__ = "0.1.0"

__all__ = [
    "CallContext",
    "CallDeadLineWebHookPayload",
    "CircuitPolicy",
    "ColdTransfer",
    "CompletedWebHookPayload",
    "FailedWebHookPayload",
    "NoTransfer",
    "Plugin",
    "PluginSettings",
    "Reject",
    "ResultWebHookPayload",
    "Sensitive",
    "StartWebHookPayload",
    "ToolContext",
    "ToolError",
    "TranscriptEntry",
    "TransferWebHookPayload",
    "WarmTransfer",
    "__version__",
    "mcp_header",
]
