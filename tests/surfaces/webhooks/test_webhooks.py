"""The webhook surface against a real server process, with real HTTP requests."""

from __future__ import annotations

import hashlib
import hmac
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from tests.support.server import ServerProcess, running_server

EDGE = Path(__file__).resolve().parents[2] / "fixtures" / "edge_plugins"
SECOND_KEY = "rotated-key-5521"


def payload(tool: str, arguments: object, call_id: str = "call_abc123", **extra: object) -> dict:
    body = {
        "type": "ToolWebHookPayload",
        "status": "Running",
        "callId": call_id,
        "agentId": "agent_xyz789",
        "orgId": "org_123",
        "toolName": tool,
        "arguments": arguments,
        "callAdditionalData": {"crm": "lead"},
        "agentAdditionalData": {"tier": "gold"},
    }
    body.update(extra)
    return body


@pytest.fixture(scope="module")
def counter_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("edge") / "bookings.txt"


@pytest.fixture(scope="module")
def server(counter_file: Path) -> Iterator[ServerProcess]:
    env = {
        "TOOLSERVER_API_KEYS": f"test-key-7f3a9c,{SECOND_KEY}",
        "TOOLSERVER_MAX_BODY_BYTES": "4096",
        "TOOLSERVER_PLUGIN_EDGE_COUNTER_FILE": str(counter_file),
    }
    with running_server(env, plugins_dir=EDGE) as srv:
        yield srv


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, headers=server.headers, timeout=10) as c:
        yield c


