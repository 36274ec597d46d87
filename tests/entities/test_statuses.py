"""The status enums: the values the API and the database carry (CML's names where CML has
them), which statuses are final or active, and that each module's ``can_move`` is its table."""

from __future__ import annotations

import enum
import itertools
from collections.abc import Callable, Mapping

import pytest

from lakeworks.entities import amps, applications, jobs, models, sessions, workloads
from lakeworks.entities.applications import AppStatus
from lakeworks.entities.jobs import RunStatus
from lakeworks.entities.models import BuildStatus, DeploymentStatus
from lakeworks.entities.sessions import SessionStatus
from lakeworks.entities.status import IllegalTransition, check_move
from lakeworks.entities.workloads import WorkloadStatus
from lakeworks.errors import InvalidState

# The values stored in the database and sent over the API: renaming one breaks both.
VALUES: list[tuple[type[enum.Enum], list[str]]] = [
    (
        WorkloadStatus,
        [
            "pending",
            "starting",
            "running",
            "stopping",
            "succeeded",
            "failed",
            "timedout",
            "stopped",
            "oom",
            "lost",
        ],
    ),
    (
        RunStatus,
        [
            "scheduled",
            "starting",
            "running",
            "stopping",
            "succeeded",
            "failed",
            "timedout",
            "stopped",
            "skipped",
        ],
    ),
    (SessionStatus, ["starting", "running", "stopping", "stopped", "succeeded", "failed"]),
    (
        AppStatus,
        [
            "APPLICATION_STARTING",
            "APPLICATION_RUNNING",
            "APPLICATION_STOPPING",
            "APPLICATION_STOPPED",
            "APPLICATION_FAILED",
            "APPLICATION_UNKNOWN",
        ],
    ),
    (BuildStatus, ["pending", "building", "built", "build failed", "stopped"]),
    (
        DeploymentStatus,
        ["pending", "deploying", "deployed", "stopping", "stopped", "failed"],
    ),
    (amps.TaskStatus, ["pending", "running", "succeeded", "failed", "skipped"]),
    (amps.SetupStatus, ["running", "failed", "succeeded"]),
    (jobs.ScheduleKind, ["manual", "cron", "dependent"]),
    (jobs.Trigger, ["manual", "api", "schedule", "dependency"]),
    (jobs.JobKind, ["job", "experiment"]),
    (sessions.Editor, ["jupyterlab", "workbench"]),
    (
        workloads.WorkloadKind,
        ["job_run", "session", "application", "model_replica", "model_build", "worker"],
    ),
]


@pytest.mark.parametrize(("kind", "values"), VALUES, ids=lambda v: getattr(v, "__name__", ""))
def test_status_values_are_the_stored_and_sent_strings(
    kind: type[enum.Enum], values: list[str]
) -> None:
    assert [member.value for member in kind] == values
    for value in values:
        assert kind(value).value == value


@pytest.mark.parametrize(
    ("status", "engine"),
    [
        (RunStatus.SCHEDULED, "ENGINE_SCHEDULING"),
        (RunStatus.STARTING, "ENGINE_STARTING"),
        (RunStatus.RUNNING, "ENGINE_RUNNING"),
        (RunStatus.STOPPING, "ENGINE_STOPPING"),
        (RunStatus.SUCCEEDED, "ENGINE_SUCCEEDED"),
        (RunStatus.FAILED, "ENGINE_FAILED"),
        (RunStatus.TIMEDOUT, "ENGINE_TIMEDOUT"),
        (RunStatus.STOPPED, "ENGINE_STOPPED"),
        (RunStatus.SKIPPED, "ENGINE_SKIPPED"),
    ],
)
def test_run_statuses_as_cml_engine_statuses(status: RunStatus, engine: str) -> None:
    assert status.engine_status == engine


FINAL: list[tuple[enum.Enum, bool]] = [
    *(
        (s, s.value in {"succeeded", "failed", "timedout", "stopped", "oom", "lost"})
        for s in WorkloadStatus
    ),
    *((s, s.value in {"succeeded", "failed", "timedout", "stopped", "skipped"}) for s in RunStatus),
    *((s, s.value in {"stopped", "succeeded", "failed"}) for s in SessionStatus),
    *((s, s.value in {"built", "build failed", "stopped"}) for s in BuildStatus),
]


