"""The surfaces: one package per way an agent reaches the tools.

Each package's ``surface`` module defines the surface class (``WebhookSurface``, ``McpSurface``,
``WebSocketSurface``, ``LifecycleSurface``), built from a :class:`~toolserver.runtime.ToolServer`
and exported from the package. Every tool surface turns its wire message into a call of the one
executor (:mod:`toolserver.core.executor`) and renders what comes back; the lifecycle surface hands
BlackBox's start, result and transfer webhooks to the call hooks
(:mod:`toolserver.core.lifecycle`). Surfaces never import each other.
"""
