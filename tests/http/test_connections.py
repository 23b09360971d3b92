"""Hostile clients against a real server process: headers that never end, too many connections.

Each test keeps checking that ``/healthz`` still answers while the attack is on (a 2-second client
timeout: the point is that it answers at all, not how fast; ``bench/`` measures speed).
"""

from __future__ import annotations

import contextlib
import socket
import sys
import time
from collections.abc import Iterator

import httpx

from tests.support.server import ServerProcess, running_server

PARTIAL = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


def open_partial(server: ServerProcess, count: int, payload: bytes = PARTIAL) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        if payload:
            sock.sendall(payload)
        sockets.append(sock)
    return sockets


@contextlib.contextmanager
def closing_all(sockets: list[socket.socket]) -> Iterator[list[socket.socket]]:
    try:
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def healthz(server: ServerProcess) -> float:
    started = time.perf_counter()
    response = httpx.get(f"{server.base_url}/healthz", timeout=2.0)
    assert response.status_code == 200
    return time.perf_counter() - started


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed ``sock`` (waits for it, up to the socket's timeout)."""
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def events(server: ServerProcess, name: str) -> list[dict[str, object]]:
    return [e for e in server.log_events() if e.get("event") == name]


def test_headers_that_never_end_are_cut_off() -> None:
    with running_server({"TOOLSERVER_HEADER_TIMEOUT": "1"}) as server:
        with closing_all(open_partial(server, 20)) as partial, closing_all(
            open_partial(server, 5, payload=b"")
        ) as silent:
            healthz(server)
            assert all(closed_by_server(sock) for sock in partial + silent)
        healthz(server)
        assert server.process.poll() is None
    (logged,) = events(server, "http.header_timeout")[:1]
    assert logged["timeout_s"] == 1.0 and logged["level"] == "warning"


def test_a_request_in_time_is_served_on_a_kept_alive_connection() -> None:
    with running_server({"TOOLSERVER_HEADER_TIMEOUT": "1"}) as server:
        with httpx.Client(base_url=server.base_url, timeout=5) as client:
            for _ in range(3):
                assert client.get("/healthz").status_code == 200
                time.sleep(0.6)  # idle between requests is the keep-alive timeout's business
        assert events(server, "http.header_timeout") == []


def test_past_the_connection_cap_the_slowest_make_room() -> None:
    # The process may hold 512 descriptors, as in a tight container: the cap leaves room below.
    limited = ("prlimit", "--nofile=512:512", sys.executable, "-m", "toolserver", "serve")
    with running_server(command=limited) as server:
        with closing_all(open_partial(server, 700)) as sockets:
            healthz(server)
            with httpx.Client(base_url=server.base_url, timeout=2.0) as client:
                for _ in range(20):
                    assert client.get("/healthz").status_code == 200
            evicted = sum(closed_by_server_now(sock) for sock in sockets)
            assert evicted >= 700 - 512
        assert server.process.poll() is None
        healthz(server)
    assert events(server, "http.connection_evicted")


def closed_by_server_now(sock: socket.socket) -> bool:
    sock.settimeout(0.01)
    return closed_by_server(sock)
