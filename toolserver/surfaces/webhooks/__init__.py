"""HTTP tool webhooks: ``POST /tools/{name}``, one URL per tool, speaking BlackBox's
``ToolWebHookPayload``.

- :mod:`.surface`: :class:`WebhookSurface`, the route and how each outcome is answered;
- :mod:`.openapi`: the webhooks' operations in the OpenAPI document.
"""

from toolserver.surfaces.webhooks.openapi import openapi_paths
from toolserver.surfaces.webhooks.surface import TOOLS_PATH, WebhookSurface, tool_path

__all__ = ["TOOLS_PATH", "WebhookSurface", "openapi_paths", "tool_path"]
