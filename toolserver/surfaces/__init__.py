"""The surfaces: one package per way an agent reaches the tools.

Each package's ``surface`` module defines the surface class (``WebhookSurface``, ``McpSurface``,
``WebSocketSurface``), built from a :class:`~toolserver.runtime.ToolServer` and exported from the
package. Every surface turns its wire message into a call of the one executor
(:mod:`toolserver.core.executor`) and renders what comes back; surfaces never import each other.
"""
