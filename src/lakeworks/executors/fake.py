"""An executor that starts nothing: for fast tests of the services above the executor.

It keeps every ``WorkloadSpec`` it was given (argv, environment, ports, mounts), so a test can
check what a service asked for, and lets the test decide how each workload ends
(``finish``), what it logs (``write``) and whether it listens on its ports. Nothing here
touches processes, the network or the sandbox; the local executor has its own tests.

    executor = FakeExecutor()
    platform = Platform(settings, store, executor=executor)
    run = job_runs.dispatch(platform)[0]
    spec = executor.spec(run.workload_id)        # what the job run was started with
    executor.finish(run.workload_id, code=0)     # the next poll sees it end
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field

from lakeworks.entities.workloads import ExitInfo, WorkloadSpec
from lakeworks.executors.base import Executor, Handle, StartFailed


@dataclass
class FakeWorkload:
    spec: WorkloadSpec
    ports: list[int]
    log: bytearray = field(default_factory=bytearray)
    exit: ExitInfo | None = None
    listening: bool = True
    stops: int = 0


class FakeExecutor(Executor):
    name = "fake"

    def __init__(self, project_home: str = "/home/cdsw") -> None:
        self.home = project_home
        self.workloads: dict[str, FakeWorkload] = {}
        self.refuse_with = ""  # a reason makes every start fail with StartFailed
        self._ports = itertools.count(40000)
        self._lock = threading.Lock()

    # The contract ---------------------------------------------------------------------

    def start(self, spec: WorkloadSpec) -> Handle:
        if self.refuse_with:
            raise StartFailed(self.refuse_with)
        with self._lock:
            ports = [next(self._ports) for _ in spec.ports]
            self.workloads[spec.workload_id] = FakeWorkload(spec=spec, ports=ports)
        return {"fake": spec.workload_id, "ports": ports, "port_names": list(spec.ports)}

    def poll(self, handle: Handle) -> ExitInfo | None:
        return self._get(handle).exit

    def stop(self, handle: Handle, grace: float = 10.0) -> None:
        workload = self._get(handle)
        workload.stops += 1
        if workload.exit is None:
            workload.exit = ExitInfo(code=-15, reason="stopped")

    def logs(self, handle: Handle, offset: int = 0) -> tuple[bytes, int]:
        log = bytes(self._get(handle).log)
        return log[offset:], len(log)

    def address(self, handle: Handle) -> str:
        ports = self._get(handle).ports
        return f"127.0.0.1:{ports[0]}" if ports else ""

    def adopt(self, handle: Handle) -> bool:
        workload = self.workloads.get(str(handle.get("fake", "")))
        return workload is not None and workload.exit is None

    def listening(self, handle: Handle, port: int) -> bool:
        return self._get(handle).listening

    def project_home(self, spec: WorkloadSpec) -> str:
        return self.home

    # What tests use -------------------------------------------------------------------

    def spec(self, workload_id: str) -> WorkloadSpec:
        """The spec ``workload_id`` was started with."""
        return self.workloads[workload_id].spec

    def finish(self, workload_id: str, code: int = 0, *, oom: bool = False) -> None:
        """End a workload: the next ``poll`` reports this exit."""
        self.workloads[workload_id].exit = ExitInfo(code=code, oom=oom)

    def write(self, workload_id: str, text: str) -> None:
        """Append to a workload's log."""
        self.workloads[workload_id].log += text.encode()

    def _get(self, handle: Handle) -> FakeWorkload:
        return self.workloads[str(handle["fake"])]
