"""The benchmark: every row in one run, one table, written to ``bench/RESULTS.md``.

Run it with ``make bench`` (which creates ``.venv`` and installs ``wrk`` first), or directly with
``.venv/bin/python bench/run.py``. ``--quick`` makes every timed run short, to check the harness
itself (its numbers are not results). bench/README.md describes each row and the method.

Layout of a run, on a machine with two or more cores: every server under test is its own process
pinned to core 0 (``taskset -c 0``), one uvicorn worker, access log off; the load (``wrk``, the
SSE client, the WebSocket stand-in, the cold-start poller, the SSE-session opener, and this
orchestrator) runs on core 1. HTTP rows are timed round-robin -- run 1 of every row, then run 2,
then run 3 -- so that load from elsewhere on the machine is spread over the rows instead of
landing on one of them; each row is the median of its three runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import importlib.metadata
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
WORK = BENCH / ".work"
LUA = BENCH / "lua"
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = VENV_BIN / "python"
TOOLSERVER = VENV_BIN / "toolserver"
RESULTS = BENCH / "RESULTS.md"
# Bytecode: an installed package has its .pyc files, but uv does not compile at install and
# PYTHONDONTWRITEBYTECODE may be set (it is in many containers), so every process here would
# compile every module from source at each start. The bench keeps its own cache instead.
PYCACHE = WORK / "pycache"

# Pin servers and load to different cores when there are two and taskset (util-linux) is there.
MULTI_CORE = (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
SERVER_CORE, LOAD_CORE = 0, 1

PACKAGES = (
    "mcp", "mcp-types", "fastapi", "starlette", "uvicorn", "h11", "httptools", "uvloop", "pydantic",
    "pydantic-core", "structlog", "websockets", "sse-starlette", "anyio", "httpx2",
)


def child_env(**extra: str) -> dict[str, str]:
    """The environment of every Python process the bench starts: with a bytecode cache."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update({"PYTHONPYCACHEPREFIX": str(PYCACHE), "PYTHONUNBUFFERED": "1"}, **extra)
    return env


def pinned(core: int) -> list[str]:
    return ["taskset", "-c", str(core)] if MULTI_CORE else []


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_status(port: int, path: str, timeout: float = 1.0) -> int | None:
    """The status of ``GET path`` on 127.0.0.1, or None when nothing answers (yet)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
            )
            head = sock.recv(64)
    except OSError:
        return None
    match = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    return int(match.group(1)) if match else None


# -- server processes ---------------------------------------------------------------------------


@dataclasses.dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    api_key: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, path: str = "/", timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}: {self.tail()}")
            if http_status(self.port, path) is not None:
                return
            time.sleep(0.02)
        raise RuntimeError(f"{self.name} did not start within {timeout:.0f} s: {self.tail()}")

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def rss_kib(self) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Servers:
    """Every process started for the run; all are stopped on the way out, whatever happens."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[Server] = []

    def _spawn(
        self, name: str, argv: list[str], env: dict[str, str], port: int, api_key: str | None = None
    ) -> Server:
        log_path = self.logs / f"{name}.log"
        with log_path.open("ab") as log_file:  # a file, not a pipe: a full pipe would block the server
            process = subprocess.Popen(
                pinned(SERVER_CORE) + argv,
                cwd=str(WORK),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        server = Server(name, port, process, log_path, api_key)
        self.started.append(server)
        return server

    def uvicorn(self, name: str, app: str, extra_env: dict[str, str] | None = None) -> Server:
        """One of the comparison apps under uvicorn: one worker, access log off."""
        port = free_port()
        env = child_env(**(extra_env or {}))
        argv = [
            str(PYTHON), "-m", "uvicorn", app, "--app-dir", str(ROOT), "--host", "127.0.0.1",
            "--port", str(port), "--no-access-log", "--log-level", "warning",
        ]
        return self._spawn(name, argv, env, port)

    def toolserver(
        self,
        name: str,
        *,
        plugins_dir: Path,
        data_dir: Path,
        api_key: str | None,
        extra_env: dict[str, str] | None = None,
    ) -> Server:
        """``toolserver serve`` the way users start it, with JSON logs at the default level."""
        port = free_port()
        env = {k: v for k, v in child_env().items() if not k.startswith("TOOLSERVER_")}
        env.update(
            {
                "TOOLSERVER_HOST": "127.0.0.1",
                "TOOLSERVER_PORT": str(port),
                "TOOLSERVER_PLUGINS_DIR": str(plugins_dir),
                "TOOLSERVER_DATA_DIR": str(data_dir),
                "TOOLSERVER_LOG_FORMAT": "json",
                **(extra_env or {}),
            }
        )
        if api_key:
            env["TOOLSERVER_API_KEYS"] = api_key
        return self._spawn(name, [str(TOOLSERVER), "serve"], env, port, api_key)

    def stop_all(self) -> None:
        for server in self.started:
            server.stop()
        self.started.clear()


# -- HTTP rows with wrk -------------------------------------------------------------------------


@dataclasses.dataclass
class HttpRow:
    key: str
    label: str
    lua: str
    server: Server | None = None
    runs: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    sample: str | None = None
    error: str | None = None


def wrk(row: HttpRow, seconds: float, connections: int) -> dict[str, Any]:
    assert row.server is not None
    env = {
        **os.environ,
        "BENCH_LUA_DIR": str(LUA),
        "BENCH_API_KEY": row.server.api_key or "",
    }
    argv = pinned(LOAD_CORE) + [
        "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout", "10s",
        "-s", str(LUA / row.lua), row.server.url,
    ]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False)
    out = done.stdout
    result = re.search(
        r"BENCH_RESULT requests=(\d+) duration_us=(\d+) rps=([\d.]+) p50_us=(\d+) p99_us=(\d+) "
        r"errors=(\d+)",
        out,
    )
    check = re.search(r"BENCH_CHECK checked=(\d+) bad=(\d+)", out)
    if done.returncode != 0 or not result or not check:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or out.strip()}")
    sample = re.search(r"^BENCH_SAMPLE (.*)$", out, re.MULTILINE)
    bad = re.search(r"^BENCH_FIRST_BAD (.*)$", out, re.MULTILINE)
    return {
        "requests": int(result.group(1)),
        "rps": float(result.group(3)),
        "p50_ms": int(result.group(4)) / 1000,
        "p99_ms": int(result.group(5)) / 1000,
        "errors": int(result.group(6)),
        "checked": int(check.group(1)),
        "bad": int(check.group(2)),
        "sample": sample.group(1) if sample else None,
        "first_bad": bad.group(1) if bad else None,
    }


