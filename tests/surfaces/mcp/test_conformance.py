"""The official MCP conformance suite against ``/mcp``, and a reading of its individual checks.

The suite exits 0 only if every scenario passes except those in
``conformance-expected-failures.yml`` (features deliberately not offered), and fails on a listed
scenario that starts passing. Its summary alone says too little: a scenario can show as passed
with no successful check at all, and some tool scenarios would pass against a server lacking the
fixture tool, since an error result is still a result. So the checks each scenario recorded are
read too: every passing scenario must have succeeded at something, and the checks of every
feature offered must have succeeded by name.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import ServerProcess, log_dir, running_server
from tests.surfaces.mcp.conftest import NODE_CLIENTS, node

HERE = Path(__file__).resolve().parent
EXPECTED_FAILURES = HERE / "conformance-expected-failures.yml"
FIXTURES = HERE.parents[1] / "fixtures" / "conformance_plugin"
CLI = NODE_CLIENTS / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"

#: Checks that must have succeeded: the features toolserver offers, each proven by name.
REQUIRED_CHECKS = {
    "server-initialize",
    "logging-set-level",
    "ping",
    "tools-list",
    "tools-call-simple-text",
    "tools-call-image",
    "tools-call-audio",
    "tools-call-embedded-resource",
    "tools-call-mixed-content",
    "tools-call-with-logging",
    "tools-call-error",
    "tools-call-with-progress",
    "localhost-host-rebinding-rejected",
    "localhost-host-valid-accepted",
}


@pytest.fixture(scope="module")
def conformance_server() -> Iterator[ServerProcess]:
    # The suite's client sends no credentials, and its DNS-rebinding scenario is written for a
    # localhost server without authentication.
    with running_server(
        {"TOOLSERVER_AUTH_DISABLED": "true"}, plugins_dir=FIXTURES, api_key=None
    ) as srv:
        yield srv


def expected_failures() -> set[str]:
    """The ``server:`` list of the expected-failures file (a flat YAML list, read without YAML)."""
    names = set()
    for line in EXPECTED_FAILURES.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("- "):
            names.add(line[2:].strip())
    return names


def scenario_checks(results: Path) -> dict[str, list[dict]]:
    """Each scenario's checks, from ``<results>/server-<scenario>-<timestamp>/checks.json``."""
    checks: dict[str, list[dict]] = {}
    for path in sorted(results.glob("server-*/checks.json")):
        match = re.fullmatch(r"server-(.+)-\d{4}-\d\d-\d\dT[\d-]+Z", path.parent.name)
        assert match, path
        scenario = match.group(1)
        checks[scenario] = json.loads(path.read_text())
    return checks


def test_conformance_suite(conformance_server: ServerProcess, tmp_path: Path) -> None:
    results = tmp_path / "results"
    done = subprocess.run(
        [
            str(node()),
            str(CLI),
            "server",
            "--url",
            f"{conformance_server.base_url}/mcp",
            "--expected-failures",
            str(EXPECTED_FAILURES),
            "--output-dir",
            str(results),
        ],
        cwd=NODE_CLIENTS,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = log_dir() / f"conformance-{conformance_server.port}.txt"
    report.write_text(done.stdout + done.stderr)
    assert done.returncode == 0, f"conformance run failed, see {report}:\n{done.stdout[-4000:]}"

    checks = scenario_checks(results)
    # As the CLI counts them: a failed or a warning check fails the scenario.
    failed = {
        name
        for name, found in checks.items()
        if any(c["status"] in ("FAILURE", "WARNING") for c in found)
    }
    assert failed == expected_failures()
    passed = set(checks) - failed
    vacuous = {name for name in passed if not any(c["status"] == "SUCCESS" for c in checks[name])}
    assert not vacuous
    succeeded = {c["id"] for found in checks.values() for c in found if c["status"] == "SUCCESS"}
    assert REQUIRED_CHECKS <= succeeded, REQUIRED_CHECKS - succeeded
    print(f"conformance: {len(passed)} of {len(checks)} scenarios passed")
