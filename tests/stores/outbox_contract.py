"""What every result outbox must do, run against each store (SQLite here, Redis in
tests/production/test_redis_outbox.py).

Leases are short and the waits longer than them; nothing asserts on how long anything took.
"""

from __future__ import annotations

import anyio

from toolserver.core.outbox import ResultOutbox

LEASE = 0.3
PAYLOAD = b'{"type":"CompletedWebHookPayload","callId":"c1"}'


async def a_result_is_stored_once_per_hook(outbox: ResultOutbox) -> None:
    assert await outbox.add("c1", "CompletedWebHookPayload", ["a.one", "b.two"], PAYLOAD, b"{}") == 2
    assert await outbox.add("c1", "CompletedWebHookPayload", ["a.one", "b.two"], PAYLOAD, b"{}") == 0
    # Another result type of the same call is another job.
    assert await outbox.add("c1", "FailedWebHookPayload", ["a.one"], PAYLOAD, b"{}") == 1
    assert await outbox.pending() == 3


async def a_claimed_job_is_not_handed_out_twice(outbox: ResultOutbox) -> None:
    await outbox.add("c2", "CompletedWebHookPayload", ["a.one"], PAYLOAD, b'{"tier":"gold"}')
    first = await outbox.claim(10, 30.0)
    assert [(j.call_id, j.hook, j.attempts) for j in first] == [("c2", "a.one", 0)]
    assert first[0].payload == PAYLOAD and first[0].call_state == b'{"tier":"gold"}'
    assert await outbox.claim(10, 30.0) == []
    await outbox.done(first[0])
    assert await outbox.pending() == 0
    assert await outbox.claim(10, 30.0) == []
    # A result sent again after its hooks ran is still known.
    assert await outbox.add("c2", "CompletedWebHookPayload", ["a.one"], PAYLOAD, b"{}") == 0


async def a_job_whose_claim_ran_out_is_taken_over(outbox: ResultOutbox) -> None:
    await outbox.add("c3", "CompletedWebHookPayload", ["a.one"], PAYLOAD, b"{}")
    (lost,) = await outbox.claim(10, LEASE)  # its holder dies: nobody renews
    await anyio.sleep(LEASE * 3)
    (taken,) = await outbox.claim(10, 30.0)
    assert taken.attempts == 1 and taken.token != lost.token
    assert not await outbox.renew(lost, 30.0)  # the old holder lost it
    await outbox.retry(lost, 0.0, "late")  # and cannot reschedule it either
    assert await outbox.claim(10, 30.0) == []
    assert await outbox.renew(taken, 30.0)
    await outbox.done(taken)
    assert await outbox.pending() == 0


async def a_renewed_claim_is_kept(outbox: ResultOutbox) -> None:
    await outbox.add("c4", "CompletedWebHookPayload", ["a.one"], PAYLOAD, b"{}")
    (job,) = await outbox.claim(10, LEASE * 2)
    for _ in range(4):
        await anyio.sleep(LEASE)
        assert await outbox.renew(job, LEASE * 2)
        assert await outbox.claim(10, 30.0) == []
    await outbox.done(job)


async def a_failed_job_comes_back_after_its_delay(outbox: ResultOutbox) -> None:
    await outbox.add("c5", "CompletedWebHookPayload", ["a.one"], PAYLOAD, b"{}")
    (job,) = await outbox.claim(10, 30.0)
    await outbox.retry(job, LEASE, "RuntimeError('down')")
    assert await outbox.claim(10, 30.0) == []
    await anyio.sleep(LEASE * 3)
    (again,) = await outbox.claim(10, 30.0)
    assert again.attempts == 1 and again.payload == PAYLOAD
    await outbox.done(again)
    assert await outbox.pending() == 0


async def claims_respect_the_limit(outbox: ResultOutbox) -> None:
    await outbox.add("c6", "CompletedWebHookPayload", [f"p.h{i}" for i in range(5)], PAYLOAD, b"{}")
    first = await outbox.claim(2, 30.0)
    second = await outbox.claim(10, 30.0)
    assert len(first) == 2 and len(second) == 3
    assert {j.hook for j in first} | {j.hook for j in second} == {f"p.h{i}" for i in range(5)}


CONTRACT = [
    a_result_is_stored_once_per_hook,
    a_claimed_job_is_not_handed_out_twice,
    a_job_whose_claim_ran_out_is_taken_over,
    a_renewed_claim_is_kept,
    a_failed_job_comes_back_after_its_delay,
    claims_respect_the_limit,
]
