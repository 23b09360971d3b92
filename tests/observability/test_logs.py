"""Logging: one configuration for structlog and the standard library, with secret redaction."""

from __future__ import annotations

import datetime
import io
import json
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from tests.support.logs import restored_logging
from toolserver.observability.logs import (
    REDACTED,
    _iso_timestamp,
    configure_logging,
    redact_secrets,
)

SECRET = "sk-live-5f3c9a"
OTHER = "hunter2-signing"

@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    with restored_logging():
        yield


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.fixture
def stream() -> io.StringIO:
    out = io.StringIO()
    configure_logging(fmt="json", level="debug", secrets=[SECRET, OTHER, ""], stream=out)
    return out


def test_json_lines(stream: io.StringIO) -> None:
    structlog.get_logger("toolserver.test").info("server.started", port=8000)
    (line,) = json_lines(stream)
    assert line["event"] == "server.started"
    assert line["port"] == 8000
    assert line["level"] == "info"
    assert line["logger"] == "toolserver.test"
    assert line["timestamp"].endswith("Z")


def test_secret_in_an_event_field(stream: io.StringIO) -> None:
    log = structlog.get_logger("toolserver.test")
    log.info(f"key is {SECRET}", header=f"Bearer {SECRET}", count=3)
    (line,) = json_lines(stream)
    assert line["event"] == f"key is {REDACTED}"
    assert line["header"] == f"Bearer {REDACTED}"
    assert line["count"] == 3
    assert SECRET not in stream.getvalue()


def test_secret_in_nested_values(stream: io.StringIO) -> None:
    log = structlog.get_logger("toolserver.test")
    log.info(
        "request",
        headers={"x-api-key": SECRET, "nested": {"deeper": [f"sig={OTHER}", 1]}},
        values=(SECRET, "plain"),
    )
    (line,) = json_lines(stream)
    assert line["headers"] == {"x-api-key": REDACTED, "nested": {"deeper": [f"sig={REDACTED}", 1]}}
    assert line["values"] == [REDACTED, "plain"]
    assert SECRET not in stream.getvalue()
    assert OTHER not in stream.getvalue()


def test_secret_in_an_exception(stream: io.StringIO) -> None:
    log = structlog.get_logger("toolserver.test")
    try:
        raise ValueError(f"bad key {SECRET}")
    except ValueError as exc:
        log.exception("call.failed")
        log.error("call.failed.again", exc_info=exc)
        log.error("error.as.field", error=exc)
    lines = json_lines(stream)
    assert len(lines) == 3
    assert "ValueError" in lines[0]["exception"]
    assert f"bad key {REDACTED}" in lines[0]["exception"]
    assert f"bad key {REDACTED}" in lines[1]["exception"]
    assert lines[2]["error"] == f"ValueError('bad key {REDACTED}')"
    assert SECRET not in stream.getvalue()


def test_stdlib_records_use_the_same_formatter_and_redaction(stream: io.StringIO) -> None:
    logging.getLogger("uvicorn.error").warning("client sent %s", SECRET)
    try:
        raise RuntimeError(OTHER)
    except RuntimeError:
        logging.getLogger("some.library").exception("library failed")
    first, second = json_lines(stream)
    assert first["event"] == f"client sent {REDACTED}"
    assert first["logger"] == "uvicorn.error"
    assert first["level"] == "warning"
    assert "timestamp" in first
    assert second["logger"] == "some.library"
    assert "RuntimeError" in second["exception"]
    assert SECRET not in stream.getvalue()
    assert OTHER not in stream.getvalue()


def test_longer_secrets_are_replaced_first() -> None:
    out = io.StringIO()
    configure_logging(fmt="json", secrets=["abc", "abcdef"], stream=out)
    structlog.get_logger("t").info("x", value="abcdef abc")
    (line,) = json_lines(out)
    assert line["value"] == f"{REDACTED} {REDACTED}"


def test_level_filtering() -> None:
    out = io.StringIO()
    configure_logging(fmt="json", level="warning", stream=out)
    log = structlog.get_logger("toolserver.test")
    log.info("dropped")
    logging.getLogger("uvicorn.error").info("dropped too")
    log.warning("kept")
    assert [line["event"] for line in json_lines(out)] == ["kept"]


