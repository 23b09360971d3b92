"""Run a real toolserver process for a test, and check its log for leaked secrets.

Every server a test starts writes its log (JSON lines) to a file in one directory per test
session; when the server stops, the file is searched for every secret it was configured with, so
a secret that reaches any log line fails the test that leaked it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx

__all__ = ["ServerProcess", "free_port", "log_dir", "running_server", "SECRET_ENV"]

REPO = Path(__file__).resolve().parents[2]
SECRET_ENV = (
    "TOOLSERVER_API_KEYS",
    "TOOLSERVER_SIGNING_SECRET",
    "TOOLSERVER_BLACKBOX_API_KEY",
    "TOOLSERVER_BLACKBOX_TOKEN",
    "TOOLSERVER_METRICS_TOKEN",
)
DEFAULT_KEY = "test-key-7f3a9c"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_dir() -> Path:
    """Where every test server of this session writes its log."""
    path = os.environ.get("TOOLSERVER_TEST_LOG_DIR")
    if not path:
        path = tempfile.mkdtemp(prefix="toolserver-test-logs-")
        os.environ["TOOLSERVER_TEST_LOG_DIR"] = path
    Path(path).mkdir(parents=True, exist_ok=True)
    return Path(path)


@dataclasses.dataclass
class ServerProcess:
    base_url: str
    port: int
    api_key: str | None
    log_path: Path
    process: subprocess.Popen[bytes]
    env: dict[str, str]

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Api-Key": self.api_key} if self.api_key else {}

    def log_text(self) -> str:
        """The log so far. The server writes its lines in batches, within about 10 ms of each
        being logged, so this first waits until the file has stopped growing for a moment."""
        settle_file(self.log_path)
        return self.log_path.read_text(errors="replace")

    def log_events(self) -> list[dict[str, object]]:
        import json

        events = []
        for line in self.log_text().splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    events.append(json.loads(line))
                except ValueError:
                    pass
        return events

    def stop(self, timeout: float = 20.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def settle_file(path: Path, quiet: float = 0.1, limit: float = 3.0) -> None:
    """Wait until ``path`` has not grown for ``quiet`` seconds (``limit`` at most)."""
    deadline = time.monotonic() + limit
    size, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now_size = path.stat().st_size if path.exists() else 0
        if now_size != size:
            size, since = now_size, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.02)


def configured_secrets(env: Mapping[str, str]) -> list[str]:
    values: list[str] = []
    for name in SECRET_ENV:
        values.extend(v.strip() for v in env.get(name, "").split(",") if v.strip())
    return values


def assert_no_secrets(text: str, secrets: list[str], where: str) -> None:
    leaked = [s for s in secrets if s and s in text]
    assert not leaked, f"configured secret(s) found in the log {where}"


@contextlib.contextmanager
def running_server(
    env: Mapping[str, str] | None = None,
    *,
    plugins_dir: Path | str | None = None,
    api_key: str | None = DEFAULT_KEY,
    data_dir: Path | None = None,
    args: tuple[str, ...] = (),
    startup_timeout: float = 30.0,
    command: tuple[str, ...] | None = None,
    own_group: bool = False,
) -> Iterator[ServerProcess]:
    """Start ``toolserver serve`` on a free port; yield once ``/healthz`` answers.

    The process gets a clean ``TOOLSERVER_*`` environment: only what the test passes, plus a
    fresh data directory, JSON logs and the API key (unless ``api_key`` is None). ``command``
    replaces ``python -m toolserver serve`` (``args`` still follow it). ``own_group`` starts it
    in a process group of its own, which a test can kill whole (a lost replica, workers and all).
    """
    port = free_port()
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLSERVER_")}
    data = data_dir or Path(tempfile.mkdtemp(prefix="toolserver-data-"))
    data.mkdir(parents=True, exist_ok=True)
    child_env.update(
        {
            "TOOLSERVER_PORT": str(port),
            "TOOLSERVER_HOST": "127.0.0.1",
            "TOOLSERVER_DATA_DIR": str(data),
            "TOOLSERVER_LOG_FORMAT": "json",
            "TOOLSERVER_ENTRY_POINTS": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if api_key is not None:
        child_env["TOOLSERVER_API_KEYS"] = api_key
    if plugins_dir is not None:
        child_env["TOOLSERVER_PLUGINS_DIR"] = str(plugins_dir)
    else:
        child_env["TOOLSERVER_PLUGINS_DIR"] = str(REPO / "plugins")
    child_env.update(env or {})
    log_path = log_dir() / f"server-{port}-{time.monotonic_ns()}.log"
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [*(command or (sys.executable, "-m", "toolserver", "serve")), *args],
        cwd=str(data),
        env=child_env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=own_group,
    )
    server = ServerProcess(
        base_url=f"http://127.0.0.1:{port}",
        port=port,
        api_key=child_env.get("TOOLSERVER_API_KEYS", "").split(",")[0] or None,
        log_path=log_path,
        process=process,
        env=child_env,
    )
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"toolserver exited with {process.returncode} at startup:\n{server.log_text()}"
                )
            try:
                if httpx.get(f"{server.base_url}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"toolserver did not start in time:\n{server.log_text()}")
            time.sleep(0.05)
        yield server
    finally:
        server.stop()
        log_file.close()
        assert_no_secrets(server.log_text(), configured_secrets(child_env), str(log_path))
