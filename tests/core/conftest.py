"""Shared fixtures for the core tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.logs import LogCapture, capture_logs


@pytest.fixture
def log_capture() -> Iterator[LogCapture]:
    """JSON logging into a buffer; the logging setup is restored afterwards."""
    with capture_logs() as capture:
        yield capture
