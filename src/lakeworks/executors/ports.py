"""The pool of 127.0.0.1 TCP ports handed to workloads (``CDSW_APP_PORT`` and friends).

A port is handed out only if nothing listens on it and no running workload holds it. Handles
carry their ports, so a restarted server learns which are held again from ``hold`` when it
adopts its workloads. Between the check and the workload's own ``bind`` another program may
take the port; the workload then fails to start and is restarted with fresh ports.
"""

from __future__ import annotations

import random
import socket
import threading
from collections.abc import Iterable

from lakeworks.executors.base import StartFailed

HOST = "127.0.0.1"


def is_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


class PortPool:
    def __init__(self, low: int, high: int, host: str = HOST) -> None:
        if not 1 <= low <= high <= 65535:
            raise ValueError(f"invalid port range {low}-{high}")
        self.low, self.high, self.host = low, high, host
        self._held: set[int] = set()
        self._lock = threading.Lock()
        # Search onwards from the last port handed out, so a port just released (its old
        # connections maybe still closing) is the last to be reused; start anywhere, so a
        # restarted server does not begin where ports of not yet adopted workloads lie.
        self._cursor = random.randint(low, high)

    @property
    def held(self) -> frozenset[int]:
        with self._lock:
            return frozenset(self._held)

    def acquire(self, count: int) -> list[int]:
        """``count`` free ports, held until released; ``StartFailed`` if the range has none."""
        if count <= 0:
            return []
        size = self.high - self.low + 1
        chosen: list[int] = []
        with self._lock:
            for step in range(size):
                port = self.low + (self._cursor - self.low + step) % size
                if port in self._held or not is_free(port, self.host):
                    continue
                chosen.append(port)
                if len(chosen) == count:
                    self._cursor = port + 1 if port < self.high else self.low
                    self._held.update(chosen)
                    return chosen
        raise StartFailed(
            f"no {count} free ports left in {self.low}-{self.high} "
            f"({len(self._held)} held by workloads); widen the port range or stop workloads"
        )

    def hold(self, ports: Iterable[int]) -> None:
        """Mark ports as held (by a workload adopted after a restart)."""
        with self._lock:
            self._held.update(ports)

    def release(self, ports: Iterable[int]) -> None:
        with self._lock:
            self._held.difference_update(ports)
