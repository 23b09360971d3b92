"""The errors a BlackBox session raises.

They live apart from :class:`~toolserver.surfaces.websocket.session.BlackBoxSession` because the
connection loop, the session manager and the HTTP routes all raise or catch them, and none of
those should have to import the session class to do so.
"""

from __future__ import annotations

__all__ = ["ConnectError", "SessionClosedError", "SessionConfigError", "SessionError"]


class SessionError(Exception):
    """Base class of the session's errors."""


class SessionConfigError(SessionError, ValueError):
    """The session cannot be opened as configured (no credentials, no agent id, bad URL)."""


class ConnectError(SessionError):
    """Every connection attempt failed; ``reason`` is the last attempt's, secrets removed."""

    def __init__(self, reason: str, *, attempts: int, status: int | None = None) -> None:
        super().__init__(f"could not connect to BlackBox after {attempts} attempt(s): {reason}")
        self.reason = reason
        self.attempts = attempts
        self.status = status


class SessionClosedError(SessionError):
    """The session is not open (not yet, or any more), so nothing can be sent on it."""
