"""The stores the workers of one host share without Redis: SQLite in the data directory, and the
SSE session relay over local sockets; and which store the settings pick.

Two store objects over the same database file behave as two worker processes do: each has its
own connection, and only the file is shared.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from toolserver.core.idempotency import idempotency_key
from toolserver.runtime.workers import multi_worker_caveats
from toolserver.settings import load_settings
from toolserver.stores import build_stores
from toolserver.stores.sessions import LocalSessions, node_of
from toolserver.stores.sessions_host import HostSessions
from toolserver.stores.sqlite_shared import (
    SharedDatabase,
    SqliteCounters,
    SqliteIdempotencyStore,
    shared_database_path,
)

pytestmark = pytest.mark.anyio


class Runs:
    """A compute function that counts its runs; it may wait for a gate."""

    def __init__(self, record: bytes = b"outcome", *, keep: bool = True) -> None:
        self.record = record
        self.keep = keep
        self.count = 0
        self.started = anyio.Event()
        self.gate: anyio.Event | None = None

    async def __call__(self) -> tuple[bytes, bool]:
        self.count += 1
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        return self.record, self.keep


def workers(path: Path, count: int = 2, **options: float) -> list[SqliteIdempotencyStore]:
    return [
        SqliteIdempotencyStore(SharedDatabase(path), poll_interval=(0.005, 0.02), **options)
        for _ in range(count)
    ]


async def test_concurrent_copies_on_two_workers_run_once(tmp_path: Path) -> None:
    stores = workers(tmp_path / "shared.sqlite3")
    runs = Runs()
    runs.gate = anyio.Event()
    outcomes: list[tuple[bytes, bool]] = []

    async def copy(store: SqliteIdempotencyStore) -> None:
        outcomes.append(await store.run_once("key", runs))

    async with anyio.create_task_group() as tg:
        for index in range(10):
            tg.start_soon(copy, stores[index % 2])
        await runs.started.wait()
        await anyio.sleep(0.05)
        runs.gate.set()
    assert runs.count == 1
    assert sorted(outcomes) == [(b"outcome", False)] + [(b"outcome", True)] * 9
    assert await stores[1].run_once("key", Runs(b"other")) == (b"outcome", True)
    for store in stores:
        await store.aclose()


async def test_outcomes_a_retry_may_change_reach_only_the_waiting_copies(tmp_path: Path) -> None:
    first, second = workers(tmp_path / "shared.sqlite3")
    timed_out = Runs(b"timed out", keep=False)
    timed_out.gate = anyio.Event()
    waited: list[tuple[bytes, bool]] = []

    async def waiter() -> None:
        waited.append(await second.run_once("key", Runs(b"never")))

    async with anyio.create_task_group() as tg:
        tg.start_soon(first.run_once, "key", timed_out)
        await timed_out.started.wait()
        tg.start_soon(waiter)
        await anyio.sleep(0.1)
        timed_out.gate.set()
    assert waited == [(b"timed out", True)]
    retried = Runs(b"second try")
    assert await second.run_once("key", retried) == (b"second try", False)
    assert retried.count == 1


async def test_a_dead_workers_running_entry_expires_with_its_lease(tmp_path: Path) -> None:
    dead, alive = workers(tmp_path / "shared.sqlite3", lease=0.3)
    await dead.take("key", b"0" * 32, 0.3)  # taken by a worker that then died: never renewed
    runs = Runs()
    assert await alive.run_once("key", runs) == (b"outcome", False)
    assert runs.count == 1


async def test_a_cancelled_owner_frees_the_key(tmp_path: Path) -> None:
    (store,) = workers(tmp_path / "shared.sqlite3", count=1)
    runs = Runs()
    runs.gate = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(store.run_once, "key", runs)
        await runs.started.wait()
        tg.cancel_scope.cancel()
    assert await store.peek("key") is None
    assert await store.run_once("key", Runs(b"retried")) == (b"retried", False)


async def test_rate_windows_and_slots_are_shared(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    a, b = SqliteCounters(SharedDatabase(path)), SqliteCounters(SharedDatabase(path))
    assert (await a.hit("w", 60))[0] == 1
    assert (await b.hit("w", 60))[0] == 2
    count, remaining = await a.hit("w", 60)
    assert count == 3 and 0 < remaining <= 60
    first = await a.acquire("slots", 2, lease=60)
    assert first is not None and await b.acquire("slots", 2, lease=60) is not None
    assert await a.acquire("slots", 2, lease=60) is None
    await b.release("slots", first)
    assert await a.acquire("slots", 2, lease=60) is not None
    # A holder that never releases (a worker killed mid-call) loses its slot with its lease.
    assert await a.acquire("leased", 1, lease=0.2) is not None
    with anyio.fail_after(10):
        while await b.acquire("leased", 1, lease=60) is None:
            await anyio.sleep(0.05)


async def test_the_key_of_a_call_includes_its_caller() -> None:
    mine = idempotency_key("call-1", "book", {"day": "mon"}, principal="key-a")
    assert idempotency_key("call-1", "book", {"day": "mon"}, principal="key-b") != mine
    assert idempotency_key("call-1", "book", {"day": "mon"}, principal="key-a") == mine


# -- which store, and what is said at start ------------------------------------------------------


def test_the_store_follows_the_settings(tmp_path: Path) -> None:
    one = build_stores(load_settings(data_dir=tmp_path))
    assert one.kind == "memory" and isinstance(one.sessions, LocalSessions)
    several = build_stores(load_settings(data_dir=tmp_path, workers=2))
    assert several.kind == "sqlite" and several.shared
    assert isinstance(several.idempotency, SqliteIdempotencyStore)
    assert isinstance(several.sessions, HostSessions)
    assert several.idempotency.database.path == shared_database_path(tmp_path)
    assert not several.idempotency.database.path.exists()  # opened on first use, not at build
    forced = build_stores(load_settings(data_dir=tmp_path, workers=2, store="memory"))
    assert forced.kind == "memory"


def test_several_workers_warn_only_about_what_is_still_per_process(tmp_path: Path) -> None:
    assert multi_worker_caveats(load_settings(data_dir=tmp_path, workers=2), 2) == []
    memory = multi_worker_caveats(load_settings(data_dir=tmp_path, store="memory"), 2)
    assert len(memory) == 1 and "TOOLSERVER_STORE=memory" in memory[0]
    sessions = load_settings(data_dir=tmp_path, blackbox_token="t", workers=2)
    assert any("/sessions" in caveat for caveat in multi_worker_caveats(sessions, 2))
    assert multi_worker_caveats(sessions, 1) == []


# -- the SSE relay between the workers of one host -----------------------------------------------


async def test_workers_relay_messages_to_the_node_holding_the_session(tmp_path: Path) -> None:
    holder, other = HostSessions(tmp_path), HostSessions(tmp_path)
    delivered: list[tuple[str, str | None, bytes]] = []
    session_id = holder.new_session_id()

    async def deliver(sid: str, principal: str | None, body: bytes) -> bool:
        delivered.append((sid, principal, body))
        return sid == session_id and principal == "key-a"

    async def refuse(sid: str, principal: str | None, body: bytes) -> bool:
        return False

    await holder.start(deliver)
    await other.start(refuse)
    try:
        assert node_of(session_id) == holder.node and holder.is_local(session_id)
        assert not other.is_local(session_id)
        for n in range(3):  # connections are kept and reused
            assert await other.relay(session_id, "key-a", b'{"n": %d}' % n)
        assert not await other.relay(session_id, "key-b", b"{}")  # another key: as if unknown
        assert delivered[0] == (session_id, "key-a", b'{"n": 0}')
        # A node nobody holds, a malformed id: no such session.
        assert not await other.relay("deadbeef" + "0" * 24, "key-a", b"{}")
        assert not await other.relay("../../x", "key-a", b"{}")
        # A worker that is gone takes its sessions with it.
        await holder.aclose()
        assert not await other.relay(session_id, "key-a", b"{}")
    finally:
        await holder.aclose()
        await other.aclose()


async def test_relays_of_different_data_directories_do_not_meet(tmp_path: Path) -> None:
    mine, theirs = HostSessions(tmp_path / "a"), HostSessions(tmp_path / "b")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    seen: list[str] = []

    async def deliver(sid: str, principal: str | None, body: bytes) -> bool:
        seen.append(sid)
        return True

    await mine.start(deliver)
    try:
        session_id = mine.new_session_id()
        assert not await theirs.relay(session_id, None, b"{}")
        assert seen == []
    finally:
        await mine.aclose()
        await theirs.aclose()