def verified(result: dict[str, Any]) -> str | None:
    """Why a run cannot be trusted, or None."""
    if result["checked"] == 0:
        return "no answer was received"
    if result["bad"]:
        return f"{result['bad']} of {result['checked']} answers were wrong, e.g. {result['first_bad']}"
    if result["errors"]:
        return f"{result['errors']} socket/status errors"
    return None


def run_http_rows(servers: Servers, args: argparse.Namespace, data_dir: Path) -> list[HttpRow]:
    api_key = "bench_" + secrets.token_hex(12)
    plugins = BENCH / "plugins"
    rows = [
        HttpRow("A", "bare ASGI app: parse JSON, fixed answer (the ceiling)", "webhook.lua"),
        HttpRow("B", "FastAPI endpoint with a pydantic body model", "webhook.lua"),
        HttpRow("R1", "reference MCPServer, tools/call 2026-07-28 sessionless", "mcp_2026.lua"),
        HttpRow("R2", "reference MCPServer stateless+json, tools/call 2025-06-18", "mcp_2025.lua"),
        HttpRow("T1", "toolserver webhook, ToolWebHookPayload, API key, JSON logs", "webhook.lua"),
        HttpRow("T2", "toolserver /mcp, as R1 (+ API key)", "mcp_2026.lua"),
        HttpRow("T3", "toolserver /mcp, as R2 (+ API key)", "mcp_2025.lua"),
        HttpRow("T4", "toolserver webhook, as T1, circuit open: the fallback", "webhook_fallback.lua"),
        HttpRow("T5", "toolserver webhook, as T1, a cached read: answers from the cache", "webhook_cached.lua"),
    ]
    if args.only:
        rows = [r for r in rows if r.key in args.only]
    starters = {
        "A": lambda: servers.uvicorn("A-bare", "bench.servers.bare:app"),
        "B": lambda: servers.uvicorn("B-fastapi", "bench.servers.fastapi_app:app"),
        "R1": lambda: servers.uvicorn(
            "R1-reference", "bench.servers.reference:app", {"BENCH_REF": "streamable"}
        ),
        "R2": lambda: servers.uvicorn(
            "R2-reference-stateless", "bench.servers.reference:app", {"BENCH_REF": "stateless"}
        ),
        "T1": lambda: servers.toolserver(
            "T1-toolserver", plugins_dir=plugins, data_dir=data_dir / "T1", api_key=api_key
        ),
        "T2": lambda: servers.toolserver(
            "T2-toolserver", plugins_dir=plugins, data_dir=data_dir / "T2", api_key=api_key
        ),
        "T3": lambda: servers.toolserver(
            "T3-toolserver", plugins_dir=plugins, data_dir=data_dir / "T3", api_key=api_key
        ),
        "T4": lambda: servers.toolserver(
            "T4-toolserver", plugins_dir=plugins, data_dir=data_dir / "T4", api_key=api_key
        ),
        "T5": lambda: servers.toolserver(
            "T5-toolserver", plugins_dir=plugins, data_dir=data_dir / "T5", api_key=api_key
        ),
    }
    for row in rows:
        row.server = starters[row.key]()
    for row in rows:
        try:
            assert row.server is not None
            row.server.wait_ready("/healthz" if row.key.startswith("T") else "/")
        except RuntimeError as exc:
            row.error = f"did not start: {exc}"

    # Verify, then warm up: the warm-up run checks every answer; a row with a wrong one is not timed.
    for row in rows:
        if row.error:
            continue
        log(f"[{row.key}] verify + warm-up {args.warmup:g} s")
        try:
            first = wrk(row, 1, 1)
            problem = verified(first)
            if problem is None:
                warm = wrk(row, args.warmup, args.connections)
                problem = verified(warm)
            row.sample = first["sample"]
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            problem = str(exc)
        if problem:
            row.error = f"verification failed: {problem}"
            log(f"[{row.key}] {row.error}")

    for n in range(args.runs):
        for row in rows:
            if row.error:
                continue
            log(f"[{row.key}] run {n + 1}/{args.runs}: {args.duration:g} s, {args.connections} connections")
            try:
                result = wrk(row, args.duration, args.connections)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                row.error = str(exc)
                continue
            problem = verified(result)
            if problem:
                row.error = f"run {n + 1}: {problem}"
                continue
            row.runs.append(result)
            log(f"[{row.key}]   {result['rps']:.0f} req/s, p50 {result['p50_ms']:.2f} ms, "
                f"p99 {result['p99_ms']:.2f} ms")
    for row in rows:
        if row.server is not None:
            row.server.stop()
    return rows


