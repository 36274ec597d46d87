"""The one launch path (services.workloads.launch), checked through job runs on the fake
executor: what a workload is started with, without starting a process."""

from __future__ import annotations

import sys
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
from lakeworks.entities.users import ApiKey, User
from lakeworks.entities.workloads import (
    Handle,
    Workload,
    WorkloadKind,
    WorkloadSpec,
    WorkloadStatus,
)
from lakeworks.executors.base import StartFailed
from lakeworks.executors.fake import FakeExecutor
from lakeworks.scheduler import loop
from lakeworks.services import job_runs, jobs, projects, workloads
from lakeworks.services.auth import hash_key
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
    # cdsw.call_model's way to the gateway: its socket, as the sandbox shows it; else TCP.
    assert env["LAKEWORKS_MODEL_GATEWAY_SOCKET"] == "/run/lakeworks/gateway.sock"
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
        (run,) = job_runs.start_batch(fake_platform, [claimed])
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


# Batches (issue 17): the scheduler starts the runs it claimed together ---------------------


def _jobs(platform: Platform, principal: Principal, project_id: str, *names: str) -> list[Job]:
    return [
        jobs.create(platform, principal, project_id, JobFields(name=name, script="train.py"))
        for name in names
    ]


def _warm(platform: Platform, principal: Principal, project_id: str) -> None:
    """One run started and ended first: the runtime's first use may build it."""
    (job,) = _jobs(platform, principal, project_id, "Warm-up")
    job_runs.trigger(platform, principal, project_id, job.id)
    (run,) = job_runs.dispatch(platform)
    assert run.status is RunStatus.RUNNING, run.reason
    executor = platform.executor
    assert isinstance(executor, FakeExecutor)
    executor.finish(run.workload_id or "", code=0)
    job_runs.on_workloads_ended(platform, workloads.observe(platform))


class _Checking(FakeExecutor):
    """Looks, from a transaction of its own, at what is committed when each process starts;
    refuses the jobs of ``refuse``."""

    def __init__(self) -> None:
        super().__init__()
        self.platform: Platform | None = None
        self.seen: dict[str, tuple[object, object]] = {}
        self.refuse: set[str] = set()

    def start(self, spec: WorkloadSpec) -> Handle:
        assert self.platform is not None
        with self.platform.read() as uow:
            key = uow.users.api_key_by_hash(hash_key(spec.env["CDSW_APIV2_KEY"]))
            workload = uow.workloads.get(spec.workload_id)
        self.seen[spec.env["CDSW_JOB_RUN_ID"]] = (key, workload)
        if spec.env["CDSW_JOB_ID"] in self.refuse:
            raise StartFailed("no room on this machine")
        return super().start(spec)


@pytest.fixture
def checking(settings: Settings, store: Store) -> tuple[Platform, _Checking]:
    executor = _Checking()
    settings = settings.model_copy(update={"runtimes_dir": RUNTIME_CACHE})
    settings.projects_dir.mkdir(parents=True, exist_ok=True)
    executor.platform = Platform(settings, store, executor=executor)
    return executor.platform, executor


