"""The SQLite result outbox: the outbox contract, a file shared by two handles (two processes of
one machine), and nothing created before first use."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.stores.outbox_contract import CONTRACT, PAYLOAD
from toolserver.core.outbox import ResultOutbox
from toolserver.stores.sqlite import SqliteOutbox

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("check", CONTRACT, ids=lambda c: c.__name__)
async def test_the_outbox_contract(
    tmp_path: Path, check: Callable[[ResultOutbox], Awaitable[None]]
) -> None:
    outbox = SqliteOutbox(tmp_path / "results.sqlite3")
    try:
        await check(outbox)
    finally:
        await outbox.aclose()


async def test_two_handles_on_one_file_share_the_jobs(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite3"
    first, second = SqliteOutbox(path), SqliteOutbox(path)
    try:
        assert await first.add("c1", "CompletedWebHookPayload", ["a.one"], PAYLOAD, b"{}") == 1
        assert await second.add("c1", "CompletedWebHookPayload", ["a.one"], PAYLOAD, b"{}") == 0
        (job,) = await second.claim(10, 30.0)
        assert await first.claim(10, 30.0) == []
        await second.done(job)
        assert await first.pending() == 0
    finally:
        await first.aclose()
        await second.aclose()


async def test_nothing_is_created_before_first_use(tmp_path: Path) -> None:
    outbox = SqliteOutbox(tmp_path / "data" / "results.sqlite3")
    await outbox.aclose()
    assert not (tmp_path / "data").exists()
    await outbox.ping()
    assert (tmp_path / "data" / "results.sqlite3").exists()
    await outbox.aclose()


async def test_finished_jobs_drop_their_payload(tmp_path: Path) -> None:
    import sqlite3

    outbox = SqliteOutbox(tmp_path / "results.sqlite3")
    await outbox.add("c1", "CompletedWebHookPayload", ["a.one"], PAYLOAD, b'{"x":1}')
    (job,) = await outbox.claim(1, 30.0)
    await outbox.done(job)
    await outbox.aclose()
    with sqlite3.connect(tmp_path / "results.sqlite3") as conn:
        assert conn.execute("SELECT payload, call_state, done FROM result_jobs").fetchall() == [
            (None, None, 1)
        ]
