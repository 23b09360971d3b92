"""``toolserver serve`` with one more route, ``/test-events``: an event stream that never ends on
its own, standing in for any surface's SSE stream (MCP's ``/sse``, a session's events)."""

from __future__ import annotations

import sys

import anyio
from sse_starlette.sse import EventSourceResponse
from starlette.requests import Request
from starlette.routing import Route

import toolserver.app as app_module
from toolserver.devtools.cli import main

_create_app = app_module.create_app


async def events(request: Request) -> EventSourceResponse:
    async def ticks():
        count = 0
        while True:
            yield {"event": "tick", "data": str(count)}
            count += 1
            await anyio.sleep(0.2)

    return EventSourceResponse(ticks())


def create_app(*args, **kwargs):
    app = _create_app(*args, **kwargs)
    app.routed.router.routes.append(Route("/test-events", events))
    return app


app_module.create_app = create_app  # uvicorn resolves "toolserver.app:create_app" to this

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
