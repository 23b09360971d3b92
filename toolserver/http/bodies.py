"""Reading a webhook's body and answering it, as raw ASGI: shared by the BlackBox webhooks.

The tool webhooks (:mod:`toolserver.surfaces.webhooks`) and the call webhooks
(:mod:`toolserver.surfaces.lifecycle`) are fast routes: they read the body once, bounded by
``TOOLSERVER_MAX_BODY_BYTES`` before anything is buffered past it, check BlackBox's signature over
exactly those bytes, and answer with raw ``http.response.*`` messages. Every error body has one
shape: ``{"error": {"type", "message"}}``.
"""

from __future__ import annotations

import pydantic_core
from starlette.types import Receive, Send

from toolserver.http.auth import SIGNATURE_HEADER, signature_valid, unauthorized_body

__all__ = [
    "BodyTooLarge",
    "ClientGone",
    "Headers",
    "answer",
    "answer_disconnected",
    "error_body",
    "read_body",
    "refuse_signature",
    "request_headers",
    "signature_ok",
    "too_large_message",
]

Headers = tuple[tuple[bytes, bytes], ...]
_CONTENT_TYPE = (b"content-type", b"application/json")
_NO_BODY = (b"content-length", b"0")
_SIGNATURE = SIGNATURE_HEADER.encode()


class BodyTooLarge(Exception):
    """The body is over the limit (declared or as received)."""


class ClientGone(Exception):
    """The client disconnected before the body was complete."""


def too_large_message(limit: int) -> str:
    """What a caller is told when its body is over ``limit`` bytes (413), on every route."""
    return f"The request body is larger than {limit} bytes."


def error_body(kind: str, message: str) -> bytes:
    return pydantic_core.to_json({"error": {"type": kind, "message": message}})


async def answer(send: Send, status: int, body: bytes, extra: Headers = ()) -> None:
    """A complete JSON response."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [_CONTENT_TYPE, (b"content-length", b"%d" % len(body)), *extra],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def answer_disconnected(send: Send) -> None:
    """What is sent to a client that left mid-body (nobody reads it; the server needs an end)."""
    await send({"type": "http.response.start", "status": 400, "headers": [_NO_BODY]})
    await send({"type": "http.response.body", "body": b""})


def request_headers(headers: list[tuple[bytes, bytes]]) -> tuple[bytes | None, bytes | None]:
    """The declared ``content-length`` and the ``x-blackbox-signature`` of a request."""
    declared = signature = None
    for header, value in headers:
        if header == b"content-length":
            declared = value
        elif header == _SIGNATURE:
            signature = value
    return declared, signature


async def read_body(receive: Receive, declared: bytes | None, limit: int) -> bytes:
    """The whole body, refusing one over ``limit`` as early as its size is known.

    Raises:
        BodyTooLarge: the declared or received size is over ``limit``.
        ClientGone: the client disconnected first.
    """
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    message = await receive()
    if message["type"] != "http.request":
        raise ClientGone
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise BodyTooLarge
        return body
    chunks = [body]
    size = len(body)
    while True:
        if size > limit:
            raise BodyTooLarge
        message = await receive()
        if message["type"] != "http.request":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    if size > limit:
        raise BodyTooLarge
    return b"".join(chunks)


def signature_ok(secret: str | None, raw: bytes, signature: bytes | None) -> bool:
    """Whether the body is signed as required (always, when no signing secret is set)."""
    if secret is None:
        return True
    return signature_valid(secret, raw, signature.decode("latin-1") if signature else None)


async def refuse_signature(send: Send) -> None:
    await answer(
        send,
        401,
        unauthorized_body(f"Missing or invalid {SIGNATURE_HEADER} (hex HMAC-SHA256 of the body)."),
    )
