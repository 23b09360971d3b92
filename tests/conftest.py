"""Shared fixtures: the anyio backend for async tests (session-wide, so module- and
session-scoped async fixtures can use it too)."""

import pytest


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"
