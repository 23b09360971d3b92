"""Reading the README's commands and running them as a reader would.

A ```console block holds commands (``$ `` lines) each followed by the output the README shows;
``...`` in that output stands for anything (as in doctest), and a match is against the whole
output. A ```sh block holds commands only. Blocks are found by section, or by the marker line
``<!-- run by tests/production/test_readme.py -->`` right above them.

Commands run with ``sh -c``, exactly as written, in a *sandbox*: a network namespace with only a
loopback interface (where ``unshare`` is allowed), so that the quick start's server gets the port
8000 it names even when something on the machine already listens there, and nothing can reach
the network. The virtual environment is then created from ``uv``'s cache (``UV_OFFLINE``), with
the ``uv`` the test suite itself was installed with on ``PATH``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.server import REPO

MARKER = "<!-- run by tests/production/test_readme.py -->"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclasses.dataclass
class Command:
    line: str
    expected: str | None  # None: the README shows no output


@dataclasses.dataclass
class Block:
    language: str
    commands: list[Command]


def section(text: str, heading: str) -> str:
    """The text of ``## heading`` up to the next ``## `` heading."""
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def blocks(text: str, *, marked_only: bool = False) -> list[Block]:
    """The ```console and ```sh blocks of ``text``, in order (only marked ones if asked)."""
    found = []
    pattern = re.compile(r"(?P<before>[^\n]*)\n```(?P<lang>console|sh)\n(?P<body>.*?)\n```", re.S)
    for match in pattern.finditer(text):
        if marked_only and match.group("before").strip() != MARKER:
            continue
        body, language = match.group("body"), match.group("lang")
        commands = _console(body) if language == "console" else _shell(body)
        found.append(Block(language, commands))
    return found


def _console(body: str) -> list[Command]:
    commands: list[Command] = []
    lines = body.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith("$ "):
            raise ValueError(f"console block: output before a command: {line!r}")
        command = line[2:]
        while command.endswith("\\"):
            i += 1
            command = command[:-1] + "\n" + lines[i]
        i += 1
        output = []
        while i < len(lines) and not lines[i].startswith("$ "):
            output.append(lines[i])
            i += 1
        commands.append(Command(command, "\n".join(output) if output else None))
    return commands


def _shell(body: str) -> list[Command]:
    return [
        Command(line.split("  #", 1)[0].strip(), None)
        for line in body.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def clean(output: str) -> str:
    """Terminal output as text: no colours, no carriage returns, no trailing blanks."""
    text = _ANSI.sub("", output).replace("\r", "")
    return "\n".join(line.rstrip() for line in text.splitlines()).strip("\n")


def matches(expected: str, actual: str) -> bool:
    """Whether ``actual`` is what ``expected`` shows, ``...`` standing for anything."""
    expected = "\n".join(line.rstrip() for line in expected.splitlines()).strip("\n")
    pattern = ".*?".join(re.escape(piece) for piece in expected.split("..."))
    return re.fullmatch(pattern, clean(actual), re.S) is not None


class Sandbox:
    """Where the README's commands run: see the module docstring.

    Attributes:
        isolated: whether commands run in their own network namespace (else on the machine,
            which then must have port 8000 free and reach the package index).
    """

    def __init__(self, workdir: Path, bin_dir: Path) -> None:
        self.holder: subprocess.Popen[str] | None = None
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TOOLSERVER_", "VIRTUAL_ENV", "PYTEST_", "UV_PROJECT"))
        }
        paths = [
            p for p in self.env.get("PATH", "").split(os.pathsep) if not p.startswith(str(REPO))
        ]
        self.env["PATH"] = os.pathsep.join([str(bin_dir), *paths])
        self.workdir = workdir
        self.isolated = self._isolate()
        if self.isolated:
            uv = shutil.which("uv") or str(REPO / ".tools" / "bin" / "uv")
            if Path(uv).exists():
                (bin_dir / "uv").symlink_to(uv)
            self.env["UV_OFFLINE"] = "1"  # the lock's packages come from uv's cache

    def _isolate(self) -> bool:
        if not (shutil.which("unshare") and shutil.which("nsenter") and shutil.which("ip")):
            return False
        try:
            holder = subprocess.Popen(
                ["unshare", "--net", "sh", "-c", "ip link set lo up && echo up && sleep 86400"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            )  # fmt: skip
        except OSError:
            return False
        assert holder.stdout is not None
        if holder.stdout.readline().strip() != "up":
            holder.wait()
            return False
        self.holder = holder
        return True

    def argv(self, command: str) -> list[str]:
        shell = ["sh", "-c", command]
        if self.holder is None:
            return shell
        return ["nsenter", f"--net=/proc/{self.holder.pid}/ns/net", "--", *shell]

    def run(
        self, command: str, cwd: Path, timeout: float = 240
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(command), cwd=cwd, env=self.env, capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip

    def close(self) -> None:
        if self.holder is not None:
            self.holder.kill()
            self.holder.wait()


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Terminal:
    """A long-running command on a pseudo-terminal, as a person starts it in a terminal window:
    its output is read as it comes, and Ctrl-C goes to its whole process group."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        import pty

        master, slave = pty.openpty()
        self.process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True
        )
        os.close(slave)
        self._master = master
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 65536)
            except OSError:  # EIO: the last writer has gone
                break
            if not chunk:
                break
            self._chunks.append(chunk)

    @property
    def output(self) -> str:
        return b"".join(self._chunks).decode(errors="replace")

    def wait_for(self, text: str, timeout: float) -> bool:
        """Wait until ``text`` is in the (cleaned) output; False if the command ended first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in clean(self.output):
                return True
            if self.process.poll() is not None:
                time.sleep(0.2)  # let the reader take the last output
                return text in clean(self.output)
            time.sleep(0.1)
        return False

    def interrupt(self, timeout: float = 60) -> int | None:
        """Ctrl-C: SIGINT to the process group; the exit status, or None if it did not end."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            return None
        finally:
            self._reader.join(5)
            with contextlib.suppress(OSError):
                os.close(self._master)


@contextlib.contextmanager
def sandbox(workdir: Path) -> Iterator[Sandbox]:
    bin_dir = workdir / "bin"
    bin_dir.mkdir(exist_ok=True)
    box = Sandbox(workdir, bin_dir)
    try:
        yield box
    finally:
        box.close()
