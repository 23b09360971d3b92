"""From OpenAPI schema objects to the plain JSON Schema strict clients accept.

An OpenAPI document shares its schemas through ``$ref`` and composes them with ``allOf``, and
OpenAPI 3.0 marks optional values with ``nullable``. The agent config, MCP's ``tools/list`` and
the webhook OpenAPI all print a tool's schema standalone, and some of their readers refuse
``$ref``, ``allOf`` and OpenAPI-only keywords, so every schema is made self-contained here:
references inlined, ``allOf`` of objects merged, ``nullable`` written as a ``null`` type.
"""

from __future__ import annotations

from typing import Any

from toolserver.core.errors import PluginError

__all__ = ["Resolver", "json_schema"]

# OpenAPI-only keywords that mean nothing to a JSON Schema reader (or would mislead it).
_OPENAPI_ONLY = frozenset(
    {
        "xml",
        "externalDocs",
        "discriminator",
        "nullable",
        "example",
        "readOnly",
        "writeOnly",
        "deprecated",
        "title",
        "$schema",
        "$id",
        "x-nullable",
    }
)


class Resolver:
    """Inlines local ``$ref``s of a document; a reference to itself is cut to its type.

    A recursive schema (a tree, a comment with replies) cannot be inlined whole, and a tool's
    arguments rarely need the nesting, so the inner occurrence becomes ``{"type": ...}`` with a
    description saying so.
    """

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.stack: list[str] = []

    def target(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            raise PluginError(f"reference {ref!r} points outside the document; inline it first")
        node: Any = self.document
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise PluginError(f"reference {ref!r} cannot be resolved")
            node = node[part]
        return node

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.resolve(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node and isinstance(node["$ref"], str):
            ref = node["$ref"]
            if ref in self.stack:
                target = self.target(ref)
                kind = target.get("type", "object") if isinstance(target, dict) else "object"
                return {"type": kind, "description": "(nested; the same shape as its parent)"}
            self.stack.append(ref)
            try:
                resolved = self.resolve(self.target(ref))
            finally:
                self.stack.pop()
            siblings = {k: self.resolve(v) for k, v in node.items() if k != "$ref"}
            return {**resolved, **siblings} if isinstance(resolved, dict) else resolved
        return {key: self.resolve(value) for key, value in node.items()}


def json_schema(schema: Any, *, request: bool = True) -> Any:
    """An OpenAPI schema object as plain JSON Schema (references already inlined).

    With ``request`` (the schema describes what the caller sends), ``readOnly`` properties are
    left out: the service sets them, the agent must not be asked for them.
    """
    if not isinstance(schema, dict):
        return schema
    schema = _merge_all_of(schema)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _OPENAPI_ONLY or key.startswith("x-"):
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {
                name: json_schema(sub, request=request)
                for name, sub in value.items()
                if not (request and isinstance(sub, dict) and sub.get("readOnly"))
            }
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = json_schema(value, request=request)
        elif key in ("anyOf", "oneOf", "allOf") and isinstance(value, list):
            out[key] = [json_schema(v, request=request) for v in value]
        else:
            out[key] = value
    if "required" in out and "properties" in out:
        out["required"] = [r for r in out["required"] if r in out["properties"]]
        if not out["required"]:
            del out["required"]
    if "example" in schema and "examples" not in out:
        out["examples"] = [schema["example"]]
    if schema.get("nullable") is True or schema.get("x-nullable") is True:
        # A typed schema gains the null type; an untyped one admits null already.
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


def _merge_all_of(schema: dict[str, Any]) -> dict[str, Any]:
    """``allOf`` of object schemas as one object (strict clients refuse ``allOf``)."""
    parts = schema.get("allOf")
    if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
        return schema
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    properties: dict[str, Any] = dict(merged.get("properties", {}))
    required: list[str] = list(merged.get("required", []))
    for part in (_merge_all_of(p) for p in parts):
        if part.get("type") not in (None, "object") or {"anyOf", "oneOf"} & part.keys():
            return schema  # not a plain intersection of objects: leave it as written
        properties.update(part.get("properties", {}))
        required.extend(r for r in part.get("required", []) if r not in required)
        for key, value in part.items():
            if key not in ("properties", "required", "type"):
                merged.setdefault(key, value)
    if properties:
        merged["type"] = "object"
        merged["properties"] = properties
    if required:
        merged["required"] = required
    return merged
