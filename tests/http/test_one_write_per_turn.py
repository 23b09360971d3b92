"""A connection's writes of one loop turn leave in one system call; closing sends what is held.

The transport underneath is asyncio's own (a socket pair), so what is checked is what reaches the
peer: the bytes, their order, and that a close or an abort does what it says.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from toolserver.http.connections import _OneWritePerTurn

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def pair() -> tuple[asyncio.Transport, socket.socket, list[bytes]]:
    """A transport writing into a socket, the peer socket, and the transport's writes."""
    ours, peer = socket.socketpair()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(asyncio.Protocol, sock=ours)
    writes: list[bytes] = []
    original = transport.write

    def write(data: bytes) -> None:
        writes.append(bytes(data))
        original(data)

    transport.write = write  # type: ignore[method-assign]
    peer.setblocking(False)
    return transport, peer, writes


async def received(peer: socket.socket, size: int) -> bytes:
    loop = asyncio.get_running_loop()
    data = b""
    while len(data) < size:
        data += await asyncio.wait_for(loop.sock_recv(peer, 65536), 5)
    return data


async def test_the_writes_of_one_turn_go_out_together_in_order() -> None:
    transport, peer, writes = await pair()
    wrapped = _OneWritePerTurn(transport, asyncio.get_running_loop())
    wrapped.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n")
    wrapped.write(b"5")
    assert writes == []  # held until the turn ends
    assert wrapped.get_write_buffer_size() == len(b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n5")
    await asyncio.sleep(0)
    assert writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n5"]
    wrapped.write(b"next")
    await asyncio.sleep(0)
    assert writes[1:] == [b"next"]
    assert await received(peer, 43) == b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n5next"
    wrapped.close()
    peer.close()


async def test_close_sends_what_is_held_first() -> None:
    transport, peer, writes = await pair()
    wrapped = _OneWritePerTurn(transport, asyncio.get_running_loop())
    wrapped.write(b"last words")
    wrapped.close()
    assert writes == [b"last words"]
    assert wrapped.is_closing()  # the transport's own, through the wrapper
    assert await received(peer, 10) == b"last words"
    await asyncio.sleep(0)  # the turn's flush finds nothing more to send
    assert writes == [b"last words"]
    peer.close()


async def test_abort_drops_what_is_held() -> None:
    transport, peer, writes = await pair()
    wrapped = _OneWritePerTurn(transport, asyncio.get_running_loop())
    wrapped.write(b"never sent")
    wrapped.abort()
    await asyncio.sleep(0)
    assert writes == []
    assert transport.is_closing()
    peer.close()
