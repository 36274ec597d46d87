"""The one launch path (services.workloads.launch), checked through job runs on the fake
executor: what a workload is started with, without starting a process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from tests.scheduler.conftest import RUNTIME_CACHE

from lakeworks.config import Settings
from lakeworks.data import spark
from lakeworks.entities.jobs import Job, JobRun, RunStatus
from lakeworks.entities.projects import EnvVar
from lakeworks.entities.users import User
from lakeworks.entities.workloads import WorkloadKind, WorkloadStatus
from lakeworks.executors.fake import FakeExecutor
from lakeworks.services import job_runs, jobs, projects, workloads
from lakeworks.services.jobs import JobFields
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.uow import Store


@pytest.fixture
def executor() -> FakeExecutor:
    return FakeExecutor()


@pytest.fixture
def fake_platform(settings: Settings, store: Store, executor: FakeExecutor) -> Platform:
    settings = settings.model_copy(update={"runtimes_dir": RUNTIME_CACHE})
    settings.projects_dir.mkdir(parents=True, exist_ok=True)
    return Platform(settings, store, executor=executor)


@pytest.fixture
def owner(fake_platform: Platform, make_user: Callable[..., User]) -> Principal:
    return Principal(user=make_user("alice"), via="cli")


def _project(platform: Platform, principal: Principal) -> str:
    project = projects.create(
        platform, principal, name="Launch", source=projects.parse_source("", "")
    )
    (platform.settings.projects_dir / project.id / "train.py").write_text("print('hi')\n")
    projects.replace_env(
        platform,
        principal,
        project.id,
        [
            EnvVar("LEVEL", "project", secret=False),
            EnvVar("ONLY_PROJECT", "p", secret=False),
            EnvVar("PYTHONPATH", "lib", secret=False),
        ],
    )
    return project.id


def _start(
    platform: Platform, principal: Principal, project_id: str, **fields: Any
) -> tuple[Job, JobRun]:
    job = jobs.create(
        platform,
        principal,
        project_id,
        JobFields(name="Train", script=str(fields.pop("script", "train.py")), **fields),
    )
    job_runs.trigger(
        platform,
        principal,
        project_id,
        job.id,
        arguments="--epochs 3",
        environment={"LEVEL": "run"},
    )
    (run,) = job_runs.dispatch(platform)
    return job, run


@pytest.mark.timeout(600)  # the first use of the default runtime may build it
def test_a_job_run_starts_with_the_environment_contract(
    fake_platform: Platform, owner: Principal, executor: FakeExecutor
) -> None:
    project_id = _project(fake_platform, owner)
    job, run = _start(
        fake_platform,
        owner,
        project_id,
        environment={"LEVEL": "job", "ONLY_JOB": "j", "CDSW_JOB_ID": "forged"},
    )
    assert run.status is RunStatus.RUNNING, run.reason
    spec = executor.spec(run.workload_id or "")
    env = spec.env
    # Layers, lowest first: project < job < run; identity variables win over every layer.
    assert env["LEVEL"] == "run"
    assert (env["ONLY_PROJECT"], env["ONLY_JOB"]) == ("p", "j")
    assert env["CDSW_JOB_ID"] == job.id and env["CDSW_JOB_RUN_ID"] == run.id
    assert env["CDSW_PROJECT_ID"] == project_id and env["CDSW_ENGINE_ID"] == run.workload_id
    assert env["CDSW_ENGINE_TYPE"] == "job"
    # Platform variables computed from the engine's home, and the MLflow defaults.
    assert env["LAKEWORKS_OUTPUT_DIR"] == f"/home/cdsw/.lakeworks/runs/{run.id}"
    assert env["MLFLOW_TRACKING_URI"].endswith("/mlflow")
    assert env["MLFLOW_TRACKING_TOKEN"] == env["CDSW_APIV2_KEY"]
    # A project's PYTHONPATH is folded into the runtime's path, not replacing it.
    assert "lib" in env["PYTHONPATH"].split(":") and len(env["PYTHONPATH"].split(":")) > 1
    # The script runs through the runtime's runner, with the run's arguments, in the wrapper
    # that records its exit code.
    assert spec.argv[:2] == ["/bin/bash", "-c"]
    assert "/home/cdsw/train.py" in spec.argv and "--epochs 3" in spec.argv
    assert spec.kind is WorkloadKind.JOB_RUN
    assert spec.runtime_dir is not None and str(spec.runtime_dir).startswith(str(RUNTIME_CACHE))


@pytest.mark.timeout(600)
def test_a_run_ends_with_its_workload(
    fake_platform: Platform, owner: Principal, executor: FakeExecutor
) -> None:
    project_id = _project(fake_platform, owner)
    _job, run = _start(fake_platform, owner, project_id)
    executor.finish(run.workload_id or "", code=3)
    job_runs.on_workloads_ended(fake_platform, workloads.observe(fake_platform))
    with fake_platform.read() as uow:
        ended = uow.jobs.get_run(run.id)
        workload = uow.workloads.get(run.workload_id or "")
    assert ended is not None and ended.status is RunStatus.FAILED
    assert workload is not None and workload.status is WorkloadStatus.FAILED
    assert workload.exit_code == 3


@pytest.mark.timeout(600)
def test_a_script_deleted_before_the_start_fails_the_run_with_the_reason(
    fake_platform: Platform, owner: Principal, executor: FakeExecutor
) -> None:
    project_id = _project(fake_platform, owner)
    job = jobs.create(fake_platform, owner, project_id, JobFields(name="Gone", script="train.py"))
    (fake_platform.settings.projects_dir / project_id / "train.py").unlink()
    job_runs.trigger(fake_platform, owner, project_id, job.id)
    (run,) = job_runs.dispatch(fake_platform)
    assert run.status is RunStatus.FAILED
    assert "'train.py' does not exist in the project any more" in run.reason
    assert executor.workloads == {}  # nothing was started


@pytest.mark.timeout(600)
def test_an_executor_refusal_is_recorded_on_the_run(
    fake_platform: Platform, owner: Principal, executor: FakeExecutor
) -> None:
    project_id = _project(fake_platform, owner)
    executor.refuse_with = "no sandbox on this machine"
    _job, run = _start(fake_platform, owner, project_id)
    assert run.status is RunStatus.FAILED
    assert "no sandbox on this machine" in run.reason


@pytest.mark.timeout(600)
def test_a_job_run_gets_the_configured_java_home(
    settings: Settings, store: Store, make_user: Callable[..., User], tmp_path: Path
) -> None:
    # A JDK is a folder with bin/java (the launch only checks that the file is there).
    jdk = tmp_path / "configured-jdk"
    (jdk / "bin").mkdir(parents=True)
    (jdk / "bin" / "java").write_text("#!/bin/sh\n")
    executor = FakeExecutor()
    configured = settings.model_copy(update={"runtimes_dir": RUNTIME_CACHE, "java_home": str(jdk)})
    configured.projects_dir.mkdir(parents=True, exist_ok=True)
    platform = Platform(configured, store, executor=executor)
    principal = Principal(user=make_user("alice"), via="cli")
    _job, run = _start(platform, principal, _project(platform, principal))
    assert run.status is RunStatus.RUNNING, run.reason
    assert executor.spec(run.workload_id or "").env["JAVA_HOME"] == str(jdk)


def test_java_home_comes_from_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    jdk = tmp_path / "jdk"
    (jdk / "bin").mkdir(parents=True)
    (jdk / "bin" / "java").write_text("#!/bin/sh\n")
    monkeypatch.setenv("LAKEWORKS_JAVA_HOME", str(jdk))
    assert Settings(data_dir=tmp_path / "data").java_home == str(jdk)
    assert spark.java_home(str(jdk)) == str(jdk)
    # A folder without bin/java is not a JDK: the machine's own Java is looked for instead.
    assert spark.java_home(str(tmp_path)) == spark.java_home("")
    assert spark.java_home(str(tmp_path)) != str(tmp_path)


@pytest.mark.timeout(600)
def test_a_claimed_run_starts_in_two_transactions_with_its_state_and_audit_rows(
    fake_platform: Platform, owner: Principal, executor: FakeExecutor
) -> None:
    """Dispatch cost (issue 17): a claimed run's start reads its job, project and user and
    records its workload, keys and audit rows in one transaction, committed before the
    process starts (its keys must work from its first line), and records the process and the
    run running in a second one. It was ~11 before; a third would show here."""
    project_id = _project(fake_platform, owner)
    job = jobs.create(fake_platform, owner, project_id, JobFields(name="Count", script="train.py"))
    job_runs.trigger(fake_platform, owner, project_id, job.id)
    (first,) = job_runs.dispatch(fake_platform)  # the runtime's first use may build it: uncounted
    assert first.workload_id is not None
    executor.finish(first.workload_id, code=0)
    job_runs.on_workloads_ended(fake_platform, workloads.observe(fake_platform))
    job_runs.trigger(fake_platform, owner, project_id, job.id)
    (claimed,) = job_runs.claim(fake_platform)
    assert claimed.status is RunStatus.STARTING

    engine = fake_platform.store.engine
    begun: list[object] = []

    def count(connection: object) -> None:
        begun.append(connection)

    event.listen(engine, "begin", count)
    try:
        run = job_runs.start(fake_platform, claimed)
    finally:
        event.remove(engine, "begin", count)

    assert len(begun) == 2
    assert run.status is RunStatus.RUNNING and run.workload_id
    with fake_platform.read() as uow:
        stored = uow.jobs.get_run(run.id)
        workload = uow.workloads.get(run.workload_id)
        key_ids = uow.workloads.key_ids(run.workload_id)
        keys = [uow.users.get_api_key(key_id) for key_id in key_ids]
        events, _total = uow.audit.query(
            project_id=project_id, action_prefix="api_key.create_workload", limit=10
        )
    assert stored is not None and stored.status is RunStatus.RUNNING
    assert stored.workload_id == run.workload_id and stored.running_at == run.running_at
    assert workload is not None and workload.status is WorkloadStatus.RUNNING
    assert workload.started_at is not None and workload.handle["fake"] == workload.id
    assert len(keys) == 2 and all(k is not None and k.revoked_at is None for k in keys)
    # Two keys a run, each audited, for both runs: the state machine and the trail as before.
    assert len(events) == 4 and {e.target for e in events} == {owner.user.username}
    spec = executor.spec(workload.id)
    assert spec.env["CDSW_JOB_RUN_ID"] == run.id
