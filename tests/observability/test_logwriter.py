"""The log writers: lines in order, never waiting on a stalled stream, nothing lost at exit."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from toolserver.observability.logwriter import BackgroundWriter, BatchWriter

REPO = Path(__file__).resolve().parents[2]


class SlowStream(io.StringIO):
    """Records which thread wrote, and lets a test hold the writer inside ``write``."""

    def __init__(self) -> None:
        super().__init__()
        self.writers: set[str] = set()
        self.gate = threading.Event()
        self.gate.set()

    def write(self, text: str) -> int:
        self.gate.wait(10)
        self.writers.add(threading.current_thread().name)
        return super().write(text)


def test_a_stalled_stream_never_holds_up_the_producer() -> None:
    stream = SlowStream()
    stream.gate.clear()  # the stream blocks every write until the gate opens
    writer = BackgroundWriter(stream, interval=0.01)
    writer.write("0\n")
    for i in range(1, 1000):
        writer.write(f"{i}\n")  # returns at once although the writer thread is stuck
    assert stream.getvalue() == ""
    stream.gate.set()
    writer.close()
    assert stream.getvalue().splitlines() == [str(i) for i in range(1000)]
    assert "toolserver-log" in stream.writers


def test_flush_writes_what_is_waiting_now() -> None:
    stream = io.StringIO()
    writer = BackgroundWriter(stream, interval=3600)  # the thread would not write for an hour
    writer.write("one\n")
    writer.write("two\n")
    writer.flush()
    assert stream.getvalue() == "one\ntwo\n"
    writer.close()


def test_a_stream_that_cannot_keep_up_makes_the_producer_write() -> None:
    stream = SlowStream()
    writer = BackgroundWriter(stream, interval=3600, max_pending=10)
    for i in range(25):
        writer.write(f"{i}\n")
    assert stream.getvalue().splitlines() == [str(i) for i in range(11)] + [
        str(i) for i in range(11, 22)
    ]  # two batches written by the producer; the rest waits
    writer.close()
    assert len(stream.getvalue().splitlines()) == 25


def test_lines_after_close_are_written_at_once() -> None:
    stream = io.StringIO()
    writer = BackgroundWriter(stream)
    writer.close()
    writer.write("late\n")
    assert stream.getvalue() == "late\n"


def test_every_line_is_in_the_log_when_the_process_exits() -> None:
    script = (
        "import structlog, logging\n"
        "from toolserver.observability.logs import configure_logging\n"
        "configure_logging(fmt='json', secrets=['s3cr3t-value'])\n"
        "log = structlog.get_logger('toolserver.calls')\n"
        "for i in range(500):\n"
        "    log.info('tool.call', n=i, key='s3cr3t-value')\n"
        "logging.getLogger('uvicorn.error').info('Finished server process')\n"
        "raise SystemExit(0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [line.get("n") for line in lines[:-1]] == list(range(500))
    assert lines[-1]["event"] == "Finished server process"
    assert lines[-1]["logger"] == "uvicorn.error"
    assert "s3cr3t-value" not in done.stderr
    assert lines[0]["key"] == "***"


@pytest.mark.anyio
async def test_a_batch_is_written_at_the_end_of_the_loop_pass() -> None:
    stream = io.StringIO()
    writer = BatchWriter(stream)
    writer.write("one\n")
    writer.write("two\n")
    assert stream.getvalue() == ""  # still in this pass of the loop
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert stream.getvalue() == "one\ntwo\n"
    writer.write("three\n")
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert stream.getvalue() == "one\ntwo\nthree\n"
    writer.close()


def test_without_an_event_loop_a_batch_writer_writes_at_once() -> None:
    stream = io.StringIO()
    writer = BatchWriter(stream)
    writer.write("now\n")
    assert stream.getvalue() == "now\n"
    done = threading.Thread(target=writer.write, args=("from a thread\n",))
    done.start()
    done.join()
    assert stream.getvalue() == "now\nfrom a thread\n"
    writer.close()


def test_a_process_logging_to_a_file_has_each_line_there_after_the_loop_pass(
    tmp_path: Path,
) -> None:
    log = tmp_path / "server.log"
    script = (
        "import asyncio, structlog\n"
        "from toolserver.observability.logs import configure_logging\n"
        "configure_logging(fmt='json')\n"
        "async def main():\n"
        "    structlog.get_logger('toolserver.calls').info('tool.call', n=1)\n"
        "    await asyncio.sleep(0)\n"
        "    await asyncio.sleep(0)\n"
        f"    print(open({str(log)!r}).read().count('tool.call'), flush=True)\n"
        "asyncio.run(main())\n"
    )
    with log.open("w") as stderr:
        done = subprocess.run(
            [sys.executable, "-c", script], cwd=REPO, stderr=stderr, stdout=subprocess.PIPE,
            text=True, timeout=60,
        )
    assert done.stdout.strip() == "1", log.read_text()
