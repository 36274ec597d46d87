"""Every status move the store applies follows its status's transition table (DESIGN §3): an
allowed move is applied (when the row still has the expected status), any other raises
``IllegalTransition`` and changes nothing."""

from __future__ import annotations

import enum
import itertools
from collections.abc import Callable, Mapping

import pytest
from tests.store.factories import (
    add_application,
    add_build,
    add_deployment,
    add_job,
    add_model,
    add_run,
    add_session,
)
from tests.store.test_projects_store import add_project, add_user

from lakeworks.entities import applications, jobs, models, sessions, workloads
from lakeworks.entities.status import IllegalTransition, check_move
from lakeworks.entities.workloads import Resources, WorkloadKind, WorkloadStatus
from lakeworks.store.uow import Store, UnitOfWork

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


# Every other table's ``move*`` in the store, on a real row -------------------------------------


def _status_row(
    uow: UnitOfWork, table: str, status: enum.Enum, owner_id: int, project: str, n: int
) -> str:
    """Row ``n`` of ``table``, written directly in ``status``; returns its id."""
    if table == "job run":
        add_job(uow, f"job{n}", project, owner_id)
        return add_run(uow, f"run{n}", f"job{n}", project, owner_id, status=status.value).id
    if table == "session":
        return add_session(uow, f"sess{n}", project, owner_id, status=status.value).id
    if table == "application":
        return add_application(uow, f"app{n}", project, owner_id, status=status.value).id
    add_model(uow, f"model{n}", project, owner_id)
    if table == "model build":
        return add_build(uow, f"build{n}", f"model{n}", project, owner_id, status=status.value).id
    build = add_build(uow, f"build{n}", f"model{n}", project, owner_id, status="built")
    return add_deployment(uow, f"dep{n}", build, owner_id, status=status.value).id


_MOVES: dict[str, Callable[[UnitOfWork], Callable[..., bool]]] = {
    "job run": lambda uow: uow.jobs.move_run,
    "session": lambda uow: uow.sessions.move,
    "application": lambda uow: uow.applications.move,
    "model build": lambda uow: uow.models.move_build,
    "deployment": lambda uow: uow.models.move_deployment,
}

_READS: dict[str, Callable[[UnitOfWork, str], object]] = {
    "job run": lambda uow, i: uow.jobs.get_run(i),
    "session": lambda uow, i: uow.sessions.get(i),
    "application": lambda uow, i: uow.applications.get(i),
    "model build": lambda uow, i: uow.models.get_build(i),
    "deployment": lambda uow, i: uow.models.get_deployment(i),
}


@pytest.mark.parametrize("table", list(_MOVES))
def test_every_store_move_refuses_moves_outside_its_table(store: Store, table: str) -> None:
    """All pairs of the table's statuses, each on a row of its own (one test per table keeps
    the run short on PostgreSQL)."""
    owner = add_user(store, "owner")
    every = pairs(table)
    with store.transaction() as uow:
        project = add_project(uow, "P", owner=owner)
        ids = [
            _status_row(uow, table, a, owner.id, project, n) for n, (_, a, _) in enumerate(every)
        ]
    allowed = TABLES[table][1]
    for row_id, (_, current, target) in zip(ids, every, strict=True):
        legal = target in allowed.get(current, frozenset())
        with store.transaction() as uow:
            move = _MOVES[table](uow)
            if legal:
                assert move(row_id, current, target) is True, (current, target)
                # The row has moved on: a second mover expecting the old status gets False.
                if current is not target:
                    assert move(row_id, current, target) is False, (current, target)
            else:
                with pytest.raises(IllegalTransition, match=f"cannot move from '{current.value}'"):
                    move(row_id, current, target)
    with store.transaction() as uow:
        found = [getattr(_READS[table](uow, i), "status", None) for i in ids]
    expected = [
        target if target in allowed.get(current, frozenset()) else current
        for _, current, target in every
    ]
    assert found == expected
