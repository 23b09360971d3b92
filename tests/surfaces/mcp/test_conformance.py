"""The official MCP conformance suite against ``/mcp``, and a reading of its individual checks.

Two releases run: the stable 0.1.x line (its active suite), and the newest 0.2.x prerelease
(``conformance-next`` in tests/clients/node/package.json), whose whole suite runs at each
specification version it knows, 2025-11-25 and the sessionless 2026-07-28; it checks the newest
features: JSON Schema 2020-12 keywords kept in a tool's schema, SEP-2243 routing headers
(whitespace around ``Mcp-Name``, arguments mirrored into ``Mcp-Param-*`` headers).

Each run exits 0 only if every scenario passes except what its expected-failures file lists
(features deliberately not offered: ``conformance-expected-failures.yml`` for 0.1.x,
``conformance-0.2-expected-failures.yml`` for 0.2.x, which can also name single checks), and fails
on a listed scenario that starts passing. Its summary alone says too little: a scenario can show as passed
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
NEXT_EXPECTED_FAILURES = HERE / "conformance-0.2-expected-failures.yml"
FIXTURES = HERE.parents[1] / "fixtures" / "conformance_plugin"
CLI = NODE_CLIENTS / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
NEXT_CLI = NODE_CLIENTS / "node_modules" / "conformance-next" / "dist" / "index.js"

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


#: What the 0.2.x suite must have seen succeed: every check about tools, by name.
NEXT_REQUIRED_CHECKS = {
    "tools-list",
    "tools-name-format",
    "tools-call-simple-text",
    "tools-call-image",
    "tools-call-audio",
    "tools-call-embedded-resource",
    "tools-call-mixed-content",
    "tools-call-error",
    "tools-call-with-progress",
    "json-schema-2020-12-tool-found",
    "json-schema-2020-12-$schema",
    "json-schema-2020-12-$defs",
    "json-schema-2020-12-additionalProperties",
    "sep-2106-anchor-keyword-preserved",
    "sep-2106-composition-keywords-preserved",
    "sep-2106-conditional-keywords-preserved",
    "wire-schema-valid",
}
NEXT_REQUIRED_BY_VERSION = {
    "2025-11-25": {"tools-call-with-logging", "server-initialize", "ping", "logging-set-level"},
    "2026-07-28": {
        "tools-list-deterministic-order",
        "sep-2243-server-accepts-whitespace-header-value",
        "sep-2243-header-name-case-insensitive",
        "sep-2243-server-decode-base64",
        "sep-2243-server-validate-param-match",
        "sep-2243-server-reject-invalid-param-chars",
        "sep-2243-server-reject-param-mismatch",
        "sep-2243-server-reject-invalid-headers",
        "sep-2243-server-reject-error-code",
        "sep-2575-server-no-log-without-loglevel",
    },
}
#: Scenarios that have nothing to check on a stateless server (they report only that there is no
#: session), so they pass without a successful check.
NOT_APPLICABLE = {"server-session-lifecycle"}


@pytest.fixture(scope="module")
def conformance_server() -> Iterator[ServerProcess]:
    # The suite's client sends no credentials, and its DNS-rebinding scenario is written for a
    # localhost server without authentication.
    with running_server(
        {"TOOLSERVER_AUTH_DISABLED": "true"}, plugins_dir=FIXTURES, api_key=None
    ) as srv:
        yield srv


def expected_failures(path: Path = EXPECTED_FAILURES) -> set[str]:
    """The ``server:`` list of an expected-failures file (a flat YAML list, read without YAML)."""
    names = set()
    for line in path.read_text().splitlines():
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


@pytest.mark.parametrize("spec_version", ["2025-11-25", "2026-07-28"])
def test_conformance_next_suite(
    conformance_server: ServerProcess, tmp_path: Path, spec_version: str
) -> None:
    results = tmp_path / "results"
    done = subprocess.run(
        [
            str(node()),
            str(NEXT_CLI),
            "server",
            "--url",
            f"{conformance_server.base_url}/mcp",
            "--suite",
            "all",
            "--spec-version",
            spec_version,
            "--expected-failures",
            str(NEXT_EXPECTED_FAILURES),
            "--output-dir",
            str(results),
        ],
        cwd=NODE_CLIENTS,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = log_dir() / f"conformance-next-{spec_version}-{conformance_server.port}.txt"
    report.write_text(done.stdout + done.stderr)
    assert done.returncode == 0, f"conformance run failed, see {report}:\n{done.stdout[-4000:]}"

    checks = scenario_checks(results)
    listed = expected_failures(NEXT_EXPECTED_FAILURES)
    failing = {
        name: {c["id"] for c in found if c["status"] in ("FAILURE", "WARNING")}
        for name, found in checks.items()
    }
    for name, ids in failing.items():
        for check in ids:  # the CLI has judged them; this says which entry covers each
            assert name in listed or f"{name}:{check}" in listed, (name, check)
    # Every scenario about tools passes, but for the two whose tool asks the client something
    # (sampling, elicitation: server-to-client requests, not offered).
    tools = {
        name
        for name in checks
        if name.startswith(("tools-", "json-schema", "http-")) and name not in listed
    }
    assert tools and not any(failing[name] for name in tools), "every scenario about tools passes"
    passed = {name for name, ids in failing.items() if not ids}
    vacuous = {
        name for name in passed if not any(c["status"] == "SUCCESS" for c in checks[name])
    }
    assert vacuous <= NOT_APPLICABLE
    succeeded = {c["id"] for found in checks.values() for c in found if c["status"] == "SUCCESS"}
    required = NEXT_REQUIRED_CHECKS | NEXT_REQUIRED_BY_VERSION[spec_version]
    assert required <= succeeded, required - succeeded
    print(f"conformance 0.2 at {spec_version}: {len(passed)} of {len(checks)} scenarios passed")
