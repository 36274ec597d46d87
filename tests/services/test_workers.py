"""Workers (services/workers.py) of a job run on the fake executor: what is refused before
anything starts, who may launch and stop them (only the parent's own key launches), what a
worker is started with, quotas, and the reconciler that ends workers of an ended parent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tests.services.conftest import Members

from lakeworks.entities.audit import AuditEvent, Outcome
from lakeworks.entities.jobs import JobRun, RunStatus
from lakeworks.entities.workloads import WorkloadKind, WorkloadStatus
from lakeworks.errors import InvalidInput, InvalidState, NotFound, PermissionDenied, QuotaExceeded
from lakeworks.executors.fake import FakeExecutor
from lakeworks.services import job_runs, jobs, workers, workloads
from lakeworks.services.jobs import JobFields
from lakeworks.services.platform import Platform, Principal
from lakeworks.services.workers import WorkerFields

Audit = Callable[[Platform, str], list[AuditEvent]]
pytestmark = pytest.mark.timeout(600)  # the first start of the default runtime may build it


@pytest.fixture
def parent(fake_platform: Platform, members: Members) -> JobRun:
    """A running job run of the contributor, the workers' parent."""
    root = fake_platform.settings.projects_dir / members.project_id
    (root / "train.py").write_text("pass\n")
    (root / "worker.py").write_text("print('worker')\n")
    contributor = members["contributor"]
    job = jobs.create(
        fake_platform, contributor, members.project_id, JobFields(name="Main", script="train.py")
    )
    job_runs.trigger(fake_platform, contributor, members.project_id, job.id)
    (run,) = job_runs.dispatch(fake_platform)
    assert run.status is RunStatus.RUNNING, run.reason
    return run


def own_key(platform: Platform, members: Members, run: JobRun) -> Principal:
    """The parent's CDSW_APIV2_KEY, as the library in the parent presents it."""
    with platform.read() as uow:
        key_id = uow.workloads.key_ids(run.workload_id or "")[0]
    return Principal(
        user=members["contributor"].user,
        via="api_key",
        project_scope=members.project_id,
        key_id=key_id,
    )


def launch(platform: Platform, principal: Principal, project_id: str, run: JobRun, **kw: Any):  # type: ignore[no-untyped-def]
    kw.setdefault("script", "worker.py")
    return workers.launch(
        platform, principal, project_id, run.workload_id or "", WorkerFields(**kw)
    )


# Launching -----------------------------------------------------------------------------------


def test_workers_start_with_the_parents_identity_and_are_audited(
    fake_platform: Platform,
    members: Members,
    parent: JobRun,
    executor: FakeExecutor,
    audit_rows: Audit,
) -> None:
    key = own_key(fake_platform, members, parent)
    started = launch(
        fake_platform,
        key,
        members.project_id,
        parent,
        count=2,
        cpu=0.5,
        memory_gb=0.5,
        env={"ROLE": "worker"},
        name="w",
    )
    assert len(started) == 2 and len({w.workload.id for w in started}) == 2
    for worker in started:
        assert worker.status == "running" and worker.ip_address == "127.0.0.1"
        assert worker.workload.kind is WorkloadKind.WORKER
        assert worker.workload.parent_id == parent.workload_id
        assert worker.app_url.endswith(f"{worker.workload.id}.{fake_platform.settings.domain}/")
        spec = executor.spec(worker.workload.id)
        assert spec.env["CDSW_MASTER_ID"] == parent.workload_id
        assert spec.env["CDSW_MASTER_IP"] == "127.0.0.1" and spec.env["ROLE"] == "worker"
        assert "/home/cdsw/worker.py" in " ".join(spec.argv)
        assert set(spec.ports) == set(workers.APP_PORTS)
        assert (worker.workload.resources.cpu, worker.workload.resources.memory_mb) == (0.5, 512)
    (event,) = audit_rows(fake_platform, "worker.launch")
    assert event.outcome is Outcome.SUCCESS and event.target == parent.workload_id
    assert event.detail == {
        "count": 2,
        "cpu": 0.5,
        "memory_mb": 512,
        "script": "worker.py",
        "shell": False,
    }
    listed = workers.list_workers(fake_platform, key, members.project_id, parent.workload_id or "")
    assert [w.workload.id for w in listed] == [w.workload.id for w in started]


