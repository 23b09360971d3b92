"""The Python API (BlackBoxSession, SessionManager) against the stand-in BlackBox."""

from __future__ import annotations

import json
import uuid
from typing import Any

import anyio
import pytest

from tests.surfaces.websocket.conftest import LogCapture
from tests.surfaces.websocket.standin import StandIn
from toolserver.core.context import ToolContext
from toolserver.runtime import ToolServer
from toolserver.surfaces.websocket import (
    BlackBoxSession,
    ConnectError,
    RetryPolicy,
    SessionClosedError,
    SessionConfigError,
    SessionEvent,
    SessionManager,
)

pytestmark = pytest.mark.anyio


def session(
    server: ToolServer, standin: StandIn, scenario: str | None = None, **options: Any
) -> BlackBoxSession:
    data = dict(options.pop("additional_data", {}))
    if scenario:
        data["scenario"] = scenario
    options.setdefault("token", standin.token)
    return BlackBoxSession(server.executor, base_url=standin.url, additional_data=data, **options)


async def collect(session: BlackBoxSession) -> list[SessionEvent]:
    return [event async for event in session.events()]


def error_of(result: Any) -> dict[str, Any]:
    assert isinstance(result, dict) and set(result) == {"error"}, result
    return result["error"]


# -- tool requests ---------------------------------------------------------------------------


async def test_concurrent_requests_are_answered_out_of_order_by_id(
    tool_server: ToolServer, standin: StandIn
) -> None:
    async with session(tool_server, standin, "ordering") as s:
        summary = await s.wait()
    conv = await standin.conversation(1)
    n = conv.notes
    assert conv.results[n["add"]] == 5
    assert conv.results[n["a"]] == "first"
    assert conv.results[n["b"]] == "second"
    order = conv.response_order
    # add was answered while A and B were still running; B (released first) before A.
    assert order.index(n["add"]) < order.index(n["b"]) < order.index(n["a"])
    assert summary["state"] == "closed"
    assert summary["closeCode"] == 1000
    assert summary["result"] == {"finishReason": "done"}
    assert summary["toolCalls"]["ok"] == 5
    assert summary["toolCalls"]["inFlight"] == 0


async def test_every_response_is_exactly_what_the_protocol_requires(
    tool_server: ToolServer, standin: StandIn
) -> None:
    async with session(tool_server, standin, "ordering") as s:
        await s.wait()
    conv = await standin.conversation(1)
    responses = [m for m in conv.received if m["type"] == "websocketToolResponse"]
    assert len(responses) == 5
    for message in responses:
        assert set(message) == {"type", "timestamp", "channelId", "content"}
        assert message["channelId"] is None
        assert set(message["content"]) == {"id", "result"}
        assert message["timestamp"].endswith("Z")
    init = conv.initialize
    assert init is not None
    assert init["request"] == {
        "callType": "chat",
        "additionalData": {"scenario": "ordering"},
        "endpoint": None,
    }
    assert [m["type"] for m in conv.received].count("initialize") == 1


async def test_failures_are_answered_with_an_error_the_agent_can_speak(
    tool_server: ToolServer, standin: StandIn
) -> None:
    async with session(tool_server, standin, "failures") as s:
        summary = await s.wait()
    conv = await standin.conversation(1)
    n, results = conv.notes, conv.results

    boom = error_of(results[n["boom"]])
    assert boom == {"type": "tool_error", "message": "The order system refused the request."}
    crash = error_of(results[n["crash"]])
    assert crash["type"] == "internal_error"
    assert "database" not in json.dumps(crash)  # the exception stays in the operator's log
    slow = error_of(results[n["slow"]])
    assert slow["type"] == "timeout"
    assert "0.2 seconds" in slow["message"]
    unknown = error_of(results[n["unknown"]])
    assert unknown["type"] == "unknown_tool"
    assert "add" in unknown["message"]  # lists what exists
    invalid = error_of(results[n["invalid"]])
    assert invalid["type"] == "invalid_arguments"
    assert invalid["errors"][0]["argument"] == "a"
    assert summary["state"] == "closed"
    assert summary["toolCalls"]["error"] == 5


