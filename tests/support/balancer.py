"""A round-robin TCP load balancer on localhost, for tests of several replicas behind one URL.

Each new client connection goes to the next upstream in turn, with no affinity: what a plain
load balancer does, and what makes a legacy SSE client's POSTs land on another replica than its
stream. It runs its own event loop in a thread, only as long as the ``with`` block.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections.abc import Iterator

from tests.support.server import free_port

__all__ = ["round_robin"]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


@contextlib.contextmanager
def round_robin(ports: list[int]) -> Iterator[str]:
    """Listen on a free localhost port; yield its base URL while forwarding to ``ports``."""
    port = free_port()
    upstreams = itertools.cycle(ports)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop: asyncio.Event | None = None

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter):
        upstream = next(upstreams)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", upstream)
        except OSError:
            client_writer.close()  # that replica is gone: the client sees a reset, as with an LB
            return
        await asyncio.gather(_pipe(client_reader, writer), _pipe(reader, client_writer))

    async def serve() -> None:
        nonlocal stop
        stop = asyncio.Event()
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        ready.set()
        async with server:
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        assert stop is not None
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
