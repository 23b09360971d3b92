"""A legacy MCP SSE session spoken in raw HTTP, for tests that decide where each POST goes.

The stream (``GET /sse``) is one connection to one server; every message is POSTed on a new TCP
connection (``Connection: close``), to whichever base URL the test names, so that with several
workers or replicas the POSTs land on processes other than the one holding the stream. Answers
are read from the stream and matched to their request by id.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
from typing import Any
from urllib.parse import urlsplit

__all__ = ["RawSession", "SessionEnded", "post_raw"]


class SessionEnded(Exception):
    """The stream ended (the server holding it stopped, or closed it)."""


def _address(base_url: str) -> tuple[str, int]:
    parts = urlsplit(base_url)
    return parts.hostname or "127.0.0.1", parts.port or 80


async def post_raw(
    base_url: str, path: str, body: bytes, headers: dict[str, str], timeout: float = 30.0
) -> tuple[int, bytes]:
    """POST ``body`` on a new connection; the status and the body of the answer."""
    host, port = _address(base_url)
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        writer.write(
            (
                f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n{head}\r\n"
            ).encode()
            + body
        )
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    head_end = raw.find(b"\r\n\r\n")
    status = int(raw.split(b" ", 2)[1])
    return status, raw[head_end + 4 :]


class RawSession:
    """One legacy SSE session: :meth:`open` it, :meth:`call` tools, :meth:`close` it."""

    def __init__(self, base_url: str, headers: dict[str, str], prefix: str = "") -> None:
        self.base_url = base_url
        self.headers = headers
        self.prefix = prefix
        self.endpoint = ""
        self.session_id = ""
        self._ids = itertools.count(1)
        self._waiting: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self._reader_task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.ended = asyncio.Event()
        self.messages: list[dict[str, Any]] = []
        """Every message the stream carried, in order (answers and notifications)."""

    async def open(self, timeout: float = 30.0) -> RawSession:
        host, port = _address(self.base_url)
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        self._writer = writer
        head = "".join(f"{name}: {value}\r\n" for name, value in self.headers.items())
        writer.write(
            f"GET {self.prefix}/sse HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Accept: text/event-stream\r\n{head}\r\n".encode()
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout)
        if b" 200 " not in status_line:
            raise AssertionError(f"GET /sse answered {status_line!r}")
        while (await reader.readline()).strip():
            pass  # the response headers
        endpoint = asyncio.get_running_loop().create_future()
        self._reader_task = asyncio.ensure_future(self._read(reader, endpoint))
        self.endpoint = await asyncio.wait_for(endpoint, timeout)
        self.session_id = re.search(r"session_id=([0-9a-f]+)", self.endpoint).group(1)  # type: ignore[union-attr]
        return self

    async def _read(self, reader: asyncio.StreamReader, endpoint: asyncio.Future[str]) -> None:
        event, data = "message", []
        chunked = True
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                if chunked and re.fullmatch(rb"[0-9a-fA-F]+\r\n", line):
                    continue  # a chunk-size line of the chunked body
                text = line.decode().rstrip("\r\n")
                if not text:
                    if data:
                        payload = "\n".join(data)
                        if event == "endpoint" and not endpoint.done():
                            endpoint.set_result(payload)
                        elif event == "message":
                            self._deliver(json.loads(payload))
                    event, data = "message", []
                elif text.startswith("event:"):
                    event = text[6:].strip()
                elif text.startswith("data:"):
                    data.append(text[5:].lstrip())
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.ended.set()
            for waiter in self._waiting.values():
                if not waiter.done():
                    waiter.set_exception(SessionEnded())

    def _deliver(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        waiter = self._waiting.pop(message.get("id"), None)
        if waiter is not None and not waiter.done():
            waiter.set_result(message)

    async def send(self, message: dict[str, Any], post_to: str | None = None) -> tuple[int, bytes]:
        """POST one message (to ``post_to``, another server's base URL, if given)."""
        return await post_raw(
            post_to or self.base_url,
            self.endpoint,
            json.dumps(message).encode(),
            self.headers,
        )

    async def request(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        post_to: str | None = None,
        timeout: float = 30.0,
        *,
        message: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Send a request (or ``message`` as given, with its own id); its answer from the
        stream (raises when the POST is refused)."""
        if message is None:
            message = {"jsonrpc": "2.0", "id": next(self._ids), "method": method}
            if params is not None:
                message["params"] = params
        request_id = message["id"]
        waiter = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = waiter
        status, body = await self.send(message, post_to)
        if status != 202:
            self._waiting.pop(request_id, None)
            raise AssertionError(f"POST {self.endpoint} answered {status}: {body[:300]!r}")
        return await asyncio.wait_for(waiter, timeout)

    async def initialize(
        self, post_to: str | None = None, version: str = "2025-06-18"
    ) -> dict[str, Any]:
        """The handshake, as a legacy client makes it."""
        answer = await self.request(
            "initialize",
            {
                "protocolVersion": version,
                "capabilities": {},
                "clientInfo": {"name": "raw-test-client", "version": "1"},
            },
            post_to,
        )
        status, _ = await self.send(
            {"jsonrpc": "2.0", "method": "notifications/initialized"}, post_to
        )
        assert status == 202, status
        return answer

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(BaseException):
                await self._reader_task
