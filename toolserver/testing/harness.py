"""Calling a plugin's tools through every surface of a real server, without transport code.

:func:`serve_plugins` runs the real application (:func:`toolserver.app.build_app`) for the given
plugins on a local port, with an API key, and a :class:`~toolserver.testing.blackbox.BlackBoxStandIn`
for the session WebSocket. :class:`ToolHarness` then calls a tool the way each client would:

======================  ========================================================================
surface                 how the call is made
======================  ========================================================================
``webhook``             ``POST /tools/{name}`` with a BlackBox ``ToolWebHookPayload``
``mcp``                 the MCP Python client over Streamable HTTP (``/mcp``)
``sse``                 the MCP Python client over HTTP+SSE (``/sse``)
``websocket``           a session opened through ``POST /sessions``, then a
                        ``websocketToolRequest`` sent by the stand-in
======================  ========================================================================

Each call returns an :class:`Outcome`, the same shape whichever surface answered, so one
assertion covers all of them::

    async with serve_plugins(load_plugin(PLUGIN)) as server:
        for surface in server.surfaces:
            outcome = await server.call(surface, "greet", {"name": "Ada"})
            assert outcome.value == {"text": "Hello, Ada!"}
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import anyio
import anyio.to_thread
import httpx

from toolserver.surfaces.mcp.transports import MCP_PATH, SSE_PATH
from toolserver.surfaces.webhooks import TOOLS_PATH, tool_path
from toolserver.surfaces.websocket.routes import SESSIONS_PATH
from toolserver.testing.blackbox import BlackBoxStandIn, StandInSession
from toolserver.testing.loading import PluginSource, load_plugins
from toolserver.testing.servers import AppServer

__all__ = ["SURFACES", "Outcome", "SurfaceName", "ToolHarness", "connect_mcp", "serve_plugins"]

SurfaceName = Literal["webhook", "mcp", "sse", "websocket"]
SURFACES: tuple[SurfaceName, ...] = ("webhook", "mcp", "sse", "websocket")
_AGENT_ID = "agent_toolserver_testing"


@dataclasses.dataclass(slots=True)
class Outcome:
    """What a caller got back from one surface.

    Attributes:
        surface: ``webhook``, ``mcp``, ``sse`` or ``websocket``.
        value: the tool's result as JSON data (None when the call failed).
        error: ``{"type", "message"}`` when the call failed; ``type`` is None where the surface
            does not say it (MCP gives only the message).
        raw: what the transport returned (the ``httpx.Response``, the MCP ``CallToolResult``, the
            WebSocket ``result``), for assertions on the wire form.
    """

    surface: str
    value: Any = None
    error: dict[str, Any] | None = None
    raw: Any = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def message(self) -> str | None:
        """The failure's message, as the agent reads it."""
        return None if self.error is None else self.error.get("message")


def _error_body(value: Any) -> dict[str, Any] | None:
    """The shared error shape ``{"error": {"type", "message"}}``, when ``value`` is one."""
    if isinstance(value, dict) and set(value) <= {"error"} and isinstance(value.get("error"), dict):
        error = value["error"]
        if isinstance(error.get("message"), str):
            return error
    return None


@contextlib.asynccontextmanager
async def connect_mcp(
    base_url: str,
    *,
    headers: Mapping[str, str] | None = None,
    transport: Literal["mcp", "sse"] = "mcp",
) -> AsyncIterator[Any]:
    """The MCP Python client connected to the server at ``base_url``, over ``/mcp`` (Streamable
    HTTP) or ``/sse`` (HTTP+SSE), sending ``headers`` (the API key) with every request.

    Works against any running toolserver, in-process or not::

        async with connect_mcp(url, headers={"X-Api-Key": key}, transport="sse") as client:
            tools = (await client.list_tools()).tools
    """
    from mcp import Client

    sent = dict(headers or {})
    if transport == "sse":
        from mcp.client.sse import sse_client

        async with Client(sse_client(base_url + SSE_PATH, headers=sent)) as client:
            yield client
    else:
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        async with httpx2.AsyncClient(headers=sent, timeout=60) as http:
            connection = streamable_http_client(base_url + MCP_PATH, http_client=http)
            async with Client(connection) as client:
                yield client


