"""The operations of an OpenAPI document, each described as one tool, and choosing which to serve.

:func:`read_operations` turns every operation into an :class:`Operation`: its tool name, and one
:class:`Parameter` per argument saying where the value goes in the request (path, query, header,
cookie, a property of a flattened JSON body, or the whole body). It reads the document only; the
HTTP request is built from these records at call time (:mod:`._request`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import structlog

from toolserver.bridges.openapi._naming import identifier, tool_name, with_hash
from toolserver.bridges.openapi._schema import Resolver, json_schema
from toolserver.core.errors import PluginError

__all__ = [
    "FORM",
    "METHODS",
    "Operation",
    "Parameter",
    "is_json",
    "media_type",
    "read_operations",
    "select_operations",
]

_log = structlog.get_logger("toolserver.bridges.openapi")

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
FORM = "application/x-www-form-urlencoded"
_LOCATIONS = ("path", "query", "header", "cookie")
_BRIDGE_HEADERS = ("accept", "content-type", "authorization")
"""Headers the bridge sets itself, so an operation's parameters may not (as OpenAPI specifies)."""


@dataclasses.dataclass(slots=True, frozen=True)
class Parameter:
    """One argument of a tool, and where its value goes in the request.

    ``location`` is ``path``, ``query``, ``header``, ``cookie``, ``body`` (a property of a
    flattened JSON body) or ``whole-body``.
    """

    argument: str
    location: str
    wire_name: str
    required: bool
    schema: dict[str, Any]
    description: str | None = None
    style: str | None = None
    explode: bool | None = None


@dataclasses.dataclass(slots=True, frozen=True)
class Operation:
    """One operation of the document, as one tool."""

    operation_id: str
    tool_name: str
    method: str
    path: str
    summary: str | None
    description: str | None
    tags: tuple[str, ...]
    parameters: tuple[Parameter, ...]
    content_type: str | None
    unsupported: str | None = None

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.path}"


def read_operations(document: Mapping[str, Any], *, tool_prefix: str = "") -> list[Operation]:
    """Every operation of ``document``, in document order, with its tool name and arguments."""
    resolver = Resolver(dict(document))
    operations: list[Operation] = []
    names: set[str] = set()
    for path, item in (document.get("paths") or {}).items():
        item = resolver.resolve(item) if isinstance(item, dict) and "$ref" in item else item
        if not isinstance(item, dict):
            continue
        for method in METHODS:
            raw = item.get(method)
            if not isinstance(raw, dict):
                continue
            operation_id = raw.get("operationId")
            name = tool_name(tool_prefix, operation_id, method, path)
            if name in names:
                name = with_hash(name, f"{method} {path} {operation_id}")
            names.add(name)
            operations.append(_operation(resolver, path, method, item, raw, name))
    return operations


def select_operations(
    operations: list[Operation], tags: Iterable[str], chosen: Iterable[str]
) -> list[Operation]:
    """The operations to serve: those with one of ``tags`` or named in ``chosen``; else all.

    Naming a tag or an operation the document lacks, or naming an operation that cannot be
    served, is a :class:`PluginError`: a typo must stop the server, not silently serve less. An
    unservable operation that was only swept in (by a tag, or by serving all) is skipped with a
    warning.
    """
    tags, chosen = list(tags), list(chosen)
    if not tags and not chosen:
        return [op for op in operations if _servable(op)]
    known_tags = {t for op in operations for t in op.tags}
    missing_tags = [t for t in tags if t not in known_tags]
    if missing_tags:
        raise PluginError(
            f"no operation has the tag(s) {', '.join(map(repr, missing_tags))}; the document's "
            f"tags: {', '.join(sorted(known_tags)) or 'none'}"
        )
    by_id = {op.operation_id: op for op in operations if op.operation_id}
    by_id.update({op.tool_name: op for op in operations})
    missing = [c for c in chosen if c not in by_id]
    if missing:
        raise PluginError(
            f"no operation {', '.join(map(repr, missing))} in the document; its operations: "
            f"{', '.join(op.operation_id or op.tool_name for op in operations)}"
        )
    named = {id(by_id[c]) for c in chosen}
    selected = []
    for op in operations:
        if id(op) in named:
            if op.unsupported is not None:
                raise PluginError(f"operation {op.label} cannot be served: {op.unsupported}")
            selected.append(op)
        elif set(op.tags) & set(tags) and _servable(op):
            selected.append(op)
    return selected


def _servable(operation: Operation) -> bool:
    """Whether ``operation`` can be served; a warning names it when it cannot."""
    if operation.unsupported is None:
        return True
    _log.warning(
        "openapi.operation_skipped", operation=operation.label, reason=operation.unsupported
    )
    return False


