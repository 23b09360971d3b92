"""A tool's arguments, from an operation's parameters: the model that validates, the schema shown.

A bridged tool has no Python signature to read, so its :class:`ToolSignature` is built here. Two
things are kept apart on purpose: the *schema* every surface prints is the document's own
(converted to plain JSON Schema), exactly as the service describes it; the *validation* is a
pydantic type derived from that schema, lax the way every other tool's is (``"10"`` becomes
``10``), and permissive (``Any``) wherever the schema says more than a Python type can.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

from pydantic import ConfigDict, Field, WithJsonSchema, create_model

from toolserver.bridges.openapi.operations import Operation
from toolserver.core.signature import ToolSignature

__all__ = ["python_type", "tool_signature"]

_SIMPLE: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "object": dict[str, Any],
}


def tool_signature(operation: Operation, description: str) -> ToolSignature:
    """The signature the executor and the schema generator use for ``operation``'s tool."""
    model, field_to_parameter = _arguments_model(operation)
    return ToolSignature(
        arguments_model=model,
        field_to_parameter=field_to_parameter,
        context_parameter=None,
        output_adapter=None,
        output_type=None,
        description=description,
        is_async=True,
    )


def python_type(schema: Any) -> Any:
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
            python_type(o) for o in options if not (isinstance(o, dict) and o.get("type") == "null")
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
    if kinds[0] == "array":
        result: Any = list[python_type(schema.get("items"))]  # type: ignore[misc]
    else:
        result = _SIMPLE.get(kinds[0], Any)
    return Optional[result] if nullable else result


def _arguments_model(operation: Operation) -> tuple[type[Any], dict[str, str]]:
    """A model with one field per parameter, aliased to the argument name, showing its schema.

    Fields are named ``arg0``, ``arg1``, ... because argument names come from the document and
    may shadow pydantic's own attributes; the alias is the name the agent sees and sends.
    """
    fields: dict[str, Any] = {}
    field_to_parameter: dict[str, str] = {}
    for index, param in enumerate(operation.parameters):
        shown = dict(param.schema)
        kind: Any = python_type(shown)
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
