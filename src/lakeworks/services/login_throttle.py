"""Login throttling: failed sign-ins counted per account and per client address.

A password guess costs the server an argon2 hash (64 MiB, tens of milliseconds), so
unthrottled logins are both a guessing oracle and a denial of service. After
``login_max_failures_per_account`` failures for one username, or
``login_max_failures_per_address`` from one client address, within
``login_failure_window_seconds``, further attempts are refused with ``RateLimited`` (429 and
``Retry-After``) *before* any hash is computed, until the oldest counted failure leaves the
window. A successful sign-in clears its account's failures.

Hashing itself is bounded too: at most ``password_hash_concurrency`` hashes run at once (in
the threadpool, never on the event loop); a caller that cannot get a slot within a few
seconds is told to retry rather than queueing without end.

The counts live in this process (the ``Platform`` holds one throttle), bounded in size, so a
flood of made-up usernames cannot grow memory without limit. With several server replicas
each counts its own share, which only multiplies the allowance by the replica count.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from lakeworks.config import Settings
from lakeworks.errors import RateLimited

# The most keys (usernames and addresses) remembered; the least recently failed go first.
MAX_TRACKED = 10_000
HASH_SLOT_WAIT_SECONDS = 5.0


class LoginThrottle:
    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._hash_slots = threading.BoundedSemaphore(settings.password_hash_concurrency)

    def check(self, username: str, address: str) -> None:
        """Raise ``RateLimited`` when this account or this address must wait."""
        window = self.settings.login_failure_window_seconds
        limits = [
            (_account(username), self.settings.login_max_failures_per_account, "this account")
        ]
        if address:  # unknown (a call without a client) is counted per account only
            limits.append(
                (_address(address), self.settings.login_max_failures_per_address, "your address")
            )
        now = self._clock()
        with self._lock:
            for key, limit, who in limits:
                times = self._recent(key, now, window)
                if len(times) >= limit:
                    wait = max(1, math.ceil(times[0] + window - now))
                    raise RateLimited(
                        f"Too many failed sign-ins for {who}; try again in {wait} seconds.",
                        retry_after=wait,
                    )

    def failed(self, username: str, address: str) -> None:
        now = self._clock()
        with self._lock:
            for key in [_account(username)] + ([_address(address)] if address else []):
                times = self._failures.pop(key, None) or deque()
                times.append(now)
                self._failures[key] = times  # most recent last
            while len(self._failures) > MAX_TRACKED:
                self._failures.popitem(last=False)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(_account(username), None)

    @contextmanager
    def hashing(self) -> Iterator[None]:
        """Hold one of the bounded password-hashing slots."""
        if not self._hash_slots.acquire(timeout=HASH_SLOT_WAIT_SECONDS):
            raise RateLimited("The server is busy checking passwords; try again.", retry_after=1)
        try:
            yield
        finally:
            self._hash_slots.release()

    def _recent(self, key: str, now: float, window: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - window:
            times.popleft()
        if not times:
            del self._failures[key]
        return times


def _account(username: str) -> str:
    return "user:" + username.strip().lower()[:64]


def _address(address: str) -> str:
    return "addr:" + address
