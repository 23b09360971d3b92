"""How fast ``/healthz`` answers while hostile clients hold connections open.

    .venv/bin/python bench/hostile.py [--seconds 3]

An acceptance item says the server still answers ``/healthz`` within 100 ms during the
header-timeout and connection-cap tests (``tests/http/test_connections.py``). Those tests check
only that it answers at all: the test suite asserts no timings, since a loaded CI machine would
make them flaky. This script measures the latency instead, with the same attacks against a real
``toolserver serve`` (the shipped plugins, JSON logs, an API key):

- baseline: no attack;
- header timeout: ``TOOLSERVER_HEADER_TIMEOUT=1``, 20 connections that send part of a request
  and stop, 5 that send nothing; probing lasts past the timeout and the sweeps that close them;
- connection cap: the server under ``prlimit --nofile=512:512``, 700 partial connections, so the
  cap evicts the ones waiting longest for their headers.

Each scenario gets a fresh server, warmed with a few unrecorded probes, then a ``GET /healthz`` on
a fresh connection every 20 ms (2 s timeout). A probe that fails (no answer, not 200) is counted
apart from the latencies. Pinning as in ``bench/run.py``: server on core 0, this script on core 1.
"""

from __future__ import annotations

import argparse
import math
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import sys
import time
from pathlib import Path

import run as bench  # bench/run.py, importable because this file sits next to it

PLUGINS = bench.ROOT / "plugins"
PARTIAL = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
EVERY, TIMEOUT, LIMIT_MS = 0.02, 2.0, 100.0


def start_server(servers: bench.Servers, name: str, out: Path, env: dict[str, str],
                 prefix: tuple[str, ...] = ()) -> bench.Server:
    """``toolserver serve`` as ``Servers.toolserver`` starts it, but with ``prefix`` (prlimit)
    before the command, which that method has no way to add."""
    port = bench.free_port()
    child = {k: v for k, v in bench.child_env().items() if not k.startswith("TOOLSERVER_")}
    child.update({
        "TOOLSERVER_HOST": "127.0.0.1", "TOOLSERVER_PORT": str(port),
        "TOOLSERVER_PLUGINS_DIR": str(PLUGINS), "TOOLSERVER_DATA_DIR": str(out / "data" / name),
        "TOOLSERVER_LOG_FORMAT": "json", "TOOLSERVER_API_KEYS": "bench_" + secrets.token_hex(12),
        **env,
    })
    server = servers._spawn(name, [*prefix, str(bench.TOOLSERVER), "serve"], child, port)
    server.wait_ready("/healthz")
    return server


def probe(port: int) -> float | None:
    """Milliseconds for one whole ``GET /healthz`` on a new connection, or None if it failed."""
    started = time.perf_counter()
    request = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(request.encode())
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
    except OSError:
        return None
    if not re.match(rb"HTTP/1\.[01] 200 ", answer) or not answer.endswith(b'"ok"}'):
        return None
    return (time.perf_counter() - started) * 1000


def probe_for(port: int, seconds: float) -> list[float | None]:
    """A probe every ``EVERY`` seconds on a fixed schedule (a slow one is not followed by a gap)."""
    results: list[float | None] = []
    start = time.monotonic()
    while (due := start + len(results) * EVERY) < start + seconds:
        time.sleep(max(0.0, due - time.monotonic()))
        results.append(probe(port))
    return results


def open_partial(port: int, count: int, payload: bytes, into: list[socket.socket]) -> None:
    """Connections that start a request and never finish it (or send nothing at all)."""
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        into.append(sock)
        if payload:
            sock.sendall(payload)


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has closed ``sock``: shows that the attack met the guard."""
    sock.settimeout(0.01)
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def scenario(servers: bench.Servers, out: Path, name: str, seconds: float, env: dict[str, str],
             prefix: tuple[str, ...] = (), attack: tuple[tuple[int, bytes], ...] = ()) -> dict:
    """One fresh server, the attack (if any), then ``seconds`` of probing; every attack socket is
    closed and the server told to stop on the way out."""
    bench.log(f"[{name}] starting the server")
    server = start_server(servers, name, out, env, prefix)
    sockets: list[socket.socket] = []
    try:
        probe_for(server.port, 20 * EVERY)  # warm-up, not recorded
        for count, payload in attack:
            open_partial(server.port, count, payload, sockets)
        bench.log(f"[{name}] {len(sockets)} attack connections open; probing for {seconds:g} s")
        results = probe_for(server.port, seconds)
        closed = sum(closed_by_server(sock) for sock in sockets)
        alive = server.process.poll() is None
    finally:
        for sock in sockets:
            sock.close()
        # Asked to stop, not waited for: a stopping toolserver takes about 10 s to exit, idle
        # (its log thread's join times out), and Servers.stop_all at the end waits for them all.
        server.process.send_signal(signal.SIGTERM)
    return {
        "name": name, "results": results, "closed": closed, "opened": len(sockets), "alive": alive,
    }


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile: a value that was measured, not an interpolation."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def report(rows: list[dict]) -> None:
    print(f"{'scenario':16} {'probes':>6} {'failures':>8} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}"
          f"  within {LIMIT_MS:g} ms  attack sockets closed by the server")
    for row in rows:
        ok = [r for r in row["results"] if r is not None]
        failures = len(row["results"]) - len(ok)
        nan = (math.nan,) * 3
        p50, p99, top = (statistics.median(ok), percentile(ok, 99), max(ok)) if ok else nan
        within = "yes" if ok and top <= LIMIT_MS else "no"
        closed = f"{row['closed']}/{row['opened']}" if row["opened"] else "-"
        alive = "" if row["alive"] else "  (server exited!)"
        print(f"{row['name']:16} {len(row['results']):>6} {failures:>8} {p50:>7.2f} {p99:>7.2f} "
              f"{top:>7.2f}  {within:>15}  {closed}{alive}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="probing time per scenario")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so the finally blocks still clean up
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # 700 attack sockets need room here
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if bench.MULTI_CORE:
        bench.os.sched_setaffinity(0, {bench.LOAD_CORE})
    else:
        bench.log("warning: one core or no taskset: server and probes share the CPU")
    out = bench.WORK / "hostile"
    shutil.rmtree(out, ignore_errors=True)
    (out / "logs").mkdir(parents=True)
    bench.log(f"hostile: server logs in {out.relative_to(bench.ROOT)}/logs")
    servers = bench.Servers(out / "logs")
    try:
        rows = [
            scenario(servers, out, "baseline", args.seconds, {}),
            scenario(servers, out, "header timeout", args.seconds,
                     {"TOOLSERVER_HEADER_TIMEOUT": "1"}, attack=((20, PARTIAL), (5, b""))),
            scenario(servers, out, "connection cap", args.seconds, {},
                     prefix=("prlimit", "--nofile=512:512"), attack=((700, PARTIAL),)),
        ]
    finally:
        servers.stop_all()
    report(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
