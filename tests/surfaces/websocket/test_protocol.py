"""The wire format, and the stand-in's own strictness (it must refuse what BlackBox refuses)."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.surfaces.websocket.standin import StandIn
from toolserver.surfaces.websocket import protocol


def test_timestamps_are_iso_8601_utc_with_milliseconds() -> None:
    moment = datetime.datetime(2025, 1, 31, 12, 0, 0, 123456, tzinfo=datetime.UTC)
    assert protocol.timestamp(moment) == "2025-01-31T12:00:00.123Z"
    parsed = datetime.datetime.fromisoformat(protocol.timestamp())
    assert parsed.tzinfo is not None


@pytest.mark.parametrize(
    ("base", "mode", "expected"),
    [
        ("https://blackbox.dasha.ai", "webCall", "wss://blackbox.dasha.ai/api/v1/ws/webCall?token=T"),
        ("https://blackbox.ru.dasha.ai/", "dev", "wss://blackbox.ru.dasha.ai/api/v1/ws/dev?authorization=T"),
        ("http://127.0.0.1:8080", "webCall", "ws://127.0.0.1:8080/api/v1/ws/webCall?token=T"),
        ("wss://proxy.example/bb", "webCall", "wss://proxy.example/bb/api/v1/ws/webCall?token=T"),
    ],
)  # fmt: skip
def test_endpoint_urls_follow_the_base_urls_scheme(base: str, mode: Any, expected: str) -> None:
    assert protocol.endpoint_url(base, mode, "T") == expected


def test_credentials_are_encoded_and_redacted() -> None:
    url = protocol.endpoint_url("https://bb.example", "webCall", "a b&c=d")
    assert url.endswith("?token=a+b%26c%3Dd")
    assert protocol.redact_url(url) == "wss://bb.example/api/v1/ws/webCall?token=***"
    assert protocol.redact_url("wss://user:pw@h/x?a=1&b=2") == "wss://h/x?a=***&b=***"
    with pytest.raises(ValueError):
        protocol.endpoint_url("ftp://x", "webCall", "T")


def test_client_messages_have_the_documented_shape() -> None:
    init = protocol.initialize("chat", additional_data={"k": 1})
    assert set(init) == {"type", "timestamp", "channelId", "request"}
    assert init["request"] == {"callType": "chat", "additionalData": {"k": 1}, "endpoint": None}
    dev = protocol.initialize("webCall", mode="dev", agent_id="ag", endpoint="+1")
    assert dev["devRequest"] == {
        "agentId": "ag", "callType": "webCall", "additionalData": {}, "endpoint": "+1"
    }  # fmt: skip
    with pytest.raises(ValueError):
        protocol.initialize("video")  # type: ignore[arg-type]
    chat = protocol.chat_message("hi")
    assert chat["content"] == "hi" and chat["channelId"] is None
    response = protocol.tool_response(7, {"ok": True}, channel_id="c1")
    assert response["content"] == {"id": 7, "result": {"ok": True}}
    assert response["channelId"] == "c1"
    assert set(protocol.terminate()) == {"type", "timestamp", "channelId"}
    assert json.loads(protocol.encode(response))["type"] == "websocketToolResponse"


def test_tool_requests_are_read_tolerantly() -> None:
    def request(content: Any) -> dict[str, Any]:
        return {"type": "websocketToolRequest", "channelId": None, "content": content}

    parsed = protocol.parse_tool_request(request({"id": "r1", "toolName": "t", "args": '{"a": 1}'}))
    assert parsed == protocol.ToolRequest(id="r1", tool="t", arguments={"a": 1})
    assert protocol.parse_tool_request(request({"id": 3, "toolName": "t"})).arguments == {}
    with pytest.raises(protocol.MalformedToolRequest) as caught:
        protocol.parse_tool_request(request({"id": "r2", "toolName": "t", "args": "{oops"}))
    assert caught.value.request_id == "r2"
    with pytest.raises(protocol.MalformedToolRequest) as caught:
        protocol.parse_tool_request(request({"toolName": "t"}))
    assert caught.value.request_id is None
    with pytest.raises(protocol.MalformedMessage):
        protocol.parse_message("[]")
    assert protocol.error_text({"type": "error", "data": {"message": "Invalid token"}}) == (
        "Invalid token"
    )


# -- the stand-in refuses what BlackBox refuses ----------------------------------------------

pytest_anyio = pytest.mark.anyio


def _init() -> dict[str, Any]:
    return protocol.initialize("chat")


async def _close_code_after(standin: StandIn, *messages: dict[str, Any]) -> tuple[int, str]:
    url = protocol.endpoint_url(standin.url, "webCall", standin.token)
    async with connect(url) as ws:
        for message in messages:
            await ws.send(json.dumps(message))
        try:
            while True:
                await ws.recv()
        except ConnectionClosed as closed:
            assert closed.rcvd is not None
            return closed.rcvd.code, closed.rcvd.reason


@pytest_anyio
async def test_standin_closes_1007_on_a_missing_channel_id() -> None:
    chat = protocol.chat_message("hi")
    del chat["channelId"]
    async with StandIn() as standin:
        assert await _close_code_after(standin, _init(), chat) == (1007, "missing channelId")


@pytest_anyio
async def test_standin_closes_1007_on_an_object_chat_content() -> None:
    chat = {**protocol.chat_message("x"), "content": {"text": "hi"}}
    async with StandIn() as standin:
        code, _ = await _close_code_after(standin, _init(), chat)
    assert code == 1007


@pytest_anyio
async def test_standin_closes_1007_on_an_unknown_request_id() -> None:
    async with StandIn() as standin:
        code, reason = await _close_code_after(
            standin, _init(), protocol.tool_response("never-asked", 1)
        )
    assert (code, reason) == (1007, "unknown request id 'never-asked'")


@pytest_anyio
async def test_standin_closes_1007_on_a_second_initialize() -> None:
    async with StandIn() as standin:
        code, reason = await _close_code_after(standin, _init(), _init())
        assert (code, reason) == (1007, "Multiple init messages received")
        assert standin.violations == ["Multiple init messages received"]


@pytest_anyio
async def test_standin_refuses_a_bad_token_at_the_handshake() -> None:
    async with StandIn() as standin:
        with pytest.raises(InvalidStatus) as caught:
            async with connect(protocol.endpoint_url(standin.url, "webCall", "bad")):
                pass
    assert caught.value.response.status_code == 401
    assert caught.value.response.body == b"Invalid token"
