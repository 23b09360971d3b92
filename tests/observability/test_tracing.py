"""Tracing: one OpenTelemetry span per tool call, exported over OTLP/HTTP to a receiver the test
runs, and nothing of OpenTelemetry's SDK loaded when the ``OTEL_*`` variables ask for no traces."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from toolserver import Plugin, ToolError
from toolserver.observability.tracing import tracing_enabled
from toolserver.testing import serve_plugins

REPO = Path(__file__).resolve().parents[2]

desk = Plugin("desk")


@desk.tool
async def find_ticket(number: int) -> dict:
    """Find a repair ticket.

    Args:
        number: The ticket number.
    """
    if number == 404:
        raise ToolError("There is no such ticket.")
    return {"number": number, "status": "open"}


class Receiver:
    """An OTLP/HTTP receiver: ``POST /v1/traces`` with a protobuf ``ExportTraceServiceRequest``."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        self.resources: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 -- the stdlib's name
                from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
                    ExportTraceServiceRequest,
                )

                body = self.rfile.read(int(self.headers["content-length"]))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                with receiver.lock:
                    for resource_spans in request.resource_spans:
                        resource = _attributes(resource_spans.resource.attributes)
                        for scope_spans in resource_spans.scope_spans:
                            for span in scope_spans.spans:
                                receiver.spans.append((self.path, span))
                                receiver.resources.append(resource)
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def _attributes(pairs: Any) -> dict[str, Any]:
    out = {}
    for pair in pairs:
        value = pair.value
        out[pair.key] = getattr(value, value.WhichOneof("value")) if value.WhichOneof("value") else None
    return out


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    with Receiver() as running:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", running.url)
        monkeypatch.setenv("OTEL_SERVICE_NAME", "toolserver-under-test")
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
        yield running


@pytest.mark.anyio
async def test_every_call_on_every_surface_is_one_span(receiver: Receiver) -> None:
    async with serve_plugins(desk) as server:
        assert (await server.call_webhook("find_ticket", {"number": 7}, call_id="call_t1")).ok
        assert (await server.call_mcp("find_ticket", {"number": 8}, call_id="call_t1")).ok
        assert (await server.call_websocket("find_ticket", {"number": 9}, call_id="call_t1")).ok
        assert not (await server.call_webhook("find_ticket", {"number": 404}, call_id="call_t2")).ok
    # Leaving the block stopped the server, which flushed the exporter.

    assert {path for path, _ in receiver.spans} == {"/v1/traces"}
    spans = [span for _, span in receiver.spans]
    assert len(spans) == 4
    by_surface = {}
    for span in spans:
        attributes = _attributes(span.attributes)
        assert span.name == "execute_tool find_ticket"
        assert attributes["toolserver.tool"] == "find_ticket"
        assert attributes["gen_ai.tool.name"] == "find_ticket"
        assert span.end_time_unix_nano >= span.start_time_unix_nano > 0
        by_surface.setdefault(attributes["toolserver.surface"], []).append(attributes)
    assert sorted(by_surface) == ["mcp", "webhook", "websocket"]
    ok = [a for group in by_surface.values() for a in group if a["toolserver.outcome"] == "ok"]
    assert [a["toolserver.call_id"] for a in ok] == ["call_t1"] * 3
    [failed] = [a for a in by_surface["webhook"] if a["toolserver.outcome"] == "error"]
    assert failed["toolserver.call_id"] == "call_t2"
    assert failed["toolserver.error_kind"] == "tool_error"
    failed_span = next(s for s in spans if _attributes(s.attributes)["toolserver.outcome"] == "error")
    assert failed_span.status.code == 2  # STATUS_CODE_ERROR
    assert receiver.resources[0]["service.name"] == "toolserver-under-test"


def test_tracing_follows_the_standard_variables() -> None:
    assert not tracing_enabled({})
    assert tracing_enabled({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing_enabled({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"})
    assert tracing_enabled({"OTEL_TRACES_EXPORTER": "otlp"})
    assert not tracing_enabled({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "x"})
    assert not tracing_enabled({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "x"})


def test_without_otel_variables_the_sdk_is_never_imported(tmp_path: Path) -> None:
    env = {
        k: v for k, v in __import__("os").environ.items()
        if not k.startswith(("TOOLSERVER_", "OTEL_"))
    }  # fmt: skip
    env.update(
        TOOLSERVER_PLUGINS_DIR=str(REPO / "bench" / "plugins"),
        TOOLSERVER_ENTRY_POINTS="false",
        TOOLSERVER_API_KEYS="tracing-off-key-1234",
        TOOLSERVER_DATA_DIR=str(tmp_path),
    )
    probe = (
        "from toolserver.app import create_app\ncreate_app()\nimport sys, json\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('opentelemetry.sdk'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=120, check=True,
    )  # fmt: skip
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
