"""Where legacy MCP SSE sessions live, and how a message POSTed to any process reaches one.

The legacy HTTP+SSE transport ties every message a client POSTs to the one ``GET /sse`` stream it
opened, and that stream is held by one process. With ``--workers N``, or several replicas behind
a load balancer, a POST lands on whichever process the kernel or the balancer picks. A
:class:`SessionRelay` lets any process answer it: the process holding the stream (the session's
*node*) is known from the session id itself, and the relay carries the message there, where it
is handled as if it had been POSTed locally and its answer goes out on the stream.

Every session id starts with its node's id (:meth:`SessionRelay.new_session_id`), so a process
knows at once whether a message is its own; only messages for another node touch the relay.

Implementations, chosen by :func:`toolserver.stores.build_stores`:

- :class:`LocalSessions`: one process; a session of no other node exists;
- :class:`~toolserver.stores.sessions_host.HostSessions`: the workers of one host, each
  listening on a local socket, with no service to run;
- :class:`~toolserver.stores.sessions_redis.RedisSessions`: replicas sharing a Redis, with a
  registry of live sessions kept by a heartbeat and a relay over pub/sub.

A session belongs to the API key that opened it: the relay carries the POSTing request's
principal, and a message with another one is refused as if the session did not exist.
"""

from __future__ import annotations

import abc
import secrets
from collections.abc import Awaitable, Callable

__all__ = ["NODE_ID_LENGTH", "Deliver", "LocalSessions", "SessionRelay", "node_of"]

NODE_ID_LENGTH = 8
"""Hex digits of a node id, the first characters of each of its session ids."""
_SESSION_SUFFIX_BYTES = 12  # 96 random bits after the node id

Deliver = Callable[[str, str | None, bytes], Awaitable[bool]]
"""``deliver(session_id, principal, body)``: hand a relayed message to a session of this
process. False when this process holds no such session for that principal."""


def node_of(session_id: str) -> str:
    """The node a session id names (its first :data:`NODE_ID_LENGTH` characters)."""
    return session_id[:NODE_ID_LENGTH]


class SessionRelay(abc.ABC):
    """The sessions of every process, as seen from one.

    Attributes:
        node: this process's id; every session it opens starts with it.
        shared: whether other processes' sessions can be reached at all.
    """

    shared = False

    def __init__(self) -> None:
        self.node = secrets.token_hex(NODE_ID_LENGTH // 2)

    def new_session_id(self) -> str:
        """A fresh id for a session this process opens."""
        return self.node + secrets.token_hex(_SESSION_SUFFIX_BYTES)

    def is_local(self, session_id: str) -> bool:
        return session_id.startswith(self.node)

    async def start(self, deliver: Deliver) -> None:
        """Start taking messages relayed to this process; ``deliver`` hands each to its session."""

    async def opened(self, session_id: str, principal: str | None) -> None:
        """A session of this process opened by ``principal``."""

    async def closed(self, session_id: str) -> None:
        """A session of this process ended."""

    @abc.abstractmethod
    async def relay(self, session_id: str, principal: str | None, body: bytes) -> bool:
        """Carry a message to the process holding ``session_id``.

        Returns False when no live process holds that session for ``principal`` (it never
        existed, it ended, its process is gone, or another key opened it). Raises when the
        relay itself cannot be reached.
        """

    async def aclose(self) -> None:
        """Stop taking messages and release connections."""


class LocalSessions(SessionRelay):
    """One process: every session is local, and no other node exists."""

    async def relay(self, session_id: str, principal: str | None, body: bytes) -> bool:
        return False
