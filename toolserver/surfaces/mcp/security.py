"""Which Host and Origin headers the MCP endpoints answer: the DNS-rebinding guard.

A browser page on a hostile site can make a victim's browser send requests to a server on
localhost by pointing its own host name at 127.0.0.1 ("DNS rebinding"); such requests carry the
hostile name in ``Host`` and the hostile page in ``Origin``. The MCP specification asks servers to
validate them (2025-11-25, basic/transports, "Security Warning").

The SDK has such a guard, but it allows only localhost unless told otherwise, cannot express "any
host" while still checking origins, and answers outside toolserver's error format; this one reads
the deployment's own configuration:

- hosts: localhost, 127.0.0.1 and [::1] on any port, the host of ``TOOLSERVER_PUBLIC_URL``, and
  every name in ``TOOLSERVER_ALLOWED_HOSTS`` (``tools.example.com`` matches any port,
  ``tools.example.com:8443`` only that port, ``*.example.com`` any subdomain, ``*`` anything;
  the SDK's ``tools.example.com:*`` form is accepted too);
- origins: requests without ``Origin`` (every non-browser client) pass; otherwise localhost
  origins on any port and every origin in ``TOOLSERVER_ALLOWED_ORIGINS``
  (``https://app.example.com``, ``http://localhost:*`` for any port, ``*`` for anything).

A refused Host is answered 421 (Misdirected Request), a refused Origin 403, before the request
reaches the SDK, so no session is created for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

import pydantic_core
import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from toolserver.settings import Settings

__all__ = ["HostGuard", "OriginPolicy"]

_log = structlog.get_logger("toolserver.mcp")
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")
LOCAL_ORIGINS = tuple(
    f"{scheme}://{host}:*" for scheme in ("http", "https") for host in LOCAL_HOSTS
)


def _split_port(host: str) -> tuple[str, str | None]:
    """``example.com:8443`` -> (``example.com``, ``8443``); IPv6 literals keep their brackets."""
    if host.startswith("["):
        end = host.find("]")
        rest = host[end + 1 :]
        return host[: end + 1], rest[1:] if rest.startswith(":") else None
    name, sep, port = host.rpartition(":")
    return (name, port) if sep and (port.isdigit() or port == "*") else (host, None)


class OriginPolicy:
    """The allowed hosts and origins; :meth:`host_allowed` and :meth:`origin_allowed` decide."""

    def __init__(self, hosts: Iterable[str], origins: Iterable[str]) -> None:
        self.hosts = [h.strip().lower() for h in hosts if h.strip()]
        self.origins = [o.strip().lower().rstrip("/") for o in origins if o.strip()]

    @classmethod
    def from_settings(cls, settings: Settings) -> OriginPolicy:
        hosts = [*LOCAL_HOSTS, *settings.allowed_hosts]
        if settings.public_url:
            public = urlsplit(settings.public_url).netloc.rpartition("@")[2]
            if public:
                hosts.append(public)
        return cls(hosts, [*LOCAL_ORIGINS, *settings.allowed_origins])

    def host_allowed(self, host: str | None) -> bool:
        if not host:
            return False
        name, port = _split_port(host.strip().lower())
        for allowed in self.hosts:
            if allowed == "*":
                return True
            allowed_name, allowed_port = _split_port(allowed)
            if allowed_port not in (None, "*") and allowed_port != port:
                continue
            if allowed_name == name:
                return True
            if allowed_name.startswith("*.") and name.endswith(allowed_name[1:]):
                return True
        return False

    def origin_allowed(self, origin: str | None) -> bool:
        if not origin:
            return True
        origin = origin.strip().lower().rstrip("/")
        for allowed in self.origins:
            if allowed in ("*", origin):
                return True
            if allowed.endswith(":*"):
                base = allowed[:-2]
                if origin == base or (
                    origin.startswith(base + ":") and origin[len(base) + 1 :].isdigit()
                ):
                    return True
        return False


def _refusal(status: int, kind: str, message: str) -> tuple[dict[str, object], dict[str, object]]:
    body = pydantic_core.to_json({"error": {"type": kind, "message": message}})
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


_ALLOWED, _BAD_HOST, _BAD_ORIGIN = range(3)
_MAX_CACHED = 1024


class HostGuard:
    """ASGI wrapper that refuses requests whose Host or Origin the policy does not allow.

    Decisions are remembered per (Host, Origin) pair: clients send the same pair every time, and
    the policy's pattern matching need not run on every message of a session.
    """

    def __init__(self, app: ASGIApp, policy: OriginPolicy) -> None:
        self.app = app
        self.policy = policy
        self._decisions: dict[tuple[bytes | None, bytes | None], int] = {}

    def _decide(self, host: bytes | None, origin: bytes | None) -> int:
        decision = self._decisions.get((host, origin))
        if decision is None:
            if not self.policy.host_allowed(None if host is None else host.decode("latin-1")):
                decision = _BAD_HOST
            elif not self.policy.origin_allowed(
                None if origin is None else origin.decode("latin-1")
            ):
                decision = _BAD_ORIGIN
            else:
                decision = _ALLOWED
            if len(self._decisions) < _MAX_CACHED:
                self._decisions[(host, origin)] = decision
        return decision

    def allows(self, host: bytes | None, origin: bytes | None) -> bool:
        """Whether a request with these raw ``Host`` and ``Origin`` headers would pass."""
        return self._decide(host, origin) == _ALLOWED

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = origin = None
            for name, value in scope["headers"]:
                if name == b"host":
                    host = value
                elif name == b"origin":
                    origin = value
            decision = self._decide(host, origin)
            if decision != _ALLOWED:
                if decision == _BAD_HOST:
                    shown = None if host is None else host.decode("latin-1")
                    _log.warning("mcp.host_refused", path=scope["path"], host=shown)
                    refusal = _refusal(
                        421,
                        "invalid_host",
                        "This server does not answer for that host name; add it to "
                        "TOOLSERVER_ALLOWED_HOSTS.",
                    )
                else:
                    shown = None if origin is None else origin.decode("latin-1")
                    _log.warning("mcp.origin_refused", path=scope["path"], origin=shown)
                    refusal = _refusal(
                        403,
                        "invalid_origin",
                        "Requests from that origin are not allowed; add it to "
                        "TOOLSERVER_ALLOWED_ORIGINS.",
                    )
                start, body = refusal
                await send(start)
                await send(body)
                return
        await self.app(scope, receive, send)
