"""The arguments of ``toolserver call``: one JSON object, or ``key=value`` words.

``key=value`` is what people type (httpie, the MCP Inspector's ``--tool-arg``): the value is a
string, and the tool's validation turns ``"3"`` into ``3`` where the parameter is a number, as it
does for every surface. ``key:=<json>`` passes a JSON value as it is, for lists, objects and
``null`` (httpie's spelling). A single word starting with ``{`` is the whole object as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

__all__ = ["ArgumentsError", "parse_call_arguments"]


class ArgumentsError(ValueError):
    """The words do not make an arguments object; the message says which word and why."""


def parse_call_arguments(words: Sequence[str]) -> dict[str, Any]:
    """The arguments object ``words`` spell (see the module docstring)."""
    if len(words) == 1 and words[0].lstrip().startswith("{"):
        try:
            value = json.loads(words[0])
        except json.JSONDecodeError as exc:
            raise ArgumentsError(f"the arguments are not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise ArgumentsError("the arguments must be a JSON object")
        return value
    arguments: dict[str, Any] = {}
    for word in words:
        key, raw, value = _split(word)
        if key in arguments:
            raise ArgumentsError(f"argument {key!r} is given twice")
        if raw:
            try:
                arguments[key] = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ArgumentsError(
                    f"{word!r}: the value after ':=' is not valid JSON: {exc}"
                ) from None
        else:
            arguments[key] = value
    return arguments


def _split(word: str) -> tuple[str, bool, str]:
    """``(key, is_json, value)`` of ``key=value`` or ``key:=json``."""
    equals = word.find("=")
    if equals <= 0:
        raise ArgumentsError(
            f"{word!r} is not an argument: write name=value (a string), name:=<json> "
            "(a number, list, object), or one JSON object"
        )
    if word[equals - 1] == ":":
        key = word[: equals - 1]
        if not key:
            raise ArgumentsError(f"{word!r} has no name before ':='")
        return key, True, word[equals + 1 :]
    return word[:equals], False, word[equals + 1 :]
