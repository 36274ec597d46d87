"""The gateway's wait for a free replica slot: first come, first served, bounded."""

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


def test_a_freed_slot_goes_to_the_oldest_waiter_not_to_a_newcomer(platform: Platform) -> None:
    gateway = Gateway(platform)
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
    platform: Platform,
) -> None:
    platform.settings.model_queue_seconds = 0.05
    gateway = Gateway(platform)
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


def test_a_cancelled_waiter_passes_its_slot_on(platform: Platform) -> None:
    gateway = Gateway(platform)
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