async def test_args_sent_as_json_text_are_parsed(tool_server: ToolServer, standin: StandIn) -> None:
    async with session(tool_server, standin, "string_args") as s:
        await s.wait()
    conv = await standin.conversation(1)
    n = conv.notes
    assert conv.results[n["text"]] == 9
    assert conv.results[n["empty"]]["surface"] == "websocket"
    assert error_of(conv.results[n["bad"]])["type"] == "invalid_arguments"


async def test_malformed_messages_never_crash_the_session(
    tool_server: ToolServer, standin: StandIn, log_capture: LogCapture
) -> None:
    async with session(tool_server, standin, "malformed") as s:
        events = await collect(s)
        summary = await s.wait()
    conv = await standin.conversation(1)
    n = conv.notes
    assert error_of(conv.results[n["no_tool"]])["type"] == "invalid_arguments"
    assert error_of(conv.results[n["list_args"]])["type"] == "invalid_arguments"
    assert 77 in conv.response_order  # a numeric id is echoed as a number
    assert conv.results[n["after"]] == 42
    assert summary["state"] == "closed"
    assert any(e.kind == "text" and e.data["text"] == "still here" for e in events)
    malformed = log_capture.named("ws.malformed_message")
    assert len(malformed) >= 6
    unknown = log_capture.named("ws.unknown_message")
    assert unknown and unknown[0]["type"] == "mysteryMessage"
    assert unknown[0]["level"] == "debug"


async def test_the_tool_context_describes_the_websocket_call(
    tool_server: ToolServer, standin: StandIn
) -> None:
    data = {"customer": "C-17"}
    async with session(
        tool_server, standin, "context", additional_data=data, endpoint="+15550100"
    ) as s:
        await s.wait()
    conv = await standin.conversation(1)
    assert conv.results["ctx-req-1"] == {
        "surface": "websocket",
        "callId": "ctx-req-1",
        "callData": {"customer": "C-17", "scenario": "context"},
        "endpoint": "+15550100",
        "idempotencyScope": None,
    }
    assert conv.request["endpoint"] == "+15550100"


# -- the conversation ------------------------------------------------------------------------


async def test_chat_text_goes_out_and_agent_text_comes_back(
    tool_server: ToolServer, standin: StandIn
) -> None:
    async with session(tool_server, standin) as s:
        stream = s.events()
        await s.send_text("hello")
        await s.send_text('call add {"a": 2, "b": 40}')
        await s.send_text("bye")
        texts = [e.data for e in [e async for e in stream] if e.kind == "text"]
        summary = await s.wait()
    agent = [t["text"] for t in texts if t["source"] == "assistant"]
    assert agent == ["Hello! How can I help?", "You said: hello", "add returned 42", "Goodbye!"]
    user = [t["text"] for t in texts if t["source"] == "user"]
    assert user == ["hello", 'call add {"a": 2, "b": 40}', "bye"]
    assert summary["state"] == "closed"
    assert summary["result"] == {"finishReason": "user_said_bye"}
    conv = await standin.conversation(1)
    assert conv.chat_messages == ["hello", 'call add {"a": 2, "b": 40}', "bye"]
    with pytest.raises(SessionClosedError):
        await s.send_text("too late")


async def test_events_arrive_in_order_and_end_with_closed(
    tool_server: ToolServer, standin: StandIn
) -> None:
    async with session(tool_server, standin) as s:
        await s.send_text("bye")
        events = await collect(s)
    kinds = [e.kind for e in events]
    assert kinds[:2] == ["connecting", "open"]
    assert kinds[-1] == "closed"
    assert "server_event" in kinds and "result" in kinds
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # a later subscriber gets the same history; one that resumes gets only what followed
    assert [e.seq async for e in s.events()] == seqs
    resumed = [e async for e in s.events(after=seqs[-3])]
    assert [e.seq for e in resumed] == seqs[-2:]


async def test_terminate_ends_the_conversation_cleanly(
    tool_server: ToolServer, standin: StandIn
) -> None:
    async with session(tool_server, standin) as s:
        await s.send_text("hi")
        summary = await s.terminate()
    conv = await standin.conversation(1)
    assert conv.terminated.is_set()
    assert conv.received[-1]["type"] == "terminate"
    assert conv.received[-1]["channelId"] is None
    assert summary["state"] == "closed"
    assert summary["result"] == {"finishReason": "terminated"}


