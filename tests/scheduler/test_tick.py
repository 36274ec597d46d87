"""A scheduler tick's bookkeeping of workers: one read of the live workloads serves the orphan
check and the workers' reconciliation, and workers end with their parent."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from lakeworks.entities.projects import Project
from lakeworks.entities.workloads import Resources, WorkloadKind, WorkloadStatus
from lakeworks.scheduler.loop import Scheduler
from lakeworks.services import workloads
from lakeworks.services.platform import Platform

LIVE = {"pending", "starting", "running"}


def _values(parameters: Any) -> set[Any]:
    values = parameters.values() if isinstance(parameters, dict) else parameters or ()
    return {v for v in values if isinstance(v, str)}


def _live_reads(platform: Platform, scheduler: Scheduler) -> int:
    """How many statements of one tick read the live workloads."""
    seen: list[tuple[str, Any]] = []

    def note(conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        seen.append((statement, parameters))

    event.listen(platform.store.engine, "before_cursor_execute", note)
    try:
        scheduler.tick(wait=True)
    finally:
        event.remove(platform.store.engine, "before_cursor_execute", note)
    # (Not the idle check's EXISTS over every kind of work, store.activity.)
    return sum(
        1 for s, p in seen if "FROM workloads" in s and "EXISTS" not in s and _values(p) >= LIVE
    )


def _add(platform: Platform, project: Project, workload_id: str, **values: Any) -> None:
    with platform.store.transaction() as uow:
        uow.workloads.add(
            workload_id=workload_id,
            project_id=project.id,
            user_id=project.creator.id,
            executor="local",
            log_path="",
            resources=Resources(cpu=0.25, memory_mb=512),
            status=WorkloadStatus.STARTING,  # handed to an executor (a pending one cannot stop)
            **values,
        )


def test_a_tick_reads_the_live_workloads_once(
    job_platform: Platform, scheduler: Scheduler, project: Project
) -> None:
    assert _live_reads(job_platform, scheduler) == 0  # nothing in flight: an idle tick
    _add(job_platform, project, "parent", kind=WorkloadKind.SESSION)
    _add(job_platform, project, "worker", kind=WorkloadKind.WORKER, parent_id="parent")
    assert _live_reads(job_platform, scheduler) == 1  # its parent is among them


def test_workers_end_with_their_parent(
    job_platform: Platform, scheduler: Scheduler, project: Project
) -> None:
    _add(job_platform, project, "parent", kind=WorkloadKind.SESSION)
    _add(job_platform, project, "worker", kind=WorkloadKind.WORKER, parent_id="parent")
    _add(job_platform, project, "stray", kind=WorkloadKind.WORKER, parent_id="gone")
    scheduler.tick(wait=True)
    assert workloads.get(job_platform, "worker").status is WorkloadStatus.STARTING
    assert workloads.get(job_platform, "stray").status is WorkloadStatus.STOPPED
    assert workloads.request_stop(job_platform, "parent")  # no process: stopped at once
    scheduler.tick(wait=True)
    assert workloads.get(job_platform, "worker").status is WorkloadStatus.STOPPED
