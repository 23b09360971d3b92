"""BlackBox's call webhooks: ``POST /blackbox/start``, ``/blackbox/result``, ``/blackbox/transfer``.

Each route takes the payload its BlackBox webhook sends (:mod:`toolserver.core.call_payloads`) and
hands it to the plugins' call hooks (:class:`~toolserver.core.lifecycle.CallLifecycle`). They are
served like the tool webhooks: the same API keys (or, with ``TOOLSERVER_SIGNING_SECRET``, the
same ``x-blackbox-signature`` over the body), the same body limit, the same rate limits (counted
under the route's path, e.g. ``{"/blackbox/transfer": "20/minute"}``; the key-wide limits count
them too), and one log event per webhook (``call.start``, ``call.result``, ``call.transfer``).

============================  ======  ==========================================================
outcome                       status  body
============================  ======  ==========================================================
start                         200     ``{"accept": true|false, "reasonMessage": ...}``
result stored (or known)      200     ``{"ok": true, "outcome": "stored"|"duplicate"|...}``
result not stored             503     the outbox is unreachable: BlackBox's retry may succeed
transfer                      200     ``{"isSuccess": true, "transfer": {...}}`` or
                                      ``{"isSuccess": false, "message"}``; never a 5xx, so
                                      BlackBox falls back to the agent's own transfer in time
a ``type`` of another route   400     a payload is accepted only on its own route
invalid JSON or fields        400
missing/wrong credentials     401
body over the limit           413
rate limited                  429     with ``Retry-After``
============================  ======  ==========================================================

Errors have the one shape ``{"error": {"type", "message"}}``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pydantic_core
import structlog
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from toolserver.core.call_answers import transfer_declined
from toolserver.core.call_payloads import RESULT_TYPES, InvalidPayload, parse_call_payload
from toolserver.core.errors import FailureKind, ToolFailure
from toolserver.core.lifecycle import LifecycleRecord
from toolserver.http.auth import principal_of
from toolserver.http.bodies import (
    BodyTooLarge,
    ClientGone,
    answer,
    answer_disconnected,
    error_body,
    read_body,
    refuse_signature,
    request_headers,
    signature_ok,
    too_large_message,
)
from toolserver.runtime import ToolServer
from toolserver.runtime.results import ResultWorker

__all__ = ["CALL_WEBHOOK_PATHS", "RESULT_PATH", "START_PATH", "TRANSFER_PATH", "LifecycleSurface"]

_log = structlog.get_logger("toolserver.calls")

START_PATH = "/blackbox/start"
RESULT_PATH = "/blackbox/result"
TRANSFER_PATH = "/blackbox/transfer"
CALL_WEBHOOK_PATHS: dict[str, tuple[str, ...]] = {
    START_PATH: ("StartWebHookPayload",),
    RESULT_PATH: RESULT_TYPES,
    TRANSFER_PATH: ("TransferWebHookPayload",),
}
"""Each route, and the payload types it takes."""
_KINDS = {START_PATH: "start", RESULT_PATH: "result", TRANSFER_PATH: "transfer"}
_LEASE_MARGIN = 30.0


class LifecycleSurface:
    """The call webhook routes of one :class:`ToolServer`, and the result worker.

    Every route is a fast route (:mod:`toolserver.http.asgi`); the same handlers serve them as
    Starlette routes, so another method gets the JSON 405 every route gives.
    """

    name = "lifecycle"

    def __init__(self, server: ToolServer) -> None:
        self.server = server
        self.calls = server.calls
        settings = server.settings
        secret = settings.signing_secret
        self.signing_secret = secret.get_secret_value() if secret else None
        self.limit = settings.max_body_bytes
        self.worker = ResultWorker(
            server.calls,
            server.stores.outbox,
            lease=settings.result_lease,
            retry_max_delay=settings.result_retry_max_delay,
        )
        self._leases = {
            START_PATH: settings.start_budget + _LEASE_MARGIN,
            TRANSFER_PATH: settings.transfer_budget + _LEASE_MARGIN,
            RESULT_PATH: _LEASE_MARGIN,
        }

    @property
    def routes(self) -> list[Route]:
        return [Route(path, _Asgi(self.handle), methods=["POST"]) for path in CALL_WEBHOOK_PATHS]

    @property
    def fast_routes(self) -> dict[tuple[str, str], Any]:
        return {("POST", path): self.handle for path in CALL_WEBHOOK_PATHS}

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Run the result worker while the server runs (when a plugin has a result hook)."""
        if not self.calls.hooks["result"]:
            yield
            return
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(self.worker.run)
            try:
                yield
            finally:
                tasks.cancel_scope.cancel()

    def signed(self, method: str, path: str) -> bool:
        """Whether a request authenticates by BlackBox's body signature instead of an API key
        (every call webhook, while ``TOOLSERVER_SIGNING_SECRET`` is set)."""
        return self.signing_secret is not None and method == "POST" and path in CALL_WEBHOOK_PATHS

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One call webhook, as raw ASGI."""
        path: str = scope["path"]
        kind = _KINDS[path]
        declared, signature = request_headers(scope["headers"])
        try:
            raw = await read_body(receive, declared, self.limit)
        except BodyTooLarge:
            message = too_large_message(self.limit)
            await self._refuse(send, kind, 413, "body_too_large", message)
            return
        except ClientGone:
            _log.info("call.client_disconnected", webhook=kind)
            await answer_disconnected(send)
            return
        if not signature_ok(self.signing_secret, raw, signature):
            _log.warning("auth.refused", path=path, reason="invalid signature")
            self.calls.observe(LifecycleRecord(kind, "unauthorized", 0.0))
            await refuse_signature(send)
            return
        try:
            body = pydantic_core.from_json(raw) if raw else None
        except ValueError as exc:
            message = f"The request body is not valid JSON: {exc}."
            await self._refuse(send, kind, 400, "invalid_json", message)
            return
        try:
            payload = parse_call_payload(body, CALL_WEBHOOK_PATHS[path])
        except InvalidPayload as exc:
            wrong = isinstance(body, dict) and body.get("type") not in CALL_WEBHOOK_PATHS[path]
            await self._refuse(
                send, kind, 400, "wrong_payload_type" if wrong else "invalid_payload", str(exc)
            )
            return
        if kind == "result" and not payload.call_id:
            await self._refuse(send, kind, 400, "invalid_payload", "A result needs a 'callId'.")
            return
        try:
            async with self.server.limits.admit_named(
                path, principal_of(scope), self._leases[path], label=f"The {kind} webhook",
                wildcard=False,
            ):  # fmt: skip
                status, answer_body = await self._answer(kind, payload, raw)
        except ToolFailure as failure:  # a rate limit or a concurrency cap
            assert failure.kind is FailureKind.REJECTED
            retry = str(max(1, round(failure.retry_after or 1))).encode()
            await self._refuse(
                send, kind, 429, "rejected", failure.message, extra=((b"retry-after", retry),)
            )
            return
        await answer(send, status, answer_body)

    async def _answer(self, kind: str, payload: Any, raw: bytes) -> tuple[int, bytes]:
        if kind == "start":
            return 200, pydantic_core.to_json(await self.calls.start(payload))
        if kind == "transfer":
            try:
                decision = await self.calls.transfer(payload)
            except Exception:  # the lifecycle answers every failure; this is a bug, still no 5xx
                _log.exception("call.transfer_crashed", call_id=payload.call_id)
                decision = transfer_declined("The transfer could not be routed right now.")
            return 200, pydantic_core.to_json(decision)
        try:
            outcome = await self.calls.receive_result(payload, raw)
        except InvalidPayload as exc:
            return 400, error_body("invalid_payload", str(exc))
        except Exception:  # logged by the lifecycle; not stored, so BlackBox must retry
            message = "The result could not be stored right now. Send it again in a moment."
            return 503, error_body("unavailable", message)
        return 200, pydantic_core.to_json({"ok": True, "outcome": outcome})

    async def _refuse(
        self,
        send: Send,
        kind: str,
        status: int,
        error: str,
        message: str,
        *,
        extra: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        """Answer a webhook refused before its hooks ran: its one log event, and the error."""
        _log.warning("call.refused", webhook=kind, status=status, error_kind=error, reason=message)
        self.calls.observe(LifecycleRecord(kind, error, 0.0))
        await answer(send, status, error_body(error, message), extra)


class _Asgi:
    """Marks an ASGI callable as an application for Starlette's ``Route``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
