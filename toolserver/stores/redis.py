"""State shared through Redis, so that several processes or replicas behave as one server.

Used when ``TOOLSERVER_REDIS_URL`` is set (:func:`toolserver.stores.build_stores`). Two things
are shared:

- the idempotency records (:class:`RedisIdempotencyStore`): a BlackBox retry that lands on
  another replica, or on another worker, gets the first run's outcome instead of running again;
- the rate-limit and concurrency counters (:class:`RedisCounters`);
- the circuit breakers' states (:class:`RedisCircuits`): one replica's failures open a circuit
  for all of them;
- cached reads (:class:`RedisResultCache`);
- call state (:class:`RedisCallStates`): what a start hook kept, read by the tool calls of the
  same call on whichever replica they land;
- the result outbox (:class:`RedisOutbox`): a stored result's hooks run once, on one replica.

Every key starts with ``TOOLSERVER_REDIS_PREFIX`` so that several deployments can share one
Redis. Times that must agree across replicas (windows, leases) are Redis's own clock, never a
replica's.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from typing import Any

import anyio
import structlog
from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from toolserver.core.cache import ResultCache
from toolserver.core.call_state import CallStates
from toolserver.core.circuits import Circuit, Circuits, Passage
from toolserver.core.outbox import ResultJob, ResultOutbox
from toolserver.stores.counters import Counters
from toolserver.stores.leases import DONE, Entry, LeasedIdempotencyStore

__all__ = [
    "RedisCallStates",
    "RedisCircuits",
    "RedisCounters",
    "RedisIdempotencyStore",
    "RedisOutbox",
    "RedisResultCache",
    "connect",
]

_log = structlog.get_logger("toolserver.stores")

def connect(url: str) -> Redis:
    """A client for ``url`` (``redis://``, ``rediss://``, ``unix://``) that fails fast.

    Short timeouts and two quick retries: a probe or a call must learn within seconds that Redis
    is gone, not hang until the caller's own timeout. Connections are made on first use, so
    building the client never blocks and a Redis that starts later is picked up.
    """
    return Redis.from_url(
        url,
        socket_connect_timeout=2.0,
        socket_timeout=5.0,
        health_check_interval=15,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
        retry_on_error=[redis_errors.ConnectionError, redis_errors.TimeoutError],
    )


# -- idempotency ----------------------------------------------------------------------------------
#
# One key per logical invocation. Its value says where the invocation is:
#   b"P" + token            running, owned by the caller holding ``token``; expires after the lease
#                           unless the owner keeps renewing it (so a crashed owner frees the key)
#   b"D" + record           done, kept for TOOLSERVER_IDEMPOTENCY_TTL
#   b"T" + token + record   done, but an outcome a retry may change (timeout, crash): handed to the
#                           callers that were waiting on ``token``'s run, ignored by later ones

_TOKEN_LENGTH = 32

# Take the key unless it holds a running or kept invocation, which is returned instead.
_ACQUIRE = """
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 1) ~= 'T' then return v end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"""
# Replace our pending marker with the outcome (unless the lease ran out and another took over).
_FINISH = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_ABANDON = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisIdempotencyStore(LeasedIdempotencyStore):
    """Idempotency records in Redis: one run per key across every process that shares it.

    The lease protocol is :class:`~toolserver.stores.leases.LeasedIdempotencyStore`'s; here each
    step is one Lua script or command on the key, by Redis's clock.

    Args:
        client: the Redis client (closed by :meth:`aclose` when ``owns_client``).
        prefix: the start of every key.
        ttl, lease, wait_timeout, handoff_ttl, poll_interval: as for
            :class:`~toolserver.stores.leases.LeasedIdempotencyStore`.
    """

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = "toolserver:",
        ttl: float = 3600.0,
        lease: float = 15.0,
        wait_timeout: float = 120.0,
        handoff_ttl: float = 10.0,
        poll_interval: tuple[float, float] = (0.02, 0.25),
        owns_client: bool = True,
    ) -> None:
        super().__init__(
            ttl=ttl,
            lease=lease,
            wait_timeout=wait_timeout,
            handoff_ttl=handoff_ttl,
            poll_interval=poll_interval,
        )
        self.client = client
        self.prefix = f"{prefix}idem:"
        self.owns_client = owns_client
        self._acquire = client.register_script(_ACQUIRE)
        self._finish = client.register_script(_FINISH)
        self._renew = client.register_script(_RENEW)
        self._abandon = client.register_script(_ABANDON)

    async def take(self, key: str, token: bytes, lease: float) -> Entry | None:
        current = await self._acquire(keys=[self.prefix + key], args=[b"P" + token, _ms(lease)])
        return _entry(current)

    async def finish(self, key: str, token: bytes, entry: Entry, ttl: float) -> bool:
        value = entry.state.encode() + entry.token + entry.record
        stored = await self._finish(keys=[self.prefix + key], args=[b"P" + token, value, _ms(ttl)])
        return bool(stored)

    async def renew(self, key: str, token: bytes, lease: float) -> None:
        await self._renew(keys=[self.prefix + key], args=[b"P" + token, _ms(lease)])

    async def abandon(self, key: str, token: bytes) -> None:
        await self._abandon(keys=[self.prefix + key], args=[b"P" + token])

    async def peek(self, key: str) -> Entry | None:
        return _entry(await self.client.get(self.prefix + key))

    def unavailable(self, exc: BaseException) -> bool:
        return isinstance(exc, redis_errors.RedisError)

    async def ping(self) -> None:
        await self.client.ping()

    async def aclose(self) -> None:
        if self.owns_client:
            await self.client.aclose()


def _entry(value: bytes | None) -> Entry | None:
    """A stored value (``P`` + token, ``D`` + record, ``T`` + token + record) as an entry."""
    if value is None:
        return None
    state = value[:1].decode()
    if state == DONE:
        return Entry(DONE, b"", value[1:])
    return Entry(state, value[1 : 1 + _TOKEN_LENGTH], value[1 + _TOKEN_LENGTH :])


# -- limits ---------------------------------------------------------------------------------------

# Fixed window: count, start the window on its first call, report what is left of it.
_HIT = """
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
"""
# Concurrency slots: a sorted set of tokens scored by when their lease ends, by Redis's clock.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""


class RedisCounters(Counters):
    """Rate-limit windows and concurrency slots shared by every process using ``client``."""

    def __init__(self, client: Redis, *, prefix: str = "toolserver:", owns_client: bool = False):
        self.client = client
        self.prefix = f"{prefix}limit:"
        self.owns_client = owns_client
        self._hit = client.register_script(_HIT)
        self._take = client.register_script(_TAKE)

    async def hit(self, key: str, period: float) -> tuple[int, float]:
        count, remaining_ms = await self._hit(keys=[self.prefix + key], args=[_ms(period)])
        return int(count), int(remaining_ms) / 1000

    async def acquire(self, key: str, limit: int, lease: float) -> str | None:
        token = secrets.token_hex(8)
        taken = await self._take(keys=[self.prefix + key], args=[limit, _ms(lease), token])
        return token if taken else None

    async def release(self, key: str, token: str) -> None:
        await self.client.zrem(self.prefix + key, token)

    async def ping(self) -> None:
        await self.client.ping()

    async def aclose(self) -> None:
        if self.owns_client:
            await self.client.aclose()


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


# -- circuits -------------------------------------------------------------------------------------

# The rules of toolserver.core.circuits, on one hash per circuit, by Redis's clock.
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""
_ADMIT = _NOW + """
local s = redis.call('HMGET', KEYS[1], 'state', 'open_until', 'probe_until')
local state = s[1] or 'closed'
if state == 'closed' then return {0, state} end
local ends = tonumber(s[3]) or 0
if state == 'open' then ends = tonumber(s[2]) or 0 end
if now < ends then return {2, state} end
redis.call('HSET', KEYS[1], 'state', 'half_open', 'probe_until', now + tonumber(ARGV[1]))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, 'half_open'}
"""
_RECORD = _NOW + """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
local cooldown = tonumber(ARGV[5])
if ARGV[1] == '1' then
  if ARGV[2] == '1' then
    state = 'closed'
    redis.call('HSET', KEYS[1], 'state', state, 'failures', 0)
  else
    state = 'open'
    redis.call('HSET', KEYS[1], 'state', state, 'open_until', now + cooldown)
  end
