"""Opening the session socket: a bounded number of attempts, exponential backoff with jitter.

Every attempt is counted, logged and published as a session event, so a consumer watching a
session that is slow to open sees why. Every failure reason that leaves this module has passed
through the endpoint's ``scrub``: the credential is part of the URL and must never reach a log
line, an event or an error. The clock and the jitter source are parameters, so the policy can be
tested without waiting.
"""

from __future__ import annotations

import random as _random
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import anyio
import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from toolserver import __version__
from toolserver.surfaces.websocket.errors import ConnectError
from toolserver.surfaces.websocket.retry import RetryPolicy

if TYPE_CHECKING:
    from toolserver.surfaces.websocket._endpoint import Endpoint

__all__ = ["MAX_MESSAGE_BYTES", "connect_with_retry"]

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
"""The largest server message accepted; tool arguments and texts are far smaller."""

_log = structlog.get_logger("toolserver.websocket")


async def connect_with_retry(
    endpoint: Endpoint,
    policy: RetryPolicy,
    *,
    session_id: str,
    publish: Callable[[str, Mapping[str, Any]], object],
    on_attempt: Callable[[int], object],
    open_timeout: float,
    ping_interval: float | None,
    close_timeout: float,
    sleep: Callable[[float], Awaitable[Any]] = anyio.sleep,
    random: Callable[[], float] = _random.random,
) -> ClientConnection:
    """Open the session socket of ``endpoint``, retrying failed attempts as ``policy`` says.

    Each attempt is logged and published (``connecting``, then ``retrying`` when it failed and
    another follows); ``on_attempt(n)`` is called before attempt ``n``. A missed pong within
    ``ping_interval`` closes the socket. Raises :class:`ConnectError`, logged, with the last
    attempt's reason once the attempts are used up, or at once for a URL no retry can fix.
    """
    url = endpoint.redacted_url
    reason, status, attempt = "no attempt was made", None, 0
    for attempt in range(1, policy.attempts + 1):
        on_attempt(attempt)
        publish("connecting", {"attempt": attempt, "url": url})
        _log.info(
            "ws.connecting", session_id=session_id, attempt=attempt, url=url, mode=endpoint.mode
        )
        try:
            return await connect(
                endpoint.url,
                open_timeout=open_timeout,
                ping_interval=ping_interval,
                ping_timeout=ping_interval,
                close_timeout=close_timeout,
                user_agent_header=f"toolserver/{__version__}",
                max_size=MAX_MESSAGE_BYTES,
            )
        except InvalidURI as exc:
            reason, status = endpoint.scrub(f"invalid URL: {exc}"), None
            break  # no retry can fix it
        except InvalidStatus as exc:
            status = exc.response.status_code
            body = bytes(exc.response.body or b"").decode("utf-8", "replace").strip()
            reason = endpoint.scrub(f"HTTP {status}" + (f": {body[:200]}" if body else ""))
        except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as exc:
            status = None
            reason = endpoint.scrub(f"{type(exc).__name__}: {exc}".rstrip(": "))
        if attempt == policy.attempts:
            break
        delay = policy.delay(attempt, random())
        _log.warning(
            "ws.connect_failed",
            session_id=session_id,
            attempt=attempt,
            attempts=policy.attempts,
            reason=reason,
            retry_in=round(delay, 3),
        )
        publish("retrying", {"attempt": attempt, "reason": reason, "delay": round(delay, 3)})
        await sleep(delay)
    _log.error(
        "ws.connect_gave_up",
        session_id=session_id,
        attempts=attempt,
        reason=reason,
        status=status,
        url=url,
    )
    raise ConnectError(reason, attempts=attempt, status=status)
