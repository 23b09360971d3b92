"""BlackBox's start, result and transfer webhooks against a real server process.

The documents' example payloads are posted verbatim (tests/fixtures/blackbox_payloads); every
answer is validated against the documented shape (shapes.py). The hooks are the fixture plugins
in tests/fixtures/call_plugins, which misbehave on request (``callAdditionalData.scenario``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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
    example,
    logged,
    raw_example,
    with_fields,
)

BUDGET = 1.0  # TOOLSERVER_START_BUDGET and TOOLSERVER_TRANSFER_BUDGET of the server below
LATE = 0.5  # the bound: a slow or failing transfer hook is answered within budget + 0.5 s
WAIT = 30.0  # how long a test waits for a result hook (a hung test fails; never a timing check)


@pytest.fixture(scope="module")
def runs_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("calls") / "runs.txt"


@pytest.fixture(scope="module")
def server(runs_file: Path) -> Iterator[ServerProcess]:
    env = {
        "TOOLSERVER_START_BUDGET": str(BUDGET),
        "TOOLSERVER_TRANSFER_BUDGET": str(BUDGET),
        "TOOLSERVER_MAX_BODY_BYTES": "65536",
        "TOOLSERVER_PLUGIN_CALLS_RUNS_FILE": str(runs_file),
    }
    with running_server(env, plugins_dir=CALL_PLUGINS) as srv:
        yield srv


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    headers = {**server.headers, **JSON}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=WAIT) as c:
        yield c


def call_id() -> str:
    return "call_" + uuid.uuid4().hex[:12]


def runs_of(runs_file: Path, cid: str) -> list[str]:
    if not runs_file.exists():
        return []
    return [line for line in runs_file.read_text().splitlines() if line.split(" ", 1)[0] == cid]


def wait_for_runs(runs_file: Path, cid: str, count: int) -> list[str]:
    deadline = time.monotonic() + WAIT
    while len(runs_of(runs_file, cid)) < count:
        assert time.monotonic() < deadline, f"result hook of {cid} did not run {count} time(s)"
        time.sleep(0.05)
    return runs_of(runs_file, cid)


def events_of(
    server: ServerProcess, cid: str, event: str | None = None, count: int = 1
) -> list[dict]:
    """The log events of call ``cid`` (of one kind), once ``count`` of them were written."""
    return logged(
        server, lambda e: e.get("call_id") == cid and event in (None, e.get("event")), count
    )


# -- the documents' payloads, verbatim -------------------------------------------------------


def test_the_documented_start_payload_is_accepted(client: httpx.Client) -> None:
    response = client.post("/blackbox/start", content=raw_example("start_webhook_payload"))
    assert response.status_code == 200
    jsonschema.validate(response.json(), START_ANSWER)
    assert response.json() == {"accept": True, "reasonMessage": None}


def test_the_documented_transfer_payload_gets_a_documented_answer(client: httpx.Client) -> None:
    response = client.post("/blackbox/transfer", content=raw_example("transfer_webhook_payload"))
    assert response.status_code == 200
    jsonschema.validate(response.json(), TRANSFER_ANSWER)
    # The example's call has no scenario: the calls plugin passes, calls_slow declines.
    assert response.json() == {"isSuccess": False, "message": "Nobody is free to take the call."}


def test_the_documented_completed_payload_is_stored_and_its_hook_runs(
    client: httpx.Client, runs_file: Path
) -> None:
    response = client.post("/blackbox/result", content=raw_example("completed_webhook_payload"))
    assert response.status_code == 200
    assert response.json()["ok"] is True
    cid = example("completed_webhook_payload")["callId"]
    run = wait_for_runs(runs_file, cid, 1)[0]
    assert f"{cid}/CompletedWebHookPayload/calls.record_result" in run


@pytest.mark.parametrize("name", ["failed_webhook_payload", "call_deadline_webhook_payload"])
def test_every_result_type_reaches_the_result_hooks(
    client: httpx.Client, runs_file: Path, name: str
) -> None:
    cid = call_id()
    response = client.post("/blackbox/result", content=with_fields(name, callId=cid))
    assert response.status_code == 200
    kind = example(name)["type"]
    assert kind in wait_for_runs(runs_file, cid, 1)[0]


@pytest.mark.parametrize(
    ("scenario", "transfer_type"), [("warm", "warm"), ("cold", "cold"), ("decline", None)]
)
def test_transfer_answers_have_the_documented_shapes(
    client: httpx.Client, scenario: str, transfer_type: str | None
) -> None:
    body = with_fields("transfer_webhook_payload", callAdditionalData={"scenario": scenario})
    answer = client.post("/blackbox/transfer", content=body).json()
    jsonschema.validate(answer, TRANSFER_ANSWER)
    if transfer_type is None:
        assert answer == example("transfer_answer_declined")
    else:
        documented = example(f"transfer_answer_{transfer_type}")
        assert answer["transfer"]["type"] == transfer_type
        assert set(answer["transfer"]) == set(documented["transfer"]) | (
            {"continueAfterOperatorDisconnect"} if transfer_type == "warm" else set()
        )


# -- a transfer is always answered in time ---------------------------------------------------


@pytest.mark.parametrize(
    "scenario",
    ["slow_sync", "slow_async", "raise", "invalid", "not_an_answer"],
    ids=["sleeps-in-a-thread", "sleeps-async", "raises", "invalid-destination", "not-an-answer"],
)
def test_a_failing_transfer_hook_answers_is_success_false_within_the_budget(
    server: ServerProcess, client: httpx.Client, scenario: str
) -> None:
    cid = call_id()
    body = with_fields(
        "transfer_webhook_payload", callId=cid, callAdditionalData={"scenario": scenario}
    )
    started = time.monotonic()
    response = client.post("/blackbox/transfer", content=body)
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    answer = response.json()
    jsonschema.validate(answer, TRANSFER_ANSWER)
    assert answer["isSuccess"] is False
    assert elapsed < BUDGET + LATE, f"answered after {elapsed:.2f}s"
    (event,) = events_of(server, cid, "call.transfer")
    assert event["outcome"] == "failed"
    assert event["failed"][0]["error_kind"] in ("timeout", "exception", "invalid_answer")


def test_without_any_answer_the_transfer_is_declined(client: httpx.Client) -> None:
    body = with_fields("transfer_webhook_payload", callAdditionalData={"scenario": "no_route"})
    answer = client.post("/blackbox/transfer", content=body).json()
    jsonschema.validate(answer, TRANSFER_ANSWER)
    assert answer["isSuccess"] is False


# -- start --------------------------------------------------------------------------------


def test_a_rejection_is_answered_with_its_reason(client: httpx.Client) -> None:
    body = with_fields("start_webhook_payload", callAdditionalData={"scenario": "reject"})
    answer = client.post("/blackbox/start", content=body).json()
    jsonschema.validate(answer, START_ANSWER)
    assert answer == {"accept": False, "reasonMessage": "This number may not call the agent."}


@pytest.mark.parametrize("scenario", ["slow", "raise", "bad"])
def test_a_slow_or_failing_start_hook_gives_the_default_answer_and_is_logged(
    server: ServerProcess, client: httpx.Client, scenario: str
) -> None:
    cid = call_id()
    body = with_fields(
        "start_webhook_payload", callId=cid, callAdditionalData={"scenario": scenario}
    )
    answer = client.post("/blackbox/start", content=body).json()
    assert answer == {"accept": True, "reasonMessage": None}
    (event,) = events_of(server, cid, "call.start")
    assert event["outcome"] == "accepted_by_default"
    assert event["failed"][0]["hook"] == "calls.remember_caller"
    assert event["level"] in ("warning", "error")


def test_the_start_state_is_read_by_later_webhook_tool_calls_of_the_call(
    client: httpx.Client,
) -> None:
    cid = call_id()
    start = with_fields("start_webhook_payload", callId=cid, endpoint="+14155550134")
    assert client.post("/blackbox/start", content=start).json()["accept"] is True
    tool = with_fields("tool_webhook_payload", callId=cid, toolName="whoami", arguments={})
    answer = client.post("/tools/whoami", content=tool).json()
    assert answer["call_state"] == {
        "caller": "+14155550134",
        "greeting": "Hello again",
        "scenario": None,
    }
    assert answer["call_id"] == cid
    # The same call reached by GET (customSettings with httpMethod GET) reads it too.
    by_get = client.get("/tools/whoami", params={"callId": cid, "source": "voice_agent"})
    assert by_get.status_code == 200
    assert by_get.json()["call_state"]["caller"] == "+14155550134"
    # Another call sees nothing.
    other = with_fields("tool_webhook_payload", callId=call_id(), toolName="whoami", arguments={})
    assert client.post("/tools/whoami", content=other).json()["call_state"] == {}


def test_the_result_gets_the_calls_state_and_ends_it(
    client: httpx.Client, runs_file: Path
) -> None:
    cid = call_id()
    client.post("/blackbox/start", content=with_fields("start_webhook_payload", callId=cid))
    client.post(
        "/blackbox/result", content=with_fields("completed_webhook_payload", callId=cid)
    )
    (run,) = wait_for_runs(runs_file, cid, 1)
    assert "'greeting': 'Hello again'" in run
    tool = with_fields("tool_webhook_payload", callId=cid, toolName="whoami", arguments={})
    assert client.post("/tools/whoami", content=tool).json()["call_state"] == {}


# -- result -------------------------------------------------------------------------------


def test_a_result_sent_again_and_again_runs_its_hook_once(
    server: ServerProcess, client: httpx.Client, runs_file: Path
) -> None:
    cid = call_id()
    body = with_fields("completed_webhook_payload", callId=cid)
    with ThreadPoolExecutor(5) as pool:
        responses = list(pool.map(lambda _: client.post("/blackbox/result", content=body), range(5)))
    assert [r.status_code for r in responses] == [200] * 5
    assert sorted(r.json()["outcome"] for r in responses) == ["duplicate"] * 4 + ["stored"]
    wait_for_runs(runs_file, cid, 1)
    time.sleep(1.5)  # a second run would be a bug; give it the time to show (no timing check)
    assert len(runs_of(runs_file, cid)) == 1
    assert len(events_of(server, cid, "call.result", count=5)) == 5  # one log event per webhook


def test_a_result_without_a_call_id_is_refused(client: httpx.Client) -> None:
    body = example("completed_webhook_payload")
    del body["callId"]
    response = client.post("/blackbox/result", json=body)
    assert response.status_code == 400
    jsonschema.validate(response.json(), ERROR)


# -- what every webhook shares with the tool webhooks ----------------------------------------


ROUTES = {
    "/blackbox/start": "start_webhook_payload",
    "/blackbox/result": "completed_webhook_payload",
    "/blackbox/transfer": "transfer_webhook_payload",
}


@pytest.mark.parametrize("path", sorted(ROUTES))
@pytest.mark.parametrize(
    "other",
    [
        "start_webhook_payload",
        "completed_webhook_payload",
        "transfer_webhook_payload",
        "tool_webhook_payload",
    ],
)
def test_a_payload_of_another_route_gets_400(client: httpx.Client, path: str, other: str) -> None:
    if ROUTES[path] == other:
        return
    response = client.post(path, content=raw_example(other))
    assert response.status_code == 400
    jsonschema.validate(response.json(), ERROR)
    assert response.json()["error"]["type"] == "wrong_payload_type"


@pytest.mark.parametrize("name", ["start_webhook_payload", "transfer_webhook_payload"])
def test_a_tool_webhook_refuses_a_call_webhooks_payload(client: httpx.Client, name: str) -> None:
    response = client.post("/tools/whoami", content=raw_example(name))
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "wrong_payload_type"


@pytest.mark.parametrize("path", sorted(ROUTES))
def test_every_call_webhook_needs_the_api_key(server: ServerProcess, path: str) -> None:
    response = httpx.post(server.base_url + path, content=raw_example(ROUTES[path]), headers=JSON)
    assert response.status_code == 401
    jsonschema.validate(response.json(), ERROR)


@pytest.mark.parametrize("path", sorted(ROUTES))
def test_body_limit_invalid_json_and_methods(client: httpx.Client, path: str) -> None:
    too_large = client.post(path, content=b'{"type": "' + b"x" * 70_000 + b'"}')
    assert too_large.status_code == 413
    assert too_large.json()["error"]["type"] == "body_too_large"
    assert client.post(path, content=b"{not json").status_code == 400
    assert client.post(path, content=b"[1, 2]").status_code == 400
    wrong_method = client.get(path)
    assert wrong_method.status_code == 405
    jsonschema.validate(wrong_method.json(), ERROR)


def test_unknown_fields_are_kept_and_ignored(client: httpx.Client) -> None:
    body = with_fields("start_webhook_payload", somethingNew={"nested": [1, 2]}, version=3)
    assert client.post("/blackbox/start", content=body).status_code == 200


def test_call_webhooks_are_counted_in_the_metrics(client: httpx.Client, runs_file: Path) -> None:
    client.post("/blackbox/start", content=raw_example("start_webhook_payload"))
    cid = call_id()  # a result of its own: the test does not rely on another having run first
    client.post("/blackbox/result", content=with_fields("completed_webhook_payload", callId=cid))
    wait_for_runs(runs_file, cid, 1)
    ran = 'toolserver_result_hook_runs_total{hook="calls.record_result",outcome="ok"}'
    deadline = time.monotonic() + WAIT  # the run is counted as the hook returns
    while ran not in (text := client.get("/metrics").text) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert 'toolserver_call_webhooks_total{outcome="accepted",webhook="start"}' in text
    assert "toolserver_call_webhook_duration_seconds_bucket" in text
    assert ran in text


def test_one_log_event_per_call_webhook(server: ServerProcess, client: httpx.Client) -> None:
    cid = call_id()
    client.post("/blackbox/start", content=with_fields("start_webhook_payload", callId=cid))
    client.post("/blackbox/transfer", content=with_fields("transfer_webhook_payload", callId=cid))
    events = [e["event"] for e in events_of(server, cid, count=2)]
    assert events == ["call.start", "call.transfer"]
    (start,) = events_of(server, cid, "call.start")
    assert {"call_id", "agent_id", "duration_ms", "outcome", "hooks"} <= set(start)


def test_rate_limits_count_call_webhooks_under_their_path(tmp_path: Path) -> None:
    env = {"TOOLSERVER_RATE_LIMITS": json.dumps({"/blackbox/transfer": "2/minute", "*": "1/minute"})}
    with running_server(env, plugins_dir=CALL_PLUGINS, data_dir=tmp_path) as srv:
        headers = {**srv.headers, **JSON}
        body = raw_example("transfer_webhook_payload")
        answers = [
            httpx.post(srv.base_url + "/blackbox/transfer", content=body, headers=headers)
            for _ in range(3)
        ]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert int(answers[2].headers["retry-after"]) >= 1
        jsonschema.validate(answers[2].json(), ERROR)
        # "*" is for tools: a start webhook is limited only when named.
        start = raw_example("start_webhook_payload")
        for _ in range(3):
            response = httpx.post(srv.base_url + "/blackbox/start", content=start, headers=headers)
            assert response.status_code == 200


def test_a_failing_result_hook_is_retried_with_backoff_until_it_succeeds(tmp_path: Path) -> None:
    runs = tmp_path / "runs.txt"
    env = {
        "TOOLSERVER_PLUGIN_CALLS_RUNS_FILE": str(runs),
        "TOOLSERVER_PLUGIN_CALLS_FAIL_FIRST": "2",
        "TOOLSERVER_RESULT_RETRY_MAX_DELAY": "1",
    }
    with running_server(env, plugins_dir=CALL_PLUGINS, data_dir=tmp_path / "data") as srv:
        cid = call_id()
        body = with_fields("completed_webhook_payload", callId=cid)
        headers = {**srv.headers, **JSON}
        assert httpx.post(srv.base_url + "/blackbox/result", content=body, headers=headers).json()[
            "outcome"
        ] == "stored"
        (run,) = wait_for_runs(runs, cid, 1)
        hook_events = events_of(srv, cid, "call.result_hook", count=3)
        assert [(e["outcome"], e["attempt"]) for e in hook_events] == [
            ("failed", 1),
            ("failed", 2),
            ("ok", 3),
        ]
        assert hook_events[0]["level"] == "error"
        assert "failing on purpose" in hook_events[0]["exception"]
        assert 0 < hook_events[0]["retry_in_s"] <= 1
        metrics = httpx.get(srv.base_url + "/metrics").text
        assert 'toolserver_result_hook_runs_total{hook="calls.record_result",outcome="failed"} 2.0' in metrics


def test_the_openapi_document_describes_the_call_webhooks_and_get_tools(
    client: httpx.Client,
) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ROUTES:
        operation = paths[path]["post"]
        assert {"200", "400", "401", "413", "429"} <= set(operation["responses"])
    assert "calls.remember_caller" in paths["/blackbox/start"]["post"]["description"]
    get = paths["/tools/typed_echo"]["get"]
    assert [p["name"] for p in get["parameters"]] == [
        "count", "flag", "tags", "filters", "limit", "note", "callId"
    ]  # fmt: skip


def test_a_calls_webhooks_and_tool_calls_form_one_timeline_in_the_call_log(
    client: httpx.Client, runs_file: Path
) -> None:
    cid = call_id()
    start = with_fields("start_webhook_payload", callId=cid, endpoint="+14155550134")
    assert client.post("/blackbox/start", content=start).json()["accept"] is True
    tool = with_fields("tool_webhook_payload", callId=cid, toolName="whoami", arguments={})
    assert client.post("/tools/whoami", content=tool).status_code == 200
    transfer = with_fields("transfer_webhook_payload", callId=cid)
    assert client.post("/blackbox/transfer", content=transfer).status_code == 200
    result = with_fields("completed_webhook_payload", callId=cid)
    assert client.post("/blackbox/result", content=result).json()["ok"] is True

    deadline = time.monotonic() + WAIT  # the call log writes a batch every 50 ms
    while len(entries := client.get(f"/calls/{cid}").json().get("entries", [])) < 4:
        assert time.monotonic() < deadline, entries  # 404 until the first batch is written
        time.sleep(0.05)
    assert [(e["kind"], e["name"]) for e in entries] == [
        ("webhook", "start"),
        ("tool", "whoami"),
        ("webhook", "transfer"),
        ("webhook", "result"),
    ]
    started, _, transferred, ended = entries
    assert started["result"] == {"accept": True, "reasonMessage": None}
    assert started["arguments"]["callId"] == cid
    assert started["arguments"]["endpoint"] == "+14155550134"
    assert started["outcome"] == "ok" and started["surface"] == "webhook"
    assert transferred["result"]["isSuccess"] in (True, False)
    assert ended["result"] == {"ok": True, "outcome": "stored"}
    assert ended["arguments"]["type"] == "CompletedWebHookPayload"
    assert all(e["callId"] == cid and e["durationMs"] >= 0 for e in entries)
