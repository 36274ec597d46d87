"""Test helper: stop every workload a test left running on a platform."""

from __future__ import annotations

from lakeworks.entities.workloads import WorkloadStatus
from lakeworks.services.platform import Platform


def stop_live_workloads(platform: Platform, grace: float = 1.0) -> None:
    """Stop the processes of every starting, running or stopping workload, whatever the test
    did, so none outlives it; end what the executor holds (network namespaces made ahead)."""
    with platform.read() as uow:
        live = uow.workloads.with_status(
            WorkloadStatus.RUNNING, WorkloadStatus.STOPPING, WorkloadStatus.STARTING
        )
    for workload in live:
        if workload.handle:
            platform.executor.stop(workload.handle, grace)
    platform.close_executor()
