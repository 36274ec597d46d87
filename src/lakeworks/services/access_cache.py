"""Short-lived answers to "who holds this credential" and "may they do this", for the paths
that see a request per prediction, metric or page asset (the MLflow gate, the app proxy).

Entries live a few seconds (each user of the cache names its setting), and all of them go the
moment ``Platform.access_epoch`` moves: a key revoked, a user deactivated, a member removed
through this process apply to the very next request. Users keep *allowed* answers only where
a refusal's message names what was asked for (the MLflow gate, the proxy); the model gateway
keeps refusals too (its message is always the same). ``get`` answers ``None`` for "not known".

Example::

    cache = AccessCache(platform, lambda s: s.proxy_route_cache_seconds)
    epoch = platform.access_epoch
    if cache.get(key) is None:
        cache.put(key, decide(), epoch)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from lakeworks.config import Settings

if TYPE_CHECKING:
    from lakeworks.services.platform import Platform

LIMIT = 10_000


class AccessCache:
    def __init__(self, platform: Platform, seconds: Callable[[Settings], float]) -> None:
        self.platform = platform
        self._seconds = seconds
        self._lock = threading.Lock()
        self._entries: dict[tuple[object, ...], tuple[float, object]] = {}
        self._epoch = platform.access_epoch

    def get(self, key: tuple[object, ...]) -> object | None:
        if self._seconds(self.platform.settings) <= 0:
            return None
        with self._lock:
            if self._epoch != self.platform.access_epoch:
                self._entries.clear()
                self._epoch = self.platform.access_epoch
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= time.monotonic():
                del self._entries[key]
                return None
            return entry[1]

    def put(self, key: tuple[object, ...], value: object, epoch: int) -> None:
        """Keep ``value``, unless access changed since ``epoch`` (read before computing it)."""
        seconds = self._seconds(self.platform.settings)
        if seconds <= 0:
            return
        with self._lock:
            if epoch != self.platform.access_epoch or self._epoch != epoch:
                return
            if len(self._entries) >= LIMIT:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + seconds, value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
