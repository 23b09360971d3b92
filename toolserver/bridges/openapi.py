"""The OpenAPI bridge: the operations of an HTTP API, served as tools on every surface.

Most business systems a team wants an agent to reach already describe their API in an OpenAPI 3
document. :func:`openapi_plugin` reads that document and makes one tool per chosen operation::

    # plugins/inventory.py
    from toolserver.bridges.openapi import openapi_plugin

    plugin = openapi_plugin(
        "inventory",
        "https://inventory.internal/openapi.json",
        "https://inventory.internal",
        tags=["items"],
    )

or, with everything from the environment (``TOOLSERVER_PLUGIN_INVENTORY_SPEC``, ``_BASE_URL``,
``_TAGS``, ``_OPERATIONS``, ``_HEADERS``, ``_TIMEOUT``, ``_TOOL_PREFIX``; see
:class:`OpenAPISettings`)::

    plugin = openapi_plugin("inventory")

How an operation becomes a tool:

- name: its ``operationId`` (``tool_prefix`` + id) when BlackBox accepts it, otherwise the id with
  every other character replaced by ``_``; an operation without an id is named from its method
  and path (``get_items_item_id``). Names are made in document order and a clash gets a short
  hash of the original, so the mapping is the same on every start.
- arguments: one per path, query, header and cookie parameter, plus the request body's
  properties (a JSON object body is flattened; any other body, or one whose property names clash
  with a parameter, is the single argument ``body``). Names that are not identifiers are made so
  (``X-Request-Id`` -> ``X_Request_Id``); each value is sent where the document says.
- schema: the document's own schemas, with ``$ref`` inlined, ``allOf`` of objects merged and
  OpenAPI 3.0's ``nullable`` written as a ``null`` type, so strict clients accept it.
- description: the operation's summary and description.
- idempotency: ``POST`` and ``PATCH`` are side-effecting (a retried webhook with the same
  ``callId`` returns the first result); ``PUT`` and ``DELETE`` are idempotent, as HTTP defines
  them.

Every call goes through one ``httpx.AsyncClient`` per plugin, opened by its startup hook and
closed at shutdown, with the configured headers (credentials are ``SecretStr``: never logged)
and explicit timeouts. The tool's timeout (``timeout``) is the one the agent hears about; the
HTTP timeouts sit just above it. A 4xx or 5xx answer, an unreachable service or a timeout becomes
a :class:`~toolserver.core.errors.ToolError` whose message the agent can speak; the service's
raw answer goes to the log only.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import keyword
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

import httpx
import structlog
from pydantic import ConfigDict, Field, SecretStr, WithJsonSchema, create_model, field_validator
from pydantic_settings import NoDecode

from toolserver.core.errors import PluginError, ToolError
from toolserver.core.plugin import MAX_TOOL_NAME_LENGTH, Plugin, PluginSettings, validate_tool_name
from toolserver.core.signature import ToolSignature

__all__ = [
    "OpenAPISettings",
    "Operation",
    "Parameter",
    "load_document",
    "openapi_plugin",
    "read_operations",
]

_log = structlog.get_logger("toolserver.bridges.openapi")

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_SIDE_EFFECTS = frozenset({"post", "patch"})
_IDEMPOTENT_WRITES = frozenset({"put", "delete"})
_LOCATIONS = ("path", "query", "header", "cookie")
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
_HTTP_MARGIN = 1.0  # the HTTP timeouts end just after the tool's, so the agent hears the tool's
_MAX_REASON = 300


def _comma_list(value: Any) -> Any:
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            return json.loads(stripped)
        return [part.strip() for part in stripped.split(",") if part.strip()]
    return value


class OpenAPISettings(PluginSettings):
    """Settings of a bridge plugin, from ``TOOLSERVER_PLUGIN_<NAME>_*`` (or ``.env``).

    Arguments given to :func:`openapi_plugin` take precedence over these.

    Attributes:
        spec: the OpenAPI 3 document: a file path or an ``http(s)://`` URL (JSON; YAML when
            PyYAML is installed).
        base_url: where the API is served; default: the document's first ``servers`` entry.
        tags: serve only operations with one of these tags (comma-separated).
        operations: serve only these operations, by operationId or tool name (comma-separated).
            With ``tags`` too, an operation chosen by either is served; with neither, all are.
        headers: headers sent with every request, as a JSON object
            (``{"Authorization": "Bearer ..."}``); the values are secrets and never logged.
        timeout: seconds a call may take before the agent is told the service is slow.
        tool_prefix: put before every tool name (``inv_`` makes ``inv_listItems``).
    """

    spec: str | None = None
    base_url: str | None = None
    tags: Annotated[list[str], NoDecode] = Field(default_factory=list)
    operations: Annotated[list[str], NoDecode] = Field(default_factory=list)
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    timeout: float = Field(10.0, gt=0)
    tool_prefix: str = ""

    _split = field_validator("tags", "operations", mode="before")(_comma_list)


# -- the document --------------------------------------------------------------------------------


def _same_origin(a: str, b: str | None) -> bool:
    if not b:
        return False
    pa, pb = urllib.parse.urlsplit(a), urllib.parse.urlsplit(b)
    return (pa.scheme, pa.netloc) == (pb.scheme, pb.netloc)


def _parse(text: str, origin: str) -> dict[str, Any]:
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise PluginError(f"the OpenAPI document {origin} is not valid JSON: {exc}") from None
    else:
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError:
            raise PluginError(
                f"the OpenAPI document {origin} is not JSON; YAML documents need PyYAML "
                "(pip install pyyaml)"
            ) from None
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise PluginError(f"the OpenAPI document {origin} is not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise PluginError(f"the OpenAPI document {origin} is not an object")
    return document


def load_document(
    source: str | Path | Mapping[str, Any],
    *,
    headers: Mapping[str, str] | None = None,
    base_url: str | None = None,
    timeout: float = 10.0,
) -> dict[str, Any]:
    """Read an OpenAPI 3 document from a mapping, a file or an ``http(s)://`` URL.

    ``headers`` are sent when fetching the document only if it is served from the same origin as
    ``base_url``: credentials for the API must not reach another host.
    """
    if isinstance(source, Mapping):
        document = copy.deepcopy(dict(source))
        origin = "given"
    elif isinstance(source, str) and re.match(r"^https?://", source):
        origin = source
        send = dict(headers or {}) if _same_origin(source, base_url) else {}
        try:
            response = httpx.get(source, headers=send, timeout=timeout, follow_redirects=True)
        except httpx.HTTPError as exc:
            raise PluginError(f"cannot fetch the OpenAPI document {source}: {exc!r}") from None
        if response.status_code != 200:
            raise PluginError(
                f"cannot fetch the OpenAPI document {source}: HTTP {response.status_code}"
            )
        document = _parse(response.text, source)
    else:
        path = Path(source)
        origin = str(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise PluginError(f"cannot read the OpenAPI document {origin!r}: {exc}") from None
        document = _parse(text, repr(origin))
    version = str(document.get("openapi", ""))
    if not version.startswith("3."):
        found = f"swagger {document['swagger']}" if "swagger" in document else repr(version or None)
        raise PluginError(
            f"the document {origin} is not OpenAPI 3 (found {found}); convert it to OpenAPI 3 first"
        )
    return document


class _Resolver:
    """Inlines local ``$ref``s of a document; a reference to itself is cut to its type."""

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


def _json_schema(schema: Any, *, request: bool = True) -> Any:
    """An OpenAPI schema object as plain JSON Schema (references already inlined)."""
    if not isinstance(schema, dict):
        return schema
    schema = _merge_all_of(schema)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _OPENAPI_ONLY or key.startswith("x-"):
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {
                name: _json_schema(sub, request=request)
                for name, sub in value.items()
                if not (request and isinstance(sub, dict) and sub.get("readOnly"))
            }
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = _json_schema(value, request=request)
        elif key in ("anyOf", "oneOf", "allOf") and isinstance(value, list):
            out[key] = [_json_schema(v, request=request) for v in value]
        else:
            out[key] = value
    if "required" in out and "properties" in out:
        out["required"] = [r for r in out["required"] if r in out["properties"]]
        if not out["required"]:
            del out["required"]
    if "example" in schema and "examples" not in out:
        out["examples"] = [schema["example"]]
    if schema.get("nullable") is True or schema.get("x-nullable") is True:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        elif kind is None and not {"anyOf", "oneOf"} & out.keys():
            pass  # untyped already admits null
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


def _python_type(schema: Any) -> Any:
    """A type that validates (and leniently coerces) what ``schema`` describes."""
    if not isinstance(schema, dict):
        return Any
    enum = schema.get("enum")
    if (
        isinstance(enum, list)
        and enum
        and all(isinstance(v, (str, int, float, bool)) or v is None for v in enum)
    ):
        values = tuple(v for v in enum if v is not None)
        inner: Any = Literal[values] if values else type(None)  # type: ignore[valid-type]
        return Optional[inner] if None in enum else inner
    options = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(options, list) and options and "type" not in schema:
        nullable = any(isinstance(o, dict) and o.get("type") == "null" for o in options)
        types = [
            _python_type(o)
            for o in options
            if not (isinstance(o, dict) and o.get("type") == "null")
        ]
        if not types or any(t is Any for t in types):
            return Any
        union: Any = types[0] if len(types) == 1 else Union[tuple(types)]
        return Optional[union] if nullable else union
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    nullable = "null" in kinds
    kinds = [k for k in kinds if k != "null"]
    if len(kinds) != 1:
        return Any
    simple: dict[str, Any] = {
        "string": str,
        "integer": int,
        "number": float,
        "boolean": bool,
        "object": dict[str, Any],
    }
    if kinds[0] == "array":
        result: Any = list[_python_type(schema.get("items"))]  # type: ignore[misc]
    else:
        result = simple.get(kinds[0], Any)
    return Optional[result] if nullable else result


# -- operations ----------------------------------------------------------------------------------


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


def _identifier(name: str) -> str:
    ident = re.sub(r"[^a-zA-Z0-9_]+", "_", name).strip("_") or "value"
    if ident[0].isdigit():
        ident = f"_{ident}"
    if keyword.iskeyword(ident):
        ident = f"{ident}_"
    return ident


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _tool_name(prefix: str, operation_id: str | None, method: str, path: str) -> str:
    if operation_id:
        raw = prefix + operation_id
        name = raw if validate_tool_name(raw) is None else _identifier(raw)
    else:
        raw = f"{method} {path}"
        name = prefix + _identifier(re.sub(r"[{}]", "", raw))
    if len(name) > MAX_TOOL_NAME_LENGTH:
        name = f"{name[: MAX_TOOL_NAME_LENGTH - 9]}_{_short_hash(raw)}"
    return name


def _body_content(body: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    content = body.get("content") or {}
    for media, item in content.items():
        base = media.split(";")[0].strip().lower()
        if base == "application/json" or base.endswith("+json"):
            return base, (item or {}).get("schema") or {}
    for media, item in content.items():
        if media.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
            return "application/x-www-form-urlencoded", (item or {}).get("schema") or {}
    return None, None


def _unique(argument: str, taken: set[str]) -> str:
    candidate, n = argument, 2
    while candidate in taken:
        candidate = f"{argument}_{n}"
        n += 1
    taken.add(candidate)
    return candidate


def _operation(
    resolver: _Resolver,
    path: str,
    method: str,
    path_item: dict[str, Any],
    raw: dict[str, Any],
    tool_name: str,
) -> Operation:
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for source in (path_item.get("parameters") or [], raw.get("parameters") or []):
        for param in resolver.resolve(source):
            if isinstance(param, dict) and param.get("in") in _LOCATIONS and "name" in param:
                merged[(param["in"], param["name"])] = param
    taken: set[str] = set()
    parameters: list[Parameter] = []
    for (location, name), param in merged.items():
        if location == "header" and name.lower() in ("accept", "content-type", "authorization"):
            continue  # set by the bridge itself, as OpenAPI specifies
        schema = param.get("schema")
        if schema is None and isinstance(param.get("content"), dict):
            schema = next(iter(param["content"].values()), {}).get("schema")
        schema = _json_schema(schema or {})
        description = param.get("description") or schema.get("description")
        if description:
            schema = {**schema, "description": description}
        parameters.append(
            Parameter(
                argument=_unique(_identifier(name), taken),
                location=location,
                wire_name=name,
                required=location == "path" or bool(param.get("required")),
                schema=schema,
                description=description,
                style=param.get("style"),
                explode=param.get("explode"),
            )
        )
    content_type: str | None = None
    unsupported: str | None = None
    body = resolver.resolve(raw.get("requestBody")) if raw.get("requestBody") else None
    if isinstance(body, dict):
        content_type, body_schema = _body_content(body)
        if content_type is None:
            types = ", ".join(body.get("content") or {}) or "none"
            unsupported = f"its request body has no JSON or form content type ({types})"
        else:
            schema = _json_schema(body_schema or {})
            body_required = bool(body.get("required"))
            properties = (
                schema.get("properties") if schema.get("type") in (None, "object") else None
            )
            flat_names = {_identifier(p) for p in properties or {}}
            if properties and not flat_names & taken and not schema.get("additionalProperties"):
                required = set(schema.get("required", ()))
                for prop, sub in properties.items():
                    parameters.append(
                        Parameter(
                            argument=_unique(_identifier(prop), taken),
                            location="body",
                            wire_name=prop,
                            required=prop in required and body_required,
                            schema=sub if isinstance(sub, dict) else {},
                            description=sub.get("description") if isinstance(sub, dict) else None,
                        )
                    )
            else:
                description = body.get("description") or schema.get("description")
                if description:
                    schema = {**schema, "description": description}
                parameters.append(
                    Parameter(
                        argument=_unique("body", taken),
                        location="whole-body",
                        wire_name="",
                        required=body_required,
                        schema=schema,
                        description=description,
                    )
                )
    tags = raw.get("tags") or []
    return Operation(
        operation_id=str(raw.get("operationId") or ""),
        tool_name=tool_name,
        method=method,
        path=path,
        summary=raw.get("summary"),
        description=raw.get("description"),
        tags=tuple(str(t) for t in tags),
        parameters=tuple(parameters),
        content_type=content_type,
        unsupported=unsupported,
    )


def read_operations(document: Mapping[str, Any], *, tool_prefix: str = "") -> list[Operation]:
    """Every operation of ``document``, in document order, with its tool name and arguments."""
    resolver = _Resolver(dict(document))
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
            name = _tool_name(tool_prefix, operation_id, method, path)
            if name in names:
                suffix = _short_hash(f"{method} {path} {operation_id}")
                name = f"{name[: MAX_TOOL_NAME_LENGTH - 9]}_{suffix}"
            names.add(name)
            operations.append(_operation(resolver, path, method, item, raw, name))
    return operations


def _select(
    operations: list[Operation], tags: Iterable[str], chosen: Iterable[str]
) -> list[Operation]:
    tags, chosen = list(tags), list(chosen)
    if not tags and not chosen:
        selected = [op for op in operations if op.unsupported is None]
        for op in operations:
            if op.unsupported is not None:
                _log.warning("openapi.operation_skipped", operation=op.label, reason=op.unsupported)
        return selected
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
        elif set(op.tags) & set(tags):
            if op.unsupported is not None:
                _log.warning("openapi.operation_skipped", operation=op.label, reason=op.unsupported)
                continue
            selected.append(op)
    return selected


# -- calls ---------------------------------------------------------------------------------------


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _query_items(param: Parameter, value: Any) -> list[tuple[str, str]]:
    explode = param.explode if param.explode is not None else param.style in (None, "form")
    if isinstance(value, list):
        if explode:
            return [(param.wire_name, _scalar(v)) for v in value]
        separator = {"spaceDelimited": " ", "pipeDelimited": "|"}.get(param.style or "", ",")
        return [(param.wire_name, separator.join(_scalar(v) for v in value))]
    if isinstance(value, dict):
        if param.style == "deepObject":
            return [(f"{param.wire_name}[{k}]", _scalar(v)) for k, v in value.items()]
        if explode:
            return [(k, _scalar(v)) for k, v in value.items()]
        flat = ",".join(f"{k},{_scalar(v)}" for k, v in value.items())
        return [(param.wire_name, flat)]
    return [(param.wire_name, _scalar(value))]


def _path_value(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(urllib.parse.quote(_scalar(v), safe="") for v in value)
    return urllib.parse.quote(_scalar(value), safe="")


@dataclasses.dataclass(slots=True)
class _Request:
    method: str
    url: str
    params: list[tuple[str, str]]
    headers: dict[str, str]
    json: Any = None
    data: Any = None
    has_body: bool = False


def build_request(operation: Operation, arguments: Mapping[str, Any]) -> _Request:
    """Place every argument where the document says (arguments that are None are left out)."""
    path = operation.path
    params: list[tuple[str, str]] = []
    headers: dict[str, str] = {"Accept": "application/json"}
    cookies: list[str] = []
    body: dict[str, Any] = {}
    whole: Any = None
    has_body = False
    for param in operation.parameters:
        value = arguments.get(param.argument)
        if value is None:
            continue
        if param.location == "path":
            path = path.replace("{" + param.wire_name + "}", _path_value(value))
        elif param.location == "query":
            params.extend(_query_items(param, value))
        elif param.location == "header":
            headers[param.wire_name] = _scalar(value)
        elif param.location == "cookie":
            cookies.append(f"{param.wire_name}={urllib.parse.quote(_scalar(value), safe='')}")
        elif param.location == "body":
            body[param.wire_name] = value
            has_body = True
        else:
            whole, has_body = value, True
    if cookies:
        headers["Cookie"] = "; ".join(cookies)
    payload = whole if whole is not None else (body if has_body else None)
    request = _Request(operation.method.upper(), path, params, headers, has_body=has_body)
    if has_body and operation.content_type == "application/x-www-form-urlencoded":
        request.data = {k: _scalar(v) for k, v in (payload or {}).items()}
    elif has_body:
        request.json = payload
    return request


def _reason(response: httpx.Response) -> str | None:
    """The service's own words for an error, from the usual JSON error shapes, or short text."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        kind = response.headers.get("content-type", "")
        if text and "html" not in kind and len(text) <= _MAX_REASON and "\n" not in text:
            return text
        return None
    candidates: list[Any] = []
    if isinstance(body, dict):
        error = body.get("error")
        candidates = [
            body.get("detail"),
            body.get("message"),
            error.get("message") if isinstance(error, dict) else error,
            body.get("title"),
            body.get("errors"),
        ]
    elif isinstance(body, str):
        candidates = [body]
    for candidate in candidates:
        text = _readable(candidate)
        if text:
            return text[:_MAX_REASON]
    return None


