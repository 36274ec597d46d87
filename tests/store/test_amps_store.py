"""store.amps: an AMP setup and its tasks. Tasks move only along their transition table, with
a conditional update (a second mover, such as another server, gets False), a timestamp per
move and a retry that clears the previous attempt; the setup moves the same way."""

from __future__ import annotations

import pytest
from tests.store.test_projects_store import add_project, add_user

from lakeworks.entities.amps import SetupStatus, TaskStatus
from lakeworks.entities.status import IllegalTransition
from lakeworks.store.uow import Store

TASKS = [
    {"position": 0, "type": "create_job", "title": "Train", "line": 12, "fields": {"name": "t"}},
    {"position": 1, "type": "run_job", "title": "Run it", "line": 20, "fields": {}},
]


def _setup(store: Store) -> str:
    alice = add_user(store, "alice")
    with store.transaction() as uow:
        project_id = add_project(uow, "Amp", owner=alice)
        made = uow.amps.add(
            project_id=project_id,
            name="Churn AMP",
            creator_id=alice.id,
            runtime_identifier="python3.11",
            warnings=["no GPU here"],
            tasks=TASKS,
        )
    assert made.status is SetupStatus.RUNNING and made.warnings == ["no GPU here"]
    assert [(t.position, t.type, t.title, t.status) for t in made.tasks] == [
        (0, "create_job", "Train", TaskStatus.PENDING),
        (1, "run_job", "Run it", TaskStatus.PENDING),
    ]
    return project_id


def test_a_task_runs_fails_is_retried_and_succeeds_with_its_times(store: Store) -> None:
    project_id = _setup(store)
    with store.transaction() as uow:
        assert uow.amps.move_task(project_id, 0, TaskStatus.PENDING, TaskStatus.RUNNING)
        # A second mover expecting the same status finds it moved: nothing happens.
        assert not uow.amps.move_task(project_id, 0, TaskStatus.PENDING, TaskStatus.RUNNING)
        uow.amps.record(project_id, 0, entity_id="job-1", tracked_id="run-1")
        assert uow.amps.move_task(
            project_id, 0, TaskStatus.RUNNING, TaskStatus.FAILED, reason="exit 1", attempts=1
        )
    with store.transaction() as uow:
        failed = uow.amps.get(project_id)
    assert failed is not None
    task = failed.tasks[0]
    assert (task.status, task.reason, task.entity_id, task.attempts) == (
        TaskStatus.FAILED,
        "exit 1",
        "job-1",
        1,
    )
    assert task.started_at is not None and task.finished_at is not None
    assert task.finished_at >= task.started_at

    with store.transaction() as uow:  # retry: back to pending, the last attempt forgotten
        assert uow.amps.move_task(project_id, 0, TaskStatus.FAILED, TaskStatus.PENDING)
        retried = uow.amps.get(project_id)
    assert retried is not None
    assert (retried.tasks[0].reason, retried.tasks[0].started_at) == ("", None)
    assert retried.tasks[0].finished_at is None

    with store.transaction() as uow:
        assert uow.amps.move_task(project_id, 0, TaskStatus.PENDING, TaskStatus.RUNNING)
        assert uow.amps.move_task(project_id, 0, TaskStatus.RUNNING, TaskStatus.SUCCEEDED)
        assert uow.amps.move_task(project_id, 1, TaskStatus.PENDING, TaskStatus.SKIPPED)
        done = uow.amps.get(project_id)
    assert done is not None
    assert [t.status for t in done.tasks] == [TaskStatus.SUCCEEDED, TaskStatus.SKIPPED]
    assert done.tasks[1].finished_at is not None and done.tasks[1].started_at is None


@pytest.mark.parametrize(
    ("expected", "target"),
    [
        (TaskStatus.PENDING, TaskStatus.SUCCEEDED),  # never ran
        (TaskStatus.RUNNING, TaskStatus.PENDING),  # only a failed task is retried
        (TaskStatus.SUCCEEDED, TaskStatus.RUNNING),  # done is done
        (TaskStatus.SKIPPED, TaskStatus.PENDING),
    ],
)
def test_a_move_outside_the_table_is_refused(
    store: Store, expected: TaskStatus, target: TaskStatus
) -> None:
    project_id = _setup(store)
    with store.transaction() as uow, pytest.raises(IllegalTransition):
        uow.amps.move_task(project_id, 0, expected, target)
    with store.transaction() as uow:
        setup = uow.amps.get(project_id)
    assert setup is not None and setup.tasks[0].status is TaskStatus.PENDING


def test_the_setup_moves_from_the_expected_status_only(store: Store) -> None:
    project_id = _setup(store)
    with store.transaction() as uow:
        assert uow.amps.running_project_ids() == [project_id]
        assert uow.amps.set_setup(project_id, SetupStatus.RUNNING, SetupStatus.FAILED, "task 0")
        assert not uow.amps.set_setup(
            project_id, SetupStatus.RUNNING, SetupStatus.SUCCEEDED, "too late"
        )
        assert uow.amps.running_project_ids() == []
        failed = uow.amps.get(project_id)
    assert failed is not None
    assert (failed.status, failed.reason) == (SetupStatus.FAILED, "task 0")
    assert failed.finished_at is not None
    with store.transaction() as uow:  # a retry runs it again: no finish time while running
        assert uow.amps.set_setup(project_id, SetupStatus.FAILED, SetupStatus.RUNNING, "")
        running = uow.amps.get(project_id)
        assert uow.amps.get("no-such-project") is None
    assert running is not None and running.finished_at is None