async def test_terminate_waits_for_tool_calls_in_flight(
    tool_server: ToolServer, standin: StandIn
) -> None:
    gate = "g" + uuid.uuid4().hex
    async with session(tool_server, standin, "hold", additional_data={"gate": gate}) as s:
        async for event in s.events():
            if event.kind == "tool_request":
                break
        async with anyio.create_task_group() as group:
            group.start_soon(s.terminate)
            await anyio.wait_all_tasks_blocked()
            conv = await standin.conversation(1)
            assert s.state == "closing"
            assert s.in_flight == 1
            assert not conv.terminated.is_set()  # not before the answer
            await tool_server.executor.call(
                "open_gate", {"name": gate}, ToolContext(surface="test")
            )
    assert conv.results[conv.notes["held"]] == "released"
    assert conv.unanswered_at_terminate == set()
    assert s.state == "closed"


# -- faults ----------------------------------------------------------------------------------


async def test_a_server_error_message_is_surfaced_with_its_reason(
    tool_server: ToolServer, standin: StandIn, log_capture: LogCapture
) -> None:
    async with session(tool_server, standin, "server_error") as s:
        events = await collect(s)
        summary = await s.wait()
    assert summary["state"] == "failed"
    assert summary["error"] == "Web integration is not enabled"
    assert summary["closeCode"] == 1008
    errors = [e.data for e in events if e.kind == "error"]
    assert errors == [{"message": "Web integration is not enabled"}]
    assert events[-1].data["error"] == "Web integration is not enabled"
    [logged] = log_capture.named("ws.server_error")
    assert logged["message"] == "Web integration is not enabled"


async def test_an_abnormal_close_code_is_surfaced_with_its_reason(
    tool_server: ToolServer, standin: StandIn
) -> None:
    async with session(tool_server, standin, "close_code") as s:
        summary = await s.wait()
    assert summary["state"] == "failed"
    assert summary["closeCode"] == 1011
    assert summary["closeReason"] == "agent crashed"
    assert "1011" in summary["error"] and "agent crashed" in summary["error"]


async def test_the_server_dropping_mid_call_fails_the_session(
    tool_server: ToolServer, standin: StandIn, log_capture: LogCapture
) -> None:
    async with session(tool_server, standin, "drop") as s:
        summary = await s.wait()
    assert summary["state"] == "failed"
    assert "lost" in summary["error"]
    assert summary["toolCalls"]["abandoned"] == 1
    assert summary["toolCalls"]["inFlight"] == 0
    # The executor logs every call it ran; the session adds a line only for the one it could
    # not answer.
    calls = {e["tool"]: e["outcome"] for e in log_capture.named("tool.call")}
    assert calls == {"wait_gate": "cancelled", "add": "ok"}
    undelivered = {e["tool"]: e["outcome"] for e in log_capture.named("ws.tool_request")}
    assert undelivered == {"wait_gate": "abandoned"}


async def test_a_refused_handshake_is_retried_with_backoff_then_reported(
    tool_server: ToolServer, standin: StandIn, log_capture: LogCapture
) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    bad = "wrong-token-" + uuid.uuid4().hex
    s = session(
        tool_server,
        standin,
        token=bad,
        retry=RetryPolicy(attempts=4, initial_delay=1.0, max_delay=3.0, jitter=0.5),
        sleep=sleep,
        random=lambda: 0.5,
    )
    with pytest.raises(ConnectError) as caught:
        async with s:
            pass
    assert caught.value.attempts == 4
    assert caught.value.reason == "HTTP 401: Invalid token"
    # 1, 2, 4 capped at 3, each scaled by the jitter factor 1 - 0.5 * 0.5
    assert slept == [0.75, 1.5, 2.25]
    assert standin.handshakes == [("/api/v1/ws/webCall", 401)] * 4
    assert s.state == "failed" and s.opened_at is None
    assert "HTTP 401: Invalid token" in (s.error or "")
    kinds = [e.kind for e in s.history]
    assert kinds == ["connecting", "retrying"] * 3 + ["connecting", "closed"]
    assert bad not in log_capture.text
    assert "token=***" in log_capture.text
    [gave_up] = log_capture.named("ws.connect_gave_up")
    assert gave_up["attempts"] == 4 and gave_up["status"] == 401


