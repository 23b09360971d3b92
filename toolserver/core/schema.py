"""The one JSON Schema generator behind every surface.

MCP's ``tools/list``, the BlackBox agent config (``config.tools[].schema``) and the webhook OpenAPI
all print what :func:`tool_schema` returns, so a tool looks the same to every agent. Schemas are made
for models and strict clients rather than for pydantic round trips:

- self-contained: every ``$ref`` is inlined and ``$defs`` dropped (BlackBox and several MCP clients
  do not resolve references);
- no ``title`` keywords (noise in the model's context);
- an optional parameter whose default is ``None`` is simply not required;
- a value that may be ``null`` is an ``anyOf`` of single-type branches
  (``{"anyOf": [{"type": "string"}, {"type": "null"}]}``), never a ``type`` array such as
  ``["string", "null"]``: clients that map schemas onto a single-``type`` dialect (the OpenAPI
  subset of Gemini function declarations) reject or mangle type arrays, and MCP Inspector's
  strict mode warns about each one. Nested ``anyOf`` lists are flattened into one.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from typing import Any

from pydantic import Field

from toolserver.core.errors import PluginError
from toolserver.core.plugin import Tool

__all__ = ["ToolSchema", "clean_schema", "mcp_header", "output_schema", "tool_schema"]

# Keywords whose value is a map of name -> schema, a single schema, or a list of schemas.
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "dependentSchemas"})
_SCHEMA_SINGLE = frozenset(
    {"items", "additionalProperties", "not", "contains", "propertyNames", "if", "then", "else"}
)
_SCHEMA_LISTS = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})
_DROPPED = frozenset({"title", "$defs", "definitions"})
_NULL = {"type": "null"}


@dataclasses.dataclass(slots=True, frozen=True)
class ToolSchema:
    """A tool as every surface describes it."""

    name: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None


class _Inliner:
    def __init__(self, defs: dict[str, Any]) -> None:
        self.defs = defs
        self.stack: list[str] = []

    def resolve(self, ref: str) -> dict[str, Any]:
        name = ref.rsplit("/", 1)[-1]
        if not ref.startswith("#/") or name not in self.defs:
            raise PluginError(f"schema reference {ref!r} cannot be resolved")
        if name in self.stack:
            raise PluginError(
                f"type {name!r} refers to itself; recursive types cannot be described without "
                "$ref, which BlackBox does not resolve"
            )
        self.stack.append(name)
        try:
            return self.clean(self.defs[name])
        finally:
            self.stack.pop()

    def clean(self, node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        if "$ref" in node:
            out.update(self.resolve(node["$ref"]))
        for key, value in node.items():
            if key in _DROPPED or key == "$ref":
                continue
            if key in _SCHEMA_MAPS and isinstance(value, dict):
                out[key] = {k: self.clean(v) for k, v in value.items()}
            elif key in _SCHEMA_SINGLE and isinstance(value, dict):
                out[key] = self.clean(value)
            elif key in _SCHEMA_LISTS and isinstance(value, list):
                out[key] = [self.clean(v) for v in value]
            else:
                out[key] = value
        return _simplify(out)


def _simplify(node: dict[str, Any]) -> dict[str, Any]:
    """Flatten the shapes pydantic emits for wrappers and nullable values."""
    # allOf with a single member (older pydantic's way of adding a description to a $ref).
    wrapped = node.get("allOf")
    if isinstance(wrapped, list) and len(wrapped) == 1 and isinstance(wrapped[0], dict):
        del node["allOf"]
        node = {**wrapped[0], **node}
    variants = node.get("anyOf")
    if isinstance(variants, list):
        flat: list[Any] = []
        for v in variants:  # nested anyOf inside anyOf is the same set of alternatives
            if isinstance(v, dict) and set(v) == {"anyOf"}:
                flat.extend(v["anyOf"])
            else:
                flat.append(v)
        node["anyOf"] = flat
    kinds = node.get("type")
    if isinstance(kinds, list) and len(kinds) > 1 and "anyOf" not in node:
        node = _split_types(node, kinds)
    return node


# Keywords that belong to the value as a whole, kept beside the anyOf rather than in a branch.
_ANNOTATIONS = frozenset({"description", "default", "examples", "deprecated", "readOnly"})


def _split_types(node: dict[str, Any], kinds: list[Any]) -> dict[str, Any]:
    """A ``type`` array (``["string", "null"]``) as ``anyOf`` branches with one type each; an
    ``enum`` goes to the branches whose type its values have."""
    outer = {k: v for k, v in node.items() if k in _ANNOTATIONS}
    inner = {k: v for k, v in node.items() if k not in _ANNOTATIONS and k != "type"}
    branches = []
    for kind in kinds:
        if kind == "null":
            branches.append(dict(_NULL))
            continue
        branch = {"type": kind, **inner}
        if "enum" in branch:
            branch["enum"] = [value for value in branch["enum"] if value is not None]
        branches.append(branch)
    return {**outer, "anyOf": branches}


def _drop_none_defaults(schema: dict[str, Any]) -> None:
    """A parameter that defaults to None is optional; say so by omission, not by ``null``."""
    required = set(schema.get("required", ()))
    for name, prop in schema.get("properties", {}).items():
        if name in required or prop.get("default", ...) is not None:
            continue
        del prop["default"]
        kind = prop.get("type")
        if isinstance(kind, list) and "null" in kind:
            kinds = [k for k in kind if k != "null"]
            prop["type"] = kinds[0] if len(kinds) == 1 else kinds
            if "enum" in prop:
                prop["enum"] = [e for e in prop["enum"] if e is not None]
        elif isinstance(prop.get("anyOf"), list) and _NULL in prop["anyOf"]:
            rest = [v for v in prop["anyOf"] if v != _NULL]
            if len(rest) == 1:
                del prop["anyOf"]
                prop.update({k: v for k, v in rest[0].items() if k not in prop})
            else:
                prop["anyOf"] = rest


def clean_schema(raw: dict[str, Any], *, drop_none_defaults: bool = True) -> dict[str, Any]:
    """A pydantic JSON Schema made self-contained and free of noise (see the module doc).

    ``drop_none_defaults`` is for schemas of what a caller sends (an omitted value is None); the
    schema of a result must keep ``null``, which the serialised value may hold.
    """
    defs = {**raw.get("definitions", {}), **raw.get("$defs", {})}
    cleaned = _Inliner(defs).clean(raw)
    if drop_none_defaults and cleaned.get("type") == "object":
        _drop_none_defaults(cleaned)
        for prop in cleaned.get("properties", {}).values():
            if prop.get("type") == "object":
                _drop_none_defaults(prop)
    return cleaned


def input_schema(tool: Tool) -> dict[str, Any]:
    raw = tool.signature.arguments_model.model_json_schema(by_alias=True, mode="validation")
    schema = clean_schema(raw)
    schema.pop("description", None)
    schema.setdefault("properties", {})
    if not schema.get("required"):
        schema.pop("required", None)
    return {"type": "object", **{k: v for k, v in schema.items() if k != "type"}}


def output_schema(tool: Tool) -> dict[str, Any] | None:
    """The schema of what the tool returns, or None when its return type is not annotated."""
    adapter = tool.signature.output_adapter
    if adapter is None:
        return None
    return clean_schema(adapter.json_schema(mode="serialization"), drop_none_defaults=False)


@functools.lru_cache(maxsize=None)
def tool_schema(tool: Tool) -> ToolSchema:
    """Describe ``tool`` for every surface (cached: tools are immutable once registered).

    A tool declared with its own ``input_schema`` publishes that one, as written.
    """
    return ToolSchema(
        name=tool.name,
        description=tool.description,
        input_schema=dict(tool.input_schema) if tool.input_schema else input_schema(tool),
        output_schema=output_schema(tool),
    )


# RFC 9110 token characters: what an HTTP header name may hold.
_HEADER_TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")


def mcp_header(name: str, **field: Any) -> Any:
    """Mirror a parameter into the HTTP header ``Mcp-Param-<name>`` (MCP SEP-2243).

    Clients of the 2026-07-28 protocol send the argument's value in that header too, so that a
    gateway or load balancer can route on it without reading the body; the server checks that the
    header and the body agree. Only for ``str``, ``int`` and ``bool`` parameters::

        async def forecast(region: Annotated[str, mcp_header("Region")], day: str) -> Forecast:

    ``field`` takes what ``pydantic.Field`` takes (``description=...``).
    """
    if not _HEADER_TOKEN.match(name):
        raise PluginError(
            f"mcp_header({name!r}): a header name is letters, digits and !#$%&'*+.^_`|~- only"
        )
    extra = dict(field.pop("json_schema_extra", None) or {})
    extra["x-mcp-header"] = name
    return Field(json_schema_extra=extra, **field)
