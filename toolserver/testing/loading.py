"""Loading a plugin for a test, and calling its tools in-process through the executor.

The calls go through the same :class:`~toolserver.core.executor.Executor` every surface uses, so
argument validation, timeouts, de-duplication of side-effecting calls and error shaping are the
server's own; only the transport is missing.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import Any, Union

import pydantic_core

from toolserver.core.call_payloads import (
    RESULT_TYPES,
    CallPayload,
    parse_call_payload,
)
from toolserver.core.context import ToolContext
from toolserver.core.discovery import LOCAL_PACKAGE, plugins_in
from toolserver.core.errors import PluginError
from toolserver.core.executor import Executor, ToolResult
from toolserver.core.lifecycle import CallLifecycle
from toolserver.core.outbox import ResultJob
from toolserver.core.plugin import Plugin
from toolserver.core.registry import Registry
from toolserver.stores.memory import MemoryCallStates, MemoryIdempotencyStore

__all__ = [
    "PluginSource",
    "ToolRunner",
    "call_tool",
    "load_plugin",
    "load_plugins",
    "make_context",
    "run_plugins",
]

PluginSource = Union[Registry, Plugin, Path, str, Any]
"""What the testing helpers accept as plugins: a :class:`Registry`, a :class:`Plugin`, an
imported module holding plugins, a path to a plugin module or package folder, or a dotted module
name."""

ContextLike = Union[ToolContext, Mapping[str, Any], None]


def _import_path(path: Path) -> Any:
    """Import the plugin at ``path`` afresh, as discovery would (``toolserver_plugins.NAME``)."""
    from toolserver.core.discovery import _local_package

    path = path.resolve()
    if path.is_dir():
        if not (path / "__init__.py").exists():
            raise PluginError(f"{str(path)!r} is a folder without __init__.py, not a plugin")
        module_name = path.name
    elif path.suffix == ".py" and path.exists():
        module_name = path.stem
    else:
        raise PluginError(f"no plugin module or package at {str(path)!r}")
    _local_package(path.parent)
    qualified = f"{LOCAL_PACKAGE}.{module_name}"
    # A fresh import gives every test a fresh Plugin: settings and state never leak between tests.
    for name in [n for n in sys.modules if n == qualified or n.startswith(qualified + ".")]:
        del sys.modules[name]
    importlib.invalidate_caches()
    return importlib.import_module(qualified)


def _plugins(source: PluginSource) -> list[Plugin]:
    if isinstance(source, Registry):
        return list(source.plugins)
    if isinstance(source, Plugin):
        return [source]
    if isinstance(source, Path) or (
        isinstance(source, str) and ("/" in source or "\\" in source or source.endswith(".py"))
    ):
        found = plugins_in(_import_path(Path(source)))
        origin = str(source)
    elif isinstance(source, str):
        found = plugins_in(importlib.import_module(source))
        origin = source
    else:
        found = plugins_in(source)
        origin = repr(source)
    if not found:
        raise PluginError(f"{origin} defines no toolserver.Plugin")
    return found


def load_plugin(source: PluginSource, *, settings: Mapping[str, Any] | None = None) -> Registry:
    """Load the plugin(s) of ``source`` into a registry, as the server would.

    Args:
        source: a path to a plugin module or package folder (imported afresh on every call, so
            each test gets its own plugin object), a dotted module name, a module, a
            :class:`Plugin` or a :class:`Registry`.
        settings: values for the plugin's settings fields, on top of the environment
            (``{"greeting": "Hi"}``); validated as at startup. Without them a plugin keeps the
            settings it has, or reads them from the environment.

    Raises:
        PluginError: the plugin cannot be imported or served (a bad tool name, a duplicate, ...).
    """
    plugins = _plugins(source)
    for plugin in plugins:
        if settings and plugin.settings_class is None:
            raise PluginError(f"plugin {plugin.name!r} has no settings class to take {settings}")
        if settings:
            plugin.load_settings(**dict(settings))
        else:
            plugin.settings  # noqa: B018 (validates now, as at startup, unless already loaded)
    return Registry(plugins)


def load_plugins(*sources: PluginSource) -> Registry:
    """One registry with the plugins of every source (each loaded as by :func:`load_plugin`)."""
    plugins: list[Plugin] = []
    for source in sources:
        plugins.extend(
            source.plugins if isinstance(source, Registry) else load_plugin(source).plugins
        )
    return Registry(plugins)


def _registry(target: PluginSource | Iterable[PluginSource]) -> Registry:
    if isinstance(target, Registry):
        return target
    if isinstance(target, (list, tuple)):
        return load_plugins(*target)
    return Registry(_plugins(target))


def make_context(context: ContextLike = None, *, surface: str = "test") -> ToolContext:
    """A :class:`ToolContext` for a test call.

    A mapping is taken as the context's fields (``{"call_id": "c1", "call_data": {...}}``); as on
    webhooks, a ``call_id`` is also the idempotency scope and the call whose state the tool
    reads (what :meth:`ToolRunner.start_call` kept), unless those are given. A ``call_state``
    given here is what the tool sees when no start hook kept any.
    """
    if isinstance(context, ToolContext):
        return context
    fields = dict(context or {})
    fields.setdefault("surface", surface)
    if fields.get("call_id") is not None:
        fields.setdefault("idempotency_scope", str(fields["call_id"]))
        if "call_state" not in fields:
            fields.setdefault("state_scope", str(fields["call_id"]))
    return ToolContext(**fields)


PayloadLike = Union[CallPayload, Mapping[str, Any]]


class ToolRunner:
    """Started plugins and the executor that runs their tools, for several calls in one test.

    Its call hooks run too: :meth:`start_call`, :meth:`transfer` and :meth:`send_result` take a
    BlackBox payload (a dict as BlackBox sends it, or the typed model) and run every plugin's
    hooks as the server would, with the server's budgets; the state a start hook keeps is what
    later tool calls with the same ``call_id`` read.
    """

    def __init__(
        self, registry: Registry, executor: Executor, calls: CallLifecycle | None = None
    ) -> None:
        self.registry = registry
        self.executor = executor
        self.calls = calls or CallLifecycle(registry.plugins, call_states=executor.call_states)

    async def start_call(self, payload: PayloadLike) -> dict[str, Any]:
        """Run the start hooks; the answer BlackBox would get (``{"accept", "reasonMessage"}``)."""
        return await self.calls.start(_payload(payload, ("StartWebHookPayload",)))

    async def transfer(self, payload: PayloadLike) -> dict[str, Any]:
        """Run the transfer hooks; the answer BlackBox would get (``{"isSuccess", ...}``)."""
        return await self.calls.transfer(_payload(payload, ("TransferWebHookPayload",)))

    async def send_result(self, payload: PayloadLike) -> None:
        """Run every result hook once, at once, as the outbox would; the first failure raises.

        The call's state is handed to the hooks and then dropped, as on the server.
        """
        model = _payload(payload, RESULT_TYPES)
        raw = pydantic_core.to_json(model.model_dump(mode="json", by_alias=True))
        state = pydantic_core.to_json(await self.calls.state_of(model.call_id))
        if self.executor.call_states is not None and model.call_id:
            await self.executor.call_states.forget(model.call_id)
        for hook in self.calls.hooks["result"]:
            job = ResultJob(model.call_id or "", model.type, hook.key, raw, state, 0, "test")
            await self.calls.run_result_hook(job)

    async def call(
        self,
        name: str,
        arguments: Mapping[str, Any] | str | None = None,
        context: ContextLike = None,
    ) -> Any:
        """The tool's result as JSON-compatible data; a failure raises
        :class:`~toolserver.core.errors.ToolFailure` (``kind``, ``message``)."""
        return (await self.call_result(name, arguments, context)).value

    async def call_result(
        self,
        name: str,
        arguments: Mapping[str, Any] | str | None = None,
        context: ContextLike = None,
    ) -> ToolResult:
        """The full :class:`ToolResult` (``value``, ``replayed``)."""
        return await self.executor.call(name, arguments, make_context(context))


@contextlib.asynccontextmanager
async def run_plugins(
    target: PluginSource | Iterable[PluginSource],
    *,
    timeout: float = 10.0,
) -> AsyncIterator[ToolRunner]:
    """Start the plugins (their startup hooks), yield a :class:`ToolRunner`, stop them after.

    Args:
        target: the plugins (see :data:`PluginSource`), or a list of such sources.
        timeout: seconds a call may take when its tool sets no timeout (the server's default).
    """
    registry = _registry(target)
    executor = Executor(
        registry,
        default_timeout=timeout,
        idempotency=MemoryIdempotencyStore(),
        call_states=MemoryCallStates(),
    )
    started: list[Plugin] = []
    try:
        for plugin in registry.plugins:
            await plugin.startup()
            started.append(plugin)
        yield ToolRunner(registry, executor)
    finally:
        for plugin in reversed(started):
            await plugin.shutdown()


def _payload(payload: PayloadLike, accepted: tuple[str, ...]) -> CallPayload:
    if isinstance(payload, CallPayload):
        payload = payload.model_dump(mode="json", by_alias=True)
    return parse_call_payload(dict(payload), accepted)


async def call_tool(
    target: PluginSource | Iterable[PluginSource],
    name: str,
    arguments: Mapping[str, Any] | str | None = None,
    context: ContextLike = None,
    *,
    timeout: float = 10.0,
) -> Any:
    """Start the plugins, run one tool through the executor, stop them; return its result.

    Args:
        target: the plugins (a path, a module, a :class:`Plugin`, a :class:`Registry`, ...).
        name: the tool.
        arguments: its arguments, as a mapping or JSON text.
        context: the :class:`ToolContext`, or a mapping of its fields; ``surface`` is ``test``
            unless given.
        timeout: seconds a call may take when its tool sets no timeout.

    Raises:
        ToolFailure: the call failed; ``kind`` says how (``tool_error``, ``invalid_arguments``,
            ``timeout``, ...) and ``message`` is what an agent would be told.
    """
    async with run_plugins(target, timeout=timeout) as runner:
        return await runner.call(name, arguments, context)
