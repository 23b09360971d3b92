"""Assembling a bridge plugin: its settings, its document, its client and one tool per operation.

Everything that can be wrong with a bridge (no document, an unreadable one, no base URL, a tag
or operation the document lacks) is found here, while the plugin is made: the server stops at
startup with the reason instead of failing on the first call.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any

import structlog
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from toolserver.bridges.openapi._arguments import tool_signature
from toolserver.bridges.openapi._client import BridgeClient
from toolserver.bridges.openapi.document import load_document, server_url
from toolserver.bridges.openapi.operations import Operation, read_operations, select_operations
from toolserver.core.errors import PluginError
from toolserver.core.plugin import Plugin, PluginSettings

__all__ = ["OpenAPISettings", "openapi_plugin"]

_log = structlog.get_logger("toolserver.bridges.openapi")

# POST and PATCH change something each time (a retried call with the same callId returns the
# first result); PUT and DELETE are idempotent, as HTTP defines them.
_SIDE_EFFECTS = frozenset({"post", "patch"})
_IDEMPOTENT_WRITES = frozenset({"put", "delete"})


def _comma_list(value: Any) -> Any:
    """``a, b`` or a JSON list, from the environment, as a list."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            return json.loads(stripped)
        return [part.strip() for part in stripped.split(",") if part.strip()]
    return value


class OpenAPISettings(PluginSettings):
    """Settings of a bridge plugin, from ``TOOLSERVER_PLUGIN_<NAME>_*`` (or ``.env``).

    Arguments given to :func:`openapi_plugin` take precedence over these.

    Attributes:
        spec: the OpenAPI 3 document: a file path or an ``http(s)://`` URL (JSON; YAML when
            PyYAML is installed).
        base_url: where the API is served; default: the document's first ``servers`` entry.
        tags: serve only operations with one of these tags (comma-separated).
        operations: serve only these operations, by operationId or tool name (comma-separated).
            With ``tags`` too, an operation chosen by either is served; with neither, all are.
        headers: headers sent with every request, as a JSON object
            (``{"Authorization": "Bearer ..."}``); the values are secrets and never logged.
        timeout: seconds a call may take before the agent is told the service is slow.
        tool_prefix: put before every tool name (``inv_`` makes ``inv_listItems``).
    """

    spec: str | None = None
    base_url: str | None = None
    tags: Annotated[list[str], NoDecode] = Field(default_factory=list)
    operations: Annotated[list[str], NoDecode] = Field(default_factory=list)
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    timeout: float = Field(10.0, gt=0)
    tool_prefix: str = ""

    _split = field_validator("tags", "operations", mode="before")(_comma_list)


def openapi_plugin(
    name: str,
    document: str | Path | Mapping[str, Any] | None = None,
    base_url: str | None = None,
    *,
    tags: Iterable[str] | None = None,
    operations: Iterable[str] | None = None,
    headers: Mapping[str, str | SecretStr] | None = None,
    timeout: float | None = None,
    tool_prefix: str | None = None,
    description: str | None = None,
) -> Plugin:
    """A plugin with one tool per chosen operation of an OpenAPI 3 document.

    Every argument left out is read from the plugin's settings (:class:`OpenAPISettings`,
    ``TOOLSERVER_PLUGIN_<NAME>_*``). The document is read now, so a missing file, an unknown
    operation or tag, or an unreachable URL stops the server at startup with the reason.

    Args:
        name: the plugin's name (it prefixes its settings' environment variables).
        document: the OpenAPI 3 document: a file path, an ``http(s)://`` URL or a parsed mapping.
        base_url: where the API is served (default: the document's first server).
        tags: serve the operations with any of these tags.
        operations: serve these operations, by operationId or tool name.
        headers: sent with every request (credentials: pass ``SecretStr`` or plain strings;
            both are kept as secrets and never logged).
        timeout: seconds a call may take (default 10).
        tool_prefix: put before every tool name.
        description: the plugin's description (default: the document's title).
    """
    plugin = Plugin(name, description=description, settings=OpenAPISettings)
    overrides: dict[str, Any] = {}
    if isinstance(document, (str, Path)):
        overrides["spec"] = str(document)
    for key, value in (("base_url", base_url), ("timeout", timeout), ("tool_prefix", tool_prefix)):
        if value is not None:
            overrides[key] = value
    if tags is not None:
        overrides["tags"] = list(tags)
    if operations is not None:
        overrides["operations"] = list(operations)
    if headers is not None:
        overrides["headers"] = {
            k: v if isinstance(v, SecretStr) else SecretStr(str(v)) for k, v in headers.items()
        }
    settings: OpenAPISettings = plugin.load_settings(**overrides)
    source = document if isinstance(document, Mapping) else settings.spec
    if source is None:
        raise PluginError(
            f"plugin {name!r} needs an OpenAPI document: pass it to openapi_plugin() or set "
            f"{plugin.env_prefix}SPEC to a file path or URL"
        )
    secret_headers = {k: v.get_secret_value() for k, v in settings.headers.items()}
    doc = load_document(
        source, headers=secret_headers, base_url=settings.base_url, timeout=settings.timeout
    )
    # A relative servers URL is relative to where the document was read from; a document given
    # as a mapping was read from nowhere (a SPEC in the environment is not where it came from).
    url = settings.base_url or server_url(doc, source if isinstance(source, str) else None)
    if not url:
        raise PluginError(
            f"plugin {name!r} needs the API's base URL: pass base_url, set "
            f"{plugin.env_prefix}BASE_URL, or give the document an absolute servers[0].url"
        )
    info = doc.get("info") or {}
    service = str(info.get("title") or name)
    if plugin.description is None:
        plugin.description = str(info.get("description") or info.get("title") or "").strip() or None
    client = BridgeClient(service, url, settings.headers, settings.timeout)
    plugin.on_startup(client.open)
    plugin.on_shutdown(client.close)

    selected = select_operations(
        read_operations(doc, tool_prefix=settings.tool_prefix), settings.tags, settings.operations
    )
    if not selected:
        raise PluginError(f"plugin {name!r}: the OpenAPI document has no operation to serve")
    for operation in selected:
        _add_tool(plugin, client, operation)
    _log.debug("openapi.loaded", plugin=name, base_url=url, tools=[o.tool_name for o in selected])
    return plugin


def _add_tool(plugin: Plugin, client: BridgeClient, operation: Operation) -> None:
    async def call(**arguments: Any) -> Any:
        return await client.call(operation, arguments)

    call.__name__ = operation.tool_name
    call.__qualname__ = f"{plugin.name}.{operation.tool_name}"
    description = _description(operation, client.service)
    plugin.add_tool(
        call,
        name=operation.tool_name,
        description=description,
        timeout=client.timeout,
        side_effects=operation.method in _SIDE_EFFECTS,
        idempotent=operation.method in _IDEMPOTENT_WRITES,
        tags=operation.tags,
        signature=tool_signature(operation, description),
    )


def _description(operation: Operation, service: str) -> str:
    """The operation's summary and description (once, when one repeats the other)."""
    parts = [p.strip() for p in (operation.summary, operation.description) if p and p.strip()]
    if parts and len(parts) == 2 and parts[1].startswith(parts[0]):
        parts = [parts[1]]
    return "\n\n".join(parts) or f"Calls {operation.label} on {service}."