def median_of(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


# -- SSE sessions under load ---------------------------------------------------------------------


SSE_MODES = {
    "legacy": "handshake era (initialize at 2025-06-18), as BlackBox and third-party clients",
    "modern": "2026-07-28 envelope on every request, as the mcp client's default mode",
}


def sse_load(server: Server, args: argparse.Namespace, mode: str, duration: float, warmup: float,
             headers: list[str]) -> dict[str, Any]:
    """One timed run of ``bench/sse_load.py`` against ``server``, on the load core."""
    argv = pinned(LOAD_CORE) + [
        str(PYTHON), str(BENCH / "sse_load.py"), "--url", f"{server.url}/sse",
        "--pid", str(server.process.pid), "--sessions", str(args.sse_sessions_load),
        "--mode", mode, "--warmup", f"{warmup:g}", "--duration", f"{duration:g}",
    ]
    for header in headers:
        argv += ["--header", header]
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=duration + warmup + 120, cwd=str(WORK),
        env=child_env(), check=False,
    )
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": (done.stderr or done.stdout).strip()[-1000:] or f"exit {done.returncode}"}


def run_sse(servers: Servers, args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    """Toolserver's ``/sse`` and the reference's ``sse_app()``, the same load, the same run.

    Per mode: a short verification run of each server, then ``--runs`` timed runs of each,
    alternating, so that load from elsewhere on the machine spreads over both.
    """
    api_key = "bench_" + secrets.token_hex(12)
    ts = servers.toolserver(
        "SSE-toolserver", plugins_dir=BENCH / "plugins", data_dir=data_dir / "SSE", api_key=api_key
    )
    ref = servers.uvicorn("SSE-reference", "bench.servers.reference:app", {"BENCH_REF": "sse"})
    targets = {"toolserver": (ts, [f"X-Api-Key: {api_key}"]), "reference": (ref, [])}
    out: dict[str, Any] = {}
    try:
        ts.wait_ready("/healthz")
        ref.wait_ready("/")
        for mode in SSE_MODES:
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
            out[mode] = runs
            for name, (server, headers) in targets.items():
                check = sse_load(server, args, mode, 1.0, 0.5, headers)
                if "error" in check or check.get("bad") or not check.get("calls"):
                    runs[name].append({"error": f"verification failed: {json.dumps(check)[:400]}"})
            for n in range(args.runs):
                for name, (server, headers) in targets.items():
                    if any("error" in r for r in runs[name]):
                        continue
                    log(f"[SSE] {mode} {name} run {n + 1}/{args.runs}: "
                        f"{args.sse_sessions_load} sessions, {args.duration:g} s")
                    result = sse_load(server, args, mode, args.duration, args.warmup, headers)
                    if result.get("bad"):
                        result = {"error": f"{result['bad']} wrong answers, e.g. {result.get('first_bad')}"}
                    runs[name].append(result)
                    log(f"[SSE]   {json.dumps(result)[:300]}")
    except RuntimeError as exc:
        out["error"] = str(exc)
    finally:
        ts.stop()
        ref.stop()
    return out


# -- WebSocket ----------------------------------------------------------------------------------


def run_websocket(servers: Servers, args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    try:
        import toolserver.surfaces.websocket  # noqa: F401  (the surface must be there)
    except ImportError as exc:
        return {"error": f"not available: the WebSocket surface cannot be imported ({exc})"}
    standin_port = free_port()
    standin = subprocess.Popen(
        pinned(LOAD_CORE) + [
            str(PYTHON), str(BENCH / "ws_standin.py"), "--port", str(standin_port),
            "--runs", str(args.runs), "--inflight", "32", "--warmup", str(args.ws_warmup),
            "--duration", str(args.duration),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=str(WORK),
        env=child_env(),
    )
    api_key = "bench_" + secrets.token_hex(12)
    ts = servers.toolserver(
        "WS-toolserver",
        plugins_dir=BENCH / "plugins",
        data_dir=data_dir / "WS",
        api_key=api_key,
        extra_env={
            "TOOLSERVER_BLACKBOX_URL": f"http://127.0.0.1:{standin_port}",
            "TOOLSERVER_BLACKBOX_TOKEN": "bench-web-integration-token",
        },
    )
    runs: list[dict[str, Any]] = []
    try:
        assert standin.stdout is not None
        ready = standin.stdout.readline()
        if not ready.startswith("READY"):
            return {"error": f"the stand-in did not start: {ready}{standin.stdout.read()[-500:]}"}
        ts.wait_ready("/healthz")
        for n in range(args.runs):
            log(f"[WS] session {n + 1}/{args.runs}: 32 requests in flight for {args.duration:g} s")
            request = urllib.request.Request(
                f"{ts.url}/sessions",
                data=b'{"callType":"chat"}',
                method="POST",
                headers={"Content-Type": "application/json", "X-Api-Key": api_key},
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    summary = json.loads(response.read())
            except urllib.error.HTTPError as exc:
                return {"error": f"POST /sessions answered {exc.code}: {exc.read()[:500]!r}", "runs": runs}
            if summary.get("state") != "open":
                return {"error": f"the session did not open: {summary}", "runs": runs}
            line = standin.stdout.readline()
            result = json.loads(line) if line.strip().startswith("{") else {"error": line}
            runs.append(result)
            log(f"[WS]   {json.dumps(result)[:300]}")
            if "error" in result or result.get("bad"):
                return {"error": f"session {n + 1}: {result.get('error') or result.get('first_bad')}",
                        "runs": runs}
            time.sleep(0.5)  # let the session finish closing before the next one opens
        return {"runs": runs}
    except (RuntimeError, ValueError, OSError) as exc:
        return {"error": str(exc), "runs": runs}
    finally:
        ts.stop()
        if standin.poll() is None:
            standin.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                standin.wait(10)
        if standin.poll() is None:
            standin.kill()


# -- cold start and idle SSE sessions -----------------------------------------------------------


def cold_start(
    servers: Servers, data_dir: Path, name: str, extra_env: dict[str, str] | None = None
) -> float:
    """Seconds from spawning ``toolserver serve`` (shipped plugins) to its first 200 /healthz."""
    started = time.perf_counter()
    server = servers.toolserver(
        name, plugins_dir=ROOT / "plugins", data_dir=data_dir, api_key=None, extra_env=extra_env
    )
    try:
        deadline = started + 60
        while time.perf_counter() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"toolserver exited at start: {server.tail()}")
            if http_status(server.port, "/healthz", timeout=0.5) == 200:
                return time.perf_counter() - started
            time.sleep(0.005)
        raise RuntimeError(f"no /healthz within 60 s: {server.tail()}")
    finally:
        server.stop()
        servers.started.remove(server)


def run_cold_start(servers: Servers, args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    fresh = data_dir / "cold"
    shutil.rmtree(fresh, ignore_errors=True)
    try:
        log("[cold start] first start (fresh data directory: creates the demo database and a key)")
        first = cold_start(servers, fresh, "cold-first")
        runs = []
        for n in range(args.runs):
            log(f"[cold start] restart {n + 1}/{args.runs}")
            runs.append(cold_start(servers, fresh, f"cold-{n + 1}"))
        log("[cold start] restart without any bytecode cache (every module compiled from source)")
        empty = Path(tempfile.mkdtemp(prefix="no-pycache-", dir=data_dir))
        uncached = cold_start(
            servers, fresh, "cold-no-bytecode",
            {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(empty)},
        )
    except RuntimeError as exc:
        return {"error": str(exc)}
    return {"first": first, "runs": runs, "no_bytecode": uncached}


async def _open_sse(port: int, count: int, api_key: str | None) -> list[asyncio.StreamWriter]:
    """Open ``count`` GET /sse streams and read each one's endpoint event; keep them open."""
    key = f"X-Api-Key: {api_key}\r\n" if api_key else ""
    request = (
        f"GET /sse HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n{key}\r\n"
    ).encode()
    gate = asyncio.Semaphore(50)
    writers: list[asyncio.StreamWriter] = []

    async def one() -> None:
        async with gate:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writers.append(writer)
            writer.write(request)
            await writer.drain()
            seen = b""
            # The endpoint event is complete once its data line (".../messages/?session_id=...")
            # has ended.
            while not re.search(rb"event: endpoint\r?\ndata: [^\r\n]*session_id=[^\r\n]*\r?\n", seen):
                chunk = await asyncio.wait_for(reader.read(4096), 30)
                if not chunk:
                    raise RuntimeError(f"the stream closed before its endpoint event: {seen[:300]!r}")
                seen += chunk
            if not seen.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"GET /sse answered {seen[:200]!r}")

    await asyncio.gather(*(one() for _ in range(count)))
    return writers


def idle_sse_rss(server: Server, count: int) -> dict[str, Any]:
    server.wait_ready("/healthz" if server.api_key else "/")
    time.sleep(1.0)
    before = server.rss_kib()

    async def hold() -> tuple[int, float]:
        t0 = time.perf_counter()
        writers = await _open_sse(server.port, count, server.api_key)
        opened = time.perf_counter() - t0
        await asyncio.sleep(3.0)  # let the sessions settle
        rss = server.rss_kib()
        for writer in writers:
            writer.close()
        return rss, opened

    rss, opened = asyncio.run(hold())
    return {"before_mib": before / 1024, "with_sessions_mib": rss / 1024, "sessions": count,
            "open_seconds": opened}


def run_rss(servers: Servers, args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    api_key = "bench_" + secrets.token_hex(12)
    ts = servers.toolserver(
        "RSS-toolserver", plugins_dir=ROOT / "plugins", data_dir=data_dir / "cold", api_key=api_key
    )
    try:
        log(f"[RSS] toolserver: opening {args.sse_sessions} idle SSE sessions")
        out["toolserver"] = idle_sse_rss(ts, args.sse_sessions)
    except (RuntimeError, OSError, TimeoutError) as exc:
        out["toolserver"] = {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        ts.stop()
    ref = servers.uvicorn("RSS-reference", "bench.servers.reference:app", {"BENCH_REF": "sse"})
    try:
        log(f"[RSS] reference: opening {args.sse_sessions} idle SSE sessions")
        out["reference"] = idle_sse_rss(ref, args.sse_sessions)
    except (RuntimeError, OSError, TimeoutError) as exc:
        out["reference"] = {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        ref.stop()
    return out


# -- the machine --------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    wrk_version = subprocess.run(
        ["wrk", "-v"], capture_output=True, text=True, check=False
    ).stdout.split("\n")[0]
    git = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()
    mem = "unknown"
    with contextlib.suppress(OSError, AttributeError):
        kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
        mem = f"{kib / 1024 / 1024:.1f} GiB"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "kernel": platform.release(),
        "os": _os_name(),
        "python": platform.python_version(),
        "packages": versions,
        "wrk": wrk_version.strip(),
        "git": git or "unknown",
    }


def _os_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    return platform.system()


def loadavg() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "unknown"


# -- the report ---------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


@dataclasses.dataclass
class Line:
    key: str
    label: str
    value: str
    p50: str = "-"
    p99: str = "-"
    vs_a: str = "-"
    note: str = ""


@dataclasses.dataclass
class Target:
    what: str
    measured: str
    met: bool | None  # None: could not be measured


def report(
    rows: list[HttpRow],
    sse: dict[str, Any],
    ws: dict[str, Any],
    cold: dict[str, Any],
    rss: dict[str, Any],
    args: argparse.Namespace,
) -> tuple[list[Line], list[Target]]:
    by_key = {r.key: r for r in rows}
    rps = {r.key: median_of(r.runs, "rps") for r in rows if r.runs and not r.error}
    p99 = {r.key: median_of(r.runs, "p99_ms") for r in rows if r.runs and not r.error}
    p50 = {r.key: median_of(r.runs, "p50_ms") for r in rows if r.runs and not r.error}
    lines: list[Line] = []
    for row in rows:
        if row.error or not row.runs:
            lines.append(Line(row.key, row.label, "not available", note=row.error or "no runs"))
            continue
        lines.append(
            Line(
                row.key,
                row.label,
                f"{_fmt(rps[row.key])} req/s",
                f"{median_of(row.runs, 'p50_ms'):.2f} ms",
                f"{p99[row.key]:.2f} ms",
                f"{_ratio(rps[row.key], rps.get('A')):.2f}" if rps.get("A") else "-",
                "runs: " + ", ".join(f"{r['rps']:.0f}" for r in row.runs),
            )
        )

    sse_rates: dict[tuple[str, str], float | None] = {}
    sse_cpu: dict[tuple[str, str], float | None] = {}
    for mode, title in SSE_MODES.items():
        data = sse.get(mode) or {}
        for target in ("toolserver", "reference"):
            key = f"SSE-{mode}-{'ts' if target == 'toolserver' else 'ref'}"
            label = (f"SSE, {target}, {args.sse_sessions_load} sessions of tools/call, {title}")
            runs = data.get(target) if isinstance(data, dict) else None
            good = [r for r in runs or [] if "rate" in r]
            if not good or len(good) != len(runs or []):
                why = sse.get("error") or next(
                    (r.get("error") for r in runs or [] if "error" in r), "no runs"
                )
                lines.append(Line(key, label, "not available", note=str(why)[:300]))
                sse_rates[(mode, target)] = sse_cpu[(mode, target)] = None
                continue
            rate = median_of(good, "rate")
            cpu = median_of(good, "cpu_ms_per_call")
            sse_rates[(mode, target)], sse_cpu[(mode, target)] = rate, cpu
            lines.append(
                Line(key, label, f"{_fmt(rate)} calls/s", f"{median_of(good, 'p50_ms'):.2f} ms",
                     f"{median_of(good, 'p99_ms'):.2f} ms", "-",
                     f"server CPU {cpu:.3f} ms/call (share of a core "
                     f"{median_of(good, 'server_cpu_share'):.2f}); runs: "
                     + ", ".join(f"{r['rate']:.0f}" for r in good))
            )

    ws_rate = None
    ws_runs = [r for r in ws.get("runs", []) if "rate" in r]
    if ws.get("error") or not ws_runs:
        lines.append(Line("WS", "WebSocket: one session, 32 requests in flight", "not available",
                          note=str(ws.get("error") or "no runs")[:300]))
    else:
        ws_rate = median_of(ws_runs, "rate")
        lines.append(
            Line("WS", "WebSocket: tool answers/s, one session, 32 in flight",
                 f"{_fmt(ws_rate)} answers/s", f"{median_of(ws_runs, 'p50_ms'):.2f} ms",
                 f"{median_of(ws_runs, 'p99_ms'):.2f} ms", "-",
                 "runs: " + ", ".join(f"{r['rate']:.0f}" for r in ws_runs))
        )

    cold_s = statistics.median(cold["runs"]) if cold.get("runs") else None
    if cold_s is None:
        lines.append(Line("cold", "cold start to first /healthz", "not available",
                          note=str(cold.get("error"))[:300]))
    else:
        lines.append(
            Line("cold", "cold start: process start to first 200 /healthz, shipped plugins",
                 f"{cold_s:.3f} s", note="runs: " + ", ".join(f"{s:.3f}" for s in cold["runs"])
                 + f"; first start on a fresh data dir: {cold['first']:.3f} s"
                 + f"; with no bytecode cache: {cold['no_bytecode']:.3f} s")
        )

    rss_ts = (rss.get("toolserver") or {}).get("with_sessions_mib")
    for target in ("toolserver", "reference"):
        data = rss.get(target) or {}
        key = f"RSS-{'ts' if target == 'toolserver' else 'ref'}"
        label = f"RSS with {args.sse_sessions:,} idle SSE sessions, {target}"
        if "with_sessions_mib" not in data:
            lines.append(Line(key, label, "not available", note=str(data.get("error"))[:300]))
            continue
        lines.append(
            Line(key, label, f"{data['with_sessions_mib']:.0f} MiB",
                 note=f"{data['before_mib']:.0f} MiB before; opened in {data['open_seconds']:.1f} s")
        )

    b = by_key.get("B")
    targets = [
        Target("T1 ≥ 1.5× B (req/s)", _ratio_text(rps.get("T1"), rps.get("B")),
               _at_least(rps.get("T1"), rps.get("B"), 1.5)),
        Target("T1 p99 ≤ B p99", f"{_fmt(p99.get('T1'), 2)} ms vs {_fmt(p99.get('B'), 2)} ms",
               None if p99.get("T1") is None or p99.get("B") is None or b is None
               else p99["T1"] <= p99["B"]),
        Target("T4 (open circuit, the fallback) p99 ≤ 20 ms", f"{_fmt(p99.get('T4'), 2)} ms",
               None if p99.get("T4") is None else p99["T4"] <= 20.0),
        Target("T5 (the cache in the path) ≥ 1.5× B (req/s)",
               _ratio_text(rps.get("T5"), rps.get("B")), _at_least(rps.get("T5"), rps.get("B"), 1.5)),
        Target("T2 ≥ 3× R1", _ratio_text(rps.get("T2"), rps.get("R1")),
               _at_least(rps.get("T2"), rps.get("R1"), 3)),
        Target("T3 ≥ 3× R2", _ratio_text(rps.get("T3"), rps.get("R2")),
               _at_least(rps.get("T3"), rps.get("R2"), 3)),
        *[
            target
            for mode in SSE_MODES
            for target in (
                Target(f"SSE ({mode}) server CPU per tools/call ≤ 1/3 of the reference's",
                       _cpu_text(sse_cpu.get((mode, "toolserver")), sse_cpu.get((mode, "reference"))),
                       None if not sse_cpu.get((mode, "toolserver")) or not sse_cpu.get((mode, "reference"))
                       else sse_cpu[(mode, "toolserver")] * 3 <= sse_cpu[(mode, "reference")]),
                Target(f"SSE ({mode}) calls/s ≥ 3× the reference's",
                       _ratio_text(sse_rates.get((mode, "toolserver")), sse_rates.get((mode, "reference"))),
                       _at_least(sse_rates.get((mode, "toolserver")), sse_rates.get((mode, "reference")), 3)),
            )
        ],
        *[
            Target(f"{row} p99 ≤ 3× its own p50",
                   f"{_fmt(p99.get(row), 2)} ms vs p50 {_fmt(p50.get(row), 2)} ms",
                   None if p99.get(row) is None or p50.get(row) is None
                   else p99[row] <= 3 * p50[row])
            for row in ("T2", "T3")
        ],
        Target("WebSocket ≥ 3,000 tool answers/s", f"{_fmt(ws_rate)} answers/s",
               None if ws_rate is None else ws_rate >= 3000),
        Target("cold start ≤ 1 s", f"{cold_s:.3f} s" if cold_s is not None else "-",
               None if cold_s is None else cold_s <= 1.0),
        Target(f"{args.sse_sessions:,} idle SSE sessions ≤ 200 MB RSS",
               f"{rss_ts:.0f} MiB" if rss_ts is not None else "-",
               None if rss_ts is None else rss_ts * 1.048576 <= 200),
    ]
    return lines, targets


def _cpu_text(ts: float | None, ref: float | None) -> str:
    r = _ratio(ts, ref)
    return f"{r:.2f}× ({ts:.3f} vs {ref:.3f} ms/call)" if r is not None else "-"


def _ratio_text(a: float | None, b: float | None) -> str:
    r = _ratio(a, b)
    return f"{r:.2f}× ({_fmt(a)} vs {_fmt(b)})" if r is not None else "-"


def _at_least(a: float | None, b: float | None, factor: float) -> bool | None:
    r = _ratio(a, b)
    return None if r is None else r >= factor


def table(lines: list[Line]) -> str:
    head = ["row", "what", "result", "p50", "p99", "× A", "notes"]
    body = [[ln.key, ln.label, ln.value, ln.p50, ln.p99, ln.vs_a, ln.note] for ln in lines]
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in body]
    return "\n".join(out)


def console_table(lines: list[Line]) -> str:
    head = ["row", "result", "p50", "p99", "x A", "what"]
    body = [[ln.key, ln.value, ln.p50, ln.p99, ln.vs_a, ln.label] for ln in lines]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    fmt = lambda r: "  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip()
    return "\n".join([fmt(head), fmt(["-" * w for w in widths]), *map(fmt, body)])


def target_table(targets: list[Target]) -> str:
    out = ["| target | measured (same run) | met? |", "|---|---|---|"]
    for t in targets:
        verdict = "not measured" if t.met is None else ("**met**" if t.met else "**missed**")
        out.append(f"| {t.what} | {t.measured} | {verdict} |")
    return "\n".join(out)


def write_results(
    lines: list[Line],
    targets: list[Target],
    rows: list[HttpRow],
    info: dict[str, Any],
    args: argparse.Namespace,
    started: datetime.datetime,
    elapsed: float,
    load: tuple[str, str],
) -> None:
    packages = ", ".join(f"{k} {v}" for k, v in info["packages"].items())
    samples = "\n".join(
        f"- {r.key} (`bench/lua/{r.lua}`): `{(r.sample or '-')[:300]}`" for r in rows if r.sample
    )
    quick = (
        "\n> **--quick run**: the timed runs were shortened to check the harness; these numbers "
        "are not results.\n"
        if args.quick
        else ""
    )
    pinning = (
        f"Servers pinned to core {SERVER_CORE}, load generators to core {LOAD_CORE} (`taskset`)"
        if MULTI_CORE
        else "No pinning (one core, or no taskset): servers and load shared the CPU"
    )
    text = f"""# Benchmark results

Written by `make bench` (`bench/run.py`) on {started:%Y-%m-%d %H:%M} UTC; the run took
{elapsed / 60:.1f} minutes. Method and rows: [bench/README.md](README.md). Compare ratios, not
absolute numbers: they come from one run on one machine, and the machine below may have been
doing other work (load average {load[0]} at the start, {load[1]} at the end).
{quick}
HTTP rows: `wrk -t1 -c{args.connections} -d{args.duration:g}s --latency` with a Lua script per request
kind, {args.runs} runs per row after a {args.warmup:g} s warm-up, timed round-robin; each row is the median of its
runs (req/s, p50 and p99 each). Every answer of every run was checked (status 200 and the right
result); a row with one wrong answer would be reported as not available. {pinning}; one uvicorn
worker per server, access log off.

{table(lines)}

## Targets

{target_table(targets)}

## Notes

- The reference (R1, R2, SSE) runs with `MCPServer`'s defaults: log level INFO, which writes a
  line per stateless 2025-06-18 request (R2) to its log file; toolserver writes its one
  `tool.call` JSON line per call (and the WebSocket session a `ws.tool_request` line) to its own.
- Every row runs on what `uv.lock` installs: uvicorn with `httptools` and `uvloop` (dependencies
  of toolserver; plain uvicorn picks them when installed, `toolserver serve` asks for them), so
  the references get the same server stack.
- Python processes use a bytecode cache in `bench/.work/pycache` (`PYTHONPYCACHEPREFIX`), as an
  installed package has; the cold-start notes also show a start that compiles every module.
- SSE rows: {args.sse_sessions_load} sessions driven by `bench/sse_load.py` (raw HTTP, on the load
  core), each a closed loop of `tools/call add(2, 3)`; a call is one POST (202) and one event on
  the stream. Server CPU per call is the server process's utime + stime (`/proc/<pid>/stat`) over
  the timed run divided by the calls answered in it.

## The answers that were checked (first answer of each row)

{samples or "-"}

## Machine

- CPU: {info["cpu"]}, {info["cores"]} cores; memory {info["memory"]}
- OS: {info["os"]}, Linux {info["kernel"]}
- Python {info["python"]}; {packages}
- {info["wrk"]}
- toolserver at `{info["git"]}`
"""
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)


# -- main ---------------------------------------------------------------------------------------


def check_tools() -> None:
    if shutil.which("wrk") is None:
        sys.exit("error: wrk not found; `make bench` installs it (bench/ensure-wrk.sh)")
    if not PYTHON.exists():
        sys.exit("error: .venv is missing; run scripts/env.sh (or `make bench`)")


def main() -> int:
    parser = argparse.ArgumentParser(description="Run every benchmark row; write bench/RESULTS.md.")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per timed run")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of warm-up per HTTP row")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per row (the median is kept)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--sse-sessions-load", type=int, default=32,
                        help="concurrent SSE sessions of the SSE rows")
    parser.add_argument("--sse-sessions", type=int, default=1000, help="idle SSE sessions for RSS")
    parser.add_argument("--ws-warmup", type=float, default=3.0, help="WebSocket warm-up seconds")
    parser.add_argument("--only", nargs="*", help="HTTP rows to run (A B R1 R2 T1 T2 T3 T4 T5)")
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["http", "sse", "ws", "cold", "rss"],
        help="sections to leave out",
    )
    parser.add_argument(
        "--quick", action="store_true",
        help="short runs, to check the harness (written to bench/.work/RESULTS-quick.md)",
    )
    parser.add_argument("--output", type=Path, help="where to write the results (bench/RESULTS.md)")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.warmup, args.ws_warmup = 2.0, 1.0, 1.0
    if args.output is None:
        args.output = WORK / "RESULTS-quick.md" if args.quick else RESULTS
    check_tools()
    if MULTI_CORE:
        os.sched_setaffinity(0, {LOAD_CORE})  # this process's own work stays off the server core
    else:
        log("warning: one core or no taskset: servers and load generators share the CPU; "
            "ratios are still comparable")

    WORK.mkdir(parents=True, exist_ok=True)
    for old in sorted(WORK.glob("run-*"), key=lambda p: p.stat().st_mtime)[:-2]:
        shutil.rmtree(old, ignore_errors=True)  # keep the last two runs' logs, not every run's
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=WORK))
    logs = run_dir / "logs"
    logs.mkdir()
    data_dir = run_dir / "data"
    log(f"bench: logs and scratch data in {run_dir.relative_to(ROOT)}")
    started = datetime.datetime.now(datetime.UTC)
    t0 = time.monotonic()
    load_start = loadavg()
    info = machine()
    log("bench: compiling the bytecode cache (bench/.work/pycache)")
    warm = (
        "import toolserver.app, toolserver.devtools.cli, uvicorn, mcp.client.sse, websockets.asyncio.server, "
        "bench.servers.reference, bench.servers.fastapi_app"
    )
    subprocess.run(
        [str(PYTHON), "-c", warm],
        cwd=str(ROOT), env=child_env(BENCH_REF="stateless"), check=True, capture_output=True,
    )
    servers = Servers(logs)
    rows: list[HttpRow] = []
    sse: dict[str, Any] = {"error": "skipped"}
    ws: dict[str, Any] = {"error": "skipped"}
    cold: dict[str, Any] = {"error": "skipped"}
    rss: dict[str, Any] = {"toolserver": {"error": "skipped"}, "reference": {"error": "skipped"}}
    try:
        if "http" not in args.skip:
            rows = run_http_rows(servers, args, data_dir)
        if "sse" not in args.skip:
            sse = run_sse(servers, args, data_dir)
        if "ws" not in args.skip:
            ws = run_websocket(servers, args, data_dir)
        if "cold" not in args.skip:
            cold = run_cold_start(servers, args, data_dir)
        if "rss" not in args.skip:
            rss = run_rss(servers, args, data_dir)
    finally:
        servers.stop_all()
    elapsed = time.monotonic() - t0
    load_end = loadavg()
    lines, targets = report(rows, sse, ws, cold, rss, args)
    (run_dir / "raw.json").write_text(
        json.dumps(
            {
                "http": {r.key: {"runs": r.runs, "error": r.error, "sample": r.sample} for r in rows},
                "sse": sse, "ws": ws, "cold": cold, "rss": rss, "machine": info,
            },
            indent=2,
        )
    )
    write_results(lines, targets, rows, info, args, started, elapsed, (load_start, load_end))
    print(console_table(lines))
    print()
    for t in targets:
        verdict = "not measured" if t.met is None else ("met" if t.met else "MISSED")
        print(f"{verdict:>12}  {t.what}: {t.measured}")
    raw = (run_dir / "raw.json").relative_to(ROOT)
    print(f"\nwritten: {args.output} (raw numbers: {raw})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
