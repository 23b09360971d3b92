"""Settings every demo-database plugin shares, and opening the store from them."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import anyio.to_thread
from pydantic import AwareDatetime, Field

from toolserver import Plugin, PluginSettings

from .store import Store, StoreClosed

__all__ = [
    "DATABASE_FILE",
    "DemoStoreSettings",
    "default_db_path",
    "open_store",
    "plugin_store",
    "use_demo_store",
]

DATABASE_FILE = "business.sqlite3"


def default_db_path() -> Path:
    """``<TOOLSERVER_DATA_DIR or .toolserver>/business.sqlite3``, read when called."""
    return Path(os.environ.get("TOOLSERVER_DATA_DIR") or ".toolserver") / DATABASE_FILE


class DemoStoreSettings(PluginSettings):
    """Where the demo database lives, and an optional frozen clock.

    Each plugin reads these under its own prefix, e.g. ``TOOLSERVER_PLUGIN_CRM_DB_PATH``.
    """

    db_path: Path | None = Field(
        None,
        description=(
            "The SQLite file of the demo business; default "
            "<TOOLSERVER_DATA_DIR or .toolserver>/business.sqlite3."
        ),
    )
    fixed_now: AwareDatetime | None = Field(
        None,
        description=(
            "Pretend the current time is this instant (ISO 8601 with an offset); for "
            "reproducible demos and tests. Unset: the real clock."
        ),
    )

    def resolved_db_path(self) -> Path:
        return self.db_path if self.db_path is not None else default_db_path()


async def open_store(settings: DemoStoreSettings) -> Store:
    """Open (and on first use create and seed) the database, off the event loop."""
    fixed = settings.fixed_now
    clock = (lambda: fixed) if fixed is not None else None
    return await anyio.to_thread.run_sync(
        functools.partial(Store.open, settings.resolved_db_path(), clock=clock)
    )


def plugin_store(plugin: Plugin) -> Store:
    """The store a plugin's startup hook opened (``plugin.state.store``)."""
    store = getattr(plugin.state, "store", None)
    if store is None:
        raise StoreClosed(f"plugin {plugin.name!r} has not started: its database is not open")
    return store


def use_demo_store(plugin: Plugin) -> Plugin:
    """Give ``plugin`` the demo database: opened at startup, closed at shutdown, and checked on
    every readiness probe (a database that cannot answer makes ``/readyz`` say so)."""

    @plugin.on_startup
    async def _open_database(plugin: Plugin) -> None:
        plugin.state.store = await open_store(plugin.settings)

    @plugin.on_shutdown
    def _close_database(plugin: Plugin) -> None:
        store = getattr(plugin.state, "store", None)
        if store is not None:
            store.close()
            plugin.state.store = None

    @plugin.readiness_check
    async def _database_answers(plugin: Plugin) -> None:
        def ping() -> None:
            with plugin_store(plugin).read() as connection:
                connection.execute("SELECT 1").fetchone()

        await anyio.to_thread.run_sync(ping)

    return plugin
