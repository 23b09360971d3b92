"""Schema portability: the rules MCP Inspector's strict mode (``--cli --strict``) applies to a
tool's input and output schemas, so that ``toolserver check`` reports what an Inspector run would.

Every subschema is visited (properties, items, combinator branches, ``$defs``, conditionals):

- ``type-union`` (warning): ``type`` is an array (``["string", "null"]``). Legal JSON Schema, but a
  client that maps schemas onto a single-``type`` dialect (Gemini's OpenAPI subset) rejects the
  tool or drops the constraint; an ``anyOf`` of single-type branches says the same portably;
- ``boolean-schema`` (error): a bare ``true``/``false`` where a schema object is expected
  (``additionalProperties: false`` and its kin are fine);
- ``remote-ref`` (warning): a ``$ref`` outside the document, which no client fetches;
- ``untyped-schema`` (warning): a subschema with no validation keyword at all (``{}``, or only a
  description), which accepts any value.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["Lint", "lint_schema"]

_BOOLEAN_VALUED = frozenset(
    {"additionalProperties", "unevaluatedProperties", "additionalItems", "unevaluatedItems"}
)
_SINGLE = (
    "items", "contains", "not", "propertyNames", "if", "then", "else", "additionalProperties",
    "unevaluatedProperties", "additionalItems", "unevaluatedItems", "contentSchema",
)  # fmt: skip
_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_MAPS = (
    "properties", "patternProperties", "dependentSchemas", "dependencies", "$defs", "definitions",
)  # fmt: skip
_CONSTRAINING = frozenset(
    """
    type enum const multipleOf maximum exclusiveMaximum minimum exclusiveMinimum maxLength
    minLength pattern format contentMediaType contentEncoding contentSchema maxItems minItems
    uniqueItems maxContains minContains maxProperties minProperties required dependentRequired
    allOf anyOf oneOf not items prefixItems contains additionalItems unevaluatedItems properties
    patternProperties additionalProperties unevaluatedProperties propertyNames dependentSchemas
    dependencies $ref $dynamicRef $recursiveRef
    """.split()
)
_TYPES = frozenset({"null", "boolean", "object", "array", "number", "string", "integer"})
_VALUE_KEYWORDS = frozenset({None, "properties", "items", "prefixItems"})
_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_MAX_DEPTH = 64


@dataclasses.dataclass(frozen=True, slots=True)
class Lint:
    """One portability problem: the rule, where (``properties.note``), what, and the fix;
    ``value`` says whether the place describes a value (the root, a property, an item) rather
    than a branch of a combinator or a map of schemas."""

    rule: str
    severity: str
    path: str
    problem: str
    hint: str
    value: bool = True


def _child(parent: str, key: str) -> str:
    if _IDENTIFIER.match(key):
        return key if not parent else f"{parent}.{key}"
    return f"{parent}[{json.dumps(key)}]"


def _subschemas(node: dict[str, Any], path: str) -> Iterator[tuple[Any, str, str]]:
    for key in _MAPS:
        mapping = node.get(key)
        if isinstance(mapping, dict):
            for name, sub in mapping.items():
                yield sub, _child(_child(path, key), name), key
    for key in _LISTS:
        items = node.get(key)
        if isinstance(items, list):
            for index, sub in enumerate(items):
                yield sub, f"{_child(path, key)}[{index}]", key
    for key in _SINGLE:
        if key not in node:
            continue
        value = node[key]
        if key == "items" and isinstance(value, list):
            for index, sub in enumerate(value):
                yield sub, f"{_child(path, key)}[{index}]", key
        else:
            yield value, _child(path, key), key


def _declares_id(node: Any, depth: int = 0) -> bool:
    if depth > _MAX_DEPTH or not isinstance(node, dict):
        return False
    if isinstance(node.get("$id"), str) and node["$id"]:
        return True
    return any(_declares_id(sub, depth + 1) for sub, _, _ in _subschemas(node, ""))


def _constrains(node: dict[str, Any]) -> bool:
    return any(key in _CONSTRAINING for key in node) or (
        "if" in node and ("then" in node or "else" in node)
    )


def lint_schema(schema: Any) -> list[Lint]:
    """Every portability problem in ``schema``, in document order."""
    found: list[Lint] = []
    embedded_ids = _declares_id(schema)

    def walk(node: Any, path: str, keyword: str | None, depth: int) -> None:
        if depth > _MAX_DEPTH:
            return
        value = keyword in _VALUE_KEYWORDS

        def add(rule: str, severity: str, path: str, problem: str, hint: str) -> None:
            found.append(Lint(rule, severity, path, problem, hint, value))

        if isinstance(node, bool):
            if keyword not in _BOOLEAN_VALUED:
                add(
                    "boolean-schema", "error", path,
                    f"a bare {json.dumps(node)} stands where a schema object is expected",
                    "write the object form: {} for any value, {\"not\": {}} for none",
                )  # fmt: skip
            return
        if not isinstance(node, dict):
            return
        _lint_node(node, path, keyword, embedded_ids, add)
        for sub, sub_path, sub_keyword in _subschemas(node, path):
            walk(sub, sub_path, sub_keyword, depth + 1)

    walk(schema, "", None, 0)
    return found


def _lint_node(
    node: dict[str, Any],
    path: str,
    keyword: str | None,
    embedded_ids: bool,
    add: Callable[[str, str, str, str, str], None],
) -> None:
    kinds = node.get("type")
    if (
        isinstance(kinds, list)
        and kinds
        and all(isinstance(k, str) and k in _TYPES for k in kinds)
        and len(set(kinds)) == len(kinds)
    ):
        branches = ", ".join(f'{{"type": "{k}"}}' for k in kinds)
        add(
            "type-union", "warning", path,
            f"`type` is an array ({json.dumps(kinds)}), which clients that map schemas onto a "
            "single-type dialect (Gemini's OpenAPI subset) reject or drop",
            f'split it into anyOf branches with one type each: {{"anyOf": [{branches}]}}',
        )  # fmt: skip
    ref = node.get("$ref")
    if isinstance(ref, str) and ref and not ref.startswith("#") and not embedded_ids:
        add(
            "remote-ref", "warning", path,
            f"`$ref` points outside the schema ({ref}); clients do not fetch remote schemas",
            "inline the referenced schema",
        )  # fmt: skip
    if keyword != "not" and not _constrains(node):
        add(
            "untyped-schema", "warning", path,
            "it has no validation keyword at all, so any value is accepted",
            "annotate it with a concrete type (str, int, a model, a Literal, ...)",
        )  # fmt: skip