def _operation(
    resolver: Resolver,
    path: str,
    method: str,
    path_item: dict[str, Any],
    raw: dict[str, Any],
    name: str,
) -> Operation:
    taken: set[str] = set()
    parameters = _parameters(resolver, path_item, raw, taken)
    content_type: str | None = None
    unsupported: str | None = None
    body = resolver.resolve(raw.get("requestBody")) if raw.get("requestBody") else None
    if isinstance(body, dict):
        content_type, body_schema = _body_content(body)
        if content_type is None:
            types = ", ".join(body.get("content") or {}) or "none"
            unsupported = f"its request body has no JSON or form content type ({types})"
        else:
            parameters.extend(_body_parameters(body, json_schema(body_schema or {}), taken))
    tags = raw.get("tags") or []
    return Operation(
        operation_id=str(raw.get("operationId") or ""),
        tool_name=name,
        method=method,
        path=path,
        summary=raw.get("summary"),
        description=raw.get("description"),
        tags=tuple(str(t) for t in tags),
        parameters=tuple(parameters),
        content_type=content_type,
        unsupported=unsupported,
    )


def _parameters(
    resolver: Resolver, path_item: dict[str, Any], raw: dict[str, Any], taken: set[str]
) -> list[Parameter]:
    """The path, query, header and cookie parameters; the operation's override the path's."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for source in (path_item.get("parameters") or [], raw.get("parameters") or []):
        for param in resolver.resolve(source):
            if isinstance(param, dict) and param.get("in") in _LOCATIONS and "name" in param:
                merged[(param["in"], param["name"])] = param
    parameters: list[Parameter] = []
    for (location, name), param in merged.items():
        if location == "header" and name.lower() in _BRIDGE_HEADERS:
            continue
        schema = param.get("schema")
        if schema is None and isinstance(param.get("content"), dict):
            media = next(iter(param["content"].values()), None)
            schema = media.get("schema") if isinstance(media, dict) else None
        schema, description = _described(json_schema(schema or {}), param.get("description"))
        parameters.append(
            Parameter(
                argument=_unique(identifier(name), taken),
                location=location,
                wire_name=name,
                required=location == "path" or bool(param.get("required")),
                schema=schema,
                description=description,
                style=param.get("style"),
                explode=param.get("explode"),
            )
        )
    return parameters


def _body_parameters(
    body: dict[str, Any], schema: dict[str, Any], taken: set[str]
) -> list[Parameter]:
    """A JSON object body's properties as arguments, or else the body as the argument ``body``.

    Flattening is what an agent finds easiest to call; it is given up when a property name
    clashes with a parameter or the object admits properties it does not name.
    """
    body_required = bool(body.get("required"))
    properties = schema.get("properties") if schema.get("type") in (None, "object") else None
    flat_names = {identifier(p) for p in properties or {}}
    if properties and not flat_names & taken and not schema.get("additionalProperties"):
        required = set(schema.get("required", ()))
        return [
            Parameter(
                argument=_unique(identifier(prop), taken),
                location="body",
                wire_name=prop,
                required=prop in required and body_required,
                schema=sub if isinstance(sub, dict) else {},
                description=sub.get("description") if isinstance(sub, dict) else None,
            )
            for prop, sub in properties.items()
        ]
    schema, description = _described(schema, body.get("description"))
    return [
        Parameter(
            argument=_unique("body", taken),
            location="whole-body",
            wire_name="",
            required=body_required,
            schema=schema,
            description=description,
        )
    ]


def _described(
    schema: dict[str, Any], description: str | None
) -> tuple[dict[str, Any], str | None]:
    """``schema`` carrying ``description`` (or its own), and that description."""
    description = description or schema.get("description")
    if description:
        schema = {**schema, "description": description}
    return schema, description


def _body_content(body: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    """The body's media type the bridge sends (JSON first, then form) and its schema."""
    typed = [(media_type(media), item or {}) for media, item in (body.get("content") or {}).items()]
    for kind, item in typed:
        if is_json(kind):
            return kind, item.get("schema") or {}
    for kind, item in typed:
        if kind == FORM:
            return kind, item.get("schema") or {}
    return None, None


def media_type(content_type: str) -> str:
    """The media type alone: ``application/json; charset=utf-8`` -> ``application/json``."""
    return content_type.split(";")[0].strip().lower()


def is_json(media: str) -> bool:
    """Whether ``media`` (see :func:`media_type`) is JSON: ``application/json`` or ``*+json``."""
    return media == "application/json" or media.endswith("+json")


def _unique(argument: str, taken: set[str]) -> str:
    candidate, n = argument, 2
    while candidate in taken:
        candidate = f"{argument}_{n}"
        n += 1
    taken.add(candidate)
    return candidate
