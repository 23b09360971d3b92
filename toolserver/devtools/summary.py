"""What ``toolserver serve`` says once it listens: where everything is and what to try first.

A newcomer who has just started the server needs four things: the URLs an agent or a browser
uses, where the API key is, and one command that calls a tool. The summary lists only what the
app really serves -- every path comes from the part that declares it (``MCP_PATH``, ``SSE_PATH``,
``tool_path``, ``DOCS_PATH``), and the operator console appears only when the app has one -- so
the summary cannot drift from the server.

At a terminal the summary is a few readable lines on stdout. With JSON logs it is one log event,
``server.urls``, so stdout carries nothing but JSON; the API key itself never goes to a log, only
the place it is kept.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
from pathlib import Path
from typing import Any

from toolserver import __version__
from toolserver.core.schema import tool_schema
from toolserver.devtools.failures import relative
from toolserver.http.docs import DOCS_PATH
from toolserver.runtime import ToolServer
from toolserver.runtime.keys import generated_key_path
from toolserver.settings import Settings
from toolserver.surfaces.mcp.transports import MCP_PATH, SSE_PATH
from toolserver.surfaces.webhooks import TOOLS_PATH, tool_path

__all__ = [
    "KeyNote",
    "StartSummary",
    "key_file_exists",
    "key_note",
    "local_base_url",
    "served_paths",
    "start_summary",
]

CONSOLE = "console"
"""The name the operator console is served under (a surface, or a route), when the app has one."""


@dataclasses.dataclass(frozen=True, slots=True)
class KeyNote:
    """Where the API key is and how a shell command can send it.

    Attributes:
        where: where the key is kept (``.toolserver/api_key``, ``TOOLSERVER_API_KEYS``), or
            why none is needed.
        header: the ``Name: value`` curl sends, the key read from where it is kept (never the
            key itself); None when auth is off.
        new_key: the key, when this start generated it and it may be shown to a person once.
        name: the header the key goes in (``X-Api-Key``); None when auth is off.
    """

    where: str
    header: str | None
    new_key: str | None = None
    name: str | None = None

    def text(self) -> str:
        """The summary's line about the key."""
        if self.name is None:
            return self.where
        if self.new_key:
            return f"{self.new_key}  (new, shown this once; kept in {self.where})"
        return f"in {self.where}, sent as {self.name}"


@dataclasses.dataclass(frozen=True, slots=True)
class StartSummary:
    """The start summary: see the module docstring."""

    base_url: str
    plugins: list[str]
    tools: int
    urls: list[tuple[str, str, str]]
    """``(field, label, url)``: the log field's name, the label people read, the URL."""
    key: KeyNote
    try_command: str

    def text(self) -> str:
        """The summary for a person at a terminal."""
        plural = "" if self.tools == 1 else "s"
        names = f" ({', '.join(self.plugins)})" if self.plugins else ""
        lines = [
            "",
            f"toolserver {__version__} serves {self.tools} tool{plural} from "
            f"{len(self.plugins)} plugin{'' if len(self.plugins) == 1 else 's'}{names}:",
            "",
        ]
        rows = [(label, url) for _, label, url in self.urls]
        rows.append(("API key", self.key.text()))
        width = max(len(label) for label, _ in rows)
        lines += [f"  {label.ljust(width)}  {value}" for label, value in rows]
        lines += ["", "Try it:", f"  {self.try_command}", "", "Stop it with Ctrl-C.", ""]
        return "\n".join(lines)

    def fields(self) -> dict[str, Any]:
        """The summary as log fields (no key, only where it is)."""
        return {
            "url": self.base_url,
            "plugins": self.plugins,
            "tools": self.tools,
            "urls": {field: url for field, _, url in self.urls},
            "api_key": self.key.where,
            "try": self.try_command,
        }


def served_paths(app: Any) -> set[str]:
    """Every path the app routes (``/tools/{name}`` as declared) or serves as a fast route."""
    paths = {getattr(route, "path", None) for route in getattr(app.routed, "routes", [])}
    paths.update(path for _, path in getattr(app, "fast_routes", {}))
    return {p for p in paths if p}


