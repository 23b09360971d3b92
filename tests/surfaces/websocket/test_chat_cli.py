"""``toolserver chat`` as a person uses it: a real process, stdin in, agent text out."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import anyio.abc
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from tests.surfaces.websocket.conftest import PLUGINS
from tests.surfaces.websocket.standin import StandIn

pytestmark = pytest.mark.anyio

STEP = 30.0  # generous: a process start on a slow machine, never a timing assertion


def chat_env(standin: StandIn, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLSERVER_")}
    env.update(
        {
            "TOOLSERVER_BLACKBOX_TOKEN": standin.token,
            "TOOLSERVER_PLUGINS_DIR": str(PLUGINS),
            "TOOLSERVER_ENTRY_POINTS": "false",
            "TOOLSERVER_DATA_DIR": str(data_dir),
            "TOOLSERVER_LOG_FORMAT": "json",
            "TOOLSERVER_BLACKBOX_CONNECT_BACKOFF": "0.01",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


class Chat:
    """A running ``toolserver chat``: write lines, read the agent's lines."""

    def __init__(self, process: anyio.abc.Process) -> None:
        self.process = process
        assert process.stdout is not None and process.stderr is not None
        self.stdout = BufferedByteReceiveStream(process.stdout)

    async def say(self, text: str) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send(text.encode() + b"\n")

    async def heard(self) -> str:
        with anyio.fail_after(STEP):
            return (await self.stdout.receive_until(b"\n", 1 << 16)).decode().rstrip("\r")

    async def close_stdin(self) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.aclose()

    async def finish(self) -> tuple[int, str]:
        """Wait for the exit; return the exit code and everything written to stderr."""
        assert self.process.stderr is not None
        chunks: list[bytes] = []
        with anyio.fail_after(STEP):
            async for chunk in self.process.stderr:
                chunks.append(chunk)
            code = await self.process.wait()
        return code, b"".join(chunks).decode()


@contextlib.asynccontextmanager
async def start_chat(env: dict[str, str], *args: str, cwd: Path) -> AsyncIterator[Chat]:
    process = await anyio.open_process(
        [sys.executable, "-m", "toolserver", "chat", *args], env=env, cwd=str(cwd)
    )
    async with process:
        try:
            yield Chat(process)
        finally:
            if process.returncode is None:
                process.kill()


@pytest.fixture
def chat_dir(tmp_path: Path) -> Path:
    return tmp_path


async def test_a_person_talks_to_the_agent_while_tools_run_locally(
    standin: StandIn, chat_dir: Path
) -> None:
    env = chat_env(standin, chat_dir)
    async with start_chat(env, "--url", standin.url, cwd=chat_dir) as chat:
        assert await chat.heard() == "Hello! How can I help?"
        await chat.say("hello")
        assert await chat.heard() == "You said: hello"
        await chat.say('call add {"a": 2, "b": 3}')
        assert await chat.heard() == "add returned 5"
        await chat.say("call boom {}")
        spoken = await chat.heard()
        assert spoken.startswith('boom returned {"error"')
        assert "The order system refused the request." in spoken
        await chat.say("bye")
        assert await chat.heard() == "Goodbye!"
        code, stderr = await chat.finish()  # the conversation ended; stdin is still open
    assert code == 0
    assert '[tool] add {"a": 2, "b": 3}' in stderr
    assert "[tool] add -> ok" in stderr
    assert "[tool] boom -> tool_error: The order system refused the request." in stderr
    assert standin.token not in stderr
    conv = await standin.conversation(1)
    assert conv.chat_messages == ["hello", 'call add {"a": 2, "b": 3}', "call boom {}", "bye"]
    assert conv.request["callType"] == "chat"


async def test_closing_stdin_terminates_the_conversation(standin: StandIn, chat_dir: Path) -> None:
    env = chat_env(standin, chat_dir)
    args = ("--url", standin.url, "--call-type", "webCall", "--endpoint", "+15550100",
            "--additional-data", '{"customer": "C-17"}')  # fmt: skip
    async with start_chat(env, *args, cwd=chat_dir) as chat:
        assert await chat.heard() == "Hello! How can I help?"
        await chat.say("hello")
        assert await chat.heard() == "You said: hello"
        await chat.close_stdin()
        code, stderr = await chat.finish()
    assert code == 0, stderr
    conv = await standin.conversation(1)
    assert conv.terminated.is_set()
    assert conv.request == {
        "callType": "webCall",
        "additionalData": {"customer": "C-17"},
        "endpoint": "+15550100",
    }


async def test_a_refused_handshake_is_reported_and_exits_non_zero(
    standin: StandIn, chat_dir: Path
) -> None:
    bad = "not-the-token-41c7"
    env = chat_env(
        standin, chat_dir, TOOLSERVER_BLACKBOX_TOKEN=bad, TOOLSERVER_BLACKBOX_CONNECT_ATTEMPTS="3"
    )
    async with start_chat(env, "--url", standin.url, cwd=chat_dir) as chat:
        code, stderr = await chat.finish()
    assert code == 1
    assert "could not connect after 3 attempt(s): HTTP 401: Invalid token" in stderr
    assert bad not in stderr
    assert standin.handshakes == [("/api/v1/ws/webCall", 401)] * 3


async def test_missing_credentials_are_a_usage_error(standin: StandIn, chat_dir: Path) -> None:
    env = chat_env(standin, chat_dir)
    del env["TOOLSERVER_BLACKBOX_TOKEN"]
    async with start_chat(env, "--url", standin.url, cwd=chat_dir) as chat:
        code, stderr = await chat.finish()
    assert code == 2
    assert "TOOLSERVER_BLACKBOX_TOKEN" in stderr
    assert standin.handshakes == []