@pytest.mark.parametrize(("status", "final"), FINAL, ids=lambda v: f"{type(v).__name__}.{v}")
def test_which_statuses_are_final(status: enum.Enum, final: bool) -> None:
    assert status.is_final is final  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "status",
    list(WorkloadStatus) + list(RunStatus) + list(SessionStatus),
    ids=lambda v: f"{type(v).__name__}.{v}",
)
def test_a_final_status_has_no_way_out(status: enum.Enum) -> None:
    table = {
        WorkloadStatus: workloads.TRANSITIONS,
        RunStatus: jobs.RUN_TRANSITIONS,
        SessionStatus: sessions.TRANSITIONS,
    }[type(status)]
    exits = table.get(status, frozenset())  # type: ignore[call-overload]
    assert (not exits) is status.is_final  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("status", "active"),
    [
        (AppStatus.STARTING, True),
        (AppStatus.RUNNING, True),
        (AppStatus.STOPPING, True),
        (AppStatus.STOPPED, False),
        (AppStatus.FAILED, False),
        (AppStatus.UNKNOWN, False),
    ],
)
def test_which_application_statuses_are_active(status: AppStatus, active: bool) -> None:
    assert status.is_active is active
    assert status.short == status.value.removeprefix("APPLICATION_").lower()


def test_active_run_statuses_are_those_not_final() -> None:
    assert {s for s in RunStatus if not s.is_final} == jobs.ACTIVE_RUN_STATUSES


CAN_MOVE: list[tuple[str, Callable[[object, object], bool], Mapping[object, frozenset[object]]]] = [
    ("workload", workloads.can_move, workloads.TRANSITIONS),  # type: ignore[list-item]
    ("run", jobs.can_move, jobs.RUN_TRANSITIONS),  # type: ignore[list-item]
    ("session", sessions.can_move, sessions.TRANSITIONS),  # type: ignore[list-item]
    ("application", applications.can_move, applications.TRANSITIONS),  # type: ignore[list-item]
]


@pytest.mark.parametrize(
    ("name", "can_move", "table"), CAN_MOVE, ids=lambda v: v if isinstance(v, str) else ""
)
def test_can_move_answers_exactly_what_the_table_allows(
    name: str, can_move: Callable[[object, object], bool], table: Mapping[object, frozenset[object]]
) -> None:
    statuses = list(type(next(iter(table))))
    answers = {(a, b): can_move(a, b) for a, b in itertools.product(statuses, statuses)}
    expected = {(a, b): b in table.get(a, frozenset()) for a, b in answers}
    assert answers == expected
    assert any(answers.values()) and not all(answers.values())


def test_amp_tasks_retry_and_skip_only_from_failed() -> None:
    table = amps.TASK_TRANSITIONS
    check_move(table, amps.TaskStatus.FAILED, amps.TaskStatus.PENDING)
    check_move(table, amps.TaskStatus.FAILED, amps.TaskStatus.SKIPPED)
    for done in amps.DONE:
        for target in amps.TaskStatus:
            with pytest.raises(IllegalTransition):
                check_move(table, done, target)


def test_an_illegal_transition_is_an_invalid_state_with_its_own_code() -> None:
    with pytest.raises(IllegalTransition) as caught:
        check_move(models.BUILD_TRANSITIONS, BuildStatus.BUILT, BuildStatus.BUILDING)
    error = caught.value
    assert isinstance(error, InvalidState)
    assert error.code == "illegal_transition"
    assert str(error) == "BuildStatus cannot move from 'built' to 'building'."


def test_a_deployment_restarts_only_from_stopped_or_failed() -> None:
    restartable = {
        s
        for s in DeploymentStatus
        if DeploymentStatus.PENDING in models.DEPLOYMENT_TRANSITIONS.get(s, frozenset())
    }
    assert restartable == {DeploymentStatus.STOPPED, DeploymentStatus.FAILED}
    assert {s for s in DeploymentStatus if s.is_active} == {
        DeploymentStatus.PENDING,
        DeploymentStatus.DEPLOYING,
        DeploymentStatus.DEPLOYED,
    }