def _readable(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, list):  # FastAPI / pydantic: [{"loc": [...], "msg": "..."}]
        parts = []
        for item in value[:5]:
            if isinstance(item, dict) and "msg" in item:
                loc = [str(p) for p in item.get("loc", []) if p not in ("body", "query", "path")]
                parts.append(f"{'.'.join(loc) + ': ' if loc else ''}{item['msg']}")
            elif isinstance(item, dict) and "message" in item:
                parts.append(str(item["message"]))
            elif isinstance(item, str):
                parts.append(item)
        return "; ".join(parts) or None
    return None


def _error_for(service: str, operation: Operation, response: httpx.Response) -> ToolError:
    status = response.status_code
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    reason = _reason(response)
    detail = (
        f"{operation.label} answered {status}: {response.text[:500]!r}"
        if response.content
        else f"{operation.label} answered {status}"
    )
    said = f": {reason.rstrip('. ')}" if reason else ""
    if status in (401, 403, 407):
        message = (
            f"{service} refused toolserver's credentials ({status} {phrase}). This cannot be "
            "fixed during the call; continue without it."
        )
    elif status == 429:
        message = f"{service} is busy ({status} {phrase}){said}. Try again in a moment."
    elif status < 500:
        message = (
            f"{service} could not do that ({status} {phrase}){said}. Check the details with the "
            "caller before trying again."
        )
    else:
        message = (
            f"{service} failed ({status} {phrase}){said}. Try again in a moment, or continue "
            "without it."
        )
    return ToolError(message, detail=detail, data={"status": status})


