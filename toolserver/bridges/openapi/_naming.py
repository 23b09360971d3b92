"""Names BlackBox accepts, made from what an OpenAPI document calls things.

Tool names and argument names end up in agent configs and in recorded calls, so the same
document must give the same names on every start: nothing here depends on anything but the text
it is given (a clash or an over-long name gets a short hash of the original, not a counter).
"""

from __future__ import annotations

import hashlib
import keyword
import re

from toolserver.core.plugin import MAX_TOOL_NAME_LENGTH, validate_tool_name

__all__ = ["identifier", "tool_name", "with_hash"]


def identifier(name: str) -> str:
    """``name`` as an identifier: ``X-Request-Id`` -> ``X_Request_Id``, ``2fa`` -> ``_2fa``."""
    ident = re.sub(r"[^a-zA-Z0-9_]+", "_", name).strip("_") or "value"
    if ident[0].isdigit():
        ident = f"_{ident}"
    if keyword.iskeyword(ident):
        ident = f"{ident}_"
    return ident


def with_hash(name: str, original: str) -> str:
    """``name`` cut to fit, plus a short hash of ``original``: distinct originals stay distinct."""
    digest = hashlib.sha256(original.encode()).hexdigest()[:8]
    return f"{name[: MAX_TOOL_NAME_LENGTH - 9]}_{digest}"


def tool_name(prefix: str, operation_id: str | None, method: str, path: str) -> str:
    """The tool name of one operation, before clashes with the others are settled.

    Its ``operationId`` (with ``prefix``) when BlackBox accepts that as it is, otherwise made an
    identifier; an operation without an id is named from its method and path.
    """
    if operation_id:
        raw = prefix + operation_id
        name = raw if validate_tool_name(raw) is None else identifier(raw)
    else:
        raw = f"{method} {path}"
        name = prefix + identifier(re.sub(r"[{}]", "", raw))
    if len(name) > MAX_TOOL_NAME_LENGTH:
        name = with_hash(name, raw)
    return name
