"""The gateway's wait for a free replica slot: first come, first served, bounded; and the calls
it sends ahead to wait in a busy replica (``model_replica_queue``).

The waiting tests give each replica one slot (no queue in the replica), so that a second call
waits in the gateway."""

from __future__ import annotations

import asyncio

import pytest

from lakeworks.services.platform import Platform
from lakeworks.serving.gateway import Gateway, GatewayError, ReplicaState, Route


def _route(*replicas: ReplicaState) -> Route:
    return Route(
        model_id="m1",
        project_id="p1",
        auth_enabled=False,
        deployment_id="d1",
        build_id="b1",
        timeout=30.0,
        replicas=list(replicas),
    )


@pytest.fixture
def one_slot(platform: Platform) -> Platform:
    platform.settings.model_replica_queue = 0
    return platform


def test_a_freed_slot_goes_to_the_oldest_waiter_not_to_a_newcomer(one_slot: Platform) -> None:
    gateway = Gateway(one_slot)
    replica = ReplicaState("w1", "127.0.0.1:1")
    route = _route(replica)
    order: list[str] = []

    async def call(name: str) -> None:
        held = await gateway.acquire(route, set())
        order.append(name)
        await asyncio.sleep(0)  # let the others queue or arrive while it holds the slot
        gateway.release(route, held)

    async def scenario() -> None:
        first = await gateway.acquire(route, set())
        waiting = [asyncio.create_task(call(f"waiter {i}")) for i in range(3)]
        await asyncio.sleep(0)  # all three queue behind the held slot
        gateway.release(route, first)
        # A newcomer arrives after the release but before the oldest waiter has run.
        newcomer = asyncio.create_task(call("newcomer"))
        await asyncio.gather(*waiting, newcomer)

    asyncio.run(scenario())
    assert order == ["waiter 0", "waiter 1", "waiter 2", "newcomer"]
    assert replica.outstanding == 0


def test_a_waiter_past_the_queue_limit_gets_model_busy_and_leaves_the_queue(
    one_slot: Platform,
) -> None:
    one_slot.settings.model_queue_seconds = 0.05
    gateway = Gateway(one_slot)
    replica = ReplicaState("w1", "127.0.0.1:1")
    route = _route(replica)

    async def scenario() -> None:
        held = await gateway.acquire(route, set())
        with pytest.raises(GatewayError) as busy:
            await gateway.acquire(route, set())
        assert (busy.value.status, busy.value.code) == (429, "model.busy")
        gateway.release(route, held)
        # The expired waiter took no slot: the next request gets the replica at once.
        again = await asyncio.wait_for(gateway.acquire(route, set()), 1.0)
        assert again is replica
        gateway.release(route, again)

    asyncio.run(scenario())
    assert replica.outstanding == 0


def test_a_cancelled_waiter_passes_its_slot_on(one_slot: Platform) -> None:
    gateway = Gateway(one_slot)
    replica = ReplicaState("w1", "127.0.0.1:1")
    route = _route(replica)

    async def scenario() -> None:
        held = await gateway.acquire(route, set())
        gone = asyncio.create_task(gateway.acquire(route, set()))
        patient = asyncio.create_task(gateway.acquire(route, set()))
        await asyncio.sleep(0)
        gateway.release(route, held)  # handed to `gone`, which is cancelled before it runs
        gone.cancel()
        got = await asyncio.wait_for(patient, 1.0)
        assert got is replica and replica.outstanding == 1
        gateway.release(route, got)

    asyncio.run(scenario())
    assert replica.outstanding == 0


def test_a_busy_replica_takes_one_call_ahead_then_calls_wait_in_the_gateway(
    platform: Platform,
) -> None:
    assert platform.settings.model_replica_queue == 1  # the default
    platform.settings.model_queue_seconds = 0.05
    gateway = Gateway(platform)
    idle, busy = ReplicaState("w1", "127.0.0.1:1"), ReplicaState("w2", "127.0.0.1:2")
    route = _route(busy, idle)

    async def scenario() -> None:
        running = await gateway.acquire(route, set())
        assert running is busy  # the first of two idle replicas
        # The least busy replica first: the idle one, before any call is sent ahead.
        assert await gateway.acquire(route, set()) is idle
        ahead = [await gateway.acquire(route, set()), await gateway.acquire(route, set())]
        assert sorted(r.workload_id for r in ahead) == ["w1", "w2"]
        assert (busy.outstanding, idle.outstanding) == (2, 2)
        # Both replicas are running one call and holding one: the next waits, then 429.
        with pytest.raises(GatewayError) as full:
            await gateway.acquire(route, set())
        assert full.value.code == "model.busy"
        for replica in (busy, idle, *ahead):
            gateway.release(route, replica)

    asyncio.run(scenario())
    assert busy.outstanding == idle.outstanding == 0
