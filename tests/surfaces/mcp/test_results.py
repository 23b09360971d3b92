"""One result builder for both paths: what :mod:`toolserver.surfaces.mcp.results` relies on.

The fast path sends a plain result (text, ``isError``, ``structuredContent``) and a failure
without passing them through each version's wire schema, and builds the SDK path's
``CallToolResult`` from the same wire form. Both are checked here against the installed SDK, at
every protocol version it speaks, so an SDK upgrade that changes either shows up here first.
"""

from __future__ import annotations

from typing import Any

import pytest
from mcp.server import Server
from mcp_types import methods as wire_methods
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

from toolserver.surfaces.mcp.results import Envelope

VERSIONS = (*HANDSHAKE_PROTOCOL_VERSIONS, *MODERN_PROTOCOL_VERSIONS)
TEXT = [{"text": '{"a": 1}', "type": "text"}]
PLAIN: dict[str, dict[str, Any]] = {
    "text only": {"content": TEXT, "isError": False},
    "structured": {"content": TEXT, "isError": False, "structuredContent": {"a": 1}},
    "wrapped": {"content": TEXT, "isError": False, "structuredContent": {"result": [1, "x", None]}},
    "failure": {"content": [{"text": "It failed.", "type": "text"}], "isError": True},
}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("kind", PLAIN)
def test_a_plain_result_reads_the_same_under_every_versions_schema(kind: str, version: str) -> None:
    envelope = Envelope(Server("results").server_info_stamp)
    unsieved = envelope("tools/call", version, dict(PLAIN[kind]), sieve=False)
    assert unsieved == envelope("tools/call", version, dict(PLAIN[kind]), sieve=True)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("kind", PLAIN)
def test_the_envelope_is_what_the_sdk_sends_for_the_model(kind: str, version: str) -> None:
    """The SDK's runner dumps the handler's ``CallToolResult``, sieves it, and on 2026-07-28
    stamps it; the fast path's envelope gives the same from the wire form."""
    from mcp import types

    server = Server("results")
    model = types.CallToolResult.model_validate(PLAIN[kind])
    dumped = model.model_dump(by_alias=True, mode="json", exclude_none=True)
    expected = wire_methods.serialize_server_result("tools/call", version, dumped)
    if version in MODERN_PROTOCOL_VERSIONS:
        expected["_meta"] = {"io.modelcontextprotocol/serverInfo": server.server_info_stamp}
    assert (
        Envelope(server.server_info_stamp)("tools/call", version, dict(PLAIN[kind]), sieve=False)
        == expected
    )


def test_a_fallback_that_is_not_of_the_return_type_is_sent_as_a_message() -> None:
    from toolserver import Plugin
    from toolserver.core.errors import FailureKind, ToolFailure
    from toolserver.core.executor import ToolResult
    from toolserver.surfaces.mcp.results import tool_result

    plugin = Plugin("stock")

    @plugin.tool(fallback="The stock system is down.")
    def count() -> int:
        """A count."""
        return 1

    @plugin.tool(fallback=0)
    def count_or_zero() -> int:
        """A count."""
        return 1

    failure = ToolFailure(FailureKind.TIMEOUT, "slow")
    message, fitting = plugin.tools
    assert tool_result(ToolResult(message, message.fallback, fallback_for=failure)) == {
        "content": [{"text": "The stock system is down.", "type": "text"}],
        "isError": True,
    }
    assert tool_result(ToolResult(fitting, 0, fallback_for=failure)) == {
        "content": [{"text": "0", "type": "text"}],
        "isError": False,
        "structuredContent": {"result": 0},
    }
