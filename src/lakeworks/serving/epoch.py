"""A counter bumped whenever what the gateway caches may have changed (a key regenerated,
authentication switched, a deployment or replica changed), so this process's gateway drops its
cache at once. Other server processes notice within ``model_route_cache_seconds``."""

from __future__ import annotations

import threading

_lock = threading.Lock()
_epoch = 0


def bump() -> None:
    global _epoch
    with _lock:
        _epoch += 1


def current() -> int:
    return _epoch
