"""The registry: every tool the server offers, by name, and the plugins they came from."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from toolserver.core.errors import PluginError
from toolserver.core.plugin import Plugin, Tool, validate_tool_name

__all__ = ["Registry"]


class Registry:
    """Tools by name. Adding a plugin checks every name, so a bad set fails at startup.

    A registry is built once at startup and read concurrently afterwards; it is not changed while
    the server runs.
    """

    def __init__(self, plugins: Iterable[Plugin] = ()) -> None:
        self.plugins: list[Plugin] = []
        self._tools: dict[str, Tool] = {}
        for plugin in plugins:
            self.add_plugin(plugin)

    def add_plugin(self, plugin: Plugin) -> None:
        if any(p.name == plugin.name for p in self.plugins):
            raise PluginError(f"two plugins are named {plugin.name!r}")
        seen: dict[str, Tool] = {}
        for tool in plugin.tools:
            problem = validate_tool_name(tool.name)
            if problem:
                raise PluginError(
                    f"tool {tool.name!r} of plugin {plugin.name!r} has an invalid name: {problem}"
                )
            other = self._tools.get(tool.name) or seen.get(tool.name)
            if other is not None:
                raise PluginError(
                    f"tool name {tool.name!r} is defined twice: by plugin {other.plugin!r} and by "
                    f"plugin {plugin.name!r}; rename one of them (@plugin.tool(name=...))"
                )
            seen[tool.name] = tool
        self._tools.update(seen)
        self.plugins.append(plugin)

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def subset(self, selectors: Iterable[str]) -> Registry:
        """A registry with only the tools named, or belonging to the plugins named.

        Each selector is a tool name or a plugin name (``crm`` or ``check_order_status``); an
        unknown selector is a startup error rather than a silently empty endpoint.
        """
        chosen: dict[str, Tool] = {}
        for selector in selectors:
            plugin = next((p for p in self.plugins if p.name == selector), None)
            if plugin is not None:
                chosen.update((t.name, t) for t in plugin.tools)
            elif selector in self._tools:
                chosen[selector] = self._tools[selector]
            else:
                raise PluginError(f"{selector!r} is neither a loaded plugin nor a tool")
        view = Registry()
        view.plugins = [p for p in self.plugins if any(t.plugin == p.name for t in chosen.values())]
        view._tools = {name: tool for name, tool in self._tools.items() if name in chosen}
        return view
