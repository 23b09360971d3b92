"""One line of the call log, and how a finished call becomes one.

An entry is what an operator reads when a voice call went wrong: which tool (or, for BlackBox's
lifecycle webhooks, which hook) ran, for which ``callId`` and agent, with which arguments, what it
answered, how it ended and how long it took. Arguments and results are stored as JSON text,
masked first: ``SecretStr`` values and values marked :class:`~toolserver.Sensitive` become
``"***"`` before anything is serialised, so they never reach the database.

Turning a :class:`~toolserver.core.executor.CallRecord` into an entry (:class:`EntryMaker`) runs
in the call log's writer thread, never on the request path.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any, Literal

import pydantic_core
from pydantic import BaseModel

from toolserver.core.executor import CallRecord
from toolserver.core.lifecycle import LifecycleRecord
from toolserver.core.plugin import Tool
from toolserver.core.sensitive import MaskPlan, apply_mask, mask_plan

__all__ = ["COLUMNS", "MAX_VALUE_BYTES", "CallEntry", "CallQuery", "EntryMaker", "iso_time"]

COLUMNS = (
    "at", "kind", "surface", "name", "call_id", "agent_id", "key_id", "session_id", "instance",
    "arguments", "result", "outcome", "error_kind", "error", "duration_ms",
)  # fmt: skip
"""The stored columns of an entry (besides the store's ``id``)."""

EntryKind = Literal["tool", "webhook"]

MAX_VALUE_BYTES = 32_768
"""Arguments or a result longer than this (as JSON) are stored as a truncated preview."""


@dataclasses.dataclass(slots=True)
class CallEntry:
    """One tool call (``kind="tool"``) or lifecycle webhook (``kind="webhook"``, ``name`` is the
    hook: ``start``, ``result``, ``transfer``).

    ``arguments`` and ``result`` are masked JSON text (None when there was none); ``result`` of
    a failed call is the error body the caller got. ``id`` is assigned by the store.
    """

    at: float
    kind: EntryKind
    surface: str
    name: str
    outcome: str
    duration_ms: float
    call_id: str | None = None
    agent_id: str | None = None
    key_id: str | None = None
    session_id: str | None = None
    instance: str | None = None
    arguments: str | None = None
    result: str | None = None
    error_kind: str | None = None
    error: str | None = None
    id: int | None = None

    def row(self) -> tuple[Any, ...]:
        """The stored columns, in the order of :data:`COLUMNS`."""
        return (
            self.at, self.kind, self.surface, self.name, self.call_id, self.agent_id,
            self.key_id, self.session_id, self.instance, self.arguments, self.result,
            self.outcome, self.error_kind, self.error, self.duration_ms,
        )  # fmt: skip

    def as_json(self) -> dict[str, Any]:
        """The entry as the HTTP API and the console show it (camelCase, values parsed)."""
        return {
            "id": self.id,
            "time": iso_time(self.at),
            "timestamp": self.at,
            "kind": self.kind,
            "surface": self.surface,
            "name": self.name,
            "callId": self.call_id,
            "agentId": self.agent_id,
            "keyId": self.key_id,
            "sessionId": self.session_id,
            "instance": self.instance,
            "arguments": _parsed(self.arguments),
            "result": _parsed(self.result),
            "outcome": self.outcome,
            "errorKind": self.error_kind,
            "error": self.error,
            "durationMs": self.duration_ms,
        }


@dataclasses.dataclass(slots=True, frozen=True)
class CallQuery:
    """Which entries to list: every filter is optional; newest first, ``limit`` at a time.

    ``before`` is the cursor: the id of the last entry of the previous page.
    """

    call_id: str | None = None
    name: str | None = None
    surface: str | None = None
    outcome: str | None = None
    kind: str | None = None
    since: float | None = None
    until: float | None = None
    before: int | None = None
    limit: int = 50

    def matches(self, entry: CallEntry) -> bool:
        """Whether ``entry`` passes the filters (the live tail filters in memory)."""
        return (
            (self.call_id is None or entry.call_id == self.call_id)
            and (self.name is None or entry.name == self.name)
            and (self.surface is None or entry.surface == self.surface)
            and (self.outcome is None or entry.outcome == self.outcome)
            and (self.kind is None or entry.kind == self.kind)
            and (self.since is None or entry.at >= self.since)
            and (self.until is None or entry.at < self.until)
        )


def iso_time(at: float) -> str:
    moment = datetime.datetime.fromtimestamp(at, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parsed(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return pydantic_core.from_json(text)
    except ValueError:
        return text


class EntryMaker:
    """Turns call records into entries, masking with each tool's plan (read once per tool)."""

    def __init__(self, instance: str | None = None) -> None:
        self.instance = instance
        # By tool object (tools compare by identity); a registry's tools live as long as it.
        self._plans: dict[Tool, tuple[MaskPlan, MaskPlan]] = {}

    def plans(self, tool: Tool | None) -> tuple[MaskPlan, MaskPlan]:
        """What to mask in a tool's arguments and in its results."""
        if tool is None:
            return None, None
        plans = self._plans.get(tool)
        if plans is None:
            signature = tool.signature
            output = signature.output_type
            plans = (
                mask_plan(signature.arguments_model),
                mask_plan(output) if output is not None else None,
            )
            self._plans[tool] = plans
        return plans

    def entry(self, record: CallRecord) -> CallEntry:
        arguments_plan, result_plan = self.plans(record.tool_ref)
        context = record.context
        failure = record.failure
        result_text = None
        if record.result is not None:
            result = record.result
            if result_plan is None or result.fallback_for is not None:
                result_text = _limited(result.json())
            else:
                result_text = _dumps(apply_mask(result_plan, result.value))
        elif failure is not None:
            result_text = _dumps(failure.to_body())
        return CallEntry(
            at=record.started_at,
            kind="tool",
            surface=record.surface,
            name=record.tool,
            outcome=record.outcome,
            duration_ms=round(record.duration * 1000, 3),
            call_id=context.call_id if context is not None else None,
            agent_id=context.agent_id if context is not None else None,
            key_id=context.principal if context is not None else None,
            session_id=context.session_id if context is not None else None,
            instance=self.instance,
            arguments=_arguments(record.arguments, arguments_plan),
            result=result_text,
            error_kind=record.error_kind,
            error=failure.message if failure is not None else None,
        )


    def webhook_entry(self, record: LifecycleRecord) -> CallEntry | None:
        """A BlackBox call webhook (start, transfer, result) that reached its hooks: its payload
        as the arguments, its answer as the result; None for other records (result hook runs,
        webhooks refused before their hooks, which have no call to file them under)."""
        if record.kind not in WEBHOOK_NAMES or record.started_at is None:
            return None
        failed = record.error is not None or record.outcome in _FAILED_WEBHOOKS
        payload = record.payload
        return CallEntry(
            at=record.started_at,
            kind="webhook",
            surface="webhook",
            name=record.kind,
            outcome="error" if failed else "ok",
            duration_ms=round(record.duration * 1000, 3),
            call_id=record.call_id,
            agent_id=record.agent_id,
            instance=self.instance,
            arguments=(
                _limited(payload.model_dump_json(by_alias=True, exclude_none=True).encode())
                if isinstance(payload, BaseModel)
                else None
            ),
            result=_dumps(record.answer) if record.answer is not None else None,
            error_kind=record.outcome if failed else None,
            error=record.error,
        )


WEBHOOK_NAMES = frozenset({"start", "transfer", "result"})
"""The lifecycle webhooks the call log keeps (entries of kind ``webhook``, named so)."""

_FAILED_WEBHOOKS = frozenset({"store_failed", "failed", "rejected_by_default"})
"""Outcomes of a webhook whose hooks did not do their work (its answer was the fallback one)."""


def _arguments(arguments: Any, plan: MaskPlan) -> str | None:
    if arguments is None:
        return None
    if isinstance(arguments, BaseModel):
        if plan is None:
            return _limited(arguments.model_dump_json(by_alias=True).encode())
        return _dumps(apply_mask(plan, arguments.model_dump(mode="json", by_alias=True)))
    if isinstance(arguments, (str, bytes, bytearray)):
        try:
            arguments = pydantic_core.from_json(arguments) if arguments else {}
        except ValueError:
            # Not JSON: nothing can be told apart in it, so a plan with anything to mask keeps
            # nothing of it.
            if plan is not None:
                return _dumps("(arguments that are not JSON)")
            if isinstance(arguments, str):
                return _dumps(arguments)
            return _dumps(bytes(arguments).decode("utf-8", "replace"))
    return _dumps(apply_mask(plan, arguments))


def _dumps(value: Any) -> str:
    return _limited(pydantic_core.to_json(value, fallback=repr))


def _limited(data: bytes) -> str:
    if len(data) <= MAX_VALUE_BYTES:
        return data.decode("utf-8", "replace")
    preview = data[:1024].decode("utf-8", "ignore")
    return pydantic_core.to_json(
        {"truncated": True, "bytes": len(data), "preview": preview}
    ).decode()
