"""Placing a tool's arguments in the HTTP request, where the document says each one goes.

Path values are percent-encoded into the path, query values serialised by the parameter's
``style`` and ``explode`` (OpenAPI's defaults: ``form``, exploded), headers and cookies written
as text, and body arguments gathered into one JSON (or form) body. Nothing here does I/O, so how
a call looks on the wire can be tested without a service.
"""

from __future__ import annotations

import dataclasses
import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

from toolserver.bridges.openapi.operations import FORM, Operation, Parameter

__all__ = ["Request", "build_request"]


@dataclasses.dataclass(slots=True)
class Request:
    """What ``httpx.AsyncClient.request`` is given for one call (the path joins the base URL)."""

    method: str
    url: str
    params: list[tuple[str, str]]
    headers: dict[str, str]
    json: Any = None
    data: Any = None
    has_body: bool = False


def build_request(operation: Operation, arguments: Mapping[str, Any]) -> Request:
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
    request = Request(operation.method.upper(), path, params, headers, has_body=has_body)
    if has_body and operation.content_type == FORM:
        request.data = {k: _scalar(v) for k, v in (payload or {}).items()}
    elif has_body:
        request.json = payload
    return request


def _scalar(value: Any) -> str:
    """One value as text: JSON's spelling of booleans, compact JSON for structures."""
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