def _result(response: httpx.Response) -> Any:
    if not response.content:
        return {"ok": True, "status": response.status_code}
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json" or kind.endswith("+json"):
        try:
            return response.json()
        except ValueError:
            pass
    return response.text


class _Bridge:
    """The state one bridge plugin shares between its tools: its client and configuration."""

    def __init__(
        self, service: str, base_url: str, headers: Mapping[str, SecretStr], timeout: float
    ) -> None:
        self.service = service
        self.base_url = base_url
        self.headers = dict(headers)
        self.timeout = timeout
        self.client: httpx.AsyncClient | None = None

    async def open(self, plugin: Plugin) -> None:
        http_timeout = self.timeout + _HTTP_MARGIN
        self.client = httpx.AsyncClient(
            base_url=self.base_url,
            headers={k: v.get_secret_value() for k, v in self.headers.items()},
            timeout=httpx.Timeout(http_timeout, connect=min(http_timeout, 5.0)),
            follow_redirects=True,
        )
        plugin.state.client = self.client

    async def close(self, plugin: Plugin) -> None:
        if self.client is not None:
            await self.client.aclose()
        self.client = None
        plugin.state.client = None

    async def call(self, operation: Operation, arguments: Mapping[str, Any]) -> Any:
        if self.client is None:
            raise RuntimeError("the bridge's HTTP client is not open: the plugin was not started")
        request = build_request(operation, arguments)
        try:
            response = await self.client.request(  # httpx joins the path to the base URL's
                request.method,
                request.url,
                params=request.params or None,
                headers=request.headers,
                json=request.json,
                data=request.data,
            )
        except httpx.TimeoutException as exc:
            raise ToolError(
                f"{self.service} did not answer in time. Continue without it, or try again later.",
                detail=f"{operation.label}: {exc!r}",
            ) from None
        except httpx.TransportError as exc:
            raise ToolError(
                f"{self.service} cannot be reached right now. Continue without it, or try again "
                "later.",
                detail=f"{operation.label}: {exc!r}",
            ) from None
        if response.status_code >= 400:
            raise _error_for(self.service, operation, response)
        return _result(response)


