"""Reading a tool function: its arguments model, its context parameter, its output type.

This is the only place that looks at a tool's Python signature. Everything downstream works from
the :class:`ToolSignature` it returns: the executor validates with ``arguments_model`` and
serialises with ``output_adapter``; the schema generator renders both as JSON Schema.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any

import docstring_parser
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model
from pydantic.fields import FieldInfo

from toolserver.core.context import ToolContext
from toolserver.core.errors import PluginError

__all__ = ["ToolSignature", "read_signature"]

_ARGUMENTS_CONFIG = ConfigDict(extra="forbid", arbitrary_types_allowed=False, validate_by_name=True)
_NO_OUTPUT = (inspect.Signature.empty, None, type(None), Any)


@dataclasses.dataclass(slots=True, frozen=True)
class ToolSignature:
    """What the executor and the schema generator need to know about a tool function.

    Attributes:
        arguments_model: a pydantic model whose fields are the tool's parameters (lax coercion,
            unknown arguments refused).
        field_to_parameter: model field name to function parameter name, where they differ
            (parameters that shadow pydantic's own attributes are renamed and aliased).
        context_parameter: the parameter that receives the :class:`ToolContext`, if any.
        output_adapter: validates and serialises the return value when it is annotated.
        description: the docstring's text, without its parameter sections.
        is_async: whether the function is a coroutine function.
    """

    arguments_model: type[BaseModel]
    field_to_parameter: dict[str, str]
    context_parameter: str | None
    output_adapter: TypeAdapter[Any] | None
    output_type: Any
    description: str
    is_async: bool


def _is_context(annotation: Any) -> bool:
    if annotation is ToolContext:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _is_context(typing.get_args(annotation)[0])
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return any(_is_context(a) for a in typing.get_args(annotation) if a is not type(None))
    return False


def _docstring(fn: Callable[..., Any]) -> docstring_parser.Docstring | None:
    doc = inspect.getdoc(fn)
    if not doc:
        return None
    try:
        return docstring_parser.parse(doc)
    except docstring_parser.ParseError:
        return None


def _description(doc: docstring_parser.Docstring | None, raw: str | None) -> str:
    if doc is None:
        return (raw or "").strip()
    parts = [p for p in (doc.short_description, doc.long_description) if p]
    return "\n\n".join(parts).strip()


def read_signature(
    fn: Callable[..., Any], *, name: str, parse_docstring: bool = True
) -> ToolSignature:
    """Build the :class:`ToolSignature` of ``fn``; a construct that cannot be served raises."""
    target = fn.func if isinstance(fn, functools.partial) else fn
    try:
        hints = typing.get_type_hints(target, include_extras=True)
    except Exception as exc:  # unresolvable forward reference, typo in an annotation, ...
        raise PluginError(f"cannot resolve the type hints: {exc}") from None
    signature = inspect.signature(fn)
    doc = _docstring(target) if parse_docstring else None
    param_docs = {p.arg_name: p.description for p in doc.params} if doc else {}

    fields: dict[str, Any] = {}
    field_to_parameter: dict[str, str] = {}
    context_parameter: str | None = None
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise PluginError(f"*{param.name} / **{param.name} parameters cannot be described")
        annotation = hints.get(param.name, param.annotation)
        if _is_context(annotation):
            context_parameter = param.name
            continue
        if annotation is inspect.Parameter.empty:
            raise PluginError(f"parameter {param.name!r} needs a type hint")
        default = ... if param.default is inspect.Parameter.empty else param.default
        field_name = param.name
        if param.name.startswith("model_") or hasattr(BaseModel, param.name):
            # A field may not shadow BaseModel's own attributes: rename it, keep the wire name.
            field_name = f"arg_{param.name}"
            annotation = typing.Annotated[annotation, Field(alias=param.name)]
            field_to_parameter[field_name] = param.name
        info = FieldInfo.from_annotated_attribute(annotation, default)
        if info.description is None and param_docs.get(param.name):
            info.description = param_docs[param.name].strip()
        fields[field_name] = (info.annotation, info)

    try:
        arguments_model = create_model(  # type: ignore[call-overload]
            f"{name}_arguments", __config__=_ARGUMENTS_CONFIG, **fields
        )
    except Exception as exc:
        raise PluginError(f"its parameters cannot be validated: {exc}") from None

    output_type = hints.get("return", signature.return_annotation)
    output_adapter = None
    if output_type not in _NO_OUTPUT:
        try:
            output_adapter = TypeAdapter(output_type)
        except Exception as exc:
            raise PluginError(f"its return type cannot be serialised: {exc}") from None

    return ToolSignature(
        arguments_model=arguments_model,
        field_to_parameter=field_to_parameter,
        context_parameter=context_parameter,
        output_adapter=output_adapter,
        output_type=output_type if output_adapter is not None else None,
        description=_description(doc, inspect.getdoc(target)),
        is_async=inspect.iscoroutinefunction(target),
    )
