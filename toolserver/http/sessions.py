"""Browser sessions of the console: the API key is sent once, at login, and never again.

A browser cannot attach a header to a page load or an ``EventSource``, and a key kept in page
script is a key any injected script can read. So the console's login form posts the key once;
the answer sets an ``HttpOnly``, ``SameSite=Strict`` cookie holding a *session token*, and the
console's API calls and the ``/calls`` live tail carry that cookie instead of the key. The key
never appears in a URL, a cookie or a log line.

A token is ``<key id>.<expiry>.<signature>``: the HMAC-SHA256 of the first two parts under the
API key it was issued for. Nothing is stored, so every replica that has the key accepts it, and
removing a key from ``TOOLSERVER_API_KEYS`` ends its sessions. A token is accepted only on the
paths the parts declare as ``browser_paths`` (the console's API and ``/calls``), never on the
tool surfaces.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable

__all__ = ["COOKIE_NAME", "SESSION_SECONDS", "SessionTokens"]

COOKIE_NAME = "toolserver_console"
SESSION_SECONDS = 12 * 3600


class SessionTokens:
    """Issues and checks session tokens for the keys ``keys`` (``{key id: key}``)."""

    def __init__(self, keys: dict[str, bytes], *, lifetime: float = SESSION_SECONDS) -> None:
        self.keys = keys
        self.lifetime = lifetime

    def issue(self, key_id: str, *, now: float | None = None) -> str:
        expires = int((time.time() if now is None else now) + self.lifetime)
        payload = f"{key_id}.{expires}"
        return f"{payload}.{self._sign(self.keys[key_id], payload)}"

    def verify(self, token: str, *, now: float | None = None) -> str | None:
        """The key id a valid, unexpired token was issued for; None otherwise."""
        parts = token.split(".")
        if len(parts) != 3 or not parts[1].isdigit():
            return None
        key_id, expires, signature = parts
        key = self.keys.get(key_id)
        if key is None or int(expires) < (time.time() if now is None else now):
            return None
        expected = self._sign(key, f"{key_id}.{expires}")
        if not hmac.compare_digest(expected.encode(), signature.encode("latin-1", "replace")):
            return None
        return key_id

    def from_headers(self, headers: Iterable[tuple[bytes, bytes]]) -> str | None:
        """The key id of the session cookie in raw ASGI headers, when valid."""
        for name, value in headers:
            if name == b"cookie":
                token = _cookie(value.decode("latin-1"), COOKIE_NAME)
                if token:
                    return self.verify(token)
        return None

    def set_cookie(self, token: str, *, secure: bool) -> str:
        """The ``Set-Cookie`` value that opens a session."""
        flags = "; Secure" if secure else ""
        return (
            f"{COOKIE_NAME}={token}; Max-Age={int(self.lifetime)}; Path=/; HttpOnly; "
            f"SameSite=Strict{flags}"
        )

    @staticmethod
    def clear_cookie(*, secure: bool) -> str:
        flags = "; Secure" if secure else ""
        return f"{COOKIE_NAME}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict{flags}"

    @staticmethod
    def _sign(key: bytes, payload: str) -> str:
        return hmac.new(key, b"toolserver-console:" + payload.encode(), hashlib.sha256).hexdigest()


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None
