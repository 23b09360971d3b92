"""The plugin author's API: a :class:`Plugin` holds tools, lifecycle hooks and settings.

A tool is a plain function with type hints and a docstring::

    crm = Plugin("crm", settings=CrmSettings)

    @crm.tool(side_effects=True)
    async def create_lead(name: str, phone: str, ctx: ToolContext) -> Lead:
        '''Create a sales lead for a caller who is not a customer yet.

        Args:
            name: The caller's full name.
            phone: The caller's phone number, as heard.
        '''

Decorating reads the signature once (arguments model, output type, descriptions) so a broken
definition fails when the plugin is imported, not when a caller first reaches it.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar, overload

from pydantic_settings import BaseSettings, SettingsConfigDict

from toolserver.core.call_hooks import CallHook, HookKind, make_hook
from toolserver.core.circuits import Circuit, CircuitPolicy
from toolserver.core.errors import PluginError
from toolserver.core.signature import ToolSignature, read_signature

__all__ = ["NO_FALLBACK", "Plugin", "PluginSettings", "Tool"]


class _NoFallback:
    def __repr__(self) -> str:
        return "NO_FALLBACK"


NO_FALLBACK: Any = _NoFallback()
"""A tool without a fallback answer (``None`` is a valid fallback)."""

F = TypeVar("F", bound=Callable[..., Any])
Hook = Callable[["Plugin"], Awaitable[None] | None]

TOOL_NAME_PATTERN = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
MAX_TOOL_NAME_LENGTH = 64


class PluginSettings(BaseSettings):
    """Base class for a plugin's settings.

    Fields are read from the environment (and ``.env``) with the prefix
    ``TOOLSERVER_PLUGIN_<PLUGIN NAME>_``: a field ``db_path`` of plugin ``crm`` is
    ``TOOLSERVER_PLUGIN_CRM_DB_PATH``. Mark secrets as ``pydantic.SecretStr`` so they are
    never printed or logged.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")


@dataclasses.dataclass(slots=True, eq=False)
class Tool:
    """One tool as the registry serves it: the function plus everything read from it."""

    fn: Callable[..., Any]
    name: str
    description: str
    signature: ToolSignature
    plugin: str = ""
    timeout: float | None = None
    side_effects: bool = False
    idempotent: bool = False
    tags: frozenset[str] = frozenset()
    fallback: Any = NO_FALLBACK
    fallback_fits: bool = False
    """Whether the fallback is a value of the tool's declared return type (so a surface may send
    it as the tool's structured result; one that is not is sent as a message)."""
    cache_ttl: float | None = None
    cache_per_call: bool = False
    circuit: Circuit | None = None
    input_schema: Mapping[str, Any] | None = None
    """A JSON Schema the plugin wrote itself, published instead of the generated one."""

    @property
    def is_async(self) -> bool:
        return self.signature.is_async

    @property
    def has_fallback(self) -> bool:
        return self.fallback is not NO_FALLBACK


def _fits(signature: ToolSignature, value: Any) -> bool:
    """Whether ``value`` is already what the tool's return type serialises to."""
    adapter = signature.output_adapter
    if adapter is None:
        return signature.output_type is None
    try:
        return adapter.dump_python(adapter.validate_python(value), mode="json") == value
    except Exception:
        return False


def validate_tool_name(name: str) -> str | None:
    """Why ``name`` cannot be a BlackBox tool name, or None when it can."""
    if not name:
        return "the name is empty"
    if len(name) > MAX_TOOL_NAME_LENGTH:
        return f"the name is {len(name)} characters long; at most {MAX_TOOL_NAME_LENGTH} are allowed"
    if not TOOL_NAME_PATTERN.match(name):
        return (
            "BlackBox accepts only letters, digits and underscores, not starting with a digit "
            "(^[a-zA-Z_][a-zA-Z0-9_]*$)"
        )
    return None