@pytest.mark.timeout(600)
def test_a_batch_starts_in_two_transactions_with_each_runs_keys_and_audit_rows(
    checking: tuple[Platform, _Checking], make_user: Callable[..., User]
) -> None:
    platform, executor = checking
    owner = Principal(user=make_user("alice"), via="cli")
    project_id = _project(platform, owner)
    _warm(platform, owner, project_id)
    with platform.read() as uow:
        single, _ = uow.audit.query(action_prefix="api_key.create_workload", limit=10)
    made = _jobs(platform, owner, project_id, "A", "B", "C")
    for job in made:
        job_runs.trigger(platform, owner, project_id, job.id)
    claimed = job_runs.claim(platform)
    assert len(claimed) == 3

    begun: list[object] = []

    def count(connection: object) -> None:
        begun.append(connection)

    event.listen(platform.store.engine, "begin", count)
    try:
        runs = job_runs.start_batch(platform, claimed)
    finally:
        event.remove(platform.store.engine, "begin", count)

    # One records the three workloads, one the three processes (and the test executor's
    # three looks at what was committed).
    assert len(begun) == 2 + 3
    assert [run.id for run in runs] == [run.id for run in claimed]
    assert all(run.status is RunStatus.RUNNING and run.workload_id for run in runs)
    assert len({run.workload_id for run in runs}) == 3
    for run in runs:
        # Each process started with its record and its key already committed: the key works
        # from its first line, and a crash from then on leaves a record to recover.
        key, seen = executor.seen[run.id]
        assert isinstance(seen, Workload) and seen.status is WorkloadStatus.STARTING
        assert isinstance(key, ApiKey) and key.id in seen_keys(platform, run)
        assert key.revoked_at is None and key.project_id == project_id
    with platform.read() as uow:
        stored = [uow.jobs.get_run(run.id) for run in runs]
        batch_events, total = uow.audit.query(action_prefix="api_key.create_workload", limit=20)
    assert [s.status if s else None for s in stored] == [RunStatus.RUNNING] * 3
    assert [s.running_at if s else None for s in stored] == [run.running_at for run in runs]
    # Two audit rows a run, the same as those of the run started alone before.
    assert total == 2 + 6 and len(single) == 2
    fields = {(e.actor_id, e.actor, e.action, e.target, e.project_id, e.outcome) for e in single}
    for event_ in batch_events[:6]:
        assert (
            event_.actor_id,
            event_.actor,
            event_.action,
            event_.target,
            event_.project_id,
            event_.outcome,
        ) in fields
        assert event_.detail == single[0].detail == {}
    assert fields == {(None, "system", "api_key.create_workload", "alice", project_id, "success")}


def seen_keys(platform: Platform, run: JobRun) -> list[int]:
    with platform.read() as uow:
        return uow.workloads.key_ids(run.workload_id or "")


@pytest.mark.timeout(600)
def test_one_failing_start_does_not_fail_its_batch(
    checking: tuple[Platform, _Checking], make_user: Callable[..., User]
) -> None:
    platform, executor = checking
    owner = Principal(user=make_user("alice"), via="cli")
    project_id = _project(platform, owner)
    _warm(platform, owner, project_id)
    root = platform.settings.projects_dir / project_id
    (root / "gone.py").write_text("print('soon gone')\n")
    ok, refused, deleted = _jobs(platform, owner, project_id, "Ok", "Refused", "Deleted")
    gone = jobs.create(platform, owner, project_id, JobFields(name="Gone", script="gone.py"))
    executor.refuse = {refused.id}
    for job in (ok, refused, gone, deleted):
        job_runs.trigger(platform, owner, project_id, job.id)
    claimed = job_runs.claim(platform)
    (root / "gone.py").unlink()
    jobs.delete(platform, owner, project_id, deleted.id)  # its runs go with it

    before = set(executor.workloads)
    runs = {run.job_id: run for run in job_runs.start_batch(platform, claimed)}

    assert set(runs) == {ok.id, refused.id, gone.id}
    assert runs[ok.id].status is RunStatus.RUNNING
    assert runs[refused.id].status is RunStatus.FAILED
    assert runs[refused.id].reason == "could not start: no room on this machine"
    assert runs[gone.id].status is RunStatus.FAILED
    assert "'gone.py' does not exist in the project any more" in runs[gone.id].reason
    with platform.read() as uow:
        for job_id in (refused.id, gone.id):
            workload = uow.workloads.get(runs[job_id].workload_id or "")
            assert workload is not None and workload.status is WorkloadStatus.FAILED
            keys = [uow.users.get_api_key(k) for k in uow.workloads.key_ids(workload.id)]
            assert len(keys) == 2 and all(k is not None and k.revoked_at for k in keys)
        running = uow.workloads.get(runs[ok.id].workload_id or "")
        assert running is not None and running.status is WorkloadStatus.RUNNING
        assert uow.workloads.held_by_user(owner.user.id) == (1.0, 2048)
    # One process started; the gone script's start never reached the executor; the deleted
    # job's run got no workload and no keys (the warm-up's two, then two each for three).
    assert set(executor.workloads) - before == {runs[ok.id].workload_id}
    assert len(executor.seen) == 1 + 2
    with platform.read() as uow:
        _events, keys_made = uow.audit.query(action_prefix="api_key.create_workload")
    assert keys_made == 2 + 3 * 2


