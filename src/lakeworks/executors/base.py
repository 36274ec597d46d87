"""The executor contract. Every workload kind starts through it; implementations differ in
where processes run (``local``: this machine; ``ray``: a Ray cluster).

Lifecycle, as in JupyterHub's Spawner:

- ``start(spec)`` launches the process tree and returns a *handle* (``Handle``: a TypedDict,
  JSON-serialisable) the platform persists, enough to find the tree again after a server
  restart. It must not block until the workload ends. It raises ``StartFailed`` with a
  reason a person can act on when nothing could be started (no such interpreter, cgroup
  refused, ...).
- ``poll(handle)`` returns ``None`` while the tree runs, else an ``ExitInfo`` (exit code, and
  whether it was killed for memory). It is cheap and may be called every second; calling it
  after the exit keeps returning the same ``ExitInfo`` for handles started by this process.
- ``stop(handle, grace)`` asks the tree to end (SIGTERM to the whole group), waits up to
  ``grace`` seconds, then kills it (SIGKILL). Idempotent: stopping an ended tree is a no-op.
- ``logs(handle, offset)`` returns ``(bytes, next_offset)`` of the combined stdout/stderr from
  ``offset``; readable while the tree runs and after it ended.
- ``address(handle)`` returns ``"host:port"`` of the first port asked for, or ``""``.
- ``socket_path(handle)`` returns where the server connects to the Unix socket made for a
  spec's ``socket``, or ``""`` (the default: none made; callers use ``address``).
- ``listening(handle, port)`` says whether the workload itself listens on one of its ports
  (by default: whether ``host:port`` accepts a connection; an executor with something in
  front of the workload's ports, such as network isolation, looks at the workload instead).
- ``ip_address(handle)`` is the address a workload's workers reach it at (compat §12); a
  spec's ``network_of`` (a parent's handle) asks that the new workload share the parent's
  network, so the two reach each other on any port.
- ``adopt(handle)`` is called after a server restart for handles of workloads the database
  says are running: ``True`` if the very same process (pid *and* start time) still runs and
  is now tracked again, ``False`` if it is gone (the caller records it as lost).

Implementations may assume one ``Executor`` instance per server process, and that the caller
serialises calls per handle.
"""

from __future__ import annotations

import abc
import socket

from lakeworks.entities.workloads import ExitInfo, Handle, WorkloadSpec

__all__ = ["Executor", "Handle", "StartFailed"]


class StartFailed(Exception):
    """The workload could not be started; the message says why."""


class Executor(abc.ABC):
    name: str = "base"

    @abc.abstractmethod
    def start(self, spec: WorkloadSpec) -> Handle: ...

    @abc.abstractmethod
    def poll(self, handle: Handle) -> ExitInfo | None: ...

    @abc.abstractmethod
    def stop(self, handle: Handle, grace: float = 10.0) -> None: ...

    @abc.abstractmethod
    def logs(self, handle: Handle, offset: int = 0) -> tuple[bytes, int]: ...

    @abc.abstractmethod
    def address(self, handle: Handle) -> str: ...

    @abc.abstractmethod
    def adopt(self, handle: Handle) -> bool: ...

    def socket_path(self, handle: Handle) -> str:
        return ""

    def listening(self, handle: Handle, port: int) -> bool:
        host = self.address(handle).rsplit(":", 1)[0] or "127.0.0.1"
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            return False

    def ip_address(self, handle: Handle) -> str:
        """The IPv4 address at which the workload's parent and workers reach it on any port
        (``CDSW_IP_ADDRESS``, compat §12); by default this machine's loopback, which
        workloads without a network of their own share."""
        return "127.0.0.1"

    def project_home(self, spec: WorkloadSpec) -> str:
        """The path at which the workload sees its project (``/home/cdsw`` when mounted
        there). Callers build environment variables from it before ``start``."""
        return str(spec.project_dir)

    def close(self) -> None:  # noqa: B027 (optional hook; most executors hold nothing)
        """Release what the executor holds (not the workloads: they outlive the server)."""
