"""BlackBox's session WebSocket: tool requests sent over the socket, fulfilled here.

When an agent's tool is listed in a web integration's ``tools``, BlackBox sends its calls to the
session's WebSocket client (``websocketToolRequest``) instead of the webhook. toolserver is that
client: :class:`BlackBoxSession` opens a session and answers every tool request through the same
executor as the other surfaces; :class:`SessionManager` keeps a server's sessions; and
:class:`WebSocketSurface` serves them over HTTP (``/sessions``). ``toolserver chat`` opens one from
a terminal.

The package, one concern a module:

- ``protocol``: the wire format (URLs, message builders and parsers); no I/O.
- ``connection``: opening the socket; ``retry``: :class:`RetryPolicy`'s bounded, jittered backoff.
- ``events``: :class:`SessionEvent` and the per-consumer buffers (:class:`EventStream`).
- ``session``: :class:`BlackBoxSession`, its state and public API; ``errors``: its exceptions.
- ``manager`` and ``routes``: a server's sessions, and the HTTP API over them; ``surface``:
  :class:`WebSocketSurface`, what the app serves.
- private: ``_endpoint`` (which endpoint, which credential), ``_conversation`` (the open
  socket: sending, the read loop, how it closed) and ``_tool_requests`` (running and answering
  ``websocketToolRequest``).
"""

from toolserver.surfaces.websocket.errors import (
    ConnectError,
    SessionClosedError,
    SessionConfigError,
    SessionError,
)
from toolserver.surfaces.websocket.events import EventStream, SessionEvent
from toolserver.surfaces.websocket.manager import SessionLimitError, SessionManager
from toolserver.surfaces.websocket.protocol import CALL_TYPES, CallType, ToolRequest
from toolserver.surfaces.websocket.retry import RetryPolicy
from toolserver.surfaces.websocket.session import BlackBoxSession, SessionState
from toolserver.surfaces.websocket.surface import WebSocketSurface

__all__ = [
    "CALL_TYPES",
    "BlackBoxSession",
    "CallType",
    "ConnectError",
    "EventStream",
    "RetryPolicy",
    "SessionClosedError",
    "SessionConfigError",
    "SessionError",
    "SessionEvent",
    "SessionLimitError",
    "SessionManager",
    "SessionState",
    "ToolRequest",
    "WebSocketSurface",
]