def _arguments_model(operation: Operation) -> tuple[type[Any], dict[str, str]]:
    fields: dict[str, Any] = {}
    field_to_parameter: dict[str, str] = {}
    for index, param in enumerate(operation.parameters):
        shown = dict(param.schema)
        kind: Any = _python_type(shown)
        if not param.required:
            kind = Optional[kind]

        def replace(target: dict[str, Any], shown: dict[str, Any] = shown) -> None:
            target.clear()
            target.update(shown)

        field_name = f"arg{index}"
        fields[field_name] = (
            Annotated[kind, WithJsonSchema(shown)],
            Field(... if param.required else None, alias=param.argument, json_schema_extra=replace),
        )
        field_to_parameter[field_name] = param.argument
    model = create_model(  # type: ignore[call-overload]
        f"{operation.tool_name}_arguments", __config__=ConfigDict(extra="forbid"), **fields
    )
    return model, field_to_parameter


def _description(operation: Operation, service: str) -> str:
    parts = [p.strip() for p in (operation.summary, operation.description) if p and p.strip()]
    if parts and len(parts) == 2 and parts[1].startswith(parts[0]):
        parts = [parts[1]]
    return "\n\n".join(parts) or f"Calls {operation.label} on {service}."


def _base_url(document: Mapping[str, Any], spec: str | None) -> str | None:
    servers = document.get("servers") or []
    if not servers or not isinstance(servers[0], dict) or not servers[0].get("url"):
        return None
    server = servers[0]
    url = str(server["url"])
    for name, variable in (server.get("variables") or {}).items():
        url = url.replace("{" + name + "}", str((variable or {}).get("default", "")))
    if not re.match(r"^https?://", url):
        if spec and re.match(r"^https?://", spec):
            return urllib.parse.urljoin(spec, url)
        return None
    return url


