"""Fixtures for the shipped business plugins: the real executor over a fresh demo database.

Every test gets its own SQLite file under ``tmp_path`` and a clock frozen at :data:`NOW`
(Thursday, March 6, 2025, 10:00 in New York), so the seeded data and every date are fixed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from toolserver import Plugin, ToolContext
from toolserver.core.discovery import discover_plugins
from toolserver.core.errors import ToolFailure
from toolserver.core.executor import Executor, ToolResult
from toolserver.core.registry import Registry
from toolserver.stores.memory import MemoryIdempotencyStore

PLUGINS_DIR = Path(__file__).resolve().parents[2] / "plugins"

#: Thursday, March 6, 2025, 10:00 EST. DST starts in New York on Sunday, March 9.
NOW = dt.datetime(2025, 3, 6, 15, 0, tzinfo=dt.UTC)


def load_plugins() -> dict[str, Plugin]:
    return {p.name: p for p in discover_plugins(PLUGINS_DIR, entry_points=False)}


@dataclasses.dataclass
class Harness:
    """The three plugins started on one database, driven through the executor."""

    plugins: dict[str, Plugin]
    executor: Executor
    db_path: Path
    overrides: dict[str, dict[str, Any]]

    async def start(self) -> None:
        for plugin in self.plugins.values():
            plugin.load_settings(
                db_path=self.db_path, fixed_now=NOW, **self.overrides.get(plugin.name, {})
            )
            await plugin.startup()

    async def stop(self) -> None:
        for plugin in reversed(list(self.plugins.values())):
            await plugin.shutdown()

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def call(
        self,
        name: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        scope: str | None = None,
        endpoint: str | None = None,
    ) -> ToolResult:
        context = ToolContext(surface="test", idempotency_scope=scope, endpoint=endpoint)
        return await self.executor.call(name, dict(arguments or {}), context)

    async def value(self, name: str, arguments: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        return (await self.call(name, arguments, **kw)).value

    async def fail(
        self, name: str, arguments: Mapping[str, Any] | None = None, **kw: Any
    ) -> ToolFailure:
        with pytest.raises(ToolFailure) as info:
            await self.call(name, arguments, **kw)
        return info.value

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Read the database directly, as a second opinion on what the tools report."""
        conn = sqlite3.connect(self.db_path)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()


async def make_harness(
    tmp_path: Path, overrides: dict[str, dict[str, Any]] | None = None
) -> Harness:
    plugins = load_plugins()
    harness = Harness(
        plugins=plugins,
        executor=Executor(Registry(plugins.values()), idempotency=MemoryIdempotencyStore()),
        db_path=tmp_path / "data" / "business.sqlite3",
        overrides=overrides or {},
    )
    await harness.start()
    return harness


@pytest.fixture
async def harness(tmp_path: Path, anyio_backend: str) -> AsyncIterator[Harness]:
    h = await make_harness(tmp_path)
    try:
        yield h
    finally:
        await h.stop()


@pytest.fixture
async def harness_factory(tmp_path: Path, anyio_backend: str) -> AsyncIterator[Any]:
    """Start the plugins with extra settings: ``await harness_factory({"appointments": {...}})``.

    The plugins are module-level objects, so only one harness may run at a time.
    """
    made: list[Harness] = []

    async def make(overrides: dict[str, dict[str, Any]] | None = None) -> Harness:
        h = await make_harness(tmp_path, overrides)
        made.append(h)
        return h

    try:
        yield make
    finally:
        for h in reversed(made):
            await h.stop()
