"""Call hooks: a plugin's functions for the start, the result and the transfer of a call.

::

    @crm.on_call_start
    async def recognise_caller(call: StartWebHookPayload, ctx: CallContext) -> dict | Reject:
        ...

A hook takes the typed payload (:mod:`toolserver.core.call_payloads`) and, optionally, a
:class:`CallContext`; it may be async or sync (a sync hook runs in a worker thread, so a blocking
database call does not stop the server). What runs them, with which budget, is
:mod:`toolserver.core.lifecycle`.
"""

from __future__ import annotations

import dataclasses
import inspect
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

import structlog

from toolserver.core.errors import PluginError

__all__ = ["CallContext", "CallHook", "HookKind", "make_hook"]

HookKind = Literal["start", "result", "transfer"]

_HOOK_LOG = structlog.get_logger("toolserver.hook")


@dataclasses.dataclass(slots=True, kw_only=True)
class CallContext:
    """The call a hook is running for.

    Attributes:
        call_id: BlackBox's ``callId``.
        agent_id, org_id: BlackBox's ``agentId`` and ``orgId``.
        endpoint: the caller's phone number or SIP URI.
        call_data: ``callAdditionalData``; agent_data: ``agentAdditionalData``.
        call_state: what the call's start hooks kept (empty in a start hook). A result hook sees
            the state as it was when the result arrived.
        attempt: which attempt this is (result hooks are retried until they succeed).
        delivery_key: the same on every attempt of this hook for this result: key a write on it,
            and a retried hook cannot write twice.
        log: a structlog logger bound to the hook and the call.
        deadline: when the hook's budget ends (``time.monotonic()`` seconds).
    """

    call_id: str | None = None
    agent_id: str | None = None
    org_id: str | None = None
    endpoint: str | None = None
    call_data: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    agent_data: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    call_state: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    attempt: int = 1
    delivery_key: str | None = None
    log: Any = _HOOK_LOG
    deadline: float | None = None

    def remaining(self) -> float | None:
        """Seconds left of the hook's budget (never below 0); pass it to the calls it makes."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())


@dataclasses.dataclass(frozen=True, slots=True)
class CallHook:
    """One registered hook.

    ``key`` names it in the result outbox (``crm.record_outcome``), so a result stored before a
    restart still finds its hook afterwards.
    """

    kind: HookKind
    fn: Callable[..., Any]
    plugin: str
    name: str
    takes_context: bool
    is_async: bool
    description: str | None = None

    @property
    def key(self) -> str:
        return f"{self.plugin}.{self.name}"


def make_hook(
    kind: HookKind, fn: Callable[..., Any], plugin: str, description: str | None = None
) -> CallHook:
    """Check ``fn``'s shape now, so a broken hook fails when the plugin is imported."""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", "") or "hook"
    where = f"{kind} hook {name!r} of plugin {plugin!r}"
    if not callable(fn):
        raise PluginError(f"{where} is not callable")
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        raise PluginError(f"{where}: its signature cannot be read") from None
    positional = [
        p
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    if len(positional) not in (1, 2) or any(
        p.kind is p.KEYWORD_ONLY and p.default is p.empty for p in parameters
    ):
        raise PluginError(
            f"{where} must take the payload and, optionally, the call's context: "
            "def hook(payload, ctx)"
        )
    doc = description if description is not None else inspect.getdoc(fn)
    return CallHook(
        kind=kind,
        fn=fn,
        plugin=plugin,
        name=name.replace("<locals>.", ""),
        takes_context=len(positional) == 2,
        is_async=inspect.iscoroutinefunction(fn),
        description=(doc or "").strip() or None,
    )