def openapi_plugin(
    name: str,
    document: str | Path | Mapping[str, Any] | None = None,
    base_url: str | None = None,
    *,
    tags: Iterable[str] | None = None,
    operations: Iterable[str] | None = None,
    headers: Mapping[str, str | SecretStr] | None = None,
    timeout: float | None = None,
    tool_prefix: str | None = None,
    description: str | None = None,
) -> Plugin:
    """A plugin with one tool per chosen operation of an OpenAPI 3 document.

    Every argument left out is read from the plugin's settings (:class:`OpenAPISettings`,
    ``TOOLSERVER_PLUGIN_<NAME>_*``). The document is read now, so a missing file, an unknown
    operation or tag, or an unreachable URL stops the server at startup with the reason.

    Args:
        name: the plugin's name (it prefixes its settings' environment variables).
        document: the OpenAPI 3 document: a file path, an ``http(s)://`` URL or a parsed mapping.
        base_url: where the API is served (default: the document's first server).
        tags: serve the operations with any of these tags.
        operations: serve these operations, by operationId or tool name.
        headers: sent with every request (credentials: pass ``SecretStr`` or plain strings;
            both are kept as secrets and never logged).
        timeout: seconds a call may take (default 10).
        tool_prefix: put before every tool name.
        description: the plugin's description (default: the document's title).
    """
    plugin = Plugin(name, description=description, settings=OpenAPISettings)
    overrides: dict[str, Any] = {}
    if isinstance(document, (str, Path)):
        overrides["spec"] = str(document)
    for key, value in (("base_url", base_url), ("timeout", timeout), ("tool_prefix", tool_prefix)):
        if value is not None:
            overrides[key] = value
    if tags is not None:
        overrides["tags"] = list(tags)
    if operations is not None:
        overrides["operations"] = list(operations)
    if headers is not None:
        overrides["headers"] = {
            k: v if isinstance(v, SecretStr) else SecretStr(str(v)) for k, v in headers.items()
        }
    settings: OpenAPISettings = plugin.load_settings(**overrides)
    source = document if isinstance(document, Mapping) else settings.spec
    if source is None:
        raise PluginError(
            f"plugin {name!r} needs an OpenAPI document: pass it to openapi_plugin() or set "
            f"{plugin.env_prefix}SPEC to a file path or URL"
        )
    secret_headers = {k: v.get_secret_value() for k, v in settings.headers.items()}
    spec = settings.spec
    doc = load_document(
        source, headers=secret_headers, base_url=settings.base_url, timeout=settings.timeout
    )
    url = settings.base_url or _base_url(doc, spec)
    if not url:
        raise PluginError(
            f"plugin {name!r} needs the API's base URL: pass base_url, set "
            f"{plugin.env_prefix}BASE_URL, or give the document an absolute servers[0].url"
        )
    info = doc.get("info") or {}
    service = str(info.get("title") or name)
    if plugin.description is None:
        plugin.description = str(info.get("description") or info.get("title") or "").strip() or None
    bridge = _Bridge(service, url, settings.headers, settings.timeout)
    plugin.on_startup(bridge.open)
    plugin.on_shutdown(bridge.close)

    selected = _select(
        read_operations(doc, tool_prefix=settings.tool_prefix), settings.tags, settings.operations
    )
    if not selected:
        raise PluginError(f"plugin {name!r}: the OpenAPI document has no operation to serve")
    for operation in selected:
        _add_tool(plugin, bridge, operation)
    _log.debug("openapi.loaded", plugin=name, base_url=url, tools=[o.tool_name for o in selected])
    return plugin


def _add_tool(plugin: Plugin, bridge: _Bridge, operation: Operation) -> None:
    model, field_to_parameter = _arguments_model(operation)

    async def call(**arguments: Any) -> Any:
        return await bridge.call(operation, arguments)

    call.__name__ = operation.tool_name
    call.__qualname__ = f"{plugin.name}.{operation.tool_name}"
    description = _description(operation, bridge.service)
    signature = ToolSignature(
        arguments_model=model,
        field_to_parameter=field_to_parameter,
        context_parameter=None,
        output_adapter=None,
        output_type=None,
        description=description,
        is_async=True,
    )
    plugin.add_tool(
        call,
        name=operation.tool_name,
        description=description,
        timeout=bridge.timeout,
        side_effects=operation.method in _SIDE_EFFECTS,
        idempotent=operation.method in _IDEMPOTENT_WRITES,
        tags=operation.tags,
        signature=signature,
    )
