"""The port pool: free 127.0.0.1 ports in a range, each handed out once until released."""

from __future__ import annotations

import socket

import pytest

from lakeworks.executors.base import StartFailed
from lakeworks.executors.ports import PortPool


def test_ports_are_free_unique_and_in_range() -> None:
    pool = PortPool(25000, 25009)

    first = pool.acquire(3)
    second = pool.acquire(3)

    assert len(set(first + second)) == 6
    assert all(25000 <= port <= 25009 for port in first + second)
    assert pool.held == frozenset(first + second)


def test_held_ports_come_back_only_after_release() -> None:
    pool = PortPool(25010, 25011)
    taken = pool.acquire(2)

    with pytest.raises(StartFailed, match="no 1 free ports left in 25010-25011"):
        pool.acquire(1)
    pool.release(taken[:1])

    assert pool.acquire(1) == taken[:1]


def test_a_port_in_use_by_another_program_is_skipped() -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 25020))
        other.listen()
        pool = PortPool(25020, 25021)

        assert pool.acquire(1) == [25021]
        with pytest.raises(StartFailed):
            pool.acquire(1)


def test_adopted_ports_are_held() -> None:
    pool = PortPool(25030, 25031)

    pool.hold([25030])

    assert pool.acquire(1) == [25031]
    assert pool.acquire(0) == []


def test_a_range_that_is_not_one_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid port range"):
        PortPool(2000, 1000)