async def test_connection_refused_is_retried_too(tool_server: ToolServer) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    s = BlackBoxSession(
        tool_server.executor,
        base_url="http://127.0.0.1:9",  # nothing listens on the discard port
        token="t",
        retry=RetryPolicy(attempts=3, initial_delay=0.01, jitter=0.0),
        sleep=sleep,
    )
    summary = await s.run()
    assert summary["state"] == "failed"
    assert summary["attempts"] == 3
    assert slept == [0.01, 0.02]


def test_retry_delays_grow_exponentially_are_capped_and_jittered() -> None:
    policy = RetryPolicy(attempts=10, initial_delay=0.5, max_delay=4.0, multiplier=2.0, jitter=0.2)
    assert [policy.delay(n, 0.0) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert policy.delay(1, 0.999) == pytest.approx(0.5 * (1 - 0.2 * 0.999))
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)


# -- consumers and shutdown ------------------------------------------------------------------


async def test_a_slow_consumer_loses_events_not_tool_answers(
    tool_server: ToolServer, standin: StandIn, log_capture: LogCapture
) -> None:
    async with session(tool_server, standin, "chatter", buffer=8) as s:
        never_read = s.events(replay=False)
        summary = await s.wait()
    conv = await standin.conversation(1)
    assert [conv.results[i] for i in conv.notes["ids"]] == [0, 2, 4, 6, 8]
    assert summary["toolCalls"]["ok"] == 5
    late = [e async for e in never_read]
    assert late[0].kind == "events_dropped" and late[0].data["count"] > 0
    assert late[-1].kind == "closed"
    assert len(late) == 9
    assert log_capture.named("ws.events_dropped")


async def test_manager_shutdown_terminates_sessions_after_answering_in_flight_calls(
    tool_server: ToolServer, standin: StandIn
) -> None:
    gate = "g" + uuid.uuid4().hex
    manager = SessionManager(
        tool_server.executor,
        tool_server.settings,
        factory=lambda **kw: BlackBoxSession(
            tool_server.executor, base_url=standin.url, token=standin.token, **kw
        ),
    )
    async with anyio.create_task_group() as group:
        async with manager.running():
            busy = await manager.start(additional_data={"scenario": "hold", "gate": gate})
            idle = await manager.start()
            assert {s.id for s in manager.list()} == {busy.id, idle.id}
            assert busy.state == idle.state == "open"
            async for event in busy.events():
                if event.kind == "tool_request":
                    break

            async def release() -> None:
                await anyio.wait_all_tasks_blocked()
                assert busy.state == "closing" and busy.in_flight == 1
                await tool_server.executor.call(
                    "open_gate", {"name": gate}, ToolContext(surface="test")
                )

            group.start_soon(release)
        # leaving running() terminated both
    held = await standin.conversation(1)
    other = await standin.conversation(2)
    assert held.results[held.notes["held"]] == "released"
    assert held.unanswered_at_terminate == set()
    assert held.terminated.is_set() and other.terminated.is_set()
    assert busy.state == idle.state == "closed"


async def test_manager_ends_one_session_and_keeps_it_listed(
    tool_server: ToolServer, standin: StandIn
) -> None:
    manager = SessionManager(
        tool_server.executor,
        tool_server.settings,
        factory=lambda **kw: BlackBoxSession(
            tool_server.executor, base_url=standin.url, token=standin.token, **kw
        ),
    )
    async with manager.running():
        s = await manager.start(call_type="webCall")
        assert manager.get(s.id) is s
        ended = await manager.end(s.id)
        assert ended is s and s.state == "closed"
        assert [x.summary()["state"] for x in manager.list()] == ["closed"]
        assert await manager.end("nope") is None
    conv = await standin.conversation(1)
    assert conv.request["callType"] == "webCall"


# -- configuration ---------------------------------------------------------------------------