class Plugin:
    """A named group of tools with shared settings, state and lifecycle.

    Args:
        name: the plugin's name; it prefixes the plugin's environment settings.
        description: what the plugin is for.
        settings: the plugin's settings class.
        version: the plugin's version.
        circuit: a circuit breaker for the system the plugin's tools call
            (:mod:`toolserver.core.circuits`); a tool naming an ``upstream`` gets that upstream's
            own circuit with the same policy. None: no circuit breaking.

    Attributes:
        name: the plugin's name; it prefixes the plugin's environment settings.
        state: a namespace for what the startup hook opens (a database, an HTTP client).
    """

    def __init__(
        self,
        name: str,
        *,
        description: str | None = None,
        settings: type[PluginSettings] | None = None,
        version: str | None = None,
        circuit: CircuitPolicy | None = None,
    ) -> None:
        if not re.match(r"^[a-zA-Z][a-zA-Z0-9_]*$", name):
            raise PluginError(
                f"plugin name {name!r} must start with a letter and contain only letters, digits "
                "and underscores"
            )
        self.name = name
        self.description = description
        self.version = version
        self.settings_class = settings
        self.circuit = circuit
        self.state = types.SimpleNamespace()
        self.tools: list[Tool] = []
        self.startup_hooks: list[Hook] = []
        self.shutdown_hooks: list[Hook] = []
        self.readiness_checks: list[Hook] = []
        self.call_hooks: list[CallHook] = []
        self._settings: PluginSettings | None = None

    def __repr__(self) -> str:
        return f"Plugin({self.name!r}, tools={[t.name for t in self.tools]})"

    @property
    def env_prefix(self) -> str:
        return f"TOOLSERVER_PLUGIN_{self.name.upper()}_"

    @property
    def settings(self) -> Any:
        """The validated settings; read from the environment on first use."""
        if self._settings is None:
            self._settings = self.load_settings()
        return self._settings

    def load_settings(self, **overrides: Any) -> Any:
        """Read and validate settings now; a bad value is a :class:`PluginError` naming it."""
        if self.settings_class is None:
            return None
        from pydantic import ValidationError
        from pydantic_settings import SettingsError

        try:
            self._settings = self.settings_class(_env_prefix=self.env_prefix, **overrides)
        except ValidationError as exc:
            problems = "; ".join(
                f"{self.env_prefix}{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
                for err in exc.errors(include_input=False, include_url=False)
            )
            raise PluginError(f"plugin {self.name!r} has invalid settings: {problems}") from None
        except SettingsError as exc:  # a list/dict/model value that is not valid JSON
            match = re.search(r'field "(\w+)"', str(exc))
            variable = f"{self.env_prefix}{match.group(1).upper()}" if match else self.env_prefix
            raise PluginError(
                f"plugin {self.name!r} has invalid settings: {variable}: cannot be parsed "
                "(list, dict and model values must be JSON)"
            ) from None
        return self._settings

    @overload
    def tool(self, fn: F, /) -> F: ...

    @overload
    def tool(
        self,
        fn: None = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
        side_effects: bool = False,
        idempotent: bool = False,
        tags: tuple[str, ...] = (),
        parse_docstring: bool = True,
        fallback: Any = NO_FALLBACK,
        cache_ttl: float | None = None,
        cache_per_call: bool = False,
        upstream: str | None = None,
        input_schema: Mapping[str, Any] | None = None,
    ) -> Callable[[F], F]: ...

    def tool(
        self,
        fn: F | None = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
        side_effects: bool = False,
        idempotent: bool = False,
        tags: tuple[str, ...] = (),
        parse_docstring: bool = True,
        fallback: Any = NO_FALLBACK,
        cache_ttl: float | None = None,
        cache_per_call: bool = False,
        upstream: str | None = None,
        input_schema: Mapping[str, Any] | None = None,
    ) -> F | Callable[[F], F]:
        """Register a function as a tool; usable bare (``@plugin.tool``) or with options.

        Args:
            name: the tool's name (default: the function's name).
            description: what the model reads (default: the docstring's text).
            timeout: seconds before the call is abandoned (default: the server's).
            side_effects: the tool changes something; a retried call with the same BlackBox
                ``callId`` and arguments then returns the first result instead of running again.
            idempotent: the tool changes something but running it twice is harmless, so it
                needs no de-duplication.
            tags: labels for selecting tools (subset endpoints, the OpenAPI bridge).
            parse_docstring: read parameter descriptions from the docstring's Args section.
            fallback: the answer the agent gets at once when the tool times out, crashes, or
                its circuit is open (exported to BlackBox as ``fallBackResult``).
            cache_ttl: seconds an identical call of this read-only tool is answered from the
                last result (:mod:`toolserver.core.cache`); side-effecting tools cannot be cached.
            cache_per_call: keep cached results per BlackBox ``callId`` instead of for every call.
            upstream: the system this tool calls, when the plugin calls several: each upstream
                has its own circuit (default: the plugin's one circuit).
            input_schema: a JSON Schema to publish as the tool's input schema, as written
                (``$defs``, conditionals, JSON Schema 2020-12 keywords), instead of the one
                generated from the signature. Arguments are still validated by the signature;
                ``toolserver check`` reports what strict clients would refuse in it.
        """

        def register(func: F) -> F:
            self.add_tool(
                func,
                name=name,
                description=description,
                timeout=timeout,
                side_effects=side_effects,
                idempotent=idempotent,
                tags=tags,
                parse_docstring=parse_docstring,
                fallback=fallback,
                cache_ttl=cache_ttl,
                cache_per_call=cache_per_call,
                upstream=upstream,
                input_schema=input_schema,
            )
            return func

        if fn is not None:
            return register(fn)
        return register

    def add_tool(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
        side_effects: bool = False,
        idempotent: bool = False,
        tags: tuple[str, ...] = (),
        parse_docstring: bool = True,
        signature: ToolSignature | None = None,
        fallback: Any = NO_FALLBACK,
        cache_ttl: float | None = None,
        cache_per_call: bool = False,
        upstream: str | None = None,
        input_schema: Mapping[str, Any] | None = None,
    ) -> Tool:
        """Register ``fn`` without decorator syntax (used by generated tools such as bridges)."""
        tool_name = name or getattr(fn, "__name__", "")
        where = f"tool {tool_name!r} of plugin {self.name!r}"
        if timeout is not None and timeout <= 0:
            raise PluginError(f"{where}: timeout must be > 0")
        if cache_ttl is not None:
            if cache_ttl <= 0:
                raise PluginError(f"{where}: cache_ttl must be > 0")
            if side_effects or idempotent:
                raise PluginError(
                    f"{where}: a tool that changes something cannot be cached (cache_ttl): a "
                    "cached answer would say it was done when nothing happened"
                )
        if cache_per_call and cache_ttl is None:
            raise PluginError(f"{where}: cache_per_call needs a cache_ttl")
        if input_schema is not None and (
            not isinstance(input_schema, Mapping) or input_schema.get("type") != "object"
        ):
            raise PluginError(f"{where}: input_schema must be a JSON Schema of type 'object'")
        if upstream is not None and self.circuit is None:
            raise PluginError(f"{where}: upstream needs a circuit policy on the plugin")
        if fallback is not NO_FALLBACK:
            try:
                import pydantic_core

                pydantic_core.to_json(fallback)
            except Exception:
                raise PluginError(f"{where}: the fallback must be JSON data") from None
        circuit = None
        if self.circuit is not None:
            circuit_name = self.name if upstream is None else f"{self.name}:{upstream}"
            circuit = Circuit(circuit_name, self.circuit)
        try:
            sig = signature or read_signature(fn, name=tool_name, parse_docstring=parse_docstring)
        except PluginError as exc:
            raise PluginError(f"tool {tool_name!r} of plugin {self.name!r}: {exc}") from None
        fits = fallback is not NO_FALLBACK and _fits(sig, fallback)
        tool = Tool(
            fn=fn,
            name=tool_name,
            description=(description if description is not None else sig.description).strip(),
            signature=sig,
            plugin=self.name,
            timeout=timeout,
            side_effects=side_effects,
            idempotent=idempotent,
            tags=frozenset(tags),
            fallback=fallback,
            fallback_fits=fits,
            cache_ttl=cache_ttl,
            cache_per_call=cache_per_call,
            circuit=circuit,
            input_schema=None if input_schema is None else dict(input_schema),
        )
        self.tools.append(tool)
        return tool

    def on_startup(self, fn: Hook) -> Hook:
        """Run ``fn(plugin)`` when the server starts, before any call; may be async."""
        self.startup_hooks.append(fn)
        return fn

    def on_shutdown(self, fn: Hook) -> Hook:
        """Run ``fn(plugin)`` when the server stops, after the last call; may be async."""
        self.shutdown_hooks.append(fn)
        return fn

    def on_call_start(self, fn: F) -> F:
        """Run ``fn(payload, ctx)`` before BlackBox answers a call (``POST /blackbox/start``).

        It returns what to keep for the call (a dict or a pydantic model: later tool calls of the
        same ``callId`` read it as ``ctx.call_state``), None to accept without keeping anything,
        or ``Reject("reason")`` to refuse the call. It runs within ``TOOLSERVER_START_BUDGET``.
        """
        return self._call_hook("start", fn)

    def on_call_result(self, fn: F) -> F:
        """Run ``fn(payload, ctx)`` once for each result of a call (``POST /blackbox/result``):
        ``CompletedWebHookPayload``, ``FailedWebHookPayload`` or ``CallDeadLineWebHookPayload``.

        The result is stored before BlackBox hears back, and the hook runs from the store: once
        per ``callId`` and result type, across BlackBox's retries and every replica. A hook that
        raises is retried with backoff until it succeeds.
        """
        return self._call_hook("result", fn)

    @overload
    def on_transfer(self, fn: F, /) -> F: ...

    @overload
    def on_transfer(
        self, fn: None = None, /, *, description: str | None = None
    ) -> Callable[[F], F]: ...

    def on_transfer(
        self, fn: F | None = None, /, *, description: str | None = None
    ) -> F | Callable[[F], F]:
        """Run ``fn(payload, ctx)`` when the agent transfers a caller (``POST /blackbox/transfer``).

        It returns ``WarmTransfer(...)``, ``ColdTransfer(...)``, ``NoTransfer(message)``, or None
        to leave the decision to the next plugin's hook. It runs within
        ``TOOLSERVER_TRANSFER_BUDGET``; slow, failing or invalid, it answers ``isSuccess: false``
        in time and BlackBox uses the agent's own fallback transfer.

        Args:
            description: when the agent should transfer (the exported transfer's
                ``description``; default: the docstring).
        """

        def register(func: F) -> F:
            return self._call_hook("transfer", func, description)

        return register(fn) if fn is not None else register

    def _call_hook(self, kind: HookKind, fn: F, description: str | None = None) -> F:
        self.call_hooks.append(make_hook(kind, fn, self.name, description))
        return fn

    def hooks_of(self, kind: HookKind) -> list[CallHook]:
        """This plugin's hooks of one kind, in the order they were registered."""
        return [hook for hook in self.call_hooks if hook.kind == kind]

    def readiness_check(self, fn: Hook) -> Hook:
        """Run ``fn(plugin)`` on every readiness probe (``/readyz``); may be async.

        It raises when the plugin cannot serve calls right now (its database or upstream API is
        unreachable); the exception's text is the reason the probe reports. Keep it quick: a
        probe gives all checks a few seconds together.
        """
        self.readiness_checks.append(fn)
        return fn

    async def check_ready(self) -> None:
        """Run the readiness checks; the first failure propagates."""
        for check in self.readiness_checks:
            result = check(self)
            if inspect.isawaitable(result):
                await result

    async def startup(self) -> None:
        self.load_settings() if self._settings is None else None
        for hook in self.startup_hooks:
            result = hook(self)
            if inspect.isawaitable(result):
                await result

    async def shutdown(self) -> None:
        for hook in reversed(self.shutdown_hooks):
            result = hook(self)
            if inspect.isawaitable(result):
                await result
