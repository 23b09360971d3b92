"""Values a call record must never keep: ``SecretStr`` fields and fields a plugin marks sensitive.

A tool marks a parameter (or a field of a model it takes or returns) with :data:`Sensitive`::

    @plugin.tool
    async def verify_caller(account: str, pin: Annotated[str, Sensitive]) -> Verified: ...

The marker changes nothing for the caller or the schema; it tells whoever records calls (the call
log, :mod:`toolserver.observability.calllog`) to store ``"***"`` instead of the value, as it
already does for ``pydantic.SecretStr``.

What to mask is read from the types once per tool, as a :data:`MaskPlan`: a tree that says which
keys of the JSON data, at which depth, are sensitive. Most tools have nothing to mask, and their
plan is None, so recording their calls costs no walk at all.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, Union

from pydantic import BaseModel, SecretBytes, SecretStr

__all__ = ["MASK", "MaskPlan", "Sensitive", "apply_mask", "mask_plan"]

MASK = "***"
"""What a masked value is stored as."""

ITEMS = "[]"
"""A plan's key for every item of a list."""
VALUES = "{}"
"""A plan's key for every value of a mapping."""


class Sensitive:
    """Marks a value that call records keep as ``"***"``: ``Annotated[str, Sensitive]``.

    Usable as the class itself or as an instance (``Annotated[str, Sensitive()]``).
    """

    def __repr__(self) -> str:
        return "Sensitive"


MaskPlan = Union[bool, dict[str, "MaskPlan"], None]
"""True: mask the whole value; a dict: mask inside, by key (:data:`ITEMS`, :data:`VALUES` for
every item or value); None: nothing to mask."""


def _marked(metadata: Any) -> bool:
    return any(m is Sensitive or isinstance(m, Sensitive) for m in metadata)


def _is_secret(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, (SecretStr, SecretBytes))


def mask_plan(tp: Any, _seen: frozenset[Any] = frozenset()) -> MaskPlan:
    """What to mask in JSON data shaped like ``tp`` (a type, a pydantic model, an annotation)."""
    if tp in _seen:  # a recursive model: its inner levels are masked like the outer one
        return None
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        inner, *metadata = typing.get_args(tp)
        if _marked(metadata):
            return True
        return mask_plan(inner, _seen)
    if _is_secret(tp):
        return True
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return _fields_plan(tp, _seen | {tp})
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        hints = typing.get_type_hints(tp, include_extras=True)
        seen = _seen | {tp}
        plan = {f.name: mask_plan(hints.get(f.name, Any), seen) for f in dataclasses.fields(tp)}
        return _prune(plan)
    if origin in (Union, types.UnionType):
        members = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        return _merge([mask_plan(arg, _seen) for arg in members])
    if origin in (list, tuple, set, frozenset) or _is_sequence(origin):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        inner = _merge([mask_plan(a, _seen) for a in args])
        return None if inner is None else {ITEMS: inner}
    if origin is dict or _is_mapping(origin):
        args = typing.get_args(tp)
        inner = mask_plan(args[1], _seen) if len(args) == 2 else None
        return None if inner is None else {VALUES: inner}
    return None


def _fields_plan(model: type[BaseModel], seen: frozenset[Any]) -> MaskPlan:
    plan: dict[str, MaskPlan] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        if _marked(info.metadata):
            plan[key] = True
        else:
            plan[key] = mask_plan(info.annotation, seen)
    return _prune(plan)


def _is_sequence(origin: Any) -> bool:
    import collections.abc as abc

    return origin in (abc.Sequence, abc.MutableSequence, abc.Set, abc.MutableSet, abc.Iterable)


def _is_mapping(origin: Any) -> bool:
    import collections.abc as abc

    return origin in (abc.Mapping, abc.MutableMapping)


def _prune(plan: dict[str, MaskPlan]) -> MaskPlan:
    kept = {key: value for key, value in plan.items() if value}
    return kept or None


def _merge(plans: list[MaskPlan]) -> MaskPlan:
    """One plan for a value that may have any of several shapes (a union)."""
    if any(plan is True for plan in plans):
        return True
    merged: dict[str, MaskPlan] = {}
    for plan in plans:
        if isinstance(plan, dict):
            for key, value in plan.items():
                merged[key] = _merge([merged.get(key), value])
    return _prune(merged)


def apply_mask(plan: MaskPlan, data: Any) -> Any:
    """``data`` (JSON data) with what ``plan`` names replaced by :data:`MASK`; a copy where
    anything changes, ``data`` itself where nothing does."""
    if not plan:
        return data
    if plan is True:
        return MASK
    if isinstance(data, Mapping):
        every = plan.get(VALUES)
        out = {}
        for key, value in data.items():
            inner = plan.get(key, every) if isinstance(key, str) else every
            out[key] = apply_mask(inner, value) if inner else value
        return out
    if isinstance(data, (list, tuple)):
        items = plan.get(ITEMS)
        return [apply_mask(items, value) for value in data] if items else data
    return data
