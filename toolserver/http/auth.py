"""Authentication shared by every surface: API keys, and BlackBox's HMAC body signature.

Keys come from ``TOOLSERVER_API_KEYS`` (several at once, for rotation) and are accepted in the
configured header (BlackBox's ``authentication.headerName`` / ``webhook.headers``, default
``X-Api-Key``) or as ``Authorization: Bearer <key>``. Comparison is constant-time and always
checks every configured key, so timing reveals neither a prefix nor which key matched.

:class:`ApiKeyAuth` runs in the app's outer ASGI layer (:mod:`toolserver.http.asgi`), before any
route: it refuses a request before any body is read or any MCP session is created, and adds
nothing to streaming responses (SSE).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable

import pydantic_core
import structlog
from starlette.types import Scope, Send

from toolserver.http.sessions import SessionTokens
from toolserver.runtime.keys import key_id

__all__ = [
    "ApiKeyAuth",
    "KeyChecker",
    "principal_of",
    "signature_valid",
]

_log = structlog.get_logger("toolserver.http.auth")
SIGNATURE_HEADER = "x-blackbox-signature"


class KeyChecker:
    """Checks request headers against the configured keys.

    The key id of each configured key is computed once here: a valid presented key equals one
    of them, so naming the caller costs nothing per request.
    """

    def __init__(self, keys: Iterable[str], header: str = "X-Api-Key") -> None:
        self.keys = [k.encode() for k in keys if k]
        self._ids = [(key, key_id(key)) for key in self.keys]
        self.header_name = header
        self.header = header.lower().encode("latin-1")

    def credential(self, headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
        """The key a request presents, from the configured header or a bearer token."""
        bearer = None
        for name, value in headers:
            if name == self.header:
                value = value.strip()
                if self.header == b"authorization" and value[:7].lower() == b"bearer ":
                    value = value[7:].strip()
                return value
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                bearer = value[7:].strip()
        return bearer

    def keys_by_id(self) -> dict[str, bytes]:
        """Every configured key by its key id (for signing browser sessions)."""
        return {kid: key for key, kid in self._ids}

    def identify(self, presented: bytes | None) -> str | None:
        """The key id of ``presented`` when it is a configured key, else None.

        Every key is compared (constant-time each), whichever matches.
        """
        if presented is None:
            return None
        found = None
        for key, kid in self._ids:
            if hmac.compare_digest(presented, key):
                found = kid
        return found


def signature_valid(secret: str, body: bytes, signature: str | None) -> bool:
    """Whether ``signature`` is the hex HMAC-SHA256 of ``body`` under ``secret``."""
    if not signature:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    presented = signature.strip().lower().removeprefix("sha256=")
    return hmac.compare_digest(expected.encode(), presented.encode("latin-1", "replace"))


SIGNED_PRINCIPAL = "signed"
"""The principal of a webhook that authenticates by body signature rather than by key."""


def principal_of(scope: Scope) -> str | None:
    """The principal :class:`ApiKeyAuth` recorded for this request (None: no key)."""
    state = scope.get("state")
    return state.get("principal") if isinstance(state, dict) else None


def unauthorized_body(message: str) -> bytes:
    return pydantic_core.to_json({"error": {"type": "unauthorized", "message": message}})


class ApiKeyAuth:
    """Decides, once per HTTP request, who is calling, and answers 401 to whoever may not.

    Args:
        checker: the keys and the header they arrive in.
        is_public: paths served without a key (health checks, documentation).
        is_signed: requests that authenticate by body signature instead (webhooks when a
            signing secret is set); the webhook surface verifies those itself.
        sessions: checks the console's browser session cookie
            (:mod:`toolserver.http.sessions`); None accepts keys only.
        is_browser_path: paths where a session cookie stands in for the key (the console's
            API, ``/calls``); elsewhere a cookie is ignored.
    """

    def __init__(
        self,
        checker: KeyChecker,
        *,
        is_public: Callable[[str], bool],
        is_signed: Callable[[str, str], bool] = lambda method, path: False,
        sessions: SessionTokens | None = None,
        is_browser_path: Callable[[str], bool] = lambda path: False,
    ) -> None:
        self.checker = checker
        self.is_public = is_public
        self.is_signed = is_signed
        self.sessions = sessions
        self.is_browser_path = is_browser_path

    async def admit(self, scope: Scope, send: Send) -> bool:
        """Record the principal in ``scope["state"]`` and return True, or answer 401 and
        return False. Public paths pass without a principal."""
        path = scope["path"]
        if self.is_public(path):
            return True
        if self.is_signed(scope["method"], path):
            _state(scope)["principal"] = SIGNED_PRINCIPAL
            return True
        presented = self.checker.credential(scope["headers"])
        principal = self.checker.identify(presented)
        if principal is None and presented is None and self.sessions is not None:
            if self.is_browser_path(path):
                principal = self.sessions.from_headers(scope["headers"])
        if principal is not None:
            _state(scope)["principal"] = principal
            return True
        await self.refuse(scope, send, "missing API key" if presented is None else "invalid API key")
        return False

    async def refuse(self, scope: Scope, send: Send, reason: str) -> None:
        _log.warning("auth.refused", path=scope["path"], method=scope["method"], reason=reason)
        header = self.checker.header_name
        body = unauthorized_body(
            f"{reason[0].upper()}{reason[1:]}: send it in the {header!r} header "
            "or as 'Authorization: Bearer <key>'."
        )
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="toolserver"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _state(scope: Scope) -> dict[str, object]:
    state = scope.get("state")
    if state is None:
        state = scope["state"] = {}
    return state
