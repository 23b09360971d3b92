"""Tool webhooks configured with ``customSettings``: GET with query parameters, and bodies
rendered from a template, against a real server process.

The create-agent page's ``customSettings`` has ``httpMethod`` (``GET``), static ``queryParams``
and a ``bodyFormat`` template (``{"type": "Text", "template": ...}``); how BlackBox puts a tool
call's arguments into a GET or a template is not documented, so the server reads them where they
can be: every query parameter the tool takes is an argument, typed by the tool's schema, and a
body is JSON or ``key=value&...`` form text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.support.server import ServerProcess, running_server
from tests.surfaces.lifecycle.shapes import CALL_PLUGINS


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with running_server(plugins_dir=CALL_PLUGINS) as srv:
        yield srv


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, headers=server.headers, timeout=30) as c:
        yield c


EXPECTED = {
    "count": 3,
    "flag": True,
    "tags": ["a", "b"],
    "filters": {"x": 1},
    "limit": None,
    "note": None,
}


def test_query_parameters_are_the_arguments_typed_by_the_schema(client: httpx.Client) -> None:
    query = [
        ("count", "3"),
        ("flag", "true"),
        ("tags", "a"),
        ("tags", "b"),
        ("filters", '{"x": 1}'),
        ("limit", ""),  # an empty optional number is not given
        ("api_version", "v1"),  # a static queryParams entry: not the tool's, ignored
    ]
    response = client.get("/tools/typed_echo", params=query)
    assert response.status_code == 200, response.text
    assert response.json() == EXPECTED


def test_a_list_may_be_json_text_and_a_single_value(client: httpx.Client) -> None:
    response = client.get(
        "/tools/typed_echo", params={"count": "1", "flag": "0", "tags": '["x", "y"]'}
    )
    assert response.json()["tags"] == ["x", "y"] and response.json()["flag"] is False
    single = client.get("/tools/typed_echo", params={"count": "1", "flag": "1", "tags": "only"})
    assert single.json()["tags"] == ["only"]


def test_a_wrong_or_missing_query_argument_is_named(client: httpx.Client) -> None:
    wrong = client.get("/tools/typed_echo", params={"count": "three", "flag": "1", "tags": "a"})
    assert wrong.status_code == 422
    assert wrong.json()["error"]["errors"][0]["argument"] == "count"
    missing = client.get("/tools/typed_echo", params={"flag": "1"})
    assert missing.status_code == 422
    assert {e["argument"] for e in missing.json()["error"]["errors"]} == {"count", "tags"}


def test_a_get_for_an_unknown_tool_is_404(client: httpx.Client) -> None:
    response = client.get("/tools/no_such_tool", params={"a": "1"})
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "unknown_tool"


def test_a_body_template_rendered_as_form_text(client: httpx.Client) -> None:
    body = "count=3&flag=yes&tags=a&tags=b&filters=%7B%22x%22%3A1%7D&callId=call_form_1"
    response = client.post(
        "/tools/typed_echo",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == EXPECTED


def test_a_body_template_rendered_as_json_text(client: httpx.Client) -> None:
    body = json.dumps({"count": "3", "flag": "true", "tags": ["a", "b"], "filters": {"x": 1}})
    response = client.post(
        "/tools/typed_echo", content=body, headers={"content-type": "text/plain"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == EXPECTED


def test_json_labelled_as_form_text_is_read_as_json(client: httpx.Client) -> None:
    # What ``curl -d '{...}'`` sends: a JSON body under the form content type.
    body = json.dumps({"count": "3", "flag": "true", "tags": ["a", "b"], "filters": {"x": 1}})
    response = client.post(
        "/tools/typed_echo",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == EXPECTED


def test_a_get_carries_the_call_in_query_fields(client: httpx.Client) -> None:
    response = client.get("/tools/whoami", params={"callId": "call_get_1", "agentId": "agent_1"})
    assert response.status_code == 200
    assert response.json()["call_id"] == "call_get_1"