class ToolHarness:
    """A running server for some plugins, and one way to call its tools per surface.

    Attributes:
        base_url: the server's URL (``http://127.0.0.1:<port>``).
        api_key: the key every request carries.
        server: the :class:`~toolserver.runtime.ToolServer` being served (registry, executor).
        blackbox: the WebSocket stand-in the server's sessions connect to.
        call_log: the app's call log (:mod:`toolserver.observability.calllog`), None when off.
        data_dir: the server's data directory (its SQLite call log is ``calls.db`` there).
    """

    def __init__(
        self, app_server: AppServer, server: Any, api_key: str, blackbox: BlackBoxStandIn
    ) -> None:
        self._app_server = app_server
        self.server = server
        self.base_url = app_server.base_url
        self.api_key = api_key
        self.blackbox = blackbox
        self.call_log = getattr(app_server.app, "call_log", None)
        self.data_dir = server.settings.data_dir
        self.http = httpx.AsyncClient(base_url=self.base_url, headers=self.headers, timeout=60)
        self._session: StandInSession | None = None
        self._session_id: str | None = None
        served = app_server.app.surfaces
        available = {
            "webhook": "webhook" in served,
            "mcp": "mcp" in served,
            "sse": "mcp" in served,
            "websocket": "websocket" in served,
        }
        self.surfaces: tuple[SurfaceName, ...] = tuple(s for s in SURFACES if available[s])
        """The surfaces this server offers, in the order of :data:`SURFACES`."""

    @property
    def headers(self) -> dict[str, str]:
        return {self.server.settings.auth_header: self.api_key}

    # -- one call, any surface ------------------------------------------------------------------

    async def call(
        self, surface: SurfaceName, name: str, arguments: Mapping[str, Any] | None = None
    ) -> Outcome:
        """Call tool ``name`` through ``surface``."""
        if surface not in self.surfaces:
            raise ValueError(f"surface {surface!r} is not served; available: {self.surfaces}")
        if surface == "webhook":
            return await self.call_webhook(name, arguments)
        if surface in ("mcp", "sse"):
            return await self.call_mcp(name, arguments, transport=surface)
        return await self.call_websocket(name, arguments)

    async def call_everywhere(
        self, name: str, arguments: Mapping[str, Any] | None = None
    ) -> dict[str, Outcome]:
        """Call tool ``name`` through every surface; outcomes by surface."""
        return {s: await self.call(s, name, arguments) for s in self.surfaces}

    # -- webhooks -------------------------------------------------------------------------------

    async def call_webhook(
        self,
        name: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        call_id: str | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> Outcome:
        """``POST /tools/{name}`` with a ``ToolWebHookPayload`` as BlackBox sends it.

        Args:
            call_id: the payload's ``callId`` (a retry sends the same one).
            payload: other payload fields (``callAdditionalData``, ``endpoint``, ...).
        """
        body = {
            "type": "ToolWebHookPayload",
            "status": "Running",
            "callId": call_id or f"call_{secrets.token_hex(6)}",
            "agentId": _AGENT_ID,
            "orgId": "org_toolserver_testing",
            "toolName": name,
            "arguments": dict(arguments or {}),
            "callAdditionalData": {},
            "agentAdditionalData": {},
            **dict(payload or {}),
        }
        response = await self.http.post(tool_path(name), json=body)
        try:
            value = response.json()
        except ValueError:
            value = response.text
        error = _error_body(value)
        if response.status_code != 200 and error is None:
            error = {"type": None, "message": f"HTTP {response.status_code}: {response.text}"}
        if error is not None:
            return Outcome("webhook", error=error, raw=response)
        return Outcome("webhook", value=value, raw=response)

    # -- MCP ------------------------------------------------------------------------------------

    def mcp_client(
        self, transport: Literal["mcp", "sse"] = "mcp"
    ) -> contextlib.AbstractAsyncContextManager[Any]:
        """An MCP ``Client`` connected over ``/mcp`` (Streamable HTTP) or ``/sse``."""
        return connect_mcp(self.base_url, headers=self.headers, transport=transport)

    async def list_mcp_tools(self, transport: Literal["mcp", "sse"] = "mcp") -> list[Any]:
        """``tools/list`` over MCP: the listed tools (``name``, ``input_schema``, ...)."""
        async with self.mcp_client(transport) as client:
            return list((await client.list_tools()).tools)

    async def call_mcp(
        self,
        name: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        transport: Literal["mcp", "sse"] = "mcp",
        call_id: str | None = None,
    ) -> Outcome:
        """``tools/call`` through the MCP client, over ``/mcp`` or ``/sse`` (``call_id``: a
        BlackBox ``callId`` sent in the request's ``_meta``)."""
        meta: Any = {"callId": call_id} if call_id is not None else None
        async with self.mcp_client(transport) as client:
            result = await client.call_tool(name, dict(arguments or {}), meta=meta)
        texts = [block.text for block in result.content if getattr(block, "type", None) == "text"]
        text = "\n".join(texts)
        if result.is_error:
            return Outcome(transport, error={"type": None, "message": text}, raw=result)
        try:
            value = json.loads(text) if texts else result.structured_content
        except ValueError:
            value = text
        return Outcome(transport, value=value, raw=result)

    # -- the WebSocket --------------------------------------------------------------------------

    async def websocket_session(self) -> StandInSession:
        """The session opened through ``POST /sessions`` (opened on first use, then reused)."""
        if self._session is None or self._session.closed.is_set():
            response = await self.http.post(
                SESSIONS_PATH, json={"callType": "chat", "agentId": _AGENT_ID}
            )
            if response.status_code != 201:
                raise RuntimeError(
                    f"POST /sessions answered {response.status_code}: {response.text}"
                )
            self._session_id = response.json()["id"]
            self._session = await self.blackbox.next_session()
        return self._session

    async def call_websocket(
        self,
        name: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        timeout: float = 60.0,
        call_id: str | None = None,
    ) -> Outcome:
        """A ``websocketToolRequest`` from the stand-in, answered by the server's session
        (``call_id``: a BlackBox ``callId`` in the request's content)."""
        session = await self.websocket_session()
        result = await session.call_tool(
            name, dict(arguments or {}), timeout=timeout, call_id=call_id
        )
        error = _error_body(result)
        if error is not None:
            return Outcome("websocket", error=error, raw=result)
        return Outcome("websocket", value=result, raw=result)

    # -- listing --------------------------------------------------------------------------------

    async def tool_names(self, surface: SurfaceName = "webhook") -> list[str]:
        """The tool names ``surface`` lists (``GET /tools`` or MCP ``tools/list``)."""
        if surface in ("mcp", "sse"):
            return [tool.name for tool in await self.list_mcp_tools(surface)]
        response = await self.http.get(TOOLS_PATH)
        response.raise_for_status()
        return [tool["name"] for tool in response.json()["tools"]]

    async def aclose(self) -> None:
        if self._session_id is not None and self._session is not None:
            if not self._session.closed.is_set():
                with contextlib.suppress(httpx.HTTPError):
                    await self.http.delete(f"{SESSIONS_PATH}/{self._session_id}")
        await self.http.aclose()


@contextlib.asynccontextmanager
async def serve_plugins(
    *sources: PluginSource | Iterable[PluginSource],
    settings: Mapping[str, Any] | None = None,
) -> AsyncIterator[ToolHarness]:
    """Serve the plugins on every surface of a real app for the length of the block.

    Args:
        sources: the plugins: registries from :func:`~toolserver.testing.load_plugin`,
            :class:`~toolserver.Plugin` objects, paths or modules.
        settings: server settings on top of the environment (``{"tool_timeout": 2}``); the
            port, API key, data directory, plugin discovery and BlackBox URL are the harness's.

    The plugins start (their startup hooks run) before the block and stop after it.
    """
    from toolserver.app import build_app
    from toolserver.runtime import ToolServer
    from toolserver.settings import load_settings

    flat: list[Any] = []
    for source in sources:
        flat.extend(source if isinstance(source, (list, tuple)) else [source])
    registry = load_plugins(*flat) if flat else None
    api_key = "test_" + secrets.token_urlsafe(18)
    async with BlackBoxStandIn() as blackbox:
        with tempfile.TemporaryDirectory(prefix="toolserver-testing-") as data_dir:
            config = load_settings(
                **{
                    "entry_points": False,
                    "auth_disabled": False,
                    **dict(settings or {}),
                    "api_keys": [api_key],
                    "data_dir": Path(data_dir),
                    "blackbox_url": blackbox.base_url,
                    "blackbox_api_key": "bb_" + secrets.token_urlsafe(12),
                    "blackbox_agent_id": _AGENT_ID,
                }
            )
            # Values the environment may set that would change how the harness must call, or
            # (subset endpoints) name plugins these tests do not load.
            isolated: dict[str, Any] = {"signing_secret": None, "blackbox_token": None}
            if "mcp_endpoints" not in (settings or {}):
                isolated["mcp_endpoints"] = {}
            config = config.model_copy(update=isolated)
            server = ToolServer(config, plugins=registry.plugins if registry is not None else [])
            app_server = AppServer(build_app(server))
            await anyio.to_thread.run_sync(app_server.start)
            harness = ToolHarness(app_server, server, api_key, blackbox)
            try:
                yield harness
            finally:
                await harness.aclose()
                await anyio.to_thread.run_sync(app_server.stop)
