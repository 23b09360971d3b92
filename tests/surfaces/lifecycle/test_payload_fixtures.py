"""The example payloads the tests post are the documents' own, and the answer shapes the tests
check are the documents' too."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tests.surfaces.lifecycle.shapes import PAYLOADS, START_ANSWER, TRANSFER_ANSWER, example

SHARED = Path(__file__).resolve().parents[3].parent / "shared"
DOCS = SHARED / "blackbox-docs"

VERBATIM = {
    "transfer_webhook_payload.json": DOCS / "003_784990348ec00354.txt",
    "transfer_answer_warm.json": DOCS / "003_784990348ec00354.txt",
    "transfer_answer_cold.json": DOCS / "003_784990348ec00354.txt",
    "transfer_answer_declined.json": DOCS / "003_784990348ec00354.txt",
    "transfer_config_http.json": DOCS / "003_784990348ec00354.txt",
    "create_agent_response_example.json": DOCS / "001_cf2a024652fb1cf8.txt",
    "completed_webhook_payload.json": SHARED / "blackbox-protocol.md",
    "tool_webhook_payload.json": SHARED / "blackbox-protocol.md",
}


@pytest.mark.parametrize("name", sorted(VERBATIM))
def test_verbatim_copies_match_the_documents(name: str) -> None:
    source = VERBATIM[name]
    if not source.exists():
        pytest.skip(f"{source} is not beside the repository")
    copy = (PAYLOADS / name).read_text().rstrip("\n")
    assert copy in source.read_text(), f"{name} is no longer the example printed in {source.name}"


def test_every_fixture_is_json_and_named_in_the_readme() -> None:
    readme = (PAYLOADS / "README.md").read_text()
    for path in PAYLOADS.glob("*.json"):
        json.loads(path.read_text())
        assert f"`{path.name}`" in readme, path.name


@pytest.mark.parametrize(
    "name", ["transfer_answer_warm", "transfer_answer_cold", "transfer_answer_declined"]
)
def test_the_documented_transfer_answers_fit_the_schema_the_tests_check(name: str) -> None:
    jsonschema.validate(example(name), TRANSFER_ANSWER)


def test_the_documented_start_fallback_fits_the_start_answer_schema() -> None:
    config = example("create_agent_response_example")["config"]
    jsonschema.validate(config["startWebhook"]["fallbackResponse"], START_ANSWER)
