"""``toolserver chat``: a conversation with a BlackBox agent in the terminal.

Lines read from stdin are sent as chat text; the agent's text is printed to stdout and tool
activity to stderr, so stdout stays a clean transcript. The command ends when the conversation
ends, or terminates it when stdin closes.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import anyio

__all__ = ["run_chat"]


async def run_chat(server: Any, session: Any) -> int:
    """Start the plugins, hold the session until the conversation ends; the exit status."""
    await server.start()
    try:
        async with anyio.create_task_group() as group:
            await group.start(session.run)
            if session.opened_at is None:
                print(f"error: {session.error}", file=sys.stderr)
                return 1
            print(
                f"Connected to {session.url} (session {session.id}). Type to talk; "
                "end with Ctrl-D.",
                file=sys.stderr,
                flush=True,
            )
            group.start_soon(_print_events, session)
            await _talk(session)
            if not session.done:
                await session.terminate()
    finally:
        await server.stop()
    if session.state != "closed":
        print(f"error: the session failed: {session.error}", file=sys.stderr)
        return 1
    return 0


async def _talk(session: Any) -> None:
    """Send each stdin line as chat text until stdin closes or the conversation ends."""
    import threading

    import anyio.from_thread
    import anyio.lowlevel

    from toolserver.surfaces.websocket import SessionClosedError

    send, lines = anyio.create_memory_object_stream[str](16)
    token = anyio.lowlevel.current_token()

    def pump() -> None:  # a daemon thread: a blocked read must not keep the process alive
        try:
            for line in sys.stdin:
                anyio.from_thread.run(send.send, line, token=token)
        except Exception:
            pass
        finally:
            try:
                anyio.from_thread.run_sync(send.close, token=token)
            except Exception:
                pass

    threading.Thread(target=pump, name="toolserver-chat-stdin", daemon=True).start()
    async with anyio.create_task_group() as group:

        async def stop_when_ended() -> None:
            await session.wait()
            group.cancel_scope.cancel()

        group.start_soon(stop_when_ended)
        async with lines:
            async for line in lines:
                text = line.rstrip("\r\n")
                if not text.strip():
                    continue
                try:
                    await session.send_text(text)
                except SessionClosedError:
                    break
        group.cancel_scope.cancel()


async def _print_events(session: Any) -> None:
    """Agent text to stdout; tool activity and BlackBox's errors to stderr."""
    async for event in session.events():
        data = event.data
        if event.kind == "text" and data.get("source") in ("assistant", None) and data["text"]:
            print(data["text"], flush=True)
        elif event.kind == "tool_request":
            arguments = json.dumps(data["arguments"], ensure_ascii=False)
            print(f"[tool] {data['tool']} {arguments}", file=sys.stderr, flush=True)
        elif event.kind == "tool_response":
            result = data["result"]
            if data["outcome"] == "ok":
                status = "ok"
            elif isinstance(result, dict) and isinstance(result.get("error"), dict):
                status = f"{data['errorKind']}: {result['error'].get('message')}"
            else:
                status = data["outcome"]
            print(
                f"[tool] {data['tool']} -> {status} ({data['durationMs']:g} ms)",
                file=sys.stderr,
                flush=True,
            )
        elif event.kind == "error":
            print(f"[blackbox] error: {data['message']}", file=sys.stderr, flush=True)
        elif event.kind == "closed":
            ending = data["error"] or "conversation ended"
            print(f"[session] {data['state']}: {ending}", file=sys.stderr, flush=True)
