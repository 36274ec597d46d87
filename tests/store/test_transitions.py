"""Every status move the store applies follows its status's transition table (DESIGN §3): an
allowed move is applied (when the row still has the expected status), any other raises
``IllegalTransition`` and changes nothing."""

from __future__ import annotations

import enum
import itertools
from collections.abc import Mapping

import pytest
from tests.store.test_projects_store import add_project, add_user

from lakeworks.entities import applications, jobs, models, sessions, workloads
from lakeworks.entities.status import IllegalTransition, check_move
from lakeworks.entities.workloads import Resources, WorkloadKind, WorkloadStatus
from lakeworks.store.uow import Store

TABLES: dict[str, tuple[type[enum.Enum], Mapping[enum.Enum, frozenset[enum.Enum]]]] = {
    "workload": (WorkloadStatus, workloads.TRANSITIONS),  # type: ignore[dict-item]
    "job run": (jobs.RunStatus, jobs.RUN_TRANSITIONS),  # type: ignore[dict-item]
    "session": (sessions.SessionStatus, sessions.TRANSITIONS),  # type: ignore[dict-item]
    "application": (applications.AppStatus, applications.TRANSITIONS),  # type: ignore[dict-item]
    "model build": (models.BuildStatus, models.BUILD_TRANSITIONS),  # type: ignore[dict-item]
    "deployment": (models.DeploymentStatus, models.DEPLOYMENT_TRANSITIONS),  # type: ignore[dict-item]
}


def pairs(name: str) -> list[tuple[str, enum.Enum, enum.Enum]]:
    statuses = list(TABLES[name][0])
    return [(name, a, b) for a, b in itertools.product(statuses, statuses)]


@pytest.mark.parametrize(
    ("table", "current", "target"),
    [pair for name in TABLES for pair in pairs(name)],
    ids=lambda v: v.value if isinstance(v, enum.Enum) else v,
)
def test_check_move_allows_exactly_the_table(
    table: str, current: enum.Enum, target: enum.Enum
) -> None:
    allowed = TABLES[table][1]
    if target in allowed.get(current, frozenset()):
        check_move(allowed, current, target)
    else:
        with pytest.raises(IllegalTransition, match=f"from '{current.value}' to '{target.value}'"):
            check_move(allowed, current, target)


def test_final_statuses_only_lead_back_to_a_start() -> None:
    """Ended things never move again, except the restarts CML has (apps, deployments)."""
    for name, (_, table) in TABLES.items():
        for current, targets in table.items():
            ended = getattr(current, "is_final", False)
            if ended:
                assert targets <= {
                    applications.AppStatus.STARTING,
                    models.DeploymentStatus.PENDING,
                }, (name, current)


@pytest.mark.parametrize(
    ("table", "current", "target"), pairs("workload"), ids=lambda v: getattr(v, "value", v)
)
def test_the_store_refuses_moves_outside_the_table(
    store: Store, table: str, current: WorkloadStatus, target: WorkloadStatus
) -> None:
    owner = add_user(store, "owner")
    with store.transaction() as uow:
        project = add_project(uow, "P", owner=owner)
        uow.workloads.add(
            workload_id="w1",
            kind=WorkloadKind.JOB_RUN,
            project_id=project,
            user_id=owner.id,
            executor="local",
            log_path="",
            resources=Resources(cpu=1.0, memory_mb=512),
        )
        uow.workloads.set("w1", status=current.value)
    allowed = target in workloads.TRANSITIONS.get(current, frozenset())
    with store.transaction() as uow:
        if allowed:
            assert uow.workloads.move("w1", current, target) is True
        else:
            with pytest.raises(IllegalTransition):
                uow.workloads.move("w1", current, target)
    with store.transaction() as uow:
        row = uow.workloads.get("w1")
        assert row is not None and row.status is (target if allowed else current)
