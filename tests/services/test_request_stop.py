"""Stopping a workload that was recorded but never handed to the executor (PENDING): it ends
at once as stopped (there is nothing to signal), its keys are revoked, and a worker still
pending when its parent ends is stopped by the tick's reconcile (PENDING → STOPPING is not a
move the table allows; the reconcile used to skip such workers for ever)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from lakeworks.entities.users import User
from lakeworks.entities.workloads import Resources, WorkloadKind, WorkloadStatus
from lakeworks.errors import NotFound
from lakeworks.services import projects, workers, workloads
from lakeworks.services.platform import Platform, Principal


@pytest.fixture
def alice(make_user: Callable[..., User]) -> User:
    return make_user("alice")


def _add(
    platform: Platform, user: User, project_id: str, workload_id: str, **values: object
) -> None:
    with platform.store.transaction() as uow:
        uow.workloads.add(
            workload_id=workload_id,
            project_id=project_id,
            user_id=user.id,
            executor="fake",
            log_path="",
            resources=Resources(cpu=1.0, memory_mb=1024),
            **values,
        )


def _project(platform: Platform, user: User) -> str:
    source = projects.parse_source("", "")
    return projects.create(
        platform, Principal(user=user, via="cli"), name="Stops", source=source
    ).id


def test_a_pending_workload_stops_at_once(platform: Platform, alice: User) -> None:
    project_id = _project(platform, alice)
    _add(platform, alice, project_id, "w-pending", kind=WorkloadKind.SESSION)

    assert workloads.request_stop(platform, "w-pending", "stopped by test") is True

    stopped = workloads.get(platform, "w-pending")
    assert stopped.status is WorkloadStatus.STOPPED
    assert stopped.reason == "stopped by test"
    assert stopped.finished_at is not None
    # Asked again: already ended.
    assert workloads.request_stop(platform, "w-pending") is False


def test_stopping_an_unknown_workload_is_not_found(platform: Platform) -> None:
    with pytest.raises(NotFound, match="w-none"):
        workloads.request_stop(platform, "w-none")


def test_a_pending_worker_of_an_ended_parent_is_stopped_by_reconcile(
    platform: Platform, alice: User
) -> None:
    project_id = _project(platform, alice)
    _add(platform, alice, project_id, "w-parent", kind=WorkloadKind.SESSION)
    _add(
        platform,
        alice,
        project_id,
        "w-worker",
        kind=WorkloadKind.WORKER,
        parent_id="w-parent",
        name="worker 1",
    )
    workloads.request_stop(platform, "w-parent")  # the parent ends (it was pending too)
    assert workloads.get(platform, "w-parent").status is WorkloadStatus.STOPPED

    assert workers.reconcile(platform) == ["w-worker"]

    worker = workloads.get(platform, "w-worker")
    assert worker.status is WorkloadStatus.STOPPED
    assert worker.reason == workers.PARENT_ENDED
    assert workers.reconcile(platform) == []  # nothing left to stop
