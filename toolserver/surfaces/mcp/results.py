"""How a tool and its outcomes look in MCP: the ``tools/list`` entry and the ``tools/call`` result.

Everything here is derived from the shared schema (:func:`toolserver.core.schema.tool_schema`)
and the executor's :class:`~toolserver.core.executor.ToolResult` /
:class:`~toolserver.core.errors.ToolFailure`, so a tool reads the same over MCP as over webhooks.

Results, as the MCP specification (2025-11-25, server/tools, "Structured Content" and "Output
Schema") asks:

- ``content`` always holds one text block with the JSON text of the result: the same bytes a
  webhook answers with, for clients (and models) that read only text;
- ``structuredContent`` is added when the tool declares a return type. Up to 2025-11-25 both
  ``outputSchema`` and ``structuredContent`` must be JSON objects, so a tool returning anything
  else (a string, a list, an optional model) is described as
  ``{"type": "object", "properties": {"result": <schema>}, "required": ["result"]}`` and its
  value sent as ``{"result": <value>}``. The same shape is used for every protocol version, so a
  client sees one schema whichever version it negotiated.

Failures are :func:`tool_failure`: ``isError: true`` with the agent-facing message as the only
text, never ``structuredContent`` (which would have to match the output schema).

Content escape hatch: a tool whose declared return type is MCP content (``mcp.types.TextContent``,
``ImageContent``, ``AudioContent``, ``EmbeddedResource``, ``ResourceLink``, a union of them, or a
list of those) has its result sent as those content blocks, without ``outputSchema`` or
``structuredContent``. It is keyed on the declared type, never on the shape of a value, so no
ordinary result is ever mistaken for content. Only MCP clients can show an image or play audio;
over webhooks such a tool answers with the JSON form of its blocks.

One builder for both ways a call is answered. :func:`tool_result` and :func:`tool_failure` build
an outcome once, in its wire form (the JSON the client reads), which is the same for every
protocol version. The SDK path hands the SDK a ``CallToolResult`` made from it
(:func:`call_result`, :func:`failure_result`) and the SDK's server shapes that for the request's
version; the fast path (:mod:`.fastpath`) writes it itself, through :class:`Envelope`, the one
place here that knows what the versions change:

- the SDK passes every result through the version's wire schema
  (:func:`mcp_types.methods.serialize_server_result`), which drops what that version does not
  know. A plain result -- one text block, ``isError``, ``structuredContent`` -- reads the same
  under every version's schema (``tests/surfaces/mcp/test_results.py`` checks it for each
  version the SDK speaks), so only content blocks (:func:`varies_by_version`) and listings are
  passed through it here: validating and re-dumping a model per call is what made the SDK path
  slow;
- on 2026-07-28 a result says ``resultType: "complete"`` and carries the server's ``serverInfo``
  in ``_meta``.
"""

from __future__ import annotations

import functools
import types as pytypes
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from mcp import types
from mcp_types import SERVER_INFO_META_KEY
from mcp_types import methods as wire_methods
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import TypeAdapter

from toolserver.core.errors import ToolFailure
from toolserver.core.executor import ToolResult
from toolserver.core.plugin import Tool
from toolserver.core.schema import tool_schema

__all__ = [
    "Envelope", "call_result", "failure_result", "listed_tool", "returns_content", "tool_failure",
    "tool_result", "varies_by_version",
]  # fmt: skip

RESULT_KEY = "result"
_CONTENT_TYPES: tuple[type, ...] = typing.get_args(types.ContentBlock)
_CONTENT_LIST: TypeAdapter[list[types.ContentBlock]] = TypeAdapter(list[types.ContentBlock])
_SEQUENCES = (list, tuple, Sequence)
# What a tool's successful result holds besides its text (see _shape).
_CONTENT, _TEXT_ONLY, _STRUCTURED, _WRAPPED = range(4)


def _is_content_type(annotation: Any) -> bool:
    if typing.get_origin(annotation) is typing.Annotated:
        return _is_content_type(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, pytypes.UnionType):
        return all(_is_content_type(member) for member in typing.get_args(annotation))
    return isinstance(annotation, type) and issubclass(annotation, _CONTENT_TYPES)


@functools.cache
def returns_content(tool: Tool) -> bool:
    """Whether the tool declares MCP content as its return type (the escape hatch)."""
    output = tool.signature.output_type
    if output is None:
        return False
    if typing.get_origin(output) in _SEQUENCES:
        args = typing.get_args(output)
        return bool(args) and _is_content_type(args[0])
    return _is_content_type(output)


def _wraps_output(schema: dict[str, Any] | None) -> bool:
    return schema is not None and schema.get("type") != "object"


