"""Finding plugins: a plugins directory and installed distributions' entry points.

A plugins directory holds one plugin per module (``orders.py``) or package (``crm/``); names that
start with ``_`` or ``.`` are private and skipped, so plugins can share helpers kept beside them
(``_demo_store/``). The directory is imported as the package ``toolserver_plugins``, so a plugin may
import such a helper relatively (``from .._demo_store import connect``).

An installed distribution offers plugins with an entry point in the group ``toolserver.plugins``
whose object is a :class:`Plugin` or a module holding one.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
import types
from collections.abc import Collection, Iterable
from pathlib import Path

from toolserver.core.errors import PluginError
from toolserver.core.plugin import Plugin

__all__ = ["ENTRY_POINT_GROUP", "LOCAL_PACKAGE", "discover_plugins", "plugins_in"]

ENTRY_POINT_GROUP = "toolserver.plugins"
LOCAL_PACKAGE = "toolserver_plugins"


def plugins_in(obj: object) -> list[Plugin]:
    """The plugins an imported object offers: itself, or the Plugin instances of a module."""
    if isinstance(obj, Plugin):
        return [obj]
    if isinstance(obj, types.ModuleType):
        found: list[Plugin] = []
        for value in vars(obj).values():
            if isinstance(value, Plugin) and value not in found:
                found.append(value)
        return found
    return []


def _local_package(directory: Path) -> types.ModuleType:
    """Make ``directory`` importable as ``toolserver_plugins`` (a namespace-like package)."""
    existing = sys.modules.get(LOCAL_PACKAGE)
    path = str(directory.resolve())
    if existing is not None and list(getattr(existing, "__path__", [])) == [path]:
        return existing
    for name in [n for n in sys.modules if n == LOCAL_PACKAGE or n.startswith(LOCAL_PACKAGE + ".")]:
        del sys.modules[name]
    package = types.ModuleType(LOCAL_PACKAGE)
    package.__path__ = [path]
    package.__package__ = LOCAL_PACKAGE
    sys.modules[LOCAL_PACKAGE] = package
    return package


def _directory_plugins(directory: Path) -> Iterable[tuple[str, list[Plugin]]]:
    if not directory.is_dir():
        raise PluginError(f"plugins directory {str(directory)!r} does not exist")
    _local_package(directory)
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith(("_", ".")) or entry.name == "tests":
            continue
        if entry.is_dir() and (entry / "__init__.py").exists():
            module_name = entry.name
        elif entry.is_file() and entry.suffix == ".py":
            module_name = entry.stem
        else:
            continue
        qualified = f"{LOCAL_PACKAGE}.{module_name}"
        try:
            module = importlib.import_module(qualified)
        except PluginError as exc:
            raise PluginError(f"plugin module {str(entry)!r}: {exc}") from None
        except Exception as exc:
            raise PluginError(f"plugin module {str(entry)!r} failed to import: {exc!r}") from exc
        found = plugins_in(module)
        if not found:
            raise PluginError(f"plugin module {str(entry)!r} defines no toolserver.Plugin")
        yield str(entry), found


def _entry_point_plugins() -> Iterable[tuple[str, list[Plugin]]]:
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        origin = f"entry point {ep.name!r} ({ep.value})"
        try:
            obj = ep.load()
        except Exception as exc:
            raise PluginError(f"{origin} failed to load: {exc!r}") from exc
        found = plugins_in(obj)
        if not found:
            raise PluginError(f"{origin} is not a toolserver.Plugin or a module holding one")
        yield origin, found


def discover_plugins(
    directory: Path | None,
    *,
    enabled: Collection[str] | None = None,
    entry_points: bool = True,
) -> list[Plugin]:
    """Every plugin found, restricted to ``enabled`` names when given.

    Naming a plugin in ``enabled`` that is not found is an error: a typo in the configuration
    would otherwise silently serve fewer tools.
    """
    sources: list[tuple[str, list[Plugin]]] = []
    if directory is not None:
        sources.extend(_directory_plugins(directory))
    if entry_points:
        sources.extend(_entry_point_plugins())
    plugins: list[Plugin] = []
    origins: dict[str, str] = {}
    for origin, found in sources:
        for plugin in found:
            if plugin.name in origins:
                raise PluginError(
                    f"two plugins are named {plugin.name!r}: {origins[plugin.name]} and {origin}"
                )
            origins[plugin.name] = origin
            plugins.append(plugin)
    if enabled:
        missing = [name for name in enabled if name not in origins]
        if missing:
            raise PluginError(
                f"configured plugin(s) {', '.join(map(repr, missing))} not found; "
                f"available: {', '.join(sorted(origins)) or 'none'}"
            )
        plugins = [p for p in plugins if p.name in set(enabled)]
    return plugins
