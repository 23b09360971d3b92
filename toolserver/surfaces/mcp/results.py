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

Failures are :func:`failure_result`: ``isError: true`` with the agent-facing message as the only
text, never ``structuredContent`` (which would have to match the output schema).

Content escape hatch: a tool whose declared return type is MCP content (``mcp.types.TextContent``,
``ImageContent``, ``AudioContent``, ``EmbeddedResource``, ``ResourceLink``, a union of them, or a
list of those) has its result sent as those content blocks, without ``outputSchema`` or
``structuredContent``. It is keyed on the declared type, never on the shape of a value, so no
ordinary result is ever mistaken for content. Only MCP clients can show an image or play audio;
over webhooks such a tool answers with the JSON form of its blocks.
"""

from __future__ import annotations

import functools
import types as pytypes
import typing
from collections.abc import Sequence
from typing import Any

from mcp import types
from pydantic import TypeAdapter

from toolserver.core.errors import ToolFailure
from toolserver.core.executor import ToolResult
from toolserver.core.plugin import Tool
from toolserver.core.schema import tool_schema

__all__ = ["call_result", "failure_result", "listed_tool", "returns_content"]

RESULT_KEY = "result"
_CONTENT_TYPES: tuple[type, ...] = typing.get_args(types.ContentBlock)
_CONTENT_LIST: TypeAdapter[list[types.ContentBlock]] = TypeAdapter(list[types.ContentBlock])
_SEQUENCES = (list, tuple, Sequence)


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


def call_result(result: ToolResult) -> types.CallToolResult:
    """A successful call as MCP content, with ``structuredContent`` where a schema promises it."""
    tool = result.tool
    if returns_content(tool):
        value = result.value if isinstance(result.value, list) else [result.value]
        return types.CallToolResult(content=_CONTENT_LIST.validate_python(value))
    text = types.TextContent(text=result.json().decode())
    shared = tool_schema(tool).output_schema
    if shared is None:
        return types.CallToolResult(content=[text])
    structured = {RESULT_KEY: result.value} if _wraps_output(shared) else result.value
    return types.CallToolResult(content=[text], structured_content=structured)


def failure_result(failure: ToolFailure) -> types.CallToolResult:
    """A failed call: ``isError`` with the message written for the model, and nothing else."""
    return types.CallToolResult(content=[types.TextContent(text=failure.message)], is_error=True)
