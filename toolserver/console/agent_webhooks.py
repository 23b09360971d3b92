"""The rest of a BlackBox agent's config that points at toolserver: the call webhooks, and what
each tool webhook says beyond its URL.

``toolserver export blackbox`` prints, beside ``tools`` and ``mcpConnections``
(:mod:`toolserver.devtools.export`), the blocks of the create-agent body's ``config`` that the
plugins' call hooks serve:

- ``startWebhook`` (``POST /blackbox/start``) when a plugin has a start hook: its ``timeout``
  leaves room after ``TOOLSERVER_START_BUDGET`` for the answer to arrive, and its
  ``fallbackResponse`` is the answer toolserver itself gives when a hook fails
  (``TOOLSERVER_START_ON_FAILURE``);
- ``resultWebhook`` (``POST /blackbox/result``) when a plugin has a result hook;
- ``features.transfer``, an HTTP transfer (``POST /blackbox/transfer``), when a plugin has a
  transfer hook. Its ``fallback`` is left ``null``: the transfer BlackBox makes when toolserver
  declines or fails is the business's own choice of number.

Per tool: ``fallBackResult`` is the tool's ``fallback`` (a string as itself, other JSON as its
JSON text: the documents print the field only as ``null``, and text is what every BlackBox result
becomes for the model), and ``customSettings`` is ``null`` for the default POST of a
``ToolWebHookPayload`` or ``{"httpMethod": "GET", ...}`` for a tool served by GET.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import pydantic_core

from toolserver.core.plugin import Tool
from toolserver.runtime import ToolServer
from toolserver.surfaces.lifecycle import RESULT_PATH, START_PATH, TRANSFER_PATH

__all__ = ["HttpMethod", "call_webhook_blocks", "custom_settings", "fallback_result"]

HttpMethod = Literal["GET", "POST"]
# BlackBox should give up later than toolserver answers; the same margin as the tools'.
_TIMEOUT_MARGIN = 2
_FAILOVER_PHRASE = (
    "I'm sorry, I'm having trouble connecting you right now. Let me try to help you directly."
)


def fallback_result(tool: Tool) -> str | None:
    """The tool's ``fallBackResult``: its fallback as text, or None when it has none."""
    if not tool.has_fallback:
        return None
    if isinstance(tool.fallback, str):
        return tool.fallback
    return pydantic_core.to_json(tool.fallback).decode()


def custom_settings(method: HttpMethod) -> dict[str, Any] | None:
    """A tool webhook's ``customSettings`` for ``method`` (None: BlackBox's default POST)."""
    if method == "POST":
        return None
    return {"httpMethod": "GET", "queryParams": {}, "bodyFormat": None}


def call_webhook_blocks(
    server: ToolServer, base_url: str, headers: Mapping[str, str]
) -> dict[str, Any]:
    """``startWebhook``, ``resultWebhook`` and ``features.transfer`` for the plugins' hooks."""
    base = base_url.rstrip("/")
    settings = server.settings
    hooks = server.calls.hooks
    blocks: dict[str, Any] = {}
    if hooks["start"]:
        blocks["startWebhook"] = {
            "webhook": _webhook(base + START_PATH, headers),
            "fallbackResponse": {
                "accept": settings.start_on_failure == "accept",
                "reasonMessage": settings.start_reject_message,
            },
            "isEnabledForInbound": True,
            "isEnabledForOutbound": True,
            "isEnabledForWidget": True,
            "timeout": math.ceil(settings.start_budget) + _TIMEOUT_MARGIN,
        }
    if hooks["result"]:
        blocks["resultWebhook"] = _webhook(base + RESULT_PATH, headers)
    if hooks["transfer"]:
        described = [h.description for h in hooks["transfer"] if h.description]
        blocks["features"] = {
            "transfer": {
                "type": "http",
                "description": " ".join(described)
                or "Transfer the caller to the destination the business chooses.",
                "webhook": {
                    "url": base + TRANSFER_PATH,
                    "headers": dict(headers),
                    "customSettings": {"httpMethod": "POST"},
                },
                "fallback": None,
                "failoverBehavior": {
                    "continueConversation": True,
                    "staticPhrase": _FAILOVER_PHRASE,
                },
            }
        }
    return blocks


def _webhook(url: str, headers: Mapping[str, str]) -> dict[str, Any]:
    return {"url": url, "headers": dict(headers), "customSettings": None}
