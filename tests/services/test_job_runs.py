"""Job runs (services/job_runs.py) on the fake executor: triggers and their conflicts, the
run state machine from scheduled to every end, stops, quotas, cron fires, pipelines, timeouts,
orphans, and who may start and stop runs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.services.conftest import Members
from tests.services.conftest import make_job as make

from lakeworks.entities.audit import AuditEvent, Outcome
from lakeworks.entities.jobs import Job, JobRun, RunStatus, Trigger
from lakeworks.entities.workloads import WorkloadStatus
from lakeworks.errors import Conflict, InvalidInput, InvalidState, NotFound, PermissionDenied
from lakeworks.executors.fake import FakeExecutor
from lakeworks.services import job_runs, jobs, workloads
from lakeworks.services.platform import Platform, Principal

Audit = Callable[[Platform, str], list[AuditEvent]]
pytestmark = pytest.mark.timeout(600)  # the first start of the default runtime may build it


@pytest.fixture
def project_id(fake_platform: Platform, members: Members) -> str:
    (fake_platform.settings.projects_dir / members.project_id / "train.py").write_text("pass\n")
    return members.project_id


def stored(platform: Platform, run_id: str) -> JobRun:
    with platform.read() as uow:
        run = uow.jobs.get_run(run_id)
    assert run is not None
    return run


def end_workloads(platform: Platform) -> None:
    """One reconciler step: what ended on the executor ends its run."""
    job_runs.on_workloads_ended(platform, workloads.observe(platform))


def running(platform: Platform, principal: Principal, project_id: str, job: Job) -> JobRun:
    triggered = job_runs.trigger(platform, principal, project_id, job.id)
    (run,) = [r for r in job_runs.dispatch(platform) if r.id == triggered.id]
    assert run.status is RunStatus.RUNNING, run.reason
    return run


# Triggers ---------------------------------------------------------------------------------


def test_a_trigger_records_a_scheduled_run_with_the_jobs_size_and_audit(
    fake_platform: Platform, members: Members, project_id: str, audit_rows: Audit
) -> None:
    job = make(fake_platform, members["owner"], project_id, cpu=2, memory_mb=1024, arguments="-v")
    run = job_runs.trigger(
        fake_platform,
        members["operator"],
        project_id,
        job.id,
        via=Trigger.MANUAL,
        environment={"SEED": 7},
    )
    assert run.status is RunStatus.SCHEDULED and run.trigger is Trigger.MANUAL
    assert (run.cpu, run.memory_mb, run.arguments) == (2.0, 1024, "-v")
    assert run.environment == {"SEED": "7"} and run.user_id == members["operator"].user.id
    assert run.workload_id is None and run.finished_at is None
    (event,) = audit_rows(fake_platform, "job.run")
    assert event.target == run.id and event.detail == {"job": "Train", "trigger": "manual"}
    assert event.actor == "operator" and event.outcome is Outcome.SUCCESS


def test_a_trigger_may_override_the_arguments(
    fake_platform: Platform, members: Members, project_id: str
) -> None:
    job = make(fake_platform, members["owner"], project_id, arguments="--default")
    run = job_runs.trigger(fake_platform, members["owner"], project_id, job.id, arguments="")
    assert run.arguments == ""


def test_a_second_trigger_while_a_run_is_active_is_a_conflict(
    fake_platform: Platform, members: Members, project_id: str
) -> None:
    job = make(fake_platform, members["owner"], project_id)
    first = job_runs.trigger(fake_platform, members["owner"], project_id, job.id)
    with pytest.raises(Conflict) as caught:
        job_runs.trigger(fake_platform, members["owner"], project_id, job.id)
    assert caught.value.message == (
        f"Run {first.id} of job 'Train' is still scheduled; stop it or wait for it to end."
    )
    assert len(job_runs.list_runs(fake_platform, members["owner"], project_id, job.id)) == 1


def test_a_trigger_with_a_bad_variable_name_is_refused(
    fake_platform: Platform, members: Members, project_id: str
) -> None:
    job = make(fake_platform, members["owner"], project_id)
    with pytest.raises(InvalidInput, match="'9LIVES' is not a valid environment variable"):
        job_runs.trigger(
            fake_platform, members["owner"], project_id, job.id, environment={"9LIVES": "x"}
        )
    assert job_runs.list_runs(fake_platform, members["owner"], project_id, job.id) == []


def test_a_trigger_of_a_missing_job_is_not_found(
    fake_platform: Platform, members: Members, project_id: str
) -> None:
    with pytest.raises(NotFound, match="Job 'ghost' not found in this project."):
        job_runs.trigger(fake_platform, members["owner"], project_id, "ghost")


# Roles --------------------------------------------------------------------------------------

RUN_ALLOWED = ("owner", "admin", "contributor", "operator")


@pytest.mark.parametrize(
    "role", ["owner", "admin", "contributor", "operator", "viewer", "outsider"]
)
def test_operators_and_above_start_and_stop_runs(
    fake_platform: Platform, members: Members, project_id: str, audit_rows: Audit, role: str
) -> None:
    job = make(fake_platform, members["owner"], project_id)
    principal = members[role]
    if role in RUN_ALLOWED:
        run = job_runs.trigger(fake_platform, principal, project_id, job.id)
        stopped = job_runs.stop_run(fake_platform, principal, project_id, job.id, run.id)
        assert stopped.status is RunStatus.STOPPED
        assert stopped.reason == f"stopped by {role}"
        for action in ("job.run", "job.stop"):
            (event,) = audit_rows(fake_platform, action)
            assert event.outcome is Outcome.SUCCESS and event.actor == role
        return
    expected = PermissionDenied if role == "viewer" else NotFound
    with pytest.raises(expected) as caught:
        job_runs.trigger(fake_platform, principal, project_id, job.id)
    if expected is PermissionDenied:
        assert "is viewer; you need operator or above" in caught.value.message
    run = job_runs.trigger(fake_platform, members["owner"], project_id, job.id)
    with pytest.raises(expected):
        job_runs.stop_run(fake_platform, principal, project_id, job.id, run.id)
    assert stored(fake_platform, run.id).status is RunStatus.SCHEDULED
    outcome = Outcome.DENIED if expected is PermissionDenied else Outcome.FAILED
    assert [e.outcome for e in audit_rows(fake_platform, "job.stop")] == [outcome]
    refused = [e for e in audit_rows(fake_platform, "job.run") if e.actor == role]
    assert [e.outcome for e in refused] == [outcome]


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_members_read_runs_and_logs(
    fake_platform: Platform, members: Members, project_id: str, role: str
) -> None:
    job = make(fake_platform, members["owner"], project_id)
    run = job_runs.trigger(fake_platform, members["owner"], project_id, job.id)
    listed = job_runs.list_runs(fake_platform, members[role], project_id, job.id)
    assert [r.id for r in listed] == [run.id]
    assert job_runs.get_run(fake_platform, members[role], project_id, job.id, run.id) == run
    # No engine yet: an empty log at the offset asked for.
    data, offset, same = job_runs.run_log(
        fake_platform, members[role], project_id, job.id, run.id, offset=5
    )
    assert (data, offset, same.id) == (b"", 5, run.id)


# The state machine -----------------------------------------------------------------------------


def test_a_dispatched_run_runs_and_succeeds_with_its_exit_code(
    fake_platform: Platform, members: Members, project_id: str, executor: FakeExecutor
) -> None:
    job = make(fake_platform, members["owner"], project_id)
    run = running(fake_platform, members["owner"], project_id, job)
    assert run.workload_id in executor.workloads and run.running_at is not None
    assert stored(fake_platform, run.id).status is RunStatus.RUNNING
    with fake_platform.read() as uow:
        workload = uow.workloads.get(run.workload_id or "")
    assert workload is not None
    # The log is the workload's file (the executor's own log is not what users read).
    log_file = Path(workload.log_path)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.write_bytes(b"epoch 1\nepoch 2\n")
    data, offset, _ = job_runs.run_log(fake_platform, members["viewer"], project_id, job.id, run.id)
    assert data == b"epoch 1\nepoch 2\n" and offset == len(data)

    executor.finish(run.workload_id or "", code=0)
    end_workloads(fake_platform)
    ended = stored(fake_platform, run.id)
    assert ended.status is RunStatus.SUCCEEDED and ended.exit_code == 0
    assert ended.finished_at is not None and ended.duration_seconds is not None
    end_workloads(fake_platform)  # idempotent: nothing more happens
    assert stored(fake_platform, run.id) == ended


@pytest.mark.parametrize(
    ("code", "oom", "status", "reason"),
    [
        (3, False, RunStatus.FAILED, "exit code 3"),
        (-9, False, RunStatus.FAILED, "killed by signal 9"),
        (137, True, RunStatus.FAILED, "out of memory"),
    ],
)
def test_a_run_ends_as_its_workload_ends(
    fake_platform: Platform,
    members: Members,
    project_id: str,
    executor: FakeExecutor,
    code: int,
    oom: bool,
    status: RunStatus,
    reason: str,
) -> None:
    job = make(fake_platform, members["owner"], project_id)
    run = running(fake_platform, members["owner"], project_id, job)
    executor.finish(run.workload_id or "", code=code, oom=oom)
    end_workloads(fake_platform)
    ended = stored(fake_platform, run.id)
    assert ended.status is status and reason in ended.reason
    assert ended.exit_code == code


def test_stopping_a_running_run_moves_it_through_stopping_to_stopped(
    fake_platform: Platform,
    members: Members,
    project_id: str,
    executor: FakeExecutor,
) -> None:
    job = make(fake_platform, members["owner"], project_id)
    run = running(fake_platform, members["owner"], project_id, job)
    stopping = job_runs.stop_run(fake_platform, members["operator"], project_id, job.id, run.id)
    assert stopping.status is RunStatus.STOPPING
    assert executor.workloads[run.workload_id or ""].stops == 1  # asked once, at once
    with pytest.raises(InvalidState, match=f"Run {run.id} is already stopping."):
        job_runs.stop_run(fake_platform, members["operator"], project_id, job.id, run.id)

    with fake_platform.read() as uow:
        workload = uow.workloads.get(run.workload_id or "")
    assert workload is not None and workload.status is WorkloadStatus.STOPPING
    assert workload.reason == "stopped by operator"
    end_workloads(fake_platform)
    ended = stored(fake_platform, run.id)
    assert ended.status is RunStatus.STOPPED and ended.reason == "stopped by operator"
    with pytest.raises(InvalidState, match=rf"Run {run.id} already ended \(stopped\)."):
        job_runs.stop_run(fake_platform, members["operator"], project_id, job.id, run.id)


def test_stopping_a_run_of_another_job_is_not_found(
    fake_platform: Platform, members: Members, project_id: str
) -> None:
    one = make(fake_platform, members["owner"], project_id, name="One")
    two = make(fake_platform, members["owner"], project_id, name="Two")
    run = job_runs.trigger(fake_platform, members["owner"], project_id, one.id)
    with pytest.raises(NotFound, match=f"Run '{run.id}' of job '{two.id}' not found."):
        job_runs.stop_run(fake_platform, members["owner"], project_id, two.id, run.id)
    with pytest.raises(NotFound):
        job_runs.get_run(fake_platform, members["owner"], project_id, two.id, run.id)


def test_a_new_run_may_start_once_the_last_one_ended(
    fake_platform: Platform, members: Members, project_id: str, executor: FakeExecutor
) -> None:
    job = make(fake_platform, members["owner"], project_id)
    first = running(fake_platform, members["owner"], project_id, job)
    executor.finish(first.workload_id or "", code=1)
    end_workloads(fake_platform)
    second = running(fake_platform, members["owner"], project_id, job)
    assert second.id != first.id and second.workload_id != first.workload_id
    newest = job_runs.list_runs(
        fake_platform, members["owner"], project_id, job.id, newest_first=True
    )
    assert [r.id for r in newest] == [second.id, first.id]
    failed = job_runs.list_runs(
        fake_platform, members["owner"], project_id, job.id, status=RunStatus.FAILED
    )
    assert [r.id for r in failed] == [first.id]


def test_an_executor_refusal_fails_the_run_and_frees_the_job(
    fake_platform: Platform, members: Members, project_id: str, executor: FakeExecutor
) -> None:
    job = make(fake_platform, members["owner"], project_id)
    executor.refuse_with = "no room at the inn"
    job_runs.trigger(fake_platform, members["owner"], project_id, job.id)
    (run,) = job_runs.dispatch(fake_platform)
    assert run.status is RunStatus.FAILED and "no room at the inn" in run.reason
    executor.refuse_with = ""
    assert running(fake_platform, members["owner"], project_id, job).status is RunStatus.RUNNING


# Quotas ------------------------------------------------------------------------------------------


def test_a_run_larger_than_the_quota_is_refused_at_claim(
    fake_platform: Platform, members: Members, project_id: str, executor: FakeExecutor
) -> None:
    owner = members["owner"]
    with fake_platform.store.transaction() as uow:
        uow.workloads.set_quota(owner.user.id, 1.0, 1024)
    job = make(fake_platform, owner, project_id, cpu=2, memory_mb=512)
    run = job_runs.trigger(fake_platform, owner, project_id, job.id)
    assert job_runs.claim(fake_platform) == []
    refused = stored(fake_platform, run.id)
    assert refused.status is RunStatus.FAILED
    assert refused.reason == (
        "refused: it asks for 2 vCPU / 512 MiB, more than the user's quota of 1 vCPU / 1024 MiB"
    )
    assert executor.workloads == {}


def test_a_run_waits_for_quota_held_by_another_run_then_starts(
    fake_platform: Platform, members: Members, project_id: str, executor: FakeExecutor
) -> None:
    owner = members["owner"]
    with fake_platform.store.transaction() as uow:
        uow.workloads.set_quota(owner.user.id, 1.5, 4096)
    first = make(fake_platform, owner, project_id, name="First", cpu=1, memory_mb=512)
    second = make(fake_platform, owner, project_id, name="Second", cpu=1, memory_mb=512)
    one = running(fake_platform, owner, project_id, first)
    waiting = job_runs.trigger(fake_platform, owner, project_id, second.id)
    assert job_runs.dispatch(fake_platform) == []
    held = stored(fake_platform, waiting.id)
    assert held.status is RunStatus.SCHEDULED
    assert held.reason == "waiting for quota: 1 of 1.5 vCPU and 512 of 4096 MiB are in use"

    executor.finish(one.workload_id or "", code=0)
    end_workloads(fake_platform)
    (started,) = job_runs.dispatch(fake_platform)
    assert started.id == waiting.id and started.status is RunStatus.RUNNING
    assert started.reason == ""


def test_runs_claimed_together_count_against_each_other(
    fake_platform: Platform, members: Members, project_id: str
) -> None:
    owner = members["owner"]
    with fake_platform.store.transaction() as uow:
        uow.workloads.set_quota(owner.user.id, 2.0, 8192)
    made = [make(fake_platform, owner, project_id, name=f"J{i}", cpu=1) for i in range(3)]
    runs = [job_runs.trigger(fake_platform, owner, project_id, job.id) for job in made]
    claimed = job_runs.claim(fake_platform)
    assert [r.id for r in claimed] == [r.id for r in runs[:2]]
    assert all(r.status is RunStatus.STARTING and r.starting_at for r in claimed)
    assert stored(fake_platform, runs[2].id).reason.startswith("waiting for quota: 2 of 2 vCPU")


# Cron fires ---------------------------------------------------------------------------------------


def _due(platform: Platform, job: Job, at: datetime) -> None:
    with platform.store.transaction() as uow:
        uow.jobs.update(job.id, next_fire_at=at)


def test_a_due_cron_job_fires_one_run_and_moves_its_next_fire(
    fake_platform: Platform, members: Members, project_id: str
) -> None:
    job = make(fake_platform, members["owner"], project_id, schedule="*/10 * * * *", timezone="UTC")
    now = datetime.now(UTC)
    missed = now - timedelta(hours=3)
    _due(fake_platform, job, missed)
    (run_id,) = job_runs.fire_due(fake_platform, now)
    run = stored(fake_platform, run_id)
    assert run.status is RunStatus.SCHEDULED and run.trigger is Trigger.SCHEDULE
    # Missed fires coalesce into one run, marked with the oldest missed time.
    assert run.scheduled_for == missed and run.user_id == members["owner"].user.id
    moved = jobs.get(fake_platform, members["owner"], project_id, job.id).next_fire_at
    assert moved is not None and now < moved <= now + timedelta(minutes=10)
    assert moved.minute % 10 == 0
    assert job_runs.fire_due(fake_platform, now) == []  # the same time never fires twice


def test_a_cron_fire_while_a_run_is_active_is_recorded_as_skipped(
    fake_platform: Platform, members: Members, project_id: str
) -> None:
    job = make(fake_platform, members["owner"], project_id, schedule="0 * * * *", timezone="UTC")
    active = job_runs.trigger(fake_platform, members["owner"], project_id, job.id)
    now = datetime.now(UTC)
    _due(fake_platform, job, now - timedelta(minutes=1))
    (run_id,) = job_runs.fire_due(fake_platform, now)
    skipped = stored(fake_platform, run_id)
    assert skipped.status is RunStatus.SKIPPED and skipped.finished_at is not None
    assert skipped.reason == f"skipped: run {active.id} was still scheduled"


def test_paused_and_future_cron_jobs_do_not_fire(
    fake_platform: Platform, members: Members, project_id: str
) -> None:
    owner = members["owner"]
    now = datetime.now(UTC)
    paused = make(fake_platform, owner, project_id, name="P", schedule="* * * * *", paused=True)
    later = make(fake_platform, owner, project_id, name="L", schedule="* * * * *")
    _due(fake_platform, paused, now - timedelta(minutes=5))
    _due(fake_platform, later, now + timedelta(minutes=5))
    assert job_runs.fire_due(fake_platform, now) == []


# Pipelines -------------------------------------------------------------------------------------


def test_a_success_starts_the_children_and_a_failure_stops_the_pipeline(
    fake_platform: Platform, members: Members, project_id: str, executor: FakeExecutor
) -> None:
    owner = members["owner"]
    root = make(fake_platform, owner, project_id, name="Root")
    child = make(fake_platform, owner, project_id, name="Child", parent_id=root.id)
    paused = make(fake_platform, owner, project_id, name="Paused", parent_id=root.id, paused=True)
    grandchild = make(fake_platform, owner, project_id, name="Grand", parent_id=child.id)

    first = running(fake_platform, owner, project_id, root)
    executor.finish(first.workload_id or "", code=0)
    end_workloads(fake_platform)
    (child_run,) = job_runs.list_runs(fake_platform, owner, project_id, child.id)
    assert child_run.trigger is Trigger.DEPENDENCY and child_run.parent_run_id == first.id
    assert child_run.user_id == owner.user.id
    assert job_runs.list_runs(fake_platform, owner, project_id, paused.id) == []

    (started,) = job_runs.dispatch(fake_platform)
    assert started.id == child_run.id
    executor.finish(started.workload_id or "", code=2)
    end_workloads(fake_platform)
    failed = stored(fake_platform, child_run.id)
    assert failed.status is RunStatus.FAILED
    assert failed.reason == "exit code 2; the pipeline stops here: 'Grand' not run"
    assert job_runs.list_runs(fake_platform, owner, project_id, grandchild.id) == []

    stages = job_runs.pipeline(fake_platform, owner, project_id, grandchild.id)
    assert [[j.name for j in s] for s in stages] == [["Root"], ["Child", "Paused"], ["Grand"]]


def test_a_parent_success_while_the_child_is_busy_records_a_skipped_run(
    fake_platform: Platform, members: Members, project_id: str, executor: FakeExecutor
) -> None:
    owner = members["owner"]
    root = make(fake_platform, owner, project_id, name="Root")
    child = make(fake_platform, owner, project_id, name="Child", parent_id=root.id)
    busy = job_runs.trigger(fake_platform, owner, project_id, child.id)
    parent_run = running(fake_platform, owner, project_id, root)
    executor.finish(parent_run.workload_id or "", code=0)
    end_workloads(fake_platform)
    runs = job_runs.list_runs(fake_platform, owner, project_id, child.id)
    skipped = [r for r in runs if r.id != busy.id]
    assert [r.status for r in skipped] == [RunStatus.SKIPPED]
    assert skipped[0].reason.startswith(f"skipped: run {busy.id} was still")


# Timeouts and orphans ---------------------------------------------------------------------


def test_a_run_past_its_timeout_is_stopped_and_ends_timed_out(
    fake_platform: Platform, members: Members, project_id: str, executor: FakeExecutor
) -> None:
    job = make(fake_platform, members["owner"], project_id, timeout_seconds=60)
    run = running(fake_platform, members["owner"], project_id, job)
    assert run.running_at is not None
    assert job_runs.enforce_timeouts(fake_platform, run.running_at + timedelta(seconds=59)) == []
    late = run.running_at + timedelta(seconds=61)
    assert job_runs.enforce_timeouts(fake_platform, late) == [run.id]
    assert stored(fake_platform, run.id).status is RunStatus.STOPPING
    assert job_runs.enforce_timeouts(fake_platform, late) == []  # already stopping
    executor.finish(run.workload_id or "", code=-15)
    end_workloads(fake_platform)
    ended = stored(fake_platform, run.id)
    assert ended.status is RunStatus.TIMEDOUT and ended.reason == workloads.TIMEOUT_REASON


@pytest.mark.parametrize(
    "fields", [{"timeout_seconds": 0}, {"timeout_seconds": 5, "kill_on_timeout": False}]
)
def test_runs_without_a_killing_timeout_are_left_running(
    fake_platform: Platform, members: Members, project_id: str, fields: dict[str, Any]
) -> None:
    job = make(fake_platform, members["owner"], project_id, **fields)
    run = running(fake_platform, members["owner"], project_id, job)
    assert job_runs.enforce_timeouts(fake_platform, datetime.now(UTC) + timedelta(days=30)) == []
    assert stored(fake_platform, run.id).status is RunStatus.RUNNING


def test_a_run_left_starting_without_a_workload_is_failed_after_the_grace(
    fake_platform: Platform, members: Members, project_id: str
) -> None:
    job = make(fake_platform, members["owner"], project_id)
    job_runs.trigger(fake_platform, members["owner"], project_id, job.id)
    (claimed,) = job_runs.claim(fake_platform)  # claimed, never started: the server died
    job_runs.reconcile_orphans(fake_platform)
    assert stored(fake_platform, claimed.id).status is RunStatus.STARTING  # still in its grace
    with fake_platform.store.transaction() as uow:
        uow.jobs.set_run(claimed.id, starting_at=datetime.now(UTC) - timedelta(minutes=3))
    job_runs.reconcile_orphans(fake_platform)
    lost = stored(fake_platform, claimed.id)
    assert lost.status is RunStatus.FAILED
    assert lost.reason == "lost: the server stopped while the run was starting"


def test_a_start_that_finishes_while_orphans_are_reconciled_is_not_failed(
    fake_platform: Platform,
    members: Members,
    project_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A run waiting past the grace (its runtime was being built) whose start completes
    # between the orphans' read and the launching check: it is running, not lost.
    job = make(fake_platform, members["owner"], project_id)
    job_runs.trigger(fake_platform, members["owner"], project_id, job.id)
    (claimed,) = job_runs.claim(fake_platform)
    with fake_platform.store.transaction() as uow:
        uow.jobs.set_run(claimed.id, starting_at=datetime.now(UTC) - timedelta(minutes=30))

    def start_finishes_now(run_id: str) -> bool:
        job_runs.start_batch(fake_platform, [claimed])
        return False  # the launch is over by the time it is asked

    monkeypatch.setattr(fake_platform, "is_launching", start_finishes_now)
    job_runs.reconcile_orphans(fake_platform)
    run = stored(fake_platform, claimed.id)
    assert run.status is RunStatus.RUNNING, run.reason
    assert run.workload_id


def test_a_running_run_whose_workload_ended_unseen_takes_the_workloads_end(
    fake_platform: Platform, members: Members, project_id: str
) -> None:
    job = make(fake_platform, members["owner"], project_id)
    run = running(fake_platform, members["owner"], project_id, job)
    with fake_platform.store.transaction() as uow:
        uow.workloads.move(
            run.workload_id or "",
            WorkloadStatus.RUNNING,
            WorkloadStatus.SUCCEEDED,
            exit_code=0,
            reason="",
        )
    job_runs.reconcile_orphans(fake_platform)
    ended = stored(fake_platform, run.id)
    assert ended.status is RunStatus.SUCCEEDED and ended.exit_code == 0


def test_a_deleted_job_stops_its_running_workload(
    fake_platform: Platform, members: Members, project_id: str
) -> None:
    job = make(fake_platform, members["owner"], project_id)
    run = running(fake_platform, members["owner"], project_id, job)
    jobs.delete(fake_platform, members["owner"], project_id, job.id)
    with fake_platform.read() as uow:
        workload = uow.workloads.get(run.workload_id or "")
    assert workload is not None and workload.status is WorkloadStatus.STOPPING
    assert workload.reason == "its job was deleted"
