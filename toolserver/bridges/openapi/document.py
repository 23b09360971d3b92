"""Reading an OpenAPI 3 document, and finding where its API is served.

The document is read once, when the plugin is made, so a missing file, an unreachable URL or a
document that is not OpenAPI 3 stops the server at startup with the reason, never at the first
call. Every failure is a :class:`~toolserver.core.errors.PluginError` naming the document.
"""

from __future__ import annotations

import copy
import json
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from toolserver.core.errors import PluginError

__all__ = ["load_document", "server_url"]

_HTTP_URL = re.compile(r"^https?://")


def load_document(
    source: str | Path | Mapping[str, Any],
    *,
    headers: Mapping[str, str] | None = None,
    base_url: str | None = None,
    timeout: float = 10.0,
) -> dict[str, Any]:
    """Read an OpenAPI 3 document from a mapping, a file or an ``http(s)://`` URL.

    ``headers`` are sent when fetching the document only if it is served from the same origin as
    ``base_url``: credentials for the API must not reach another host.
    """
    if isinstance(source, Mapping):
        document = copy.deepcopy(dict(source))
        origin = "given"
    elif isinstance(source, str) and _HTTP_URL.match(source):
        origin = source
        send = dict(headers or {}) if _same_origin(source, base_url) else {}
        try:
            response = httpx.get(source, headers=send, timeout=timeout, follow_redirects=True)
        except httpx.HTTPError as exc:
            raise PluginError(f"cannot fetch the OpenAPI document {source}: {exc!r}") from None
        if response.status_code != 200:
            raise PluginError(
                f"cannot fetch the OpenAPI document {source}: HTTP {response.status_code}"
            )
        document = _parse(response.text, source)
    else:
        path = Path(source)
        origin = str(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise PluginError(f"cannot read the OpenAPI document {origin!r}: {exc}") from None
        document = _parse(text, repr(origin))
    version = str(document.get("openapi", ""))
    if not version.startswith("3."):
        found = f"swagger {document['swagger']}" if "swagger" in document else repr(version or None)
        raise PluginError(
            f"the document {origin} is not OpenAPI 3 (found {found}); convert it to OpenAPI 3 first"
        )
    return document


def server_url(document: Mapping[str, Any], spec: str | None) -> str | None:
    """The document's first ``servers`` URL with its variables' defaults, made absolute.

    A relative server URL is resolved against ``spec`` when the document was fetched from an
    ``http(s)://`` URL; otherwise there is no base URL to be had from the document (None).
    """
    servers = document.get("servers") or []
    if not servers or not isinstance(servers[0], dict) or not servers[0].get("url"):
        return None
    server = servers[0]
    url = str(server["url"])
    for name, variable in (server.get("variables") or {}).items():
        url = url.replace("{" + name + "}", str((variable or {}).get("default", "")))
    if not _HTTP_URL.match(url):
        if spec and _HTTP_URL.match(spec):
            return urllib.parse.urljoin(spec, url)
        return None
    return url


def _same_origin(a: str, b: str | None) -> bool:
    if not b:
        return False
    pa, pb = urllib.parse.urlsplit(a), urllib.parse.urlsplit(b)
    return (pa.scheme, pa.netloc) == (pb.scheme, pb.netloc)


def _parse(text: str, origin: str) -> dict[str, Any]:
    """JSON when the text is an object literal, otherwise YAML (when PyYAML is installed)."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise PluginError(f"the OpenAPI document {origin} is not valid JSON: {exc}") from None
    else:
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError:
            raise PluginError(
                f"the OpenAPI document {origin} is not JSON; YAML documents need PyYAML "
                "(pip install pyyaml)"
            ) from None
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise PluginError(f"the OpenAPI document {origin} is not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise PluginError(f"the OpenAPI document {origin} is not an object")
    return document
