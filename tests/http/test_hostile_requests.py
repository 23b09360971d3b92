"""Careless and hostile requests against a real server process: each gets a precise JSON answer,
and the process stays up and small."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from tests.support.server import ServerProcess, running_server

EDGE = Path(__file__).resolve().parents[1] / "fixtures" / "edge_plugins"
ORIGIN = "https://console.example.com"


@pytest.fixture(scope="module")
def server() -> ServerProcess:
    env = {
        "TOOLSERVER_MAX_BODY_BYTES": "65536",
        "TOOLSERVER_ALLOWED_ORIGINS": ORIGIN,
        "TOOLSERVER_ACCESS_LOG": "true",
    }
    with running_server(env, plugins_dir=EDGE) as running:
        yield running


def rss_kib(server: ServerProcess) -> int:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS")))


def test_a_huge_body_to_any_route_is_refused_before_it_is_read(server: ServerProcess) -> None:
    before = rss_kib(server)
    for path in ("/sessions", "/sessions/anything/messages", "/tools/add", "/mcp", "/messages/"):
        # Declared up front: refused from the header.
        declared = httpx.post(
            server.base_url + path,
            content=b"x" * 200_000,
            headers={**server.headers, "content-type": "application/json"},
            timeout=30,
        )
        assert declared.status_code == 413, (path, declared.text)
    # Streamed without a length (chunked), 64 MiB: refused as it grows, never held whole.
    def chunks():
        for _ in range(1024):
            yield b"x" * 65536

    streamed = httpx.post(
        server.base_url + "/sessions",
        content=chunks(),
        headers={**server.headers, "content-type": "application/json"},
        timeout=60,
    )
    assert streamed.status_code == 413
    assert streamed.json()["error"]["type"] == "body_too_large"
    assert rss_kib(server) - before < 32 * 1024  # far below the 64 MiB sent
    assert httpx.get(server.base_url + "/healthz").status_code == 200


def test_unknown_paths_and_methods_answer_json(server: ServerProcess) -> None:
    missing = httpx.get(server.base_url + "/nowhere", headers=server.headers)
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "not_found"
    wrong = httpx.delete(server.base_url + "/tools", headers=server.headers)
    assert wrong.status_code == 405
    assert wrong.json()["error"]["type"] == "method_not_allowed"
    assert "GET" in wrong.headers["allow"]


def test_a_trailing_slash_is_not_redirected_to_the_host_header(server: ServerProcess) -> None:
    response = httpx.post(
        server.base_url + "/tools/add/",
        json={"a": 1, "b": 2},
        headers={**server.headers, "host": "evil.example.com"},
        follow_redirects=False,
    )
    assert response.status_code == 404
    assert "location" not in response.headers


def test_cors_preflights_are_answered_for_allowed_origins(server: ServerProcess) -> None:
    preflight = httpx.options(
        server.base_url + "/tools/add",
        headers={
            "origin": ORIGIN,
            "access-control-request-method": "POST",
            "access-control-request-headers": "x-api-key, content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "x-api-key" in preflight.headers["access-control-allow-headers"].lower()
    call = httpx.post(
        server.base_url + "/tools/add",
        json={"a": 1, "b": 2},
        headers={**server.headers, "origin": ORIGIN},
    )
    assert call.status_code == 200
    assert call.headers["access-control-allow-origin"] == ORIGIN
    other = httpx.options(
        server.base_url + "/tools/add",
        headers={"origin": "https://evil.example.com", "access-control-request-method": "POST"},
    )
    assert "access-control-allow-origin" not in other.headers
    no_key = httpx.post(server.base_url + "/tools/add", json={}, headers={"origin": ORIGIN})
    assert no_key.status_code == 401  # CORS lets the browser ask; the key is still required


def test_a_key_in_a_query_string_never_reaches_the_log(server: ServerProcess) -> None:
    leaked = "not-a-configured-key-51f0c2"
    for query in (f"api_key={leaked}", f"token={leaked}&x=1", f"x=1&apikey={leaked}"):
        httpx.get(f"{server.base_url}/tools?{query}", headers=server.headers)
    with socket.create_connection(("127.0.0.1", server.port)) as sock:  # a raw, odd request line
        sock.sendall(f"GET /healthz?key={leaked} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        sock.recv(1024)
    httpx.get(server.base_url + "/healthz")
    assert leaked not in server.log_text()
    assert any(e.get("logger") == "uvicorn.access" for e in server.log_events())
