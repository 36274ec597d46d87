"""services.login_throttle on a clock the test moves: failures counted per account and per
address within the window, the wait it tells, success clearing the account only, the bound on
what it remembers, and the bounded hashing slots."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from lakeworks.config import Settings
from lakeworks.errors import RateLimited
from lakeworks.services import login_throttle
from lakeworks.services.login_throttle import LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def throttle(tmp_path: Path, clock: Clock) -> LoginThrottle:
    settings = Settings(
        data_dir=tmp_path / "data",
        login_max_failures_per_account=3,
        login_max_failures_per_address=5,
        login_failure_window_seconds=60,
        password_hash_concurrency=1,
    )
    return LoginThrottle(settings, clock=clock)


def _fail(throttle: LoginThrottle, username: str, address: str, times: int) -> None:
    for _ in range(times):
        throttle.check(username, address)
        throttle.failed(username, address)


def test_an_account_waits_until_its_oldest_failure_leaves_the_window(
    throttle: LoginThrottle, clock: Clock
) -> None:
    _fail(throttle, "alice", "10.0.0.1", 2)
    clock.now += 10
    throttle.failed("alice", "10.0.0.2")  # the third, from elsewhere: counted for the account
    with pytest.raises(RateLimited, match="this account; try again in 50 seconds") as refused:
        throttle.check("alice", "10.0.0.3")
    assert refused.value.retry_after == 50
    # Usernames are counted as the login form takes them: case and spaces do not matter.
    with pytest.raises(RateLimited):
        throttle.check("  ALICE ", "")
    throttle.check("bob", "10.0.0.3")  # another account is not held up
    clock.now += 50  # the two first failures leave the window; one remains
    throttle.check("alice", "10.0.0.3")


def test_an_address_is_limited_across_accounts(throttle: LoginThrottle, clock: Clock) -> None:
    for n in range(5):
        _fail(throttle, f"user{n}", "192.0.2.7", 1)
    with pytest.raises(RateLimited, match="your address") as refused:
        throttle.check("someone-else", "192.0.2.7")
    assert refused.value.retry_after == 60
    throttle.check("someone-else", "192.0.2.8")
    throttle.check("someone-else", "")  # no address known: counted per account only
    clock.now += 60
    throttle.check("someone-else", "192.0.2.7")


def test_a_successful_sign_in_clears_its_account_but_not_its_address(
    throttle: LoginThrottle, clock: Clock
) -> None:
    _fail(throttle, "alice", "198.51.100.1", 3)
    _fail(throttle, "bob", "198.51.100.1", 2)
    with pytest.raises(RateLimited):
        throttle.check("alice", "203.0.113.9")
    throttle.succeeded("alice")
    throttle.check("alice", "203.0.113.9")
    # The address still holds its five failures (three of alice's, two of bob's).
    with pytest.raises(RateLimited, match="your address"):
        throttle.check("alice", "198.51.100.1")


def test_made_up_usernames_cannot_grow_memory_without_bound(
    throttle: LoginThrottle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(login_throttle, "MAX_TRACKED", 50)
    _fail(throttle, "target", "", 2)
    for n in range(200):
        throttle.failed(f"made-up-{n}", "")
    assert len(throttle._failures) == 50
    # The least recently failed keys went first: the target's two failures are forgotten.
    _fail(throttle, "target", "", 2)
    throttle.check("target", "")


def test_hashing_slots_are_bounded(
    throttle: LoginThrottle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(login_throttle, "HASH_SLOT_WAIT_SECONDS", 0.01)
    held = threading.Event()
    release = threading.Event()

    def hold_the_only_slot() -> None:
        with throttle.hashing():
            held.set()
            release.wait(10)

    worker = threading.Thread(target=hold_the_only_slot)
    worker.start()
    try:
        assert held.wait(10)
        with pytest.raises(RateLimited, match="busy checking passwords"), throttle.hashing():
            pass
    finally:
        release.set()
        worker.join(10)
    with throttle.hashing():  # free again
        pass