@pytest.mark.timeout(600)
def test_a_batch_crossing_the_quota_starts_what_fits_and_the_rest_waits(
    fake_platform: Platform, owner: Principal, executor: FakeExecutor
) -> None:
    project_id = _project(fake_platform, owner)
    _warm(fake_platform, owner, project_id)
    with fake_platform.store.transaction() as uow:
        uow.workloads.set_quota(owner.user.id, 2.0, 8192)
    first, second, third = _jobs(fake_platform, owner, project_id, "One", "Two", "Three")
    big = jobs.create(
        fake_platform, owner, project_id, JobFields(name="Big", script="train.py", cpu=3.0)
    )
    for job in (first, second, third, big):
        job_runs.trigger(fake_platform, owner, project_id, job.id)

    started = job_runs.dispatch(fake_platform)

    assert [run.job_id for run in started] == [first.id, second.id]
    assert all(run.status is RunStatus.RUNNING for run in started)
    (waiting,) = job_runs.list_runs(fake_platform, owner, project_id, third.id)
    assert waiting.status is RunStatus.SCHEDULED
    assert waiting.reason == ("waiting for quota: 2 of 2 vCPU and 4096 of 8192 MiB are in use")
    (refused,) = job_runs.list_runs(fake_platform, owner, project_id, big.id)
    assert refused.status is RunStatus.FAILED and refused.reason.startswith("refused:")
    with fake_platform.read() as uow:
        assert uow.workloads.held_by_user(owner.user.id) == (2.0, 4096)
    assert job_runs.dispatch(fake_platform) == []  # the quota is still held
    executor.finish(started[0].workload_id or "", code=0)
    job_runs.on_workloads_ended(fake_platform, workloads.observe(fake_platform))
    (now_running,) = job_runs.dispatch(fake_platform)
    assert now_running.id == waiting.id and now_running.status is RunStatus.RUNNING


@pytest.mark.timeout(600)
def test_the_scheduler_splits_a_claim_over_its_starters_and_drains_a_backlog(
    fake_platform: Platform, owner: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    project_id = _project(fake_platform, owner)
    _warm(fake_platform, owner, project_id)
    monkeypatch.setattr(loop, "START_BATCH", 2)
    batches: list[int] = []
    start_batch = job_runs.start_batch

    def counting(platform: Platform, runs: list[JobRun]) -> list[JobRun]:
        batches.append(len(runs))
        return start_batch(platform, runs)

    monkeypatch.setattr(job_runs, "start_batch", counting)
    with fake_platform.store.transaction() as uow:  # ten at once fit
        uow.workloads.set_quota(owner.user.id, 100.0, 10**6)
    made = _jobs(fake_platform, owner, project_id, *[f"J{n}" for n in range(10)])
    for job in made:
        job_runs.trigger(fake_platform, owner, project_id, job.id)
    scheduler = loop.Scheduler(fake_platform, starters=2)
    try:
        wake = fake_platform.work_signal
        assert wake is not None
        wake.clear()
        scheduler.tick(wait=True)
        # Two starters, two runs a batch: one claim of four, in two batches; more wait, so
        # the loop is woken to claim again rather than waiting for its next tick.
        assert batches == [2, 2] and wake.is_set()
        for _ in range(5):
            if len(batches) >= 5:
                break
            scheduler.tick(wait=True)
    finally:
        scheduler.stop()
    assert batches == [2, 2, 2, 2, 1, 1]
    statuses = {
        run.status
        for job in made
        for run in job_runs.list_runs(fake_platform, owner, project_id, job.id)
    }
    assert statuses == {RunStatus.RUNNING}


@pytest.mark.timeout(600)
def test_a_run_that_recorded_nothing_ends_without_importing_mlflow(
    fake_platform: Platform,
    owner: Principal,
    executor: FakeExecutor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The scheduler's thread ends runs: importing MLflow there for the first time took it
    5-25 s on a busy machine, during which nothing was claimed (bench/job_start.py's first
    run after its warm-up waited 22-28 s). A run that recorded no metrics needs no MLflow."""
    project_id = _project(fake_platform, owner)
    _job, run = _start(fake_platform, owner, project_id)
    for name in ("mlflow", "mlflow.entities", "mlflow.exceptions"):
        monkeypatch.setitem(sys.modules, name, None)  # importing it now raises ImportError
    executor.finish(run.workload_id or "", code=0)
    job_runs.on_workloads_ended(fake_platform, workloads.observe(fake_platform))
    ended = job_runs.get_run(fake_platform, owner, project_id, run.job_id, run.id)
    assert ended.status is RunStatus.SUCCEEDED
