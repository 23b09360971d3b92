"""The running server's shared state: settings, plugins, registry and executor.

One :class:`ToolServer` is built per process. Every surface receives it and reads the registry
and executor from it; the app's lifespan starts and stops the plugins through it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import anyio
import structlog
from pydantic import SecretStr

from toolserver.core.discovery import discover_plugins
from toolserver.core.executor import Executor
from toolserver.core.idempotency import IdempotencyStore
from toolserver.core.lifecycle import CallLifecycle
from toolserver.core.plugin import Plugin, Tool
from toolserver.core.registry import Registry
from toolserver.runtime.keys import ensure_api_keys
from toolserver.runtime.limits import Limits
from toolserver.runtime.shutdown import Shutdown
from toolserver.settings import Settings
from toolserver.stores import build_stores

__all__ = ["ToolServer"]

_log = structlog.get_logger("toolserver")


class ToolServer:
    """Plugins, registry, executor and keys for one process.

    Args:
        settings: the validated configuration.
        plugins: the plugins to serve; discovered from the settings when omitted.
        idempotency: the store for retried side-effecting calls (default: from the settings,
            Redis when ``TOOLSERVER_REDIS_URL`` is set, else in-process).

    Attributes:
        stores: the idempotency store and the rate-limit counters (:mod:`toolserver.stores`).
        limits: the rate limits and concurrency caps the executor admits calls by.
        calls: runs the plugins' call hooks (start, result, transfer) for the call webhooks.
        shutdown: the graceful-stop sequence; surfaces may watch ``shutdown.closing``.
        open_sessions: live counts of long-lived sessions by kind (``"websocket"``), for metrics;
            a surface registers a callable returning its count.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        plugins: Sequence[Plugin] | None = None,
        idempotency: IdempotencyStore | None = None,
    ) -> None:
        self.settings = settings
        if plugins is None:
            plugins = discover_plugins(
                settings.plugins_dir,
                enabled=settings.plugins or None,
                entry_points=settings.entry_points,
            )
        self.plugins = list(plugins)
        self.registry = Registry(self.plugins)

        def longest_call(tool: Tool) -> float:
            # How long a call of ``tool`` can hold a slot or keep a retry waiting, with a margin.
            return (tool.timeout or settings.tool_timeout) + 30.0

        longest = max(map(longest_call, self.registry), default=settings.tool_timeout + 30.0)
        self.stores = build_stores(settings, wait_timeout=longest)
        if idempotency is not None:
            self.stores.idempotency = idempotency
        self.limits = Limits.from_settings(settings, self.stores.counters, lease=longest_call)
        threads = anyio.CapacityLimiter(settings.sync_tool_threads)
        self.executor = Executor(
            self.registry,
            default_timeout=settings.tool_timeout,
            idempotency=self.stores.idempotency,
            thread_limiter=threads,
            admission=self.limits if self.limits.enabled else None,
            circuits=self.stores.circuits,
            cache=self.stores.cache,
            call_states=self.stores.call_states,
        )
        self.calls = CallLifecycle(
            self.plugins,
            call_states=self.stores.call_states,
            outbox=self.stores.outbox,
            start_budget=settings.start_budget,
            transfer_budget=settings.transfer_budget,
            result_timeout=settings.result_hook_timeout,
            accept_on_failure=settings.start_on_failure == "accept",
            failure_reason=settings.start_reject_message,
            state_ttl=settings.call_state_ttl,
            thread_limiter=threads,
        )
        self.shutdown = Shutdown(grace=settings.shutdown_grace)
        self.open_sessions: dict[str, Callable[[], int]] = {
            "mcp_sse": lambda: self.shutdown.streams["mcp_sse"]
        }
        self.api_keys: list[str] = []
        self.started = False

    def resolve_api_keys(self) -> list[str]:
        """The accepted keys (generating one on a first start); empty when auth is disabled."""
        if self.settings.auth_disabled:
            return []
        if not self.api_keys:
            configured = [k.get_secret_value() for k in self.settings.api_keys]
            self.api_keys = ensure_api_keys(configured, self.settings.data_dir)
        return self.api_keys

    def secret_values(self) -> list[str]:
        """Every secret this process knows (settings, keys, plugins' ``SecretStr`` settings)."""
        values = [*self.settings.secret_values(), *self.api_keys]
        for plugin in self.plugins:
            settings = plugin.settings
            if settings is None:
                continue
            for name in type(settings).model_fields:
                values.extend(_secrets_in(getattr(settings, name)))
        return values

    async def start(self) -> None:
        """Start every plugin in order; if one fails, stop those already started and raise."""
        started: list[Plugin] = []
        try:
            for plugin in self.plugins:
                await plugin.startup()
                started.append(plugin)
        except BaseException:
            for plugin in reversed(started):
                await self._stop_plugin(plugin)
            raise
        self.started = True
        _log.info(
            "server.started",
            plugins=[p.name for p in self.plugins],
            tools=len(self.registry),
        )

    async def stop(self) -> None:
        self.started = False
        for plugin in reversed(self.plugins):
            await self._stop_plugin(plugin)
        await self.stores.aclose()

    async def _stop_plugin(self, plugin: Plugin) -> None:
        try:
            await plugin.shutdown()
        except Exception:
            _log.exception("plugin.shutdown_failed", plugin=plugin.name)


def _secrets_in(value: object) -> list[str]:
    """The secrets in a settings value: a ``SecretStr``, or those inside a dict or list (a
    bridge's ``{"Authorization": SecretStr(...)}`` headers)."""
    if isinstance(value, SecretStr):
        secret = value.get_secret_value()
        return [secret] if secret else []
    if isinstance(value, dict):
        return [s for v in value.values() for s in _secrets_in(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _secrets_in(v)]
    return []