async def test_the_dev_endpoint_uses_the_api_key_and_names_the_agent(
    tool_server: ToolServer, standin: StandIn
) -> None:
    async with BlackBoxSession(
        tool_server.executor,
        base_url=standin.url,
        api_key=standin.api_key,
        agent_id="agent_xyz789",
        call_type="onPhone",
        endpoint="+15550100",
    ) as s:
        assert s.mode == "dev"
        await s.terminate()
    conv = await standin.conversation(1)
    assert conv.mode == "dev"
    assert conv.initialize is not None and "request" not in conv.initialize
    assert conv.initialize["devRequest"] == {
        "agentId": "agent_xyz789",
        "callType": "onPhone",
        "additionalData": {},
        "endpoint": "+15550100",
    }


async def test_from_settings_picks_the_endpoint_from_the_credentials(
    tool_server: ToolServer,
) -> None:
    from toolserver.settings import load_settings

    both = load_settings(
        blackbox_token="tok", blackbox_api_key="key", blackbox_agent_id="a1", _env_file=None
    )
    assert BlackBoxSession.from_settings(tool_server.executor, both).mode == "webCall"
    dev = BlackBoxSession.from_settings(tool_server.executor, both, agent_id="a2")
    assert dev.mode == "dev" and dev.agent_id == "a2"
    assert dev.url == "wss://blackbox.dasha.ai/api/v1/ws/dev?authorization=***"
    nothing = load_settings(_env_file=None, blackbox_token=None, blackbox_api_key=None)
    with pytest.raises(SessionConfigError, match="TOOLSERVER_BLACKBOX_TOKEN"):
        BlackBoxSession.from_settings(tool_server.executor, nothing)
    no_agent = load_settings(_env_file=None, blackbox_api_key="key", blackbox_token=None)
    with pytest.raises(SessionConfigError, match="agent id"):
        BlackBoxSession.from_settings(tool_server.executor, no_agent)


async def test_heartbeats_are_configured_on_the_connection(
    tool_server: ToolServer, standin: StandIn
) -> None:
    async with session(tool_server, standin, ping_interval=0.5) as s:
        assert s._ws is not None
        assert s._ws.ping_interval == 0.5
        assert s._ws.ping_timeout == 0.5
        await s.terminate()


async def test_lifecycle_and_tool_requests_are_logged(
    tool_server: ToolServer, standin: StandIn, log_capture: LogCapture
) -> None:
    async with session(tool_server, standin, "failures") as s:
        await s.wait()
    opened = log_capture.named("ws.session_opened")
    closed = log_capture.named("ws.session_closed")
    assert len(opened) == 1 and len(closed) == 1
    assert closed[0]["session_id"] == s.id and closed[0]["state"] == "closed"
    # One line per tool request: the executor's, carrying the session.
    requests = log_capture.named("tool.call")
    assert sorted(r["tool"] for r in requests) == ["add", "boom", "crash", "no_such_tool", "slow"]
    for record in requests:
        assert record["surface"] == "websocket"
        assert record["session_id"] == s.id
        assert record["call_id"].startswith("req-")
        assert isinstance(record["duration_ms"], float)
        assert record["outcome"] == "error"
        assert record["error_kind"]
    assert log_capture.named("ws.tool_request") == []
    assert standin.token not in log_capture.text


async def test_manager_refuses_without_credentials_and_beyond_its_limit(
    tool_server: ToolServer, standin: StandIn
) -> None:
    from toolserver.settings import load_settings
    from toolserver.surfaces.websocket import SessionLimitError

    unconfigured = SessionManager(
        tool_server.executor, load_settings(_env_file=None, blackbox_url=standin.url)
    )
    async with unconfigured.running():
        with pytest.raises(SessionConfigError):
            await unconfigured.start()
        assert unconfigured.list() == []

    settings = load_settings(_env_file=None, blackbox_url=standin.url, blackbox_token=standin.token)
    limited = SessionManager(tool_server.executor, settings, max_sessions=1)
    async with limited.running():
        first = await limited.start()
        with pytest.raises(SessionLimitError):
            await limited.start()
        await limited.end(first.id)
        second = await limited.start()  # a finished session frees its place
        assert second.state == "open"