def _console_path(app: Any) -> str | None:
    """The operator console's path, when the app serves one: the first route of a surface named
    ``console``, or a route of that name."""
    surface = getattr(app, "surfaces", {}).get(CONSOLE)
    for route in getattr(surface, "routes", []) if surface is not None else []:
        if getattr(route, "path", None):
            return str(route.path)
    for route in getattr(app.routed, "routes", []):
        if getattr(route, "name", None) == CONSOLE and getattr(route, "path", None):
            return str(route.path)
    return None


def local_base_url(host: str, port: int) -> str:
    """The URL to reach a server listening on ``host:port`` from this machine."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def key_note(server: ToolServer, *, key_was_there: bool, show_new_key: bool) -> KeyNote:
    """Where ``server``'s API key is kept, for the summary and its curl command.

    Args:
        key_was_there: whether the generated key's file existed before this start.
        show_new_key: whether a key generated by this start may be shown (a person's terminal).
    """
    settings = server.settings
    if settings.auth_disabled:
        return KeyNote("none needed: auth is off (TOOLSERVER_AUTH_DISABLED)", None)
    name = settings.auth_header
    if settings.api_keys:
        single = len(settings.api_keys) == 1
        if single and os.environ.get("TOOLSERVER_API_KEYS", "").strip():
            return KeyNote("TOOLSERVER_API_KEYS", f"{name}: $TOOLSERVER_API_KEYS", name=name)
        return KeyNote(
            "TOOLSERVER_API_KEYS", f"{name}: <a key from TOOLSERVER_API_KEYS>", name=name
        )
    path = relative(generated_key_path(settings.data_dir))
    new = None
    if show_new_key and not key_was_there and server.api_keys:
        new = server.api_keys[0]
    return KeyNote(path, f"{name}: $(cat {shlex.quote(path)})", new, name)


def _try_command(server: ToolServer, base: str, key: KeyNote, paths: set[str]) -> str:
    """A curl that works as pasted: a call of a tool that takes no arguments at all (one with
    only optional ones may still want one of them), else the tool list."""
    auth = f" -H {_dq(key.header)}" if key.header else ""
    signed_only = server.settings.signing_secret is not None
    if not signed_only:
        for tool in server.registry:
            if tool_path(tool.name) in paths and not tool_schema(tool).input_schema.get(
                "properties"
            ):
                return f"curl -s -X POST {base}{tool_path(tool.name)}{auth} -d '{{}}'"
    return f"curl -s {base}{TOOLS_PATH}{auth}"


def _dq(text: str) -> str:
    """``text`` in double quotes, so the shell expands ``$(...)`` and ``$VAR`` in it."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def start_summary(app: Any, server: ToolServer, port: int, key: KeyNote) -> StartSummary:
    """The summary of ``app`` (serving ``server``) listening on ``port``."""
    base = local_base_url(server.settings.host, port)
    paths = served_paths(app)
    urls: list[tuple[str, str, str]] = []
    console = _console_path(app)
    if console:
        urls.append(("console", "console", base + console))
    for field, label, path in (
        ("mcp", "MCP (Streamable HTTP)", MCP_PATH),
        ("sse", "MCP (HTTP+SSE)", SSE_PATH),
        ("webhooks", "webhooks", tool_path("{name}")),
        ("docs", "API docs", DOCS_PATH),
    ):
        if path in paths:
            urls.append((field, label, base + path))
    for name in server.settings.mcp_endpoints:
        if f"/{name}{MCP_PATH}" in paths:
            urls.append((f"mcp_{name}", f"MCP subset {name!r}", f"{base}/{name}{MCP_PATH}"))
    if server.settings.public_url:
        urls.append(("public_url", "public URL", server.settings.public_url))
    return StartSummary(
        base_url=base,
        plugins=[p.name for p in server.plugins],
        tools=len(server.registry),
        urls=urls,
        key=key,
        try_command=_try_command(server, base, key, paths),
    )


def key_file_exists(settings: Settings) -> bool:
    """Whether the generated key's file is already there (checked before a start, to know
    whether the start generated the key)."""
    return Path(generated_key_path(settings.data_dir)).exists()