def assert_alive(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_bare_arguments(client: httpx.Client) -> None:
    response = client.post("/tools/add", json={"a": 2, "b": "40"})
    assert response.status_code == 200
    assert response.json() == 42


def test_blackbox_payload_with_unknown_fields(client: httpx.Client) -> None:
    body = payload("add", {"a": 1, "b": 2}, serverJobId="job-1", sip={"fromUser": "x"}, novel=1)
    response = client.post("/tools/add", json=body)
    assert response.status_code == 200
    assert response.json() == 3


def test_payload_fills_the_context(client: httpx.Client) -> None:
    body = payload("echo_context", {}, endpoint="+14155550134")
    assert client.post("/tools/echo_context", json=body).json() == {
        "surface": "webhook",
        "call_id": "call_abc123",
        "agent_id": "agent_xyz789",
        "org_id": "org_123",
        "call_data": {"crm": "lead"},
        "agent_data": {"tier": "gold"},
        "endpoint": "+14155550134",
    }


def test_arguments_sent_as_a_json_string(client: httpx.Client) -> None:
    response = client.post("/tools/add", json=payload("add", json.dumps({"a": 5, "b": 6})))
    assert response.status_code == 200
    assert response.json() == 11


def test_unknown_tool_is_404(client: httpx.Client) -> None:
    response = client.post("/tools/no_such_tool", json={})
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "unknown_tool"
    assert "no_such_tool" in response.json()["error"]["message"]
    assert_alive(client)


@pytest.mark.parametrize("body", [b"{not json", b'{"a": 1,', b"\xff\xfe"])
def test_invalid_json_is_400(client: httpx.Client, body: bytes) -> None:
    response = client.post("/tools/add", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_json"
    assert_alive(client)


def test_non_object_body_is_400(client: httpx.Client) -> None:
    response = client.post("/tools/add", json=[1, 2])
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_json"


def test_invalid_arguments_are_422_and_never_echo_values(client: httpx.Client) -> None:
    response = client.post("/tools/add", json=payload("add", {"a": "SECRET-VALUE-9", "c": 1}))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["type"] == "invalid_arguments"
    by_argument = {e["argument"]: e for e in error["errors"]}
    assert set(by_argument) == {"a", "b", "c"}
    assert by_argument["b"]["type"] == "missing"
    assert "SECRET-VALUE-9" not in response.text
    assert_alive(client)


def test_arguments_that_are_not_an_object_are_422(client: httpx.Client) -> None:
    response = client.post("/tools/add", json=payload("add", [1, 2]))
    assert response.status_code == 422


def test_tool_error_is_a_200_answer_the_agent_can_speak(client: httpx.Client) -> None:
    response = client.post("/tools/refuse", json={"reason": "closed on Sundays"})
    assert response.status_code == 200
    assert response.json() == {
        "error": {"type": "tool_error", "message": "Cannot do that: closed on Sundays"}
    }
    assert "internal detail" not in response.text


def test_crash_is_500_with_a_generic_message(server: ServerProcess, client: httpx.Client) -> None:
    response = client.post("/tools/crash", json={})
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["type"] == "internal_error"
    assert "database connection reset" not in error["message"]
    assert_alive(client)
    crashes = [e for e in server.log_events() if e.get("tool") == "crash"]
    assert crashes and "database connection reset" in str(crashes[-1].get("exception"))


def test_timeout_is_a_200_answer_with_the_timeout_kind(client: httpx.Client) -> None:
    response = client.post("/tools/hang", json={})
    assert response.status_code == 200
    assert response.json()["error"]["type"] == "timeout"
    assert_alive(client)


def test_body_over_the_limit_is_413(client: httpx.Client) -> None:
    big = {"a": 1, "b": 2, "padding": "x" * 10_000}
    response = client.post("/tools/add", json=big)
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "body_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while streaming
        yield b'{"a": 1, "b": 2, "padding": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}'

    response = client.post("/tools/add", content=chunks())
    assert response.status_code == 413
    assert_alive(client)


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Api-Key": "wrong"}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}],
)
def test_missing_or_wrong_credentials_are_401(server: ServerProcess, headers: dict) -> None:
    response = httpx.post(f"{server.base_url}/tools/add", json={"a": 1, "b": 2}, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "unauthorized"


@pytest.mark.parametrize(
    "headers",
    [{"X-Api-Key": SECOND_KEY}, {"Authorization": f"Bearer {SECOND_KEY}"}, {"x-api-key": SECOND_KEY}],
)
def test_every_configured_key_works_in_either_header(server: ServerProcess, headers: dict) -> None:
    response = httpx.post(f"{server.base_url}/tools/add", json={"a": 1, "b": 2}, headers=headers)
    assert response.status_code == 200


def test_list_tools(client: httpx.Client) -> None:
    tools = {t["name"]: t for t in client.get("/tools").json()["tools"]}
    assert {"add", "book", "refuse", "crash", "hang", "echo_context"} <= set(tools)
    assert tools["add"]["inputSchema"]["required"] == ["a", "b"]
    assert tools["add"]["url"].endswith("/tools/add")
    assert tools["book"]["sideEffects"] is True
    assert tools["hang"]["timeoutSeconds"] == 0.3


def test_openapi_has_a_typed_operation_per_tool(server: ServerProcess) -> None:
    document = httpx.get(f"{server.base_url}/openapi.json").json()
    operation = document["paths"]["/tools/add"]["post"]
    assert operation["operationId"] == "add"
    body = operation["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert body[1]["properties"]["a"] == {"type": "integer", "description": "The first number."}
    assert body[0]["properties"]["arguments"] == body[1]
    assert {"200", "401", "404", "422"} <= set(operation["responses"])


def _bookings(counter_file: Path, slot: str) -> int:
    if not counter_file.exists():
        return 0
    return counter_file.read_text().splitlines().count(slot)


def test_side_effecting_retry_runs_once(client: httpx.Client, counter_file: Path) -> None:
    body = payload("book", {"slot": "mon-9am"}, call_id="call-retry-1")
    first = client.post("/tools/book", json=body)
    second = client.post("/tools/book", json=body)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert second.headers.get("x-toolserver-replayed") == "true"
    assert _bookings(counter_file, "mon-9am") == 1
    other_call = client.post("/tools/book", json={**body, "callId": "call-retry-2"})
    assert other_call.json()["ticket"] != first.json()["ticket"]
    assert _bookings(counter_file, "mon-9am") == 2


@pytest.mark.anyio
async def test_concurrent_identical_requests_run_once(
    server: ServerProcess, counter_file: Path
) -> None:
    body = payload("book", {"slot": "tue-10am"}, call_id="call-concurrent")
    results: list[httpx.Response] = []
    async with httpx.AsyncClient(base_url=server.base_url, headers=server.headers) as client:

        async def send() -> None:
            results.append(await client.post("/tools/book", json=body))

        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(send)
    assert [r.status_code for r in results] == [200] * 5
    assert len({r.text for r in results}) == 1
    assert _bookings(counter_file, "tue-10am") == 1


def test_signature_is_required_when_a_signing_secret_is_set() -> None:
    secret = "signing-secret-0b1d"
    with running_server(
        {"TOOLSERVER_SIGNING_SECRET": secret}, plugins_dir=EDGE, api_key="key-for-other-paths"
    ) as srv:
        raw = json.dumps(payload("add", {"a": 1, "b": 2})).encode()
        good = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
        url = f"{srv.base_url}/tools/add"
        headers = {"content-type": "application/json"}
        ok = httpx.post(url, content=raw, headers={**headers, "x-blackbox-signature": good})
        assert ok.status_code == 200 and ok.json() == 3
        missing = httpx.post(url, content=raw, headers=headers)
        assert missing.status_code == 401
        tampered = raw.replace(b'"a": 1', b'"a": 9')
        wrong = httpx.post(url, content=tampered, headers={**headers, "x-blackbox-signature": good})
        assert wrong.status_code == 401
        # Listing tools is not signed by BlackBox: it still takes the API key.
        assert httpx.get(f"{srv.base_url}/tools").status_code == 401


def test_configurable_header_name() -> None:
    with running_server({"TOOLSERVER_AUTH_HEADER": "X-Toolserver-Token"}, plugins_dir=EDGE) as srv:
        url = f"{srv.base_url}/tools/add"
        assert httpx.post(url, json={"a": 1, "b": 1}, headers={"X-Toolserver-Token": srv.api_key}).status_code == 200
        assert httpx.post(url, json={"a": 1, "b": 1}, headers={"X-Api-Key": srv.api_key}).status_code == 401


def test_first_start_generates_a_key_and_keeps_it_out_of_the_log(tmp_path: Path) -> None:
    """The key is in its file only: with JSON logs (a container's, a CI artefact) no stream
    carries it, and the log says where it is kept."""
    data = tmp_path / "data"
    with running_server(plugins_dir=EDGE, api_key=None, data_dir=data) as srv:
        key_file = data / "api_key"
        key = key_file.read_text().strip()
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert key not in srv.log_text()
        (created,) = [e for e in srv.log_events() if e["event"] == "auth.generated_key_created"]
        assert created["path"] == str(key_file)
        url = f"{srv.base_url}/tools/add"
        assert httpx.post(url, json={"a": 1, "b": 1}).status_code == 401
        assert httpx.post(url, json={"a": 1, "b": 1}, headers={"X-Api-Key": key}).status_code == 200
    with running_server(plugins_dir=EDGE, api_key=None, data_dir=data) as again:
        assert key not in again.log_text()
        response = httpx.post(f"{again.base_url}/tools/add", json={"a": 1, "b": 1}, headers={"X-Api-Key": key})
        assert response.status_code == 200


def test_auth_can_be_disabled_only_explicitly_and_warns() -> None:
    with running_server({"TOOLSERVER_AUTH_DISABLED": "true"}, plugins_dir=EDGE, api_key=None) as srv:
        assert httpx.post(f"{srv.base_url}/tools/add", json={"a": 1, "b": 1}).status_code == 200
        assert any(e.get("event") == "auth.disabled" for e in srv.log_events())


def test_one_log_event_per_call_with_the_documented_fields(
    server: ServerProcess, client: httpx.Client
) -> None:
    client.post("/tools/add", json=payload("add", {"a": 1, "b": 2}, call_id="call-log-check"))
    events = [e for e in server.log_events() if e.get("call_id") == "call-log-check"]
    assert len(events) == 1
    event = events[0]
    assert event["event"] == "tool.call"
    assert event["surface"] == "webhook"
    assert event["tool"] == "add"
    assert event["agent_id"] == "agent_xyz789"
    assert event["outcome"] == "ok"
    assert isinstance(event["duration_ms"], float)
