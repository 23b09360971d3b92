"""Where log lines go: a writer thread for the process's stderr, every line in order, none lost at
exit or by ``flush_logs``; reconfiguration reaching loggers already in use; access-log quieting."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from tests.support.logs import restored_logging
from toolserver.observability.logs import (
    REDACTED,
    _LineWriter,
    configure_logging,
    flush_logs,
    quiet_access_log,
)

REPO = Path(__file__).resolve().parents[2]
SECRET = "sk-live-77c1e0"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    with restored_logging():
        yield
        configure_logging(stream=io.StringIO())  # stops a writer thread a test started
    quiet_access_log(())


def events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class GatedStream(io.StringIO):
    """A stream whose writes wait until the test opens the gate, like a pipe nobody reads; it
    records which threads wrote. (The test's own thread is not held, so that a logger writing in
    the caller's thread fails the test's assertions rather than hangs it.)"""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.writers: set[threading.Thread] = set()

    def write(self, text: str) -> int:
        self.writers.add(threading.current_thread())
        if threading.current_thread() is not threading.main_thread():
            self.gate.wait(10)
        return super().write(text)


def test_stderr_is_written_by_a_thread_and_flush_logs_writes_everything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stderr = GatedStream()
    monkeypatch.setattr(sys, "stderr", stderr)
    configure_logging(fmt="json", secrets=[SECRET])
    log = structlog.get_logger("toolserver.calls")
    for n in range(500):  # returns although the stream takes nothing yet
        log.info("tool.call", n=n, key=SECRET)
        if n % 100 == 0:
            logging.getLogger("uvicorn.error").warning("stdlib %d", n)
    assert stderr.getvalue() == ""
    assert threading.main_thread() not in stderr.writers
    stderr.gate.set()
    flush_logs()

    lines = events(stderr.getvalue())
    assert [line.get("n") for line in lines if line["event"] == "tool.call"] == list(range(500))
    order = [line.get("n", line["event"]) for line in lines]
    assert order[:3] == [0, "stdlib 0", 1]  # one order for both kinds of line
    assert order.index("stdlib 400") == order.index(400) + 1
    assert {line["key"] for line in lines if "key" in line} == {REDACTED}
    assert SECRET not in stderr.getvalue()


def test_flush_logs_can_be_called_again_and_the_writer_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    configure_logging(fmt="json")
    log = structlog.get_logger("toolserver.test")
    log.info("first")
    flush_logs()
    assert [line["event"] for line in events(stderr.getvalue())] == ["first"]
    log.info("second")
    flush_logs()
    flush_logs()
    assert [line["event"] for line in events(stderr.getvalue())] == ["first", "second"]


def run_python(script: str, **options: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, text=True, timeout=60, **options
    )
    assert done.returncode == 0, done.stderr
    return done


def test_every_line_reaches_a_pipe_when_the_process_exits() -> None:
    script = (
        "import atexit, logging, structlog\n"
        # Registered before logging is configured, so it runs after the writer thread stopped.
        "atexit.register(lambda: structlog.get_logger('toolserver').info('late.structlog'))\n"
        "atexit.register(lambda: logging.getLogger('uvicorn.error').warning('late stdlib'))\n"
        "from toolserver.observability.logs import configure_logging\n"
        "configure_logging(fmt='json', secrets=['s3cr3t-value'])\n"
        "log = structlog.get_logger('toolserver.calls')\n"
        "for i in range(2000):\n"
        "    log.info('tool.call', n=i, key='s3cr3t-value')\n"
        "logging.getLogger('uvicorn.error').info('Finished server process')\n"
        "raise SystemExit(0)\n"
    )
    done = run_python(script, capture_output=True)
    lines = events(done.stderr)
    assert [line.get("n") for line in lines[:2000]] == list(range(2000))
    assert [line["event"] for line in lines[2000:]] == [
        "Finished server process",
        "late stdlib",
        "late.structlog",
    ]
    assert lines[2000]["logger"] == "uvicorn.error"
    assert lines[0]["key"] == REDACTED
    assert "s3cr3t-value" not in done.stderr


def test_flush_logs_puts_every_line_before_what_the_process_writes_next() -> None:
    script = (
        "import sys, structlog\n"
        "from toolserver.observability.logs import configure_logging, flush_logs\n"
        "configure_logging(fmt='json')\n"
        "for i in range(300):\n"
        "    structlog.get_logger('toolserver.calls').info('tool.call', n=i)\n"
        "flush_logs()\n"
        "sys.stderr.write('after the flush\\n')\n"
        "sys.stderr.flush()\n"
    )
    done = run_python(script, capture_output=True)
    *lines, last = done.stderr.splitlines()
    assert last == "after the flush"
    assert [json.loads(line)["n"] for line in lines] == list(range(300))


def test_a_log_file_gets_each_line_within_moments_without_a_flush(tmp_path: Path) -> None:
    log_file = tmp_path / "server.log"
    script = (
        "import logging, time, structlog\n"
        "from toolserver.observability.logs import configure_logging\n"
        "configure_logging(fmt='json')\n"
        "structlog.get_logger('toolserver.calls').info('tool.call', n=1)\n"
        "logging.getLogger('uvicorn.error').warning('from stdlib')\n"
        f"path = {str(log_file)!r}\n"
        "deadline = time.monotonic() + 5\n"
        "while open(path).read().count('\"event\"') < 2 and time.monotonic() < deadline:\n"
        "    time.sleep(0.005)\n"
        "print(open(path).read().count('\"event\"'), flush=True)\n"
    )
    with log_file.open("w") as stderr:
        done = run_python(script, stderr=stderr, stdout=subprocess.PIPE)
    assert done.stdout.strip() == "2", log_file.read_text()


def test_loggers_in_use_follow_a_new_configuration() -> None:
    log = structlog.get_logger("toolserver.cached")
    first = io.StringIO()
    configure_logging(fmt="json", level="info", stream=first)
    log.info("one")  # cached from here on
    log.debug("dropped at info")

    second = io.StringIO()
    configure_logging(fmt="json", level="debug", stream=second)
    log.debug("two")
    logging.getLogger("uvicorn.error").debug("stdlib two")

    third = io.StringIO()
    configure_logging(fmt="json", level="error", stream=third)
    log.warning("dropped at error")
    logging.getLogger("uvicorn.error").warning("dropped too")
    log.error("three")

    console = io.StringIO()
    configure_logging(fmt="console", level="info", stream=console)
    log.info("four", answer=42)

    assert [line["event"] for line in events(first.getvalue())] == ["one"]
    assert [line["event"] for line in events(second.getvalue())] == ["two", "stdlib two"]
    assert [line["event"] for line in events(third.getvalue())] == ["three"]
    assert "four" in console.getvalue() and "answer=42" in console.getvalue()


def test_both_kinds_of_line_have_the_same_fields() -> None:
    out = io.StringIO()
    configure_logging(fmt="json", stream=out)
    structlog.get_logger("toolserver.test").warning("from.structlog")
    logging.getLogger("mcp.server").warning("from stdlib")
    ours, theirs = events(out.getvalue())
    assert set(ours) == set(theirs) == {"event", "level", "logger", "timestamp"}
    for line in (ours, theirs):
        assert line["level"] == "warning"
        assert line["timestamp"].endswith("Z")
        assert len(line["timestamp"]) == len("2026-01-02T03:04:05.123456Z")
    assert (ours["logger"], theirs["logger"]) == ("toolserver.test", "mcp.server")


def test_a_logger_without_a_name_is_named_after_its_module() -> None:
    out = io.StringIO()
    configure_logging(fmt="json", stream=out)
    structlog.get_logger().info("unnamed")
    (line,) = events(out.getvalue())
    assert line["logger"] == __name__


def test_console_lines_are_coloured_on_a_terminal_only() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal, plain = Terminal(), io.StringIO()
    configure_logging(fmt="console", stream=terminal)
    structlog.get_logger("t").info("coloured")
    configure_logging(fmt="console", stream=plain)
    structlog.get_logger("t").info("plain")
    assert "\x1b[" in terminal.getvalue()
    assert "plain" in plain.getvalue() and "\x1b[" not in plain.getvalue()


def test_console_lines_scrub_exception_text() -> None:
    out = io.StringIO()
    configure_logging(fmt="console", secrets=[SECRET], stream=out)
    try:
        raise RuntimeError(f"upstream said {SECRET}")
    except RuntimeError:
        structlog.get_logger("t").exception("call.failed")
        logging.getLogger("httpx").exception("request failed")
    text = out.getvalue()
    assert text.count(f"upstream said {REDACTED}") == 2
    assert SECRET not in text


def access_line(path: str) -> None:
    # How uvicorn logs a request: client, method, path with query, HTTP version, status.
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", path, "1.1", 200
    )


def test_quiet_paths_stay_out_of_the_access_log() -> None:
    out = io.StringIO()
    configure_logging(fmt="json", stream=out, access_log=True)
    quiet_access_log(["/healthz", "/metrics"])
    access_line("/healthz")
    access_line("/metrics?name=x")
    access_line("/tools")
    (line,) = events(out.getvalue())
    assert line["event"] == '127.0.0.1:5000 - "GET /tools HTTP/1.1" 200'
    assert line["logger"] == "uvicorn.access"


def test_access_log_can_be_turned_off_again() -> None:
    out = io.StringIO()
    configure_logging(fmt="json", stream=out, access_log=True)
    access_line("/tools")
    configure_logging(fmt="json", stream=out, access_log=False)
    access_line("/tools")
    assert len(events(out.getvalue())) == 1


def test_stopping_while_the_writer_gathers_a_batch_ends_its_thread() -> None:
    # The writer sleeps a moment after the first line of a batch; a stop that lands in that
    # moment must still end the thread (a process would otherwise hang at exit until the join
    # gives up).
    for _ in range(20):
        out = io.StringIO()
        writer = _LineWriter(out, interval=0.005)
        writer.put_nowait("a line")
        threading.Event().wait(0.001)  # the thread is (most likely) in its sleep now
        writer.stop()
        assert not writer._thread.is_alive()
        assert out.getvalue() == "a line\n"