elseif state == 'closed' and ARGV[2] == '0' then
  local failures = tonumber(redis.call('HGET', KEYS[1], 'failures')) or 0
  local window_end = tonumber(redis.call('HGET', KEYS[1], 'window_end')) or 0
  if now >= window_end then
    failures = 0
    redis.call('HSET', KEYS[1], 'window_end', now + tonumber(ARGV[4]))
  end
  failures = failures + 1
  if failures >= tonumber(ARGV[3]) then
    state = 'open'
    redis.call('HSET', KEYS[1], 'state', state, 'open_until', now + cooldown, 'failures', 0)
  else
    redis.call('HSET', KEYS[1], 'failures', failures)
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return state
"""


class RedisCircuits(Circuits):
    """Circuit states shared by every replica: one replica's failures open the circuit for all.

    When Redis cannot be reached, calls pass (a circuit protects the system behind the tools;
    refusing every call because the breaker's store is down would be an outage of its own).
    """

    def __init__(self, client: Redis, *, prefix: str = "toolserver:", owns_client: bool = False):
        super().__init__()
        self.client = client
        self.prefix = f"{prefix}circuit:"
        self.owns_client = owns_client
        self._admit = client.register_script(_ADMIT)
        self._record = client.register_script(_RECORD)
        self._warned = 0.0

    @staticmethod
    def _keep(circuit: Circuit) -> int:
        """How long an untouched circuit's state is kept: well past its window and cooldown."""
        return _ms(10 * max(circuit.policy.window, circuit.policy.cooldown))

    async def admit(self, circuit: Circuit) -> Passage:
        cooldown = _ms(circuit.policy.cooldown)
        try:
            code, state = await self._admit(
                keys=[self.prefix + circuit.name], args=[cooldown, self._keep(circuit)]
            )
        except _UNREACHABLE as exc:
            self._unreachable(exc)
            return Passage.PASS
        self.states[circuit.name] = _text(state)
        return (Passage.PASS, Passage.PROBE, Passage.REFUSE)[int(code)]

    async def record(self, circuit: Circuit, passage: Passage, ok: bool) -> None:
        policy = circuit.policy
        args = [
            int(passage is Passage.PROBE),
            int(ok),
            policy.failures,
            _ms(policy.window),
            _ms(policy.cooldown),
            self._keep(circuit),
        ]
        try:
            state = await self._record(keys=[self.prefix + circuit.name], args=args)
        except _UNREACHABLE as exc:
            self._unreachable(exc)
            return
        self.states[circuit.name] = _text(state)

    def _unreachable(self, exc: BaseException) -> None:
        now = anyio.current_time()
        if now - self._warned >= 30.0:
            self._warned = now
            _log.warning("circuits.store_unavailable", error=repr(exc))

    async def ping(self) -> None:
        await self.client.ping()

    async def aclose(self) -> None:
        if self.owns_client:
            await self.client.aclose()


# -- cached reads ---------------------------------------------------------------------------------


class RedisResultCache(ResultCache):
    """Cached reads shared by every replica; an unreachable Redis is a cache miss, not a failure."""

    def __init__(self, client: Redis, *, prefix: str = "toolserver:", owns_client: bool = False):
        self.client = client
        self.prefix = f"{prefix}cache:"
        self.owns_client = owns_client

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self.client.get(self.prefix + key)
        except _UNREACHABLE:
            return None
        return bytes(value) if value is not None else None

    async def put(self, key: str, value: bytes, ttl: float) -> None:
        try:
            await self.client.set(self.prefix + key, value, px=_ms(ttl))
        except _UNREACHABLE:
            pass

    async def aclose(self) -> None:
        if self.owns_client:
            await self.client.aclose()


_UNREACHABLE = (redis_errors.RedisError, OSError)


# -- call state -----------------------------------------------------------------------------------


class RedisCallStates(CallStates):
    """Call state shared by every replica, one key per call, expiring on its own."""

    def __init__(self, client: Redis, *, prefix: str = "toolserver:", owns_client: bool = False):
        self.client = client
        self.prefix = f"{prefix}callstate:"
        self.owns_client = owns_client

    async def get(self, call_id: str) -> bytes | None:
        value = await self.client.get(self.prefix + call_id)
        return bytes(value) if value is not None else None

    async def put(self, call_id: str, value: bytes, ttl: float) -> None:
        await self.client.set(self.prefix + call_id, value, px=_ms(ttl))

    async def forget(self, call_id: str) -> None:
        await self.client.delete(self.prefix + call_id)

    async def ping(self) -> None:
        await self.client.ping()

    async def aclose(self) -> None:
        if self.owns_client:
            await self.client.aclose()


# -- result outbox --------------------------------------------------------------------------------
#
# One hash per job (``outbox:job:<id>``: the payload, the call state, attempts, the claim's token,
# done) and one sorted set of the jobs not done (``outbox:due``), scored by when each may be
# claimed next: when it was added or is due for a retry, or, while claimed, when the lease ends.
# A claim moves the score to the lease's end, so a claimed job is invisible to others until the
# holder's lease runs out; times are Redis's clock.

_ADD_JOB = _NOW + """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'call_id', ARGV[1], 'result_type', ARGV[2], 'hook', ARGV[3],
           'payload', ARGV[4], 'state', ARGV[5], 'attempts', 0, 'done', 0)
redis.call('ZADD', KEYS[2], now, ARGV[6])
return 1
"""
_CLAIM_JOBS = _NOW + """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local out = {}
for i, id in ipairs(ids) do
  local key = ARGV[3] .. id
  if redis.call('HGET', key, 'done') == '0' then
    local token = ARGV[4] .. ':' .. i
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), id)
    local attempts = redis.call('HINCRBY', key, 'attempts', 1) - 1
    redis.call('HSET', key, 'token', token)
    local v = redis.call('HMGET', key, 'call_id', 'result_type', 'hook', 'payload', 'state')
    table.insert(out, {token, attempts, v[1], v[2], v[3], v[4], v[5]})
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
"""
_RENEW_JOB = _NOW + """
local held = redis.call('HMGET', KEYS[1], 'token', 'done')
if held[1] ~= ARGV[1] or held[2] ~= '0' then return 0 end
redis.call('ZADD', KEYS[2], 'XX', now + tonumber(ARGV[2]), ARGV[3])
return 1
"""
_FINISH_JOB = """
redis.call('HSET', KEYS[1], 'done', 1)
redis.call('HDEL', KEYS[1], 'payload', 'state', 'token')
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
_RETRY_JOB = _NOW + """
local held = redis.call('HMGET', KEYS[1], 'token', 'done')
if held[1] ~= ARGV[1] or held[2] ~= '0' then return 0 end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[3])
redis.call('HDEL', KEYS[1], 'token')
redis.call('HSET', KEYS[1], 'last_error', ARGV[4])
return 1
"""


class RedisOutbox(ResultOutbox):
    """Result jobs in Redis: stored once, claimed by one replica at a time (see above).

    As durable as the Redis behind it: a Redis that may lose writes (no ``appendonly``) may lose
    results it acknowledged.

    Args:
        keep_done: seconds a finished job's marker is kept, so a late retry of the same result
            is still recognised; its payload is dropped at once.
    """

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = "toolserver:",
        keep_done: float = 7 * 86400.0,
        owns_client: bool = False,
    ) -> None:
        self.client = client
        self.jobs = f"{prefix}outbox:job:"
        self.due = f"{prefix}outbox:due"
        self.keep_done = keep_done
        self.owns_client = owns_client
        self._add = client.register_script(_ADD_JOB)
        self._claim = client.register_script(_CLAIM_JOBS)
        self._renew = client.register_script(_RENEW_JOB)
        self._finish = client.register_script(_FINISH_JOB)
        self._retry = client.register_script(_RETRY_JOB)

    @staticmethod
    def job_id(call_id: str, result_type: str, hook: str) -> str:
        return hashlib.sha256(f"{call_id}\x00{result_type}\x00{hook}".encode()).hexdigest()[:40]

    async def add(
        self,
        call_id: str,
        result_type: str,
        hooks: Sequence[str],
        payload: bytes,
        call_state: bytes,
    ) -> int:
        added = 0
        for hook in hooks:
            job = self.job_id(call_id, result_type, hook)
            added += int(
                await self._add(
                    keys=[self.jobs + job, self.due],
                    args=[call_id, result_type, hook, payload, call_state, job],
                )
            )
        return added

    async def claim(self, limit: int, lease: float) -> list[ResultJob]:
        rows = await self._claim(
            keys=[self.due], args=[limit, _ms(lease), self.jobs, secrets.token_hex(8)]
        )
        jobs = []
        for token, attempts, call_id, result_type, hook, payload, state in rows:
            jobs.append(
                ResultJob(
                    _text(call_id), _text(result_type), _text(hook), bytes(payload or b"{}"),
                    bytes(state or b"{}"), int(attempts), _text(token),
                )  # fmt: skip
            )
        return jobs

    def _keys(self, job: ResultJob) -> tuple[list[str], str]:
        job_id = self.job_id(job.call_id, job.result_type, job.hook)
        return [self.jobs + job_id, self.due], job_id

    async def renew(self, job: ResultJob, lease: float) -> bool:
        keys, job_id = self._keys(job)
        return bool(await self._renew(keys=keys, args=[job.token, _ms(lease), job_id]))

    async def done(self, job: ResultJob) -> None:
        keys, job_id = self._keys(job)
        await self._finish(keys=keys, args=[job_id, _ms(self.keep_done)])

    async def retry(self, job: ResultJob, delay: float, error: str) -> None:
        keys, job_id = self._keys(job)
        await self._retry(keys=keys, args=[job.token, _ms(delay), job_id, error[:2000]])

    async def pending(self) -> int:
        return int(await self.client.zcard(self.due))

    async def ping(self) -> None:
        await self.client.ping()

    async def aclose(self) -> None:
        if self.owns_client:
            await self.client.aclose()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
