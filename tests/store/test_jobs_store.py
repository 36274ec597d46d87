"""JobRepo on the test backend: jobs and their runs, the scheduler's queries (due fires,
conditional advances, active runs), run listing and the conditional, table-checked run moves."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select
from tests.store.factories import BASE, add_job, add_run, at
from tests.store.test_projects_store import add_project, add_user

from lakeworks.entities.jobs import (
    JobKind,
    Recipient,
    RunStatus,
    ScheduleKind,
    Trigger,
)
from lakeworks.entities.status import IllegalTransition
from lakeworks.entities.users import User
from lakeworks.errors import Conflict
from lakeworks.store.tables import JobRunRow, UserRow
from lakeworks.store.uow import Store


def _cron(store: Store, project: str, alice: User, job_id: str, **values: object) -> None:
    with store.transaction() as uow:
        add_job(
            uow,
            job_id,
            project,
            alice.id,
            schedule_kind=ScheduleKind.CRON.value,
            schedule="*/5 * * * *",
            **values,
        )


# Jobs -------------------------------------------------------------------------------------


def test_a_job_reads_back_with_every_field_and_its_creator(
    store: Store, alice: User, project: str
) -> None:
    with store.transaction() as uow:
        made = add_job(
            uow,
            "job-1",
            project,
            alice.id,
            name="Nightly",
            arguments="--full",
            runtime_identifier="python3.11",
            cpu=2.0,
            memory_mb=4096,
            environment={"A": "1"},
            timeout_seconds=600,
            kill_on_timeout=False,
            schedule_kind=ScheduleKind.CRON.value,
            schedule="0 3 * * *",
            timezone="Europe/Berlin",
            recipients=[{"email": "ops@example.org", "on_success": True}],
            next_fire_at=at(60),
        )
    assert made.creator_username == "alice"
    with store.transaction() as uow:
        job = uow.jobs.get("job-1")
    assert job is not None
    assert (job.name, job.script, job.arguments, job.runtime_identifier) == (
        "Nightly",
        "train.py",
        "--full",
        "python3.11",
    )
    assert (job.cpu, job.memory_mb, job.environment) == (2.0, 4096, {"A": "1"})
    assert (job.timeout_seconds, job.kill_on_timeout) == (600, False)
    assert (job.schedule_kind, job.schedule, job.timezone) == (
        ScheduleKind.CRON,
        "0 3 * * *",
        "Europe/Berlin",
    )
    assert job.recipients == [Recipient(email="ops@example.org", on_success=True)]
    assert job.next_fire_at == at(60)
    assert job.kind is JobKind.JOB and job.paused is False and job.parent_id is None
    assert job.creator_id == alice.id and job.creator_username == "alice"
    assert job.created_at is not None and job.created_at.tzinfo is not None


def test_column_defaults_of_a_bare_job(store: Store, alice: User, project: str) -> None:
    with store.transaction() as uow:
        job = add_job(uow, "bare", project, alice.id)
    assert (job.arguments, job.runtime_identifier, job.environment) == ("", "", {})
    assert (job.cpu, job.memory_mb, job.timeout_seconds, job.kill_on_timeout) == (
        1.0,
        2048,
        0,
        True,
    )
    assert (job.schedule, job.timezone, job.recipients, job.next_fire_at) == ("", "UTC", [], None)


def test_get_of_an_unknown_job_or_run_is_none(store: Store, project: str) -> None:
    with store.transaction() as uow:
        assert uow.jobs.get("nope") is None
        assert uow.jobs.get_run("nope") is None
        assert uow.jobs.run_for_workload("nope") is None
        assert uow.jobs.active_run("nope") is None


def test_job_ids_are_unique(store: Store, alice: User, project: str) -> None:
    with store.transaction() as uow:
        add_job(uow, "dup", project, alice.id)
    with pytest.raises(Conflict), store.transaction() as uow:
        add_job(uow, "dup", project, alice.id, name="other")
    with store.transaction() as uow:
        job = uow.jobs.get("dup")
        assert job is not None and job.name == "dup"


@pytest.mark.parametrize("missing", ["project_id", "creator_id"])
def test_a_job_needs_an_existing_project_and_creator(
    store: Store, alice: User, project: str, missing: str
) -> None:
    project_id = "0000-none" if missing == "project_id" else project
    creator_id = 999_999 if missing == "creator_id" else alice.id
    with pytest.raises(Conflict), store.transaction() as uow:
        add_job(uow, "orphan", project_id, creator_id)
    with store.transaction() as uow:
        assert uow.jobs.get("orphan") is None


def test_of_project_lists_one_kind_in_creation_order(store: Store, alice: User) -> None:
    with store.transaction() as uow:
        first = add_project(uow, "First", owner=alice)
        other = add_project(uow, "Other", owner=alice)
        add_job(uow, "j-b", first, alice.id, created_at=at(2))
        add_job(uow, "j-a", first, alice.id, created_at=at(1))
        add_job(uow, "j-c", first, alice.id, created_at=at(3))
        add_job(uow, "x-1", first, alice.id, created_at=at(0), kind=JobKind.EXPERIMENT.value)
        add_job(uow, "o-1", other, alice.id, created_at=at(0))
    with store.transaction() as uow:
        assert [j.id for j in uow.jobs.of_project(first)] == ["j-a", "j-b", "j-c"]
        assert [j.id for j in uow.jobs.of_project(first, JobKind.EXPERIMENT)] == ["x-1"]
        assert [j.id for j in uow.jobs.of_project(other)] == ["o-1"]
        assert uow.jobs.of_project("0000-none") == []


def test_update_changes_only_the_named_columns(store: Store, alice: User, project: str) -> None:
    with store.transaction() as uow:
        add_job(uow, "j", project, alice.id, arguments="--a", cpu=2.0)
        uow.jobs.update("j", paused=True, arguments="--b")
    with store.transaction() as uow:
        job = uow.jobs.get("j")
    assert job is not None
    assert (job.paused, job.arguments, job.cpu) == (True, "--b", 2.0)


def test_dependent_jobs_are_children_and_outlive_their_parent(
    store: Store, alice: User, project: str
) -> None:
    with store.transaction() as uow:
        add_job(uow, "parent", project, alice.id)
        for n, child in enumerate(("c2", "c1")):
            add_job(
                uow,
                child,
                project,
                alice.id,
                parent_id="parent",
                schedule_kind=ScheduleKind.DEPENDENT.value,
                created_at=at(n),
            )
        add_job(uow, "unrelated", project, alice.id)
    with store.transaction() as uow:
        assert [j.id for j in uow.jobs.children("parent")] == ["c2", "c1"]
        assert uow.jobs.children("unrelated") == []
        uow.jobs.delete("parent")
    with store.transaction() as uow:
        assert uow.jobs.get("parent") is None
        orphans = [uow.jobs.get(c) for c in ("c1", "c2")]
    assert all(j is not None and j.parent_id is None for j in orphans), "SET NULL on delete"
    assert all(j is not None and j.schedule_kind is ScheduleKind.DEPENDENT for j in orphans)


def test_deleting_a_job_deletes_its_runs_only(store: Store, alice: User, project: str) -> None:
    with store.transaction() as uow:
        add_job(uow, "doomed", project, alice.id)
        add_job(uow, "kept", project, alice.id)
        add_run(uow, "r-doomed", "doomed", project, alice.id)
        add_run(uow, "r-kept", "kept", project, alice.id)
        uow.jobs.delete("doomed")
    with store.transaction() as uow:
        assert uow.jobs.get_run("r-doomed") is None
        assert uow.jobs.get_run("r-kept") is not None


def test_deleting_the_project_deletes_its_jobs_and_runs(
    store: Store, alice: User, project: str
) -> None:
    with store.transaction() as uow:
        add_job(uow, "j", project, alice.id)
        add_run(uow, "r", "j", project, alice.id)
        uow.projects.delete(project)
    with store.transaction() as uow:
        assert uow.jobs.get("j") is None
        count = uow.session.scalar(select(func.count()).select_from(JobRunRow))
    assert count == 0


def test_a_user_who_created_a_job_cannot_be_deleted_from_under_it(
    store: Store, alice: User, project: str
) -> None:
    bob = add_user(store, "bob")
    with store.transaction() as uow:
        add_job(uow, "bobs", project, bob.id)
    with pytest.raises(Conflict), store.transaction() as uow:
        uow.session.execute(delete(UserRow).where(UserRow.id == bob.id))
    with store.transaction() as uow:
        job = uow.jobs.get("bobs")
    assert job is not None and job.creator_username == "bob"


# The scheduler's queries -----------------------------------------------------------------


def test_due_lists_unpaused_cron_jobs_whose_time_has_come_oldest_first(
    store: Store, alice: User, project: str
) -> None:
    _cron(store, project, alice, "late", next_fire_at=at(-10), arguments="--x", cpu=0.5)
    _cron(store, project, alice, "later", next_fire_at=at(-20))
    _cron(store, project, alice, "exactly-now", next_fire_at=at(0))
    _cron(store, project, alice, "future", next_fire_at=at(1))
    _cron(store, project, alice, "paused", next_fire_at=at(-30), paused=True)
    _cron(store, project, alice, "never", next_fire_at=None)
    with store.transaction() as uow:
        add_job(uow, "manual", project, alice.id, next_fire_at=at(-40))
        due = uow.jobs.due(BASE, limit=10)
        limited = uow.jobs.due(BASE, limit=2)
    assert [d.id for d in due] == ["later", "late", "exactly-now"]
    assert [d.id for d in limited] == ["later", "late"]
    late = due[1]
    assert (late.project_id, late.schedule, late.timezone, late.next_fire_at) == (
        project,
        "*/5 * * * *",
        "UTC",
        at(-10),
    )
    assert (late.creator_id, late.arguments, late.cpu, late.memory_mb) == (
        alice.id,
        "--x",
        0.5,
        2048,
    )


def test_earliest_fire_ignores_paused_and_unscheduled_jobs(
    store: Store, alice: User, project: str
) -> None:
    with store.transaction() as uow:
        assert uow.jobs.earliest_fire() is None
        add_job(uow, "manual", project, alice.id, next_fire_at=at(-100))
    _cron(store, project, alice, "paused", next_fire_at=at(-50), paused=True)
    _cron(store, project, alice, "a", next_fire_at=at(7))
    _cron(store, project, alice, "b", next_fire_at=at(3))
    with store.transaction() as uow:
        assert uow.jobs.earliest_fire() == at(3)


def test_advance_fire_moves_only_from_the_expected_time(
    store: Store, alice: User, project: str
) -> None:
    _cron(store, project, alice, "j", next_fire_at=at(0))
    with store.transaction() as uow:
        assert uow.jobs.advance_fire("j", at(0), at(5)) is True
        # A second scheduler that read the old time loses.
        assert uow.jobs.advance_fire("j", at(0), at(10)) is False
        assert uow.jobs.advance_fire("unknown", at(0), at(10)) is False
    with store.transaction() as uow:
        job = uow.jobs.get("j")
        assert job is not None and job.next_fire_at == at(5)
        assert uow.jobs.advance_fire("j", at(5), None) is True
        job = uow.jobs.get("j")
        assert job is not None and job.next_fire_at is None


def test_advance_fires_returns_the_jobs_this_caller_moved(
    store: Store, alice: User, project: str
) -> None:
    for job_id in ("a", "b", "c"):
        _cron(store, project, alice, job_id, next_fire_at=at(0))
    _cron(store, project, alice, "moved-already", next_fire_at=at(5))
    with store.transaction() as uow:
        assert uow.jobs.advance_fires([], at(0), at(5)) == []
        moved = uow.jobs.advance_fires(["a", "b", "moved-already"], at(0), at(5))
    assert sorted(moved) == ["a", "b"]
    with store.transaction() as uow:
        times = {j: uow.jobs.get(j).next_fire_at for j in ("a", "b", "c")}  # type: ignore[union-attr]
    assert times == {"a": at(5), "b": at(5), "c": at(0)}


def test_with_active_runs_names_each_jobs_active_run(
    store: Store, alice: User, project: str
) -> None:
    with store.transaction() as uow:
        for job_id in ("busy", "idle", "stopping"):
            add_job(uow, job_id, project, alice.id)
        add_run(uow, "r1", "busy", project, alice.id, status=RunStatus.RUNNING.value)
        add_run(uow, "r2", "idle", project, alice.id, status=RunStatus.SUCCEEDED.value)
        add_run(uow, "r3", "stopping", project, alice.id, status=RunStatus.STOPPING.value)
        assert uow.jobs.with_active_runs([]) == {}
        active = uow.jobs.with_active_runs(["busy", "idle", "stopping", "unknown"])
    assert active == {"busy": ("r1", "running"), "stopping": ("r3", "stopping")}


def test_add_runs_inserts_a_burst_in_one_statement(store: Store, alice: User, project: str) -> None:
    with store.transaction() as uow:
        add_job(uow, "j", project, alice.id)
        uow.jobs.add_runs([])
        uow.jobs.add_runs(
            [
                {
                    "id": f"burst-{n}",
                    "job_id": "j",
                    "project_id": project,
                    "user_id": alice.id,
                    "status": RunStatus.SCHEDULED.value,
                    "trigger": Trigger.SCHEDULE.value,
                    "scheduled_for": at(n),
                    "created_at": at(n),
                }
                for n in range(3)
            ]
        )
    with store.transaction() as uow:
        runs = uow.jobs.runs_of("j")
    assert [(r.id, r.trigger, r.scheduled_for) for r in runs] == [
        (f"burst-{n}", Trigger.SCHEDULE, at(n)) for n in range(3)
    ]
    assert all(r.username == "alice" and r.cpu == 1.0 and r.memory_mb == 2048 for r in runs)


# Runs ---------------------------------------------------------------------------------------


def test_a_run_reads_back_with_its_user(store: Store, alice: User, project: str) -> None:
    bob = add_user(store, "bob")
    with store.transaction() as uow:
        add_job(uow, "j", project, alice.id)
        made = add_run(
            uow,
            "r",
            "j",
            project,
            bob.id,
            arguments="--fast",
            environment={"K": "v"},
            workload_id="w-1",
            parent_run_id="r-0",
            cpu=0.25,
            memory_mb=256,
        )
    assert made.username == "bob" and made.user_id == bob.id
    assert (made.status, made.trigger) == (RunStatus.SCHEDULED, Trigger.API)
    assert (made.arguments, made.environment, made.workload_id, made.parent_run_id) == (
        "--fast",
        {"K": "v"},
        "w-1",
        "r-0",
    )
    assert (made.cpu, made.memory_mb, made.exit_code, made.reason) == (0.25, 256, None, "")
    with store.transaction() as uow:
        found = uow.jobs.run_for_workload("w-1")
    assert found is not None and found.id == "r"


@pytest.mark.parametrize("newest_first", [False, True])
def test_runs_of_pages_in_creation_order(
    store: Store, alice: User, project: str, newest_first: bool
) -> None:
    with store.transaction() as uow:
        add_job(uow, "j", project, alice.id)
        add_job(uow, "other", project, alice.id)
        for n in (3, 0, 4, 1, 2):
            add_run(uow, f"r{n}", "j", project, alice.id, created_at=at(n))
        add_run(uow, "x", "other", project, alice.id, created_at=at(0))
    expected = [f"r{n}" for n in range(5)]
    if newest_first:
        expected.reverse()
    with store.transaction() as uow:
        every = [r.id for r in uow.jobs.runs_of("j", newest_first=newest_first)]
        pages = [
            [r.id for r in uow.jobs.runs_of("j", offset=o, limit=2, newest_first=newest_first)]
            for o in (0, 2, 4, 6)
        ]
    assert every == expected
    assert pages == [expected[0:2], expected[2:4], expected[4:], []]


def test_runs_of_with_a_status_and_runs_with_status(
    store: Store, alice: User, project: str
) -> None:
    statuses = [RunStatus.FAILED, RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.RUNNING]
    with store.transaction() as uow:
        add_job(uow, "j", project, alice.id)
        for n, status in enumerate(statuses):
            add_run(uow, f"r{n}", "j", project, alice.id, status=status.value, created_at=at(n))
    with store.transaction() as uow:
        failed = [r.id for r in uow.jobs.runs_of("j", status=RunStatus.FAILED)]
        none = uow.jobs.runs_of("j", status=RunStatus.SKIPPED)
        ended = [r.id for r in uow.jobs.runs_with_status(RunStatus.FAILED, RunStatus.SUCCEEDED)]
        one = [r.id for r in uow.jobs.runs_with_status(RunStatus.FAILED, limit=1)]
    assert failed == ["r0", "r2"]
    assert none == []
    assert ended == ["r0", "r1", "r2"]
    assert one == ["r0"]


@pytest.mark.parametrize("status", list(RunStatus), ids=str)
def test_active_run_is_a_run_in_an_active_status(
    store: Store, alice: User, project: str, status: RunStatus
) -> None:
    with store.transaction() as uow:
        add_job(uow, "j", project, alice.id)
        add_run(uow, "r", "j", project, alice.id, status=status.value)
        active = uow.jobs.active_run("j")
    if status.is_final:
        assert active is None
    else:
        assert active is not None and (active.id, active.status) == ("r", status)


def test_last_runs_maps_each_job_to_its_newest_run(store: Store, alice: User, project: str) -> None:
    with store.transaction() as uow:
        for job_id in ("a", "b", "never-ran"):
            add_job(uow, job_id, project, alice.id)
        add_run(uow, "a-old", "a", project, alice.id, created_at=at(1))
        add_run(uow, "a-new", "a", project, alice.id, created_at=at(2))
        add_run(uow, "b-only", "b", project, alice.id, created_at=at(0))
        last = uow.jobs.last_runs(["a", "b", "never-ran"])
    assert {job: run.id for job, run in last.items()} == {"a": "a-new", "b": "b-only"}


def test_experiment_runs_are_the_hidden_jobs_runs_newest_first(
    store: Store, alice: User, project: str
) -> None:
    bob = add_user(store, "bob")
    with store.transaction() as uow:
        add_job(uow, "visible", project, alice.id)
        add_run(uow, "job-run", "visible", project, alice.id)
        for n in range(3):
            add_job(uow, f"x{n}", project, alice.id, kind=JobKind.EXPERIMENT.value)
            add_run(uow, f"xr{n}", f"x{n}", project, bob.id, created_at=at(n))
        pairs = uow.jobs.experiment_runs(project)
        one = uow.jobs.experiment_runs(project, run_id="xr1")
        limited = uow.jobs.experiment_runs(project, limit=2)
        wrong = uow.jobs.experiment_runs(project, run_id="job-run")
    assert [(job.id, run.id) for job, run in pairs] == [("x2", "xr2"), ("x1", "xr1"), ("x0", "xr0")]
    job, run = pairs[0]
    assert (job.creator_username, run.username, job.kind) == ("alice", "bob", JobKind.EXPERIMENT)
    assert [run.id for _, run in one] == ["xr1"]
    assert [run.id for _, run in limited] == ["xr2", "xr1"]
    assert wrong == [], "a run of an ordinary job is no experiment run"


def test_set_run_writes_columns_without_a_status_check(
    store: Store, alice: User, project: str
) -> None:
    with store.transaction() as uow:
        add_job(uow, "j", project, alice.id)
        add_run(uow, "r", "j", project, alice.id)
        uow.jobs.set_run("r", workload_id="w-9", reason="waiting for quota")
        run = uow.jobs.get_run("r")
    assert run is not None
    assert (run.status, run.workload_id, run.reason) == (
        RunStatus.SCHEDULED,
        "w-9",
        "waiting for quota",
    )


# Moves ---------------------------------------------------------------------------------------


def test_a_run_moves_along_its_lifecycle_with_a_time_per_step(
    store: Store, alice: User, project: str
) -> None:
    with store.transaction() as uow:
        add_job(uow, "j", project, alice.id)
        add_run(uow, "r", "j", project, alice.id)
        assert uow.jobs.move_run("r", RunStatus.SCHEDULED, RunStatus.STARTING, starting_at=at(1))
        assert uow.jobs.move_run("r", RunStatus.STARTING, RunStatus.RUNNING, running_at=at(2))
        assert uow.jobs.move_run(
            "r", RunStatus.RUNNING, RunStatus.FAILED, finished_at=at(5), exit_code=3, reason="boom"
        )
        run = uow.jobs.get_run("r")
    assert run is not None
    assert (run.status, run.exit_code, run.reason) == (RunStatus.FAILED, 3, "boom")
    assert (run.starting_at, run.running_at, run.finished_at) == (at(1), at(2), at(5))
    assert run.duration_seconds == 180.0


def test_a_move_from_a_status_the_run_no_longer_has_changes_nothing(
    store: Store, alice: User, project: str
) -> None:
    with store.transaction() as uow:
        add_job(uow, "j", project, alice.id)
        add_run(uow, "r", "j", project, alice.id)
        assert uow.jobs.move_run("r", RunStatus.SCHEDULED, RunStatus.STOPPED, reason="first")
        # The scheduler read "scheduled" before the stop landed: its start loses.
        assert not uow.jobs.move_run("r", RunStatus.SCHEDULED, RunStatus.STARTING)
        assert not uow.jobs.move_run("unknown", RunStatus.SCHEDULED, RunStatus.STARTING)
        run = uow.jobs.get_run("r")
    assert run is not None and (run.status, run.reason) == (RunStatus.STOPPED, "first")


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (RunStatus.STOPPING, RunStatus.STOPPING),
        (RunStatus.SUCCEEDED, RunStatus.RUNNING),
        (RunStatus.SCHEDULED, RunStatus.RUNNING),
        (RunStatus.RUNNING, RunStatus.SCHEDULED),
        (RunStatus.SKIPPED, RunStatus.STARTING),
    ],
    ids=lambda s: s.value,
)
def test_an_illegal_run_move_raises_and_leaves_the_row(
    store: Store, alice: User, project: str, current: RunStatus, target: RunStatus
) -> None:
    with store.transaction() as uow:
        add_job(uow, "j", project, alice.id)
        add_run(uow, "r", "j", project, alice.id, status=current.value)
    message = f"RunStatus cannot move from '{current.value}'"
    with pytest.raises(IllegalTransition, match=message), store.transaction() as uow:
        uow.jobs.move_run("r", current, target, reason="should not land")
    with store.transaction() as uow:
        run = uow.jobs.get_run("r")
    assert run is not None and (run.status, run.reason) == (current, "")


@pytest.mark.parametrize(
    ("running", "starting", "finished", "expected"),
    [
        (at(1), at(0), at(3), 120.0),
        (None, at(0), at(3), 180.0),
        (None, None, at(3), None),
        (at(1), at(0), None, None),
        (at(5), at(0), at(3), 0.0),  # clocks disagree: never negative
    ],
)
def test_duration_counts_from_running_or_else_starting(
    store: Store,
    alice: User,
    project: str,
    running: object,
    starting: object,
    finished: object,
    expected: float | None,
) -> None:
    with store.transaction() as uow:
        add_job(uow, "j", project, alice.id)
        run = add_run(
            uow,
            "r",
            "j",
            project,
            alice.id,
            running_at=running,
            starting_at=starting,
            finished_at=finished,
        )
    assert run.duration_seconds == expected
