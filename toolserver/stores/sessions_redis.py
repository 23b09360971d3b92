"""Sessions shared by replicas through Redis: a registry of live sessions and a pub/sub relay.

Keys (under ``TOOLSERVER_REDIS_PREFIX``):

- ``sse:node:<node>``: the node is alive; set every :data:`HEARTBEAT` seconds, expires after
  :data:`NODE_TTL` without one;
- ``sse:session:<id>``: the session's node and the principal that opened it; rewritten by the
  node's heartbeat (so a Redis that lost its data learns them again), expires after
  :data:`SESSION_TTL` without one, and deleted when the session ends;
- channel ``sse:relay:<node>``: messages for the node's sessions.

A message for another node's session is one script call: it checks the session is registered for
the POSTing principal and its node is alive, then publishes the message on the node's channel.
``PUBLISH`` says how many subscribers received it; a node that died (``kill -9``, a lost
replica) has no subscription any more, so its sessions answer 404 at once, and the registry
forgets them within :data:`SESSION_TTL` seconds. The node reads its channel on one connection,
in order, so a client's messages reach its session in the order they were accepted.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from toolserver.stores.sessions import Deliver, SessionRelay

__all__ = ["HEARTBEAT", "NODE_TTL", "SESSION_TTL", "RedisSessions"]

_log = structlog.get_logger("toolserver.stores.sessions")

HEARTBEAT = 5.0
"""Seconds between two heartbeats of a node (its own key and its sessions' keys)."""
NODE_TTL = 15.0
"""Seconds a node is believed alive after its last heartbeat."""
SESSION_TTL = 20.0
"""Seconds a session stays registered after its node's last heartbeat."""

# KEYS: session key, node key prefix, channel prefix. ARGV: principal, payload.
# Returns the number of receivers (0: not delivered).
_RELAY = """
local entry = redis.call('GET', KEYS[1])
if not entry then return 0 end
local sep = string.find(entry, '\\n', 1, true)
local node = string.sub(entry, 1, sep - 1)
if string.sub(entry, sep + 1) ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[2] .. node) == 0 then
  redis.call('DEL', KEYS[1])
  return 0
end
local received = redis.call('PUBLISH', KEYS[3] .. node, ARGV[2])
if received == 0 then redis.call('DEL', KEYS[1]) end
return received
"""


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


class RedisSessions(SessionRelay):
    """Replicas (and their workers) relaying messages to each other through one Redis.

    Args:
        client: the Redis client (shared with the other stores; not closed here).
        prefix: the start of every key.
    """

    shared = True

    def __init__(self, client: Redis, *, prefix: str = "toolserver:") -> None:
        super().__init__()
        self.client = client
        self.prefix = f"{prefix}sse:"
        self.principals: dict[str, str] = {}
        self._relay = client.register_script(_RELAY)
        self._deliver: Deliver | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed = asyncio.Event()

    def _session_key(self, session_id: str) -> str:
        return f"{self.prefix}session:{session_id}"

    @property
    def channel(self) -> str:
        return f"{self.prefix}relay:{self.node}"

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver
        self._tasks = [
            asyncio.ensure_future(self._listen()),
            asyncio.ensure_future(self._heartbeat()),
        ]
        # Sessions open before the subscription is there would miss their first messages;
        # a Redis that is down must not hold up the start, though (the listener retries).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), 5.0)

    async def opened(self, session_id: str, principal: str | None) -> None:
        self.principals[session_id] = principal or ""
        try:
            await self.client.set(
                self._session_key(session_id),
                f"{self.node}\n{principal or ''}",
                px=_ms(SESSION_TTL),
            )
        except redis_errors.RedisError as exc:
            # The session still works through this process; the heartbeat registers it later.
            _log.warning("sse.registry_unavailable", error=str(exc))

    async def closed(self, session_id: str) -> None:
        self.principals.pop(session_id, None)
        with contextlib.suppress(redis_errors.RedisError):
            await self.client.delete(self._session_key(session_id))

    async def relay(self, session_id: str, principal: str | None, body: bytes) -> bool:
        payload = session_id.encode() + b"\n" + (principal or "").encode() + b"\n" + body
        received = await self._relay(
            keys=[
                self._session_key(session_id),
                f"{self.prefix}node:",
                f"{self.prefix}relay:",
            ],
            args=[principal or "", payload],
        )
        return int(received) > 0

    async def _heartbeat(self) -> None:
        while True:
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    pipe.set(f"{self.prefix}node:{self.node}", b"1", px=_ms(NODE_TTL))
                    for session_id, principal in list(self.principals.items()):
                        pipe.set(
                            self._session_key(session_id),
                            f"{self.node}\n{principal}",
                            px=_ms(SESSION_TTL),
                        )
                    await pipe.execute()
            except redis_errors.RedisError as exc:
                _log.warning("sse.heartbeat_failed", error=str(exc))
            await asyncio.sleep(HEARTBEAT)

    async def _listen(self) -> None:
        """Read this node's channel, resubscribing after a lost connection."""
        while True:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._subscribed.set()
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is None or message.get("type") != "message":
                        continue
                    await self._take(message["data"])
            except asyncio.CancelledError:
                raise
            except (redis_errors.RedisError, OSError) as exc:
                _log.warning("sse.relay_disconnected", error=str(exc))
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _take(self, payload: bytes) -> None:
        try:
            session_id, principal, body = payload.split(b"\n", 2)
        except ValueError:
            return
        assert self._deliver is not None
        try:
            await self._deliver(session_id.decode(), principal.decode() or None, body)
        except Exception:
            _log.exception("sse.relay_delivery_failed")

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks = []
        if self.principals:
            with contextlib.suppress(redis_errors.RedisError, OSError):
                await self.client.delete(*map(self._session_key, self.principals))
        with contextlib.suppress(redis_errors.RedisError, OSError):
            await self.client.delete(f"{self.prefix}node:{self.node}")
        self.principals.clear()
