"""Row A, the ceiling: a bare ASGI app that parses the JSON body and returns a fixed JSON answer.

No framework, no routing, no validation: read the body, ``json.loads`` it, answer ``5``. Whatever a
real server does per request beyond this is what the other rows pay.
"""

from __future__ import annotations

import json
from typing import Any

_ANSWER = b"5"
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(_ANSWER)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    if body:  # a readiness probe's GET has none
        json.loads(body)
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _ANSWER})
