"""With ``TOOLSERVER_SIGNING_SECRET``, a signed webhook is bound to its target.

A body signed for one tool cannot be replayed at another tool's URL (401), and a call webhook's
signed payload is accepted only on its own route (400 elsewhere, as for any body of another
route). The documents' payloads are signed and posted verbatim.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import jsonschema
import pytest

from tests.support.server import ServerProcess, running_server
from tests.surfaces.lifecycle.shapes import (
    CALL_PLUGINS,
    ERROR,
    JSON,
    START_ANSWER,
    TRANSFER_ANSWER,
    logged,
    raw_example,
    sign,
)

SECRET = "signing-secret-7c1d"
ROUTES = {
    "/blackbox/start": "start_webhook_payload",
    "/blackbox/result": "completed_webhook_payload",
    "/blackbox/transfer": "transfer_webhook_payload",
}


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    env = {"TOOLSERVER_SIGNING_SECRET": SECRET}
    with running_server(env, plugins_dir=CALL_PLUGINS, api_key="key-for-other-paths") as srv:
        yield srv


def post(server: ServerProcess, path: str, raw: bytes, *, signed: bool = True) -> httpx.Response:
    headers = {**JSON, "x-blackbox-signature": sign(SECRET, raw)} if signed else dict(JSON)
    return httpx.post(server.base_url + path, content=raw, headers=headers, timeout=30)


def tool_payload(tool: str) -> bytes:
    body = json.loads(raw_example("tool_webhook_payload"))
    body.update(toolName=tool, arguments={})
    return json.dumps(body).encode()


def test_a_signed_tool_payload_runs_at_its_own_tool(server: ServerProcess) -> None:
    response = post(server, "/tools/whoami", tool_payload("whoami"))
    assert response.status_code == 200
    assert response.json()["surface"] == "webhook"


def test_a_signed_tool_payload_for_another_tool_is_refused(server: ServerProcess) -> None:
    # The documents' ToolWebHookPayload names check_order_status: its signature is valid, but
    # not for whoami's URL.
    response = post(server, "/tools/whoami", raw_example("tool_webhook_payload"))
    assert response.status_code == 401
    jsonschema.validate(response.json(), ERROR)
    assert response.json()["error"]["type"] == "unauthorized"
    assert "check_order_status" in response.json()["error"]["message"]
    refused = logged(server, lambda e: e.get("reason") == "signed payload for another tool")
    assert refused and refused[-1]["event"] == "auth.refused"


@pytest.mark.parametrize("path", sorted(ROUTES))
def test_a_signed_call_payload_is_accepted_on_its_own_route(
    server: ServerProcess, path: str
) -> None:
    response = post(server, path, raw_example(ROUTES[path]))
    assert response.status_code == 200
    if path == "/blackbox/start":
        jsonschema.validate(response.json(), START_ANSWER)
    elif path == "/blackbox/transfer":
        jsonschema.validate(response.json(), TRANSFER_ANSWER)


@pytest.mark.parametrize("path", sorted(ROUTES))
@pytest.mark.parametrize("payload", sorted(set(ROUTES.values())))
def test_a_signed_call_payload_is_refused_on_another_route(
    server: ServerProcess, path: str, payload: str
) -> None:
    if ROUTES[path] == payload:
        return
    response = post(server, path, raw_example(payload))
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "wrong_payload_type"


@pytest.mark.parametrize("payload", sorted(set(ROUTES.values())))
def test_a_signed_call_payload_is_refused_at_a_tool_webhook(
    server: ServerProcess, payload: str
) -> None:
    response = post(server, "/tools/whoami", raw_example(payload))
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "wrong_payload_type"


@pytest.mark.parametrize("path", sorted(ROUTES))
def test_call_webhooks_need_the_signature_in_signed_mode(server: ServerProcess, path: str) -> None:
    raw = raw_example(ROUTES[path])
    assert post(server, path, raw, signed=False).status_code == 401
    tampered = raw.replace(b"agent_xyz789", b"agent_evil00")
    headers = {**JSON, "x-blackbox-signature": sign(SECRET, raw)}
    response = httpx.post(server.base_url + path, content=tampered, headers=headers)
    assert response.status_code == 401
    # An API key is no substitute for the signature on a signed route.
    headers = {**JSON, "X-Api-Key": "key-for-other-paths"}
    assert httpx.post(server.base_url + path, content=raw, headers=headers).status_code == 401


def test_a_get_tool_webhook_has_no_body_to_sign_and_takes_the_api_key(
    server: ServerProcess,
) -> None:
    url = server.base_url + "/tools/whoami"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"X-Api-Key": "key-for-other-paths"}).status_code == 200
