"""The OpenAPI bridge against a real local REST service, over every surface.

The service is the example's repair desk (``examples/openapi_bridge/service.py``), served on a
free port with its own OpenAPI document; the bridge reads that document over HTTP, and each test
drives the resulting tools through the webhook, MCP (``/mcp`` and ``/sse``) and a BlackBox
WebSocket session, then looks at what reached the service.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from toolserver.bridges.openapi import build_request, openapi_plugin, read_operations
from toolserver.core.errors import FailureKind, PluginError, ToolFailure
from toolserver.core.schema import tool_schema
from toolserver.testing import (
    SURFACES,
    AppServer,
    ToolHarness,
    call_tool,
    load_plugin,
    serve_app,
    serve_plugins,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "openapi_bridge"
ALL_TOOLS = {
    "listTickets",
    "createTicket",
    "getTicket",
    "updateTicket",
    "cancelTicket",
    "addParts",
    "stock_check",
    "slowReport",
    "failingReport",
}
TIMEOUT = 1.0

pytestmark = pytest.mark.anyio


def _service_module() -> Any:
    spec = importlib.util.spec_from_file_location("repair_desk_service", EXAMPLE / "service.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the models' annotations through it
    spec.loader.exec_module(module)
    return module


service_module = _service_module()


@pytest.fixture(scope="module")
def service() -> Iterator[AppServer]:
    with serve_app(service_module.create_app()) as app:
        yield app


@pytest.fixture
def requests(service: AppServer) -> list[dict[str, Any]]:
    """What reached the service during this test."""
    received = service.app.state.requests
    received.clear()
    return received


@pytest.fixture(scope="module")
def bridge(service: AppServer) -> Any:
    return openapi_plugin(
        "repairs",
        f"{service.base_url}/openapi.json",
        headers={"Authorization": "Bearer desk-token-51"},
        timeout=TIMEOUT,
    )


@pytest.fixture(scope="module")
async def harness(bridge: Any) -> AsyncIterator[ToolHarness]:
    async with serve_plugins(bridge) as server:
        yield server


def only(requests: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(requests) == 1, requests
    return requests[0]


# -- the tools -----------------------------------------------------------------------------------


def test_every_operation_is_a_tool(bridge: Any) -> None:
    assert {tool.name for tool in bridge.tools} == ALL_TOOLS
    assert len(read_operations(json.loads((EXAMPLE / "openapi.json").read_text()))) == 9


def test_the_shipped_document_is_the_services_own() -> None:
    shipped = json.loads((EXAMPLE / "openapi.json").read_text())
    assert shipped == json.loads(json.dumps(service_module.create_app().openapi()))


def test_schemas_come_from_the_document(bridge: Any) -> None:
    tools = {tool.name: tool for tool in bridge.tools}
    listing = tool_schema(tools["listTickets"])
    assert listing.description.startswith("List repair tickets")
    assert listing.input_schema["properties"]["limit"] == {
        "default": 10,
        "description": "At most this many tickets.",
        "maximum": 50,
        "minimum": 1,
        "type": "integer",
    }
    assert "required" not in listing.input_schema
    create = tool_schema(tools["createTicket"]).input_schema
    assert create["required"] == ["customer_name", "phone", "bike", "problem"]
    assert create["properties"]["priority"]["enum"] == ["low", "normal", "urgent"]
    assert create["additionalProperties"] is False
    stock = tool_schema(tools["stock_check"]).input_schema
    assert set(stock["properties"]) == {"sku", "X_Store"}
    parts = tool_schema(tools["addParts"]).input_schema
    assert parts["properties"]["body"]["type"] == "array"
    for tool in bridge.tools:
        assert "$ref" not in json.dumps(tool_schema(tool).input_schema)


def test_http_methods_set_the_idempotency_markers(bridge: Any) -> None:
    marks = {t.name: (t.side_effects, t.idempotent) for t in bridge.tools}
    assert marks["createTicket"] == marks["updateTicket"] == marks["addParts"] == (True, False)
    assert marks["cancelTicket"] == (False, True)
    assert marks["getTicket"] == marks["listTickets"] == (False, False)
    assert {t.name: t.timeout for t in bridge.tools} == dict.fromkeys(ALL_TOOLS, TIMEOUT)


def test_check_is_clean_on_the_bridge(bridge: Any) -> None:
    from toolserver.devtools.check import check_plugins

    assert check_plugins([bridge], settings=False) == []


# -- every surface -------------------------------------------------------------------------------


async def test_all_surfaces_are_served(harness: ToolHarness) -> None:
    assert harness.surfaces == SURFACES
    assert set(await harness.tool_names("mcp")) == ALL_TOOLS


@pytest.mark.parametrize("surface", SURFACES)
async def test_path_parameters_land_in_the_path(
    harness: ToolHarness, requests: list[dict[str, Any]], surface: str
) -> None:
    outcome = await harness.call(surface, "getTicket", {"ticket_id": 2})  # type: ignore[arg-type]
    assert outcome.ok, outcome.error
    assert outcome.value["customer_name"] == "Alan Turing"
    sent = only(requests)
    assert (sent["method"], sent["path"], sent["query"]) == ("GET", "/tickets/2", [])
    assert sent["headers"]["authorization"] == "Bearer desk-token-51"


@pytest.mark.parametrize("surface", SURFACES)
async def test_query_parameters_land_in_the_query(
    harness: ToolHarness, requests: list[dict[str, Any]], surface: str
) -> None:
    arguments = {"status": "ready", "limit": 5, "bike": ["Brompton C Line", "Trek FX 2"]}
    outcome = await harness.call(surface, "listTickets", arguments)  # type: ignore[arg-type]
    assert outcome.ok, outcome.error
    assert [t["customer_name"] for t in outcome.value] == ["Alan Turing"]
    sent = only(requests)
    assert sent["path"] == "/tickets"
    assert sent["query"] == [
        ("status", "ready"),
        ("limit", "5"),
        ("bike", "Brompton C Line"),
        ("bike", "Trek FX 2"),
    ]


@pytest.mark.parametrize("surface", SURFACES)
async def test_body_parameters_land_in_the_json_body(
    harness: ToolHarness, requests: list[dict[str, Any]], surface: str
) -> None:
    arguments = {
        "customer_name": f"Caller via {surface}",
        "phone": "+1 555 0199",
        "bike": "Surly Long Haul Trucker",
        "problem": "Wobbly wheel",
    }
    outcome = await harness.call(surface, "createTicket", arguments)  # type: ignore[arg-type]
    assert outcome.ok, outcome.error
    assert outcome.value["status"] == "open" and outcome.value["priority"] == "normal"
    sent = only(requests)
    assert (sent["method"], sent["path"]) == ("POST", "/tickets")
    assert sent["headers"]["content-type"] == "application/json"
    assert json.loads(sent["body"]) == arguments


@pytest.mark.parametrize("surface", SURFACES)
async def test_path_and_body_together(
    harness: ToolHarness, requests: list[dict[str, Any]], surface: str
) -> None:
    outcome = await harness.call(
        surface,  # type: ignore[arg-type]
        "updateTicket",
        {"ticket_id": 3, "note": f"checked over {surface}"},
    )
    assert outcome.ok, outcome.error
    assert f"checked over {surface}" in outcome.value["notes"]
    sent = only(requests)
    assert (sent["method"], sent["path"]) == ("PATCH", "/tickets/3")
    assert json.loads(sent["body"]) == {"note": f"checked over {surface}"}


@pytest.mark.parametrize("surface", SURFACES)
async def test_a_whole_body_argument_and_a_header_parameter(
    harness: ToolHarness, requests: list[dict[str, Any]], surface: str
) -> None:
    parts = await harness.call(
        surface,
        "addParts",
        {"ticket_id": 1, "body": ["BRK-PAD-01"]},  # type: ignore[arg-type]
    )
    assert parts.ok, parts.error
    assert "BRK-PAD-01" in parts.value["parts"]
    assert json.loads(only(requests)["body"]) == ["BRK-PAD-01"]
    requests.clear()
    stock = await harness.call(
        surface,
        "stock_check",
        {"sku": "TUBE-700C", "X_Store": "hill"},  # type: ignore[arg-type]
    )
    assert stock.value == {"sku": "TUBE-700C", "store": "hill", "on_hand": 4}
    sent = only(requests)
    assert sent["path"] == "/stock/TUBE-700C" and sent["headers"]["x-store"] == "hill"


@pytest.mark.parametrize("surface", SURFACES)
async def test_a_404_is_a_readable_tool_error(harness: ToolHarness, surface: str) -> None:
    outcome = await harness.call(surface, "getTicket", {"ticket_id": 999})  # type: ignore[arg-type]
    assert not outcome.ok
    assert outcome.message == (
        "Harbor Cycles repair desk could not do that (404 Not Found): There is no repair ticket "
        "999. Check the details with the caller before trying again."
    )
    if surface != "mcp" and surface != "sse":
        assert outcome.error["type"] == "tool_error"  # type: ignore[index]


@pytest.mark.parametrize("surface", SURFACES)
async def test_a_422_says_which_field(harness: ToolHarness, surface: str) -> None:
    arguments = {"customer_name": "", "phone": "1", "bike": "x", "problem": "y"}
    outcome = await harness.call(surface, "createTicket", arguments)  # type: ignore[arg-type]
    assert not outcome.ok
    assert "(422 Unprocessable Content)" in (
        outcome.message or ""
    ) or "(422 Unprocessable Entity)" in (outcome.message or "")
    assert "customer_name: String should have at least 1 character" in (outcome.message or "")


@pytest.mark.parametrize("surface", SURFACES)
async def test_a_500_is_a_readable_tool_error(harness: ToolHarness, surface: str) -> None:
    outcome = await harness.call(surface, "failingReport")  # type: ignore[arg-type]
    assert outcome.message == (
        "Harbor Cycles repair desk failed (500 Internal Server Error): The report database is "
        "unavailable. Try again in a moment, or continue without it."
    )


@pytest.mark.parametrize("surface", SURFACES)
async def test_a_slow_service_hits_the_tools_timeout(harness: ToolHarness, surface: str) -> None:
    outcome = await harness.call(surface, "slowReport", {"seconds": 30})  # type: ignore[arg-type]
    assert not outcome.ok
    assert outcome.message is not None
    assert outcome.message.startswith("The slowReport tool did not answer within 1 seconds.")
    if surface in ("webhook", "websocket"):
        assert outcome.error["type"] == "timeout"  # type: ignore[index]


async def test_a_delete_with_no_content(
    harness: ToolHarness, requests: list[dict[str, Any]]
) -> None:
    created = await harness.call_webhook(
        "createTicket", {"customer_name": "Temp", "phone": "1", "bike": "x", "problem": "y"}
    )
    outcome = await harness.call_webhook("cancelTicket", {"ticket_id": created.value["id"]})
    assert outcome.value == {"ok": True, "status": 204}
    assert requests[-1]["method"] == "DELETE"


async def test_invalid_arguments_never_reach_the_service(
    harness: ToolHarness, requests: list[dict[str, Any]]
) -> None:
    outcome = await harness.call_webhook("getTicket", {"ticket_id": "two"})
    assert outcome.error["type"] == "invalid_arguments"  # type: ignore[index]
    outcome = await harness.call_webhook("listTickets", {"status": "lost"})
    assert outcome.error["type"] == "invalid_arguments"  # type: ignore[index]
    assert requests == []


async def test_the_credentials_never_reach_the_log(harness: ToolHarness) -> None:
    assert "Bearer desk-token-51" in harness.server.secret_values()


# -- configuration -------------------------------------------------------------------------------


async def test_settings_from_the_environment(
    service: AppServer, requests: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOOLSERVER_PLUGIN_DESK_SPEC", str(EXAMPLE / "openapi.json"))
    monkeypatch.setenv("TOOLSERVER_PLUGIN_DESK_BASE_URL", service.base_url)
    monkeypatch.setenv("TOOLSERVER_PLUGIN_DESK_TAGS", "stock")
    monkeypatch.setenv("TOOLSERVER_PLUGIN_DESK_OPERATIONS", "getTicket")
    monkeypatch.setenv("TOOLSERVER_PLUGIN_DESK_HEADERS", '{"X-Api-Key": "env-secret-77"}')
    monkeypatch.setenv("TOOLSERVER_PLUGIN_DESK_TOOL_PREFIX", "desk_")
    monkeypatch.setenv("TOOLSERVER_PLUGIN_DESK_TIMEOUT", "3")
    plugin = openapi_plugin("desk")
    assert [t.name for t in plugin.tools] == ["desk_getTicket", "desk_stock_check"]
    assert {t.timeout for t in plugin.tools} == {3.0}
    assert "env-secret-77" not in repr(plugin.settings)
    result = await call_tool(plugin, "desk_stock_check", {"sku": "BRK-PAD-01"})
    assert result == {"sku": "BRK-PAD-01", "store": "harbor", "on_hand": 12}
    assert only(requests)["headers"]["x-api-key"] == "env-secret-77"


async def test_the_example_plugin_file(service: AppServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLSERVER_PLUGIN_REPAIRS_SPEC", f"{service.base_url}/openapi.json")
    monkeypatch.setenv("TOOLSERVER_PLUGIN_REPAIRS_OPERATIONS", "getTicket,listTickets")
    registry = load_plugin(EXAMPLE / "repairs.py")
    assert registry.names == ["listTickets", "getTicket"]
    ticket = await call_tool(registry, "getTicket", {"ticket_id": 1})
    assert ticket["customer_name"] == "Ada Lovelace"


def test_choosing_by_tag_or_operation(service: AppServer) -> None:
    spec = f"{service.base_url}/openapi.json"
    by_tag = openapi_plugin("a", spec, tags=["diagnostics"])
    assert [t.name for t in by_tag.tools] == ["slowReport", "failingReport"]
    by_id = openapi_plugin("b", spec, operations=["stock.check", "getTicket"])
    assert [t.name for t in by_id.tools] == ["getTicket", "stock_check"]
    by_tool_name = openapi_plugin("c", spec, operations=["stock_check"])
    assert [t.name for t in by_tool_name.tools] == ["stock_check"]


def test_configuration_mistakes_stop_the_start_with_the_reason(
    service: AppServer, tmp_path: Path
) -> None:
    spec = f"{service.base_url}/openapi.json"
    with pytest.raises(PluginError, match="no operation 'getTickets'.*getTicket"):
        openapi_plugin("x", spec, operations=["getTickets"])
    with pytest.raises(PluginError, match="no operation has the tag.*'billing'.*tickets"):
        openapi_plugin("x", spec, tags=["billing"])
    with pytest.raises(PluginError, match="TOOLSERVER_PLUGIN_NODOC_SPEC"):
        openapi_plugin("nodoc")
    with pytest.raises(PluginError, match="cannot read the OpenAPI document"):
        openapi_plugin("x", tmp_path / "missing.json", "http://127.0.0.1:1")
    swagger = tmp_path / "swagger.json"
    swagger.write_text('{"swagger": "2.0", "paths": {}}')
    with pytest.raises(PluginError, match="not OpenAPI 3 .*swagger 2.0"):
        openapi_plugin("x", swagger, "http://127.0.0.1:1")
    with pytest.raises(PluginError, match="HTTP 404"):
        openapi_plugin("x", f"{service.base_url}/nope.json")
    with pytest.raises(PluginError, match="needs the API's base URL"):
        openapi_plugin("x", EXAMPLE / "openapi.json")  # servers[0] is relative, no URL to join


async def test_an_unreachable_service_is_a_tool_error() -> None:
    plugin = openapi_plugin("gone", EXAMPLE / "openapi.json", "http://127.0.0.1:9", timeout=2)
    with pytest.raises(ToolFailure) as failure:
        await call_tool(plugin, "getTicket", {"ticket_id": 1})
    assert failure.value.kind is FailureKind.TOOL_ERROR
    assert failure.value.message == (
        "Harbor Cycles repair desk cannot be reached right now. Continue without it, or try "
        "again later."
    )


# -- reading documents ---------------------------------------------------------------------------

HAND_WRITTEN: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Hand-written", "version": "1"},
    "servers": [
        {"url": "https://{region}.example.com/v1", "variables": {"region": {"default": "eu"}}}
    ],
    "paths": {
        "/orders/{order-id}": {
            "parameters": [{"$ref": "#/components/parameters/OrderId"}],
            "get": {
                "parameters": [
                    {"name": "X-Request-Id", "in": "header", "schema": {"type": "string"}},
                    {
                        "name": "expand",
                        "in": "query",
                        "style": "form",
                        "explode": False,
                        "schema": {"type": "array", "items": {"type": "string"}},
                    },
                    {
                        "name": "filter",
                        "in": "query",
                        "style": "deepObject",
                        "schema": {"type": "object"},
                    },
                    {"name": "session", "in": "cookie", "schema": {"type": "string"}},
                ],
            },
            "put": {
                "operationId": "replace order!",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Order"}}
                    },
                },
            },
        },
        "/forms": {
            "post": {
                "operationId": "submitForm",
                "requestBody": {
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {"type": "object", "properties": {"name": {"type": "string"}}}
                        }
                    }
                },
            }
        },
        "/upload": {
            "post": {
                "operationId": "upload",
                "requestBody": {"content": {"application/octet-stream": {"schema": {}}}},
            }
        },
    },
    "components": {
        "parameters": {
            "OrderId": {
                "name": "order-id",
                "in": "path",
                "required": True,
                "description": "The order.",
                "schema": {"type": "string"},
            },
        },
        "schemas": {
            "Base": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "readOnly": True},
                    "note": {"type": "string", "nullable": True},
                },
            },
            "Order": {
                "allOf": [
                    {"$ref": "#/components/schemas/Base"},
                    {
                        "type": "object",
                        "required": ["lines"],
                        "properties": {
                            "lines": {
                                "type": "array",
                                "items": {"$ref": "#/components/schemas/Line"},
                            }
                        },
                    },
                ]
            },
            "Line": {
                "type": "object",
                "properties": {
                    "sku": {"type": "string"},
                    "parent": {"$ref": "#/components/schemas/Line"},
                },
            },
        },
    },
}


def test_names_arguments_and_refs_of_a_hand_written_document() -> None:
    operations = {op.tool_name: op for op in read_operations(HAND_WRITTEN)}
    assert set(operations) == {"get_orders_order_id", "replace_order", "submitForm", "upload"}
    get = operations["get_orders_order_id"]
    assert [(p.argument, p.location, p.wire_name) for p in get.parameters] == [
        ("order_id", "path", "order-id"),
        ("X_Request_Id", "header", "X-Request-Id"),
        ("expand", "query", "expand"),
        ("filter", "query", "filter"),
        ("session", "cookie", "session"),
    ]
    put = operations["replace_order"]
    body = {p.argument: p for p in put.parameters if p.location == "body"}
    assert set(body) == {"note", "lines"}  # allOf merged, the readOnly id left out
    assert body["lines"].required and not body["note"].required
    assert body["note"].schema["type"] == ["string", "null"]
    assert body["lines"].schema["items"]["properties"]["parent"]["type"] == "object"  # cut cycle
    assert operations["upload"].unsupported is not None


def test_requests_place_every_argument() -> None:
    get = next(op for op in read_operations(HAND_WRITTEN) if op.method == "get")
    request = build_request(
        get,
        {
            "order_id": "A/7",
            "X_Request_Id": "r1",
            "expand": ["lines", "customer"],
            "filter": {"state": "open"},
            "session": "s 1",
        },
    )
    assert request.url == "/orders/A%2F7"
    assert request.params == [("expand", "lines,customer"), ("filter[state]", "open")]
    assert request.headers["X-Request-Id"] == "r1"
    assert request.headers["Cookie"] == "session=s%201"
    form = next(op for op in read_operations(HAND_WRITTEN) if op.tool_name == "submitForm")
    request = build_request(form, {"name": "Ada"})
    assert request.data == {"name": "Ada"} and request.json is None


def test_unsupported_operations_are_skipped_unless_named() -> None:
    plugin = openapi_plugin("hand", HAND_WRITTEN)
    assert "upload" not in {t.name for t in plugin.tools}
    with pytest.raises(PluginError, match="cannot be served: its request body"):
        openapi_plugin("hand2", HAND_WRITTEN, operations=["upload"])


def test_server_variables_give_the_base_url() -> None:
    plugin = openapi_plugin("hand3", HAND_WRITTEN)
    assert plugin.description == "Hand-written"
    tool = next(t for t in plugin.tools if t.name == "get_orders_order_id")
    assert tool_schema(tool).description == "Calls GET /orders/{order-id} on Hand-written."


def test_long_and_clashing_names_stay_valid_and_stable() -> None:
    document = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/a": {"get": {"operationId": "x" * 80}, "post": {"operationId": "dup"}},
            "/b": {"post": {"operationId": "dup"}},
        },
    }
    names = [op.tool_name for op in read_operations(document)]
    assert all(len(n) <= 64 for n in names)
    assert names[1] == "dup" and names[2].startswith("dup_") and len(set(names)) == 3
    assert names == [op.tool_name for op in read_operations(document)]
