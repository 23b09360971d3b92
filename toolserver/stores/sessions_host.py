"""Sessions shared by the worker processes of one host: a local socket per worker, no service.

Each worker listens on a Unix socket named after its node id and the data directory; a worker
that receives a message for another node's session connects to that node's socket (connections
are kept and reused) and sends it one frame; the node hands the message to its session and says
whether it had one. A worker that is gone has no socket any more, so its sessions are unknown at
once: the message gets the same 404 as an unknown session, and its client reconnects.

On Linux the sockets are in the abstract namespace (nothing on disk, nothing left behind by a
killed worker), and a node serves only peers running as its own user (``SO_PEERCRED``).
Elsewhere they are files in a private (0700) directory under the system's temporary directory.

Frame: 4-byte big-endian length, then the session id (ASCII), a newline, the principal (UTF-8,
empty for none), a newline, and the message body. Answer: one byte, 1 delivered, 0 not.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import struct
import sys
import tempfile
from pathlib import Path

import structlog

from toolserver.stores.sessions import NODE_ID_LENGTH, Deliver, SessionRelay, node_of

__all__ = ["HostSessions"]

_log = structlog.get_logger("toolserver.stores.sessions")
_LENGTH = struct.Struct("!I")
_ABSTRACT = sys.platform.startswith("linux")
_HEX = frozenset("0123456789abcdef")
_MAX_FRAME = 64 * 1024 * 1024
_IDLE_PER_NODE = 8  # connections kept open to each other node


class HostSessions(SessionRelay):
    """Workers of one host relaying messages to each other over local sockets.

    Args:
        data_dir: the data directory; workers sharing it reach each other.
    """

    shared = True

    def __init__(self, data_dir: Path) -> None:
        super().__init__()
        self.namespace = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
        self._server: asyncio.AbstractServer | None = None
        self._deliver: Deliver | None = None
        self._idle: dict[str, list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}
        self._serving: set[asyncio.Task[None]] = set()

    def address(self, node: str) -> str:
        """The socket address of ``node``."""
        if _ABSTRACT:
            return f"\0toolserver-{self.namespace}-{node}"
        folder = Path(tempfile.gettempdir()) / f"toolserver-{os.getuid()}-{self.namespace}"
        folder.mkdir(mode=0o700, exist_ok=True)
        return str(folder / f"{node}.sock")

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        address = self.address(self.node)
        if not _ABSTRACT:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(address)
        sock.bind(address)
        sock.setblocking(False)
        self._server = await asyncio.start_unix_server(self._serve, sock=sock)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._serving.add(task)
        try:
            if not _same_user(writer):
                return
            while True:
                header = await reader.readexactly(_LENGTH.size)
                (length,) = _LENGTH.unpack(header)
                if length > _MAX_FRAME:
                    return
                frame = await reader.readexactly(length)
                session_id, principal, body = frame.split(b"\n", 2)
                assert self._deliver is not None
                delivered = await self._deliver(
                    session_id.decode("ascii"), principal.decode() or None, body
                )
                writer.write(b"\x01" if delivered else b"\x00")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()
            if task is not None:
                self._serving.discard(task)

    async def relay(self, session_id: str, principal: str | None, body: bytes) -> bool:
        node = node_of(session_id)
        if len(node) != NODE_ID_LENGTH or not _HEX.issuperset(node) or node == self.node:
            return False
        frame = session_id.encode("ascii") + b"\n" + (principal or "").encode() + b"\n" + body
        connection = await self._connection(node)
        if connection is None:
            return False  # no worker has that node id: it ended, or it never existed
        reader, writer = connection
        try:
            writer.write(_LENGTH.pack(len(frame)) + frame)
            await writer.drain()
            answer = await reader.readexactly(1)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return False  # the worker ended while we spoke
        idle = self._idle.setdefault(node, [])
        if len(idle) < _IDLE_PER_NODE:
            idle.append(connection)
        else:
            writer.close()
        return answer == b"\x01"

    async def _connection(
        self, node: str
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        idle = self._idle.get(node)
        while idle:
            reader, writer = idle.pop()
            if not writer.is_closing() and not reader.at_eof():
                return reader, writer
            writer.close()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, self.address(node))
        except (ConnectionError, FileNotFoundError, OSError):
            sock.close()
            return None
        return await asyncio.open_unix_connection(sock=sock)

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._serving):
            task.cancel()
        for idle in self._idle.values():
            for _, writer in idle:
                writer.close()
        self._idle.clear()
        if not _ABSTRACT:
            with contextlib.suppress(OSError):
                os.unlink(self.address(self.node))


def _same_user(writer: asyncio.StreamWriter) -> bool:
    """Whether the peer runs as this process's user (Linux; elsewhere the 0700 folder is the
    guard)."""
    if not _ABSTRACT:
        return True
    sock = writer.get_extra_info("socket")
    if sock is None:
        return False
    try:
        credentials = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return False
    _, uid, _ = struct.unpack("3i", credentials)
    return uid == os.getuid()
