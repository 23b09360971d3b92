"""The outer ASGI layer: authentication, fast routes, proxy headers and stream watching."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from toolserver.http.asgi import ToolServerApp, collect_fast_routes
from toolserver.http.auth import ApiKeyAuth, KeyChecker, principal_of
from toolserver.http.streams import EventStreamCloser
from toolserver.runtime.keys import key_id
from toolserver.runtime.shutdown import Shutdown

pytestmark = pytest.mark.anyio

KEY = "k_" + "x" * 30


class Recorder:
    """A raw ASGI handler that answers with what it saw."""

    def __init__(self, content_type: bytes = b"application/json") -> None:
        self.content_type = content_type
        self.scopes: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scopes.append(scope)
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        answer = b'{"fast":true,"body":' + (body or b"null") + b"}"
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", self.content_type)],
            }
        )
        await send({"type": "http.response.body", "body": answer})


async def routed_endpoint(request: Request) -> JSONResponse:
    return JSONResponse(
        {"routed": True, "principal": principal_of(request.scope), "client": request.client.host}
    )


def make_app(
    fast: dict[tuple[str, str], Any], *, proxies: str | None = None, shutdown: Shutdown | None = None
) -> ToolServerApp:
    routed = Starlette(
        routes=[
            Route("/mcp", routed_endpoint, methods=["GET", "POST"]),
            Route("/healthz", routed_endpoint),
        ]
    )
    auth = ApiKeyAuth(KeyChecker([KEY]), is_public={"/healthz"}.__contains__)
    return ToolServerApp(
        routed,
        closer=EventStreamCloser(shutdown or Shutdown()),
        auth=auth,
        fast_routes=fast,
        trusted_proxies=proxies,
    )


def client(app: ToolServerApp, address: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 1234))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_a_fast_route_is_called_after_auth_with_the_principal() -> None:
    handler = Recorder()
    app = make_app({("POST", "/mcp"): handler})
    async with client(app) as http:
        response = await http.post("/mcp", content=b'{"a":1}', headers={"X-Api-Key": KEY})
        refused = await http.post("/mcp", content=b"{}")
        wrong = await http.post("/mcp", content=b"{}", headers={"Authorization": "Bearer nope"})
    assert response.json() == {"fast": True, "body": {"a": 1}}
    assert [r.status_code for r in (refused, wrong)] == [401, 401]
    assert len(handler.scopes) == 1  # the refused requests never reached it
    assert principal_of(handler.scopes[0]) == key_id(KEY.encode())


async def test_other_methods_and_paths_reach_the_routed_app() -> None:
    app = make_app({("POST", "/mcp"): Recorder()})
    async with client(app) as http:
        get = await http.get("/mcp", headers={"Authorization": f"Bearer {KEY}"})
        health = await http.get("/healthz")
        slash = await http.post("/mcp/", headers={"X-Api-Key": KEY})
    assert get.json()["routed"] is True
    assert get.json()["principal"] == key_id(KEY.encode())
    assert health.json()["principal"] is None  # public: no key needed, none recorded
    assert "fast" not in slash.text  # exact paths only


def test_a_route_claimed_by_two_surfaces_is_refused() -> None:
    class Surface:
        def __init__(self) -> None:
            self.fast_routes = {("post", "/mcp"): Recorder()}

    assert list(collect_fast_routes([Surface(), object()])) == [("POST", "/mcp")]
    with pytest.raises(ValueError, match="POST /mcp"):
        collect_fast_routes([Surface(), Surface()])


async def test_forwarded_headers_only_from_trusted_proxies() -> None:
    headers = {"X-Api-Key": KEY, "X-Forwarded-For": "203.0.113.7"}
    trusted = make_app({}, proxies="127.0.0.1")
    async with client(trusted) as http:
        via_proxy = await http.get("/mcp", headers=headers)
    async with client(trusted, "198.51.100.1") as http:
        from_elsewhere = await http.get("/mcp", headers=headers)
    async with client(make_app({})) as http:
        not_configured = await http.get("/mcp", headers=headers)
    assert via_proxy.json()["client"] == "203.0.113.7"
    assert from_elsewhere.json()["client"] == "198.51.100.1"
    assert not_configured.json()["client"] == "127.0.0.1"


async def test_a_fast_route_that_streams_is_counted_for_shutdown() -> None:
    shutdown = Shutdown()
    seen: list[int] = []

    class Streaming(Recorder):
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            async def watching(message: Any) -> None:
                await send(message)
                if message["type"] == "http.response.start":
                    seen.append(sum(shutdown.streams.values()))

            await super().__call__(scope, receive, watching)

    app = make_app({("POST", "/mcp"): Streaming(b"text/event-stream")}, shutdown=shutdown)
    async with client(app) as http:
        plain = await http.post("/mcp", headers={"X-Api-Key": KEY})
        stream = await http.post(
            "/mcp", headers={"X-Api-Key": KEY, "Accept": "application/json, text/event-stream"}
        )
    assert plain.status_code == stream.status_code == 200
    assert seen == [0, 1]  # watched only when the request may stream
    assert sum(shutdown.streams.values()) == 0
