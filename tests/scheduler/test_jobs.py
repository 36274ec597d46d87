"""Jobs with real processes: the run state machine, pipelines, timeouts, memory limits,
stops, the trigger policy, cron fires, quotas and email."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from tests.ports import free_port

from lakeworks.entities.jobs import FINAL_RUN_STATUSES, JobRun, Recipient, RunStatus, Trigger
from lakeworks.entities.projects import Project
from lakeworks.entities.workloads import WorkloadStatus
from lakeworks.errors import Conflict, InvalidInput, InvalidState, PermissionDenied
from lakeworks.scheduler.loop import Scheduler
from lakeworks.services import job_runs, jobs, projects, users, workloads
from lakeworks.services.jobs import JobFields
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.tables import utcnow

FINAL = set(FINAL_RUN_STATUSES)
Wait = Callable[..., JobRun]


def log_of(platform: Platform, run: JobRun) -> str:
    assert run.workload_id
    data, _ = workloads.read_log(platform, workloads.get(platform, run.workload_id))
    return data.decode()


def make_job(
    platform: Platform,
    principal: Principal,
    project: Project,
    name: str,
    script: str,
    **fields: object,
) -> str:
    return jobs.create(
        platform,
        principal,
        project.id,
        JobFields(name=name, script=script, memory_mb=512, **fields),
    ).id


# Validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"schedule": "61 * * * *"}, "not a valid cron schedule"),
        ({"schedule": "* * *"}, "needs 5 fields"),
        ({"script": "missing.py"}, "does not exist in the project"),
        ({"script": "../etc/passwd.py"}, "leaves the project"),
        ({"script": "data.csv"}, "not a script"),
        ({"timezone": "Mars/Olympus"}, "not a time zone"),
        ({"timeout_seconds": -1}, "timeout"),
        ({"recipients": [Recipient("not an email")]}, "not an email address"),
    ],
)
def test_invalid_jobs_refused(
    job_platform: Platform, owner_principal: Principal, project: Project, fields: dict, message: str
) -> None:
    values = {"name": "Bad", "script": "ok.py"} | fields
    with pytest.raises(InvalidInput, match=message):
        jobs.create(job_platform, owner_principal, project.id, JobFields(**values))
    assert jobs.list_jobs(job_platform, owner_principal, project.id) == []


def test_dependency_rules(
    job_platform: Platform, owner_principal: Principal, project: Project
) -> None:
    a = make_job(job_platform, owner_principal, project, "A", "ok.py")
    b = make_job(job_platform, owner_principal, project, "B", "ok.py", parent_id=a)
    c = make_job(job_platform, owner_principal, project, "C", "ok.py", parent_id=b)
    with pytest.raises(InvalidInput, match="cycle"):
        jobs.update(job_platform, owner_principal, project.id, a, {"parent_id": c})
    with pytest.raises(InvalidInput, match="schedule or after a parent"):
        jobs.create(
            job_platform,
            owner_principal,
            project.id,
            JobFields(name="D", script="ok.py", parent_id=a, schedule="0 * * * *"),
        )
    other = projects.create(
        job_platform, owner_principal, name="Other", source=projects.parse_source("", "")
    )
    (job_platform.settings.projects_dir / other.id / "ok.py").write_text("print(1)\n")
    with pytest.raises(InvalidInput, match="not a job of this project"):
        jobs.create(
            job_platform,
            owner_principal,
            other.id,
            JobFields(name="X", script="ok.py", parent_id=a),
        )
    assert jobs.get(job_platform, owner_principal, project.id, c).parent_id == b


def test_viewer_cannot_run_operator_can(
    job_platform: Platform, owner_principal: Principal, project: Project
) -> None:
    job = make_job(job_platform, owner_principal, project, "Job", "ok.py")
    for name, role in (("vic", "viewer"), ("olga", "operator")):
        users.create_user(job_platform, None, username=name, password="correct horse battery")
        projects.set_collaborator(job_platform, owner_principal, project.id, name, role)
    with job_platform.read() as uow:
        viewer = Principal(user=uow.users.by_username("vic"), via="api_key")  # type: ignore[arg-type]
        operator = Principal(user=uow.users.by_username("olga"), via="api_key")  # type: ignore[arg-type]
    with pytest.raises(PermissionDenied):
        job_runs.trigger(job_platform, viewer, project.id, job)
    with pytest.raises(PermissionDenied):
        jobs.create(job_platform, operator, project.id, JobFields(name="N", script="ok.py"))
    run = job_runs.trigger(job_platform, operator, project.id, job)
    assert run.status is RunStatus.SCHEDULED and run.trigger is Trigger.API


# Runs --------------------------------------------------------------------------------


@pytest.mark.timeout(900)  # the first test to run may build the runtime
def test_run_succeeds_with_environment_contract(
    job_platform: Platform, owner_principal: Principal, project: Project, wait_for: Wait
) -> None:
    job = make_job(
        job_platform,
        owner_principal,
        project,
        "Env",
        "env.py",
        arguments="--rows 5 'two words' None",
        environment={"MY_JOB_VAR": "job"},
    )
    run = job_runs.trigger(
        job_platform,
        owner_principal,
        project.id,
        job,
        environment={"MY_RUN_VAR": "run", "MY_JOB_VAR": "run wins"},
    )
    done = wait_for(run.id, FINAL, timeout=800)
    text = log_of(job_platform, done)
    assert done.status is RunStatus.SUCCEEDED, (done.reason, text)
    assert done.exit_code == 0 and done.finished_at and done.running_at
    assert f"CDSW_PROJECT_ID={project.id}" in text
    assert "CDSW_PROJECT=pipelines" in text
    assert "PROJECT_OWNER=owner" in text and "HADOOP_USER_NAME=owner" in text
    assert "MY_PROJECT_VAR=from-project" in text
    assert "MY_JOB_VAR=run wins" in text and "MY_RUN_VAR=run" in text
    assert "CDSW_API_URL=http://testserver/api/v1" in text
    assert "ARGV=['--rows', '5', 'two words', 'None']" in text
    engine = next(line for line in text.splitlines() if line.startswith("CDSW_ENGINE_ID="))
    assert len(engine.split("=")[1]) == 16
    # The run's keys were revoked when it ended.
    workload = workloads.get(job_platform, done.workload_id or "")
    assert workload.status is WorkloadStatus.SUCCEEDED
    with job_platform.read() as uow:
        keys = [uow.users.get_api_key(k) for k in uow.workloads.key_ids(workload.id)]
    assert keys and all(k is not None and k.revoked_at is not None for k in keys)


def test_failing_script(
    job_platform: Platform, owner_principal: Principal, project: Project, wait_for: Wait
) -> None:
    job = make_job(job_platform, owner_principal, project, "Fail", "fail.py")
    run = wait_for(job_runs.trigger(job_platform, owner_principal, project.id, job).id, FINAL)
    assert run.status is RunStatus.FAILED
    assert run.exit_code == 3 and "code 3" in run.reason
    assert "about to fail" in log_of(job_platform, run)


def test_pipeline_runs_in_order(
    job_platform: Platform, owner_principal: Principal, project: Project, wait_for: Wait
) -> None:
    batch = make_job(job_platform, owner_principal, project, "New Batch", "ok.py")
    retrain = make_job(job_platform, owner_principal, project, "Retrain", "ok.py", parent_id=batch)
    redeploy = make_job(
        job_platform, owner_principal, project, "Redeploy", "ok.py", parent_id=retrain
    )
    first = wait_for(job_runs.trigger(job_platform, owner_principal, project.id, batch).id, FINAL)
    assert first.status is RunStatus.SUCCEEDED
    runs = {}
    for job_id in (retrain, redeploy):
        deadline = time.monotonic() + 60
        while not job_runs.list_runs(job_platform, owner_principal, project.id, job_id):
            assert time.monotonic() < deadline, "dependent job never ran"
            wait_for(first.id, FINAL)  # ticks
        run = job_runs.list_runs(job_platform, owner_principal, project.id, job_id)[0]
        runs[job_id] = wait_for(run.id, FINAL)
        assert runs[job_id].status is RunStatus.SUCCEEDED
        assert runs[job_id].trigger is Trigger.DEPENDENCY
    assert runs[retrain].parent_run_id == first.id
    assert runs[redeploy].parent_run_id == runs[retrain].id
    assert first.finished_at and runs[retrain].running_at and runs[redeploy].running_at
    assert first.finished_at <= runs[retrain].running_at <= runs[redeploy].running_at


def test_failure_stops_the_pipeline(
    job_platform: Platform,
    owner_principal: Principal,
    project: Project,
    wait_for: Wait,
    scheduler: Scheduler,
) -> None:
    batch = make_job(job_platform, owner_principal, project, "New Batch", "ok.py")
    retrain = make_job(
        job_platform, owner_principal, project, "Retrain", "fail.py", parent_id=batch
    )
    redeploy = make_job(
        job_platform, owner_principal, project, "Redeploy", "ok.py", parent_id=retrain
    )
    wait_for(job_runs.trigger(job_platform, owner_principal, project.id, batch).id, FINAL)
    for _ in range(50):
        scheduler.tick(wait=True)
        if job_runs.list_runs(job_platform, owner_principal, project.id, retrain):
            break
    middle = wait_for(
        job_runs.list_runs(job_platform, owner_principal, project.id, retrain)[0].id, FINAL
    )
    assert middle.status is RunStatus.FAILED
    assert "the pipeline stops here: 'Redeploy' not run" in middle.reason
    for _ in range(5):
        scheduler.tick(wait=True)
    assert job_runs.list_runs(job_platform, owner_principal, project.id, redeploy) == []


def test_timeout_kills_the_run(
    job_platform: Platform, owner_principal: Principal, project: Project, wait_for: Wait
) -> None:
    job = make_job(
        job_platform,
        owner_principal,
        project,
        "Slow",
        "sleep.py",
        arguments="60",
        timeout_seconds=2,
    )
    run = wait_for(
        job_runs.trigger(job_platform, owner_principal, project.id, job).id, FINAL, timeout=40
    )
    assert run.status is RunStatus.TIMEDOUT
    assert "woke up" not in log_of(job_platform, run)
    assert workloads.get(job_platform, run.workload_id or "").status is WorkloadStatus.TIMEDOUT


def test_memory_limit_recorded_as_oom(
    job_platform: Platform, owner_principal: Principal, project: Project, wait_for: Wait
) -> None:
    job = jobs.create(
        job_platform,
        owner_principal,
        project.id,
        JobFields(name="Hog", script="hog.py", memory_mb=256),
    ).id
    run = wait_for(job_runs.trigger(job_platform, owner_principal, project.id, job).id, FINAL)
    assert run.status is RunStatus.FAILED
    assert "out of memory" in run.reason
    assert workloads.get(job_platform, run.workload_id or "").status is WorkloadStatus.OOM
    assert "allocated 2000 MiB" not in log_of(job_platform, run)


def test_stop_and_trigger_policy(
    job_platform: Platform, owner_principal: Principal, project: Project, wait_for: Wait
) -> None:
    job = make_job(job_platform, owner_principal, project, "Long", "sleep.py", arguments="60")
    run = job_runs.trigger(job_platform, owner_principal, project.id, job)
    running = wait_for(run.id, {RunStatus.RUNNING})
    with pytest.raises(Conflict, match="still running"):
        job_runs.trigger(job_platform, owner_principal, project.id, job)
    job_runs.stop_run(job_platform, owner_principal, project.id, job, running.id)
    stopped = wait_for(run.id, FINAL, timeout=30)
    assert stopped.status is RunStatus.STOPPED and "stopped by owner" in stopped.reason
    with pytest.raises(InvalidState, match="already ended"):
        job_runs.stop_run(job_platform, owner_principal, project.id, job, run.id)


def test_cron_fire_and_skip_while_active(
    job_platform: Platform,
    owner_principal: Principal,
    project: Project,
    scheduler: Scheduler,
    wait_for: Wait,
) -> None:
    job = make_job(
        job_platform,
        owner_principal,
        project,
        "Nightly",
        "sleep.py",
        arguments="60",
        schedule="0 3 * * *",
        timezone="Europe/Madrid",
    )
    created = jobs.get(job_platform, owner_principal, project.id, job)
    assert created.next_fire_at is not None
    local = created.next_fire_at.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Madrid"))
    assert (local.hour, local.minute) == (3, 0)
    # Three days of downtime: the missed fires coalesce into one run.
    later = created.next_fire_at + timedelta(days=3, minutes=1)
    scheduler.tick(later, wait=True)
    runs = job_runs.list_runs(job_platform, owner_principal, project.id, job)
    assert len(runs) == 1 and runs[0].trigger is Trigger.SCHEDULE
    assert runs[0].scheduled_for == created.next_fire_at
    moved = jobs.get(job_platform, owner_principal, project.id, job).next_fire_at
    assert moved is not None and moved > later
    scheduler.tick(later, wait=True)  # the same instant again: nothing new (idempotent)
    assert len(job_runs.list_runs(job_platform, owner_principal, project.id, job)) == 1
    wait_for(runs[0].id, {RunStatus.RUNNING})
    scheduler.tick(moved + timedelta(seconds=1), wait=True)
    after = job_runs.list_runs(job_platform, owner_principal, project.id, job)
    assert [r.status for r in after] == [RunStatus.RUNNING, RunStatus.SKIPPED]
    assert runs[0].id in after[1].reason
    job_runs.stop_run(job_platform, owner_principal, project.id, job, runs[0].id)
    wait_for(runs[0].id, FINAL, timeout=30)


def test_paused_cron_job_does_not_fire(
    job_platform: Platform, owner_principal: Principal, project: Project, scheduler: Scheduler
) -> None:
    job = make_job(
        job_platform, owner_principal, project, "Paused", "ok.py", schedule="* * * * *", paused=True
    )
    scheduler.tick(utcnow() + timedelta(minutes=5), wait=True)
    assert job_runs.list_runs(job_platform, owner_principal, project.id, job) == []


def test_quota_waits_then_runs(
    job_platform: Platform,
    owner_principal: Principal,
    project: Project,
    wait_for: Wait,
    scheduler: Scheduler,
) -> None:
    with job_platform.store.transaction() as uow:
        uow.workloads.set_quota(owner_principal.user.id, 1.0, 4096)
    long = make_job(job_platform, owner_principal, project, "Long", "sleep.py", arguments="2")
    short = make_job(job_platform, owner_principal, project, "Short", "ok.py")
    big = jobs.create(
        job_platform,
        owner_principal,
        project.id,
        JobFields(name="Big", script="ok.py", cpu=2.0, memory_mb=512),
    ).id
    first = job_runs.trigger(job_platform, owner_principal, project.id, long)
    wait_for(first.id, {RunStatus.RUNNING})
    second = job_runs.trigger(job_platform, owner_principal, project.id, short)
    scheduler.tick(wait=True)
    waiting = job_runs.get_run(job_platform, owner_principal, project.id, short, second.id)
    assert waiting.status is RunStatus.SCHEDULED and "waiting for quota" in waiting.reason
    assert wait_for(second.id, FINAL, timeout=60).status is RunStatus.SUCCEEDED
    refused = wait_for(job_runs.trigger(job_platform, owner_principal, project.id, big).id, FINAL)
    assert refused.status is RunStatus.FAILED and "refused" in refused.reason


def test_job_deleted_while_running(
    job_platform: Platform,
    owner_principal: Principal,
    project: Project,
    wait_for: Wait,
    scheduler: Scheduler,
) -> None:
    job = make_job(job_platform, owner_principal, project, "Doomed", "sleep.py", arguments="60")
    run = wait_for(
        job_runs.trigger(job_platform, owner_principal, project.id, job).id, {RunStatus.RUNNING}
    )
    jobs.delete(job_platform, owner_principal, project.id, job)
    deadline = time.monotonic() + 30
    while workloads.get(job_platform, run.workload_id or "").status not in (
        WorkloadStatus.STOPPED,
    ):
        assert time.monotonic() < deadline, "the workload of a deleted job kept running"
        scheduler.tick(wait=True)
        time.sleep(0.1)
    assert "its job was deleted" in workloads.get(job_platform, run.workload_id or "").reason


def test_email_on_failure(
    job_settings, store, owner_principal: Principal, project: Project, job_platform: Platform
) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    received: list[object] = []

    class Collect(Message):
        def handle_message(self, message: object) -> None:
            received.append(message)

    port = free_port()
    controller = Controller(Collect(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mail_settings = job_settings.model_copy(
            update={"smtp_host": "127.0.0.1", "smtp_port": port}
        )
        platform = Platform(mail_settings, store)
        job = jobs.create(
            platform,
            owner_principal,
            project.id,
            JobFields(
                name="Nightly report",
                script="fail.py",
                memory_mb=512,
                recipients=[
                    Recipient("team@example.org", on_failure=True),
                    Recipient("quiet@example.org", on_failure=False, on_success=True),
                ],
            ),
        )
        run = job_runs.trigger(platform, owner_principal, project.id, job.id)
        sched = Scheduler(platform)
        deadline = time.monotonic() + 60
        while not job_runs.get_run(
            platform, owner_principal, project.id, job.id, run.id
        ).status.is_final:
            assert time.monotonic() < deadline
            sched.tick(wait=True)
            time.sleep(0.1)
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            time.sleep(0.1)
        sched.stop()
    finally:
        controller.stop()
    assert len(received) == 1
    message = received[0]
    assert message["To"] == "team@example.org"  # type: ignore[index]
    assert "Nightly report" in message["Subject"] and "failed" in message["Subject"]  # type: ignore[index]
    assert "code 3" in message.get_payload()  # type: ignore[attr-defined]


def test_one_claim_counts_the_runs_it_claimed_against_the_quota(
    job_platform: Platform, owner_principal: Principal, project: Project
) -> None:
    """Runs claimed together start together: the second of two 1-vCPU runs under a 1-vCPU
    quota waits, though nothing holds the quota yet when the batch is claimed."""
    with job_platform.store.transaction() as uow:
        uow.workloads.set_quota(owner_principal.user.id, 1.0, 4096)
    first_job = make_job(job_platform, owner_principal, project, "First", "ok.py")
    second_job = make_job(job_platform, owner_principal, project, "Second", "ok.py")
    first = job_runs.trigger(job_platform, owner_principal, project.id, first_job)
    second = job_runs.trigger(job_platform, owner_principal, project.id, second_job)
    claimed = job_runs.claim(job_platform)
    assert [run.id for run in claimed] == [first.id]
    waiting = job_runs.get_run(job_platform, owner_principal, project.id, second_job, second.id)
    assert waiting.status is RunStatus.SCHEDULED and "waiting for quota" in waiting.reason
    started = job_runs.get_run(job_platform, owner_principal, project.id, first_job, first.id)
    assert started.status is RunStatus.STARTING
