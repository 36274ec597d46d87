"""Plain-HTTP probes of the platform's own workloads: is a model replica's ``/health`` up, does
a session's Jupyter server answer.

One ``httpx.Client`` per platform (``probes_for``), not ``httpx.get``: each ``httpx.get`` builds
a client, and with it a TLS context that loads the CA bundle, about 17 ms of CPU on the 2-core
development machine for a probe to ``http://127.0.0.1``. The scheduler probes every starting
replica on every tick, in the server's process, beside the model gateway. The shared client
keeps no connection alive between probes (each probe connects anew, as before): a probe never
holds a socket to a workload.

Example::

    probes_for(platform).answers("http://127.0.0.1:8090/health")
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from lakeworks.services.platform import Platform

TIMEOUT_SECONDS = 1.0


class Probes:
    """The platform's probe client; usable again after ``close()`` (it opens a new one)."""

    def __init__(self) -> None:
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def _get_client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    timeout=TIMEOUT_SECONDS,
                    limits=httpx.Limits(max_keepalive_connections=0),
                )
            return self._client

    def answers(self, url: str, headers: dict[str, str] | None = None) -> bool:
        """Whether ``GET url`` answers 200 within the probe timeout."""
        try:
            return self._get_client().get(url, headers=headers).status_code == 200
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


def probes_for(platform: Platform) -> Probes:
    """This platform's probes (closed with the platform)."""
    return platform.component(Probes, Probes, close=Probes.close)