@pytest.mark.parametrize(
    ("code", "argv_has"),
    [("print(6 * 7)", workers.CODE_VARIABLE), ("!echo hello", "echo hello")],
)
def test_code_workers_run_python_or_a_shell_line(
    fake_platform: Platform,
    members: Members,
    parent: JobRun,
    executor: FakeExecutor,
    code: str,
    argv_has: str,
) -> None:
    (worker,) = launch(
        fake_platform,
        own_key(fake_platform, members, parent),
        members.project_id,
        parent,
        script="",
        code=code,
    )
    spec = executor.spec(worker.workload.id)
    if code.startswith("!"):
        # In the wrapper that records the exit code, the line itself is run by bash.
        assert spec.argv[-3:] == ["/bin/bash", "-c", "echo hello"]
    else:
        assert spec.env[workers.CODE_VARIABLE] == code
        assert argv_has in spec.env


BAD: list[tuple[dict[str, Any], str]] = [
    ({"count": 0}, "n must be between 1 and 32."),
    ({"count": 33}, "n must be between 1 and 32."),
    ({"cpu": 0}, "cpu (vCPU)"),
    ({"memory_gb": 0}, "memory (MiB)"),
    ({"gpu": 1}, "This Lakeworks site has no GPUs for workers"),
    ({"script": "", "code": "   "}, "Give the workers a script (a project file) or code to run."),
    ({"env": {"A=B": "x"}}, "Not an environment variable name: 'A=B'."),
    ({"env": {"": "x"}}, "Not an environment variable name: ''."),
    ({"name": "n" * 201}, "name is at most 200 characters"),
]


@pytest.mark.parametrize(("fields", "message"), BAD)
def test_bad_worker_requests_are_refused_before_anything_starts(
    fake_platform: Platform,
    members: Members,
    parent: JobRun,
    executor: FakeExecutor,
    fields: dict[str, Any],
    message: str,
) -> None:
    before = set(executor.workloads)
    with pytest.raises(InvalidInput) as caught:
        launch(
            fake_platform,
            own_key(fake_platform, members, parent),
            members.project_id,
            parent,
            **fields,
        )
    assert message in caught.value.message
    assert set(executor.workloads) == before


def test_at_most_32_workers_run_at_once(
    fake_platform: Platform, members: Members, parent: JobRun
) -> None:
    key = own_key(fake_platform, members, parent)
    launch(fake_platform, key, members.project_id, parent, count=30, cpu=0.01, memory_gb=0.01)
    with pytest.raises(InvalidInput, match="At most 32 workers run at once; 30 already do."):
        launch(fake_platform, key, members.project_id, parent, count=3, cpu=0.01, memory_gb=0.01)


def test_workers_beyond_the_quota_are_refused(
    fake_platform: Platform, members: Members, parent: JobRun, audit_rows: Audit
) -> None:
    with fake_platform.store.transaction() as uow:
        uow.workloads.set_quota(members["contributor"].user.id, 2.0, 8192)
    with pytest.raises(QuotaExceeded) as caught:
        launch(
            fake_platform,
            own_key(fake_platform, members, parent),
            members.project_id,
            parent,
            count=2,
            cpu=1.0,
        )
    assert caught.value.message.startswith("These workers needs 2 vCPU / 2048 MiB; 1 of 2 vCPU")
    (event,) = audit_rows(fake_platform, "worker.launch")
    assert event.outcome is Outcome.FAILED


# Who speaks for the parent ------------------------------------------------------------------------


