"""What a plugin author's tests need, in one import.

In-process, through the executor every surface uses::

    from toolserver.testing import call_tool, load_plugin

    async def test_lookup():
        registry = load_plugin(Path(__file__).parents[1])          # the plugin folder
        assert await call_tool(registry, "lookup", {"id": 7}) == {...}

Through every surface of a real server (webhook, MCP over ``/mcp`` and ``/sse``, and a
BlackBox WebSocket session driven by a stand-in)::

    async with serve_plugins(registry) as server:
        for surface in server.surfaces:
            outcome = await server.call(surface, "lookup", {"id": 7})
            assert outcome.ok and outcome.value == {...}

And :func:`serve_app` runs any ASGI app (a fake of the system a plugin calls) on a local port.

Calls fail with :class:`ToolFailure` in-process (``kind``, ``message``); through a
surface, the :class:`Outcome` carries the ``error``.
"""

from toolserver.core.errors import FailureKind, ToolFailure
from toolserver.testing.blackbox import BlackBoxStandIn, StandInSession
from toolserver.testing.harness import (
    SURFACES,
    Outcome,
    SurfaceName,
    ToolHarness,
    connect_mcp,
    serve_plugins,
)
from toolserver.testing.loading import (
    PluginSource,
    ToolRunner,
    call_tool,
    load_plugin,
    load_plugins,
    make_context,
    run_plugins,
)
from toolserver.testing.servers import AppServer, serve_app

__all__ = [
    "SURFACES",
    "AppServer",
    "BlackBoxStandIn",
    "FailureKind",
    "Outcome",
    "PluginSource",
    "StandInSession",
    "SurfaceName",
    "ToolFailure",
    "ToolHarness",
    "ToolRunner",
    "call_tool",
    "connect_mcp",
    "load_plugin",
    "load_plugins",
    "make_context",
    "run_plugins",
    "serve_app",
    "serve_plugins",
]
