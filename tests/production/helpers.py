"""Small helpers shared by the production tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.server import ServerProcess


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Poll ``condition`` until it is truthy; fail after ``timeout`` seconds (a bound, not a
    measurement: the tests never assert on how long anything took)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def metrics(server: ServerProcess, headers: dict[str, str] | None = None) -> dict[tuple, float]:
    """``/metrics`` parsed with prometheus_client's parser: {(name, labels...): value}."""
    response = httpx.get(f"{server.base_url}/metrics", headers=headers or {}, timeout=10)
    response.raise_for_status()
    samples: dict[tuple, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, *sorted(sample.labels.items()))] = sample.value
    return samples


def sample(samples: dict[tuple, float], name: str, **labels: str) -> float:
    return samples.get((name, *sorted(labels.items())), 0.0)


def in_flight(server: ServerProcess) -> float:
    return sample(metrics(server), "toolserver_tool_calls_in_flight")


def payload(tool: str, arguments: dict, call_id: str) -> dict:
    return {
        "type": "ToolWebHookPayload",
        "status": "Running",
        "callId": call_id,
        "agentId": "agent_prod",
        "orgId": "org_prod",
        "toolName": tool,
        "arguments": arguments,
    }