def test_only_the_parents_own_key_launches_workers(
    fake_platform: Platform, members: Members, parent: JobRun, audit_rows: Audit
) -> None:
    project_id = members.project_id
    # Its owner, signed in, is told why; a collaborator does not learn the parent exists.
    with pytest.raises(PermissionDenied, match="Only the session or job run itself"):
        launch(fake_platform, members["contributor"], project_id, parent)
    with pytest.raises(NotFound, match="No session or job run"):
        launch(fake_platform, members["admin"], project_id, parent)
    # Another workload's key of the same user is not the parent's.
    other = Principal(
        user=members["contributor"].user, via="api_key", project_scope=project_id, key_id=999999
    )
    with pytest.raises(PermissionDenied):
        launch(fake_platform, other, project_id, parent)
    # A viewer cannot create workloads at all.
    with pytest.raises(PermissionDenied, match="is viewer; you need contributor"):
        launch(fake_platform, members["viewer"], project_id, parent)
    outcomes = [e.outcome for e in audit_rows(fake_platform, "worker.launch")]
    assert outcomes == [Outcome.DENIED, Outcome.FAILED, Outcome.DENIED, Outcome.DENIED]


def test_the_owner_signed_in_may_list_and_stop_workers(
    fake_platform: Platform, members: Members, parent: JobRun, audit_rows: Audit
) -> None:
    started = launch(
        fake_platform, own_key(fake_platform, members, parent), members.project_id, parent, count=2
    )
    owner = members["contributor"]
    parent_id = parent.workload_id or ""
    assert len(workers.list_workers(fake_platform, owner, members.project_id, parent_id)) == 2
    with pytest.raises(NotFound):
        workers.list_workers(fake_platform, members["admin"], members.project_id, parent_id)
    (one,) = workers.stop(
        fake_platform, owner, members.project_id, parent_id, [started[0].workload.id]
    )
    assert one.workload.status is WorkloadStatus.STOPPING
    assert one.workload.reason == "stopped by contributor"
    rest = workers.stop(fake_platform, owner, members.project_id, parent_id)
    assert [w.workload.status for w in rest] == [WorkloadStatus.STOPPING] * 2
    details = [e.detail for e in audit_rows(fake_platform, "worker.stop")]
    assert details == [
        {"workers": [started[0].workload.id]},
        {"workers": [w.workload.id for w in started]},
    ]


def test_stopping_an_unknown_worker_is_not_found(
    fake_platform: Platform, members: Members, parent: JobRun
) -> None:
    parent_id = parent.workload_id or ""
    with pytest.raises(NotFound, match=f"No worker 'nope' of {parent_id}."):
        workers.stop(fake_platform, members["contributor"], members.project_id, parent_id, ["nope"])


def test_a_parent_that_is_not_a_session_or_job_run_is_not_found(
    fake_platform: Platform, members: Members, parent: JobRun
) -> None:
    key = own_key(fake_platform, members, parent)
    with pytest.raises(NotFound, match="No session or job run 'ghost' in this project."):
        workers.launch(
            fake_platform, key, members.project_id, "ghost", WorkerFields(script="worker.py")
        )


# The parent's end -------------------------------------------------------------------------------


def test_an_ended_parent_launches_nothing_and_its_workers_are_stopped(
    fake_platform: Platform, members: Members, parent: JobRun, executor: FakeExecutor
) -> None:
    key = own_key(fake_platform, members, parent)
    (worker,) = launch(fake_platform, key, members.project_id, parent)
    assert workers.reconcile(fake_platform) == []  # the parent still runs
    executor.finish(parent.workload_id or "", code=0)
    job_runs.on_workloads_ended(fake_platform, workloads.observe(fake_platform))
    with pytest.raises(InvalidState, match="is succeeded: only a running one."):
        launch(fake_platform, key, members.project_id, parent)
    assert workers.reconcile(fake_platform) == [worker.workload.id]
    stopped = workloads.get(fake_platform, worker.workload.id)
    assert stopped.reason == workers.PARENT_ENDED
    assert workers.reconcile(fake_platform) == []  # idempotent