def test_chatty_libraries_stay_at_warning_unless_debugging() -> None:
    out = io.StringIO()
    configure_logging(fmt="json", level="info", stream=out)
    logging.getLogger("mcp.server").info("a line per request")
    logging.getLogger("httpx").info("a line per request")
    logging.getLogger("mcp.server").warning("worth seeing")
    assert [line["event"] for line in json_lines(out)] == ["worth seeing"]

    configure_logging(fmt="json", level="debug", stream=out)
    assert logging.getLogger("mcp").level == logging.WARNING
    configure_logging(fmt="json", level="error", stream=out)
    assert logging.getLogger("mcp").level == logging.ERROR


def test_one_handler_and_library_loggers_propagate() -> None:
    uvicorn = logging.getLogger("uvicorn.access")
    uvicorn.addHandler(logging.StreamHandler(io.StringIO()))
    uvicorn.propagate = False
    configure_logging(fmt="json", stream=io.StringIO())
    assert len(logging.getLogger().handlers) == 1
    assert uvicorn.handlers == []
    assert uvicorn.propagate is True


def test_console_format_is_redacted_too() -> None:
    out = io.StringIO()
    configure_logging(fmt="console", secrets=[SECRET], stream=out)
    structlog.get_logger("toolserver.test").info("hello", key=SECRET)
    text = out.getvalue()
    assert "hello" in text
    assert REDACTED in text
    assert SECRET not in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_format_picks_by_stream() -> None:
    pipe = io.StringIO()
    configure_logging(stream=pipe)
    structlog.get_logger("t").info("piped")
    assert json_lines(pipe)[0]["event"] == "piped"

    terminal = Terminal()
    configure_logging(stream=terminal)
    structlog.get_logger("t").info("interactive")
    assert "interactive" in terminal.getvalue()
    with pytest.raises(json.JSONDecodeError):
        json.loads(terminal.getvalue().splitlines()[0])


def test_without_secrets_events_pass_unchanged() -> None:
    redact_secrets.secrets = ()
    event = {"event": "x", "nested": {"a": "b"}}
    assert redact_secrets(None, "info", event) is event


def test_redactor_leaves_other_values_alone() -> None:
    redact_secrets.secrets = ("s3cret",)
    event = {"n": 5, "f": 1.5, "none": None, "flag": True, "s": "a s3cret b"}
    assert redact_secrets(None, "info", event) == {
        "n": 5,
        "f": 1.5,
        "none": None,
        "flag": True,
        "s": f"a {REDACTED} b",
    }


def test_uvicorn_access_log_is_off_unless_asked_for() -> None:
    out = io.StringIO()
    configure_logging(fmt="json", stream=out)
    logging.getLogger("uvicorn.access").info("GET / 200")
    assert json_lines(out) == []

    configure_logging(fmt="json", stream=out, access_log=True)
    logging.getLogger("uvicorn.access").info("GET / 200")
    assert [line["event"] for line in json_lines(out)] == ["GET / 200"]


def test_the_timestamp_is_what_structlogs_iso_stamper_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ours = _iso_timestamp(None, "info", {})["timestamp"]
    theirs = structlog.processors.TimeStamper(fmt="iso", utc=True)(None, "info", {})["timestamp"]
    shape = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"
    assert re.fullmatch(shape, ours) and re.fullmatch(shape, theirs)

    def instant(stamp: str) -> datetime.datetime:
        return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))

    assert abs((instant(theirs) - instant(ours)).total_seconds()) < 1.0
    # Across a second's turn, and at a whole second (six digits, where isoformat writes none).
    stamper = type(_iso_timestamp)()
    for moment in (1_700_000_000.0, 1_700_000_000.999999, 1_700_000_001.5):
        monkeypatch.setattr(time, "time", lambda moment=moment: moment)  # the clock only
        stamp = stamper(None, "info", {})["timestamp"]
        expected = datetime.datetime.fromtimestamp(moment, datetime.timezone.utc)
        assert re.fullmatch(shape, stamp)
        assert abs((instant(stamp) - expected).total_seconds()) < 1e-5