@functools.cache
def output_schema(tool: Tool) -> dict[str, Any] | None:
    """The tool's ``outputSchema`` for MCP: the shared one, wrapped when it is not an object."""
    if returns_content(tool):
        return None
    schema = tool_schema(tool).output_schema
    if schema is None or not _wraps_output(schema):
        return schema
    return {"type": "object", "properties": {RESULT_KEY: schema}, "required": [RESULT_KEY]}


def _annotations(tool: Tool) -> types.ToolAnnotations | None:
    """Hints from what the plugin declared; nothing is claimed about undeclared tools."""
    if tool.side_effects:
        return types.ToolAnnotations(read_only_hint=False, idempotent_hint=False)
    if tool.idempotent:
        return types.ToolAnnotations(read_only_hint=False, idempotent_hint=True)
    return None


@functools.cache
def listed_tool(tool: Tool) -> types.Tool:
    """The ``tools/list`` entry of ``tool`` (cached: tools do not change while serving)."""
    schema = tool_schema(tool)
    return types.Tool(
        name=tool.name,
        description=schema.description,
        input_schema=schema.input_schema,
        output_schema=output_schema(tool),
        annotations=_annotations(tool),
    )


@functools.cache
def _shape(tool: Tool) -> int:
    """What the tool's results hold: content blocks, or text with or without structured content."""
    if returns_content(tool):
        return _CONTENT
    schema = tool_schema(tool).output_schema
    if schema is None:
        return _TEXT_ONLY
    return _WRAPPED if _wraps_output(schema) else _STRUCTURED


def varies_by_version(tool: Tool) -> bool:
    """Whether the tool's results must pass through each version's wire schema (content blocks)."""
    return _shape(tool) == _CONTENT


def tool_result(result: ToolResult) -> dict[str, Any]:
    """A successful call on the wire: its text, and ``structuredContent`` where a schema says so.

    A tool's fallback answer that is not a value of its return type cannot be structured content
    (it would break the output schema): it is sent as a message, ``isError`` true, which is what
    it is -- the tool failed, and this is what the agent should say.
    """
    if result.fallback_for is not None and not result.tool.fallback_fits:
        value = result.value
        text = value if isinstance(value, str) else result.json().decode()
        return {"content": [{"text": text, "type": "text"}], "isError": True}
    shape = _shape(result.tool)
    if shape == _CONTENT:
        value = result.value if isinstance(result.value, list) else [result.value]
        blocks = _CONTENT_LIST.validate_python(value)
        content = _CONTENT_LIST.dump_python(blocks, by_alias=True, mode="json", exclude_none=True)
        return {"content": content, "isError": False}
    wire: dict[str, Any] = {
        "content": [{"text": result.json().decode(), "type": "text"}],
        "isError": False,
    }
    if shape == _STRUCTURED:
        wire["structuredContent"] = result.value
    elif shape == _WRAPPED:
        wire["structuredContent"] = {RESULT_KEY: result.value}
    return wire


def tool_failure(failure: ToolFailure) -> dict[str, Any]:
    """A failed call on the wire: ``isError`` with the message for the model, nothing else."""
    return {"content": [{"text": failure.message, "type": "text"}], "isError": True}


def call_result(result: ToolResult) -> types.CallToolResult:
    """:func:`tool_result` as the SDK's model, for the SDK path."""
    return types.CallToolResult.model_validate(tool_result(result))


def failure_result(failure: ToolFailure) -> types.CallToolResult:
    """:func:`tool_failure` as the SDK's model, for the SDK path."""
    return types.CallToolResult.model_validate(tool_failure(failure))


class Envelope:
    """A result as the SDK's server sends it for a protocol version: the steps its runner applies
    to a handler's result (sieve, ``resultType``, the ``serverInfo`` stamp), for the fast path.

    Cache hints are not applied: the fast path is off for a server that has any. The results it
    is given carry no ``_meta`` or ``resultType`` of their own.

    Args:
        stamp: the server's ``serverInfo`` stamp (``Server.server_info_stamp``).
    """

    def __init__(self, stamp: Mapping[str, Any]) -> None:
        self.meta = {SERVER_INFO_META_KEY: dict(stamp)}

    def __call__(
        self, method: str, version: str, result: dict[str, Any], *, sieve: bool = True
    ) -> dict[str, Any]:
        """``result`` (owned by the caller, and changed) for ``version``.

        ``sieve=False`` skips the version's wire schema, for a result that reads the same under
        every version's (a plain call result, a failure; see the module docstring).
        """
        modern = version in MODERN_PROTOCOL_VERSIONS
        if modern:
            result["resultType"] = "complete"  # required on 2026-07-28, before the sieve too
        if sieve:
            result = wire_methods.serialize_server_result(method, version, result)
        if modern:
            result["_meta"] = self.meta
        return result
