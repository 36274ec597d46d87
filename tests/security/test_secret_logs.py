"""Issue 12, M1: secret project variables printed by a job are masked in its log.

As found: a contributor's job printed a secret variable and a viewer read it in the run's log.
Real job on the local executor; the log is read the way the API and UI read it.
"""

# ruff: noqa: F811  (pytest fixtures imported from tests.scheduler.conftest are parameters)

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.scheduler.conftest import (  # noqa: F401  (fixtures for real job runs)
    job_platform,
    job_settings,
    owner,
    owner_principal,
    project,
    scheduler,
    wait_for,
)

from lakeworks.entities.jobs import RunStatus
from lakeworks.entities.projects import Project
from lakeworks.entities.workloads import Resources, WorkloadKind
from lakeworks.services import job_runs, jobs, projects, users, workloads
from lakeworks.services.jobs import JobFields
from lakeworks.services.platform import Platform, Principal

SECRET = "hunter2-is-the-db-password"

PRINT_JOB = f"""
import os, sys, time
value = os.environ["DB_PASSWORD"]
print("connecting with", value, flush=True)
for ch in value:  # byte by byte, so a log read can land in the middle of it
    sys.stdout.write(ch); sys.stdout.flush(); time.sleep(0.01)
print(flush=True)
print("the last line quotes it:", value, flush=True)
assert value == {SECRET!r}
"""


def _with_secret(platform: Platform, principal: Principal, project: Project) -> None:
    env = projects.validate_env(
        {"REGION": "eu-west", "DB_PASSWORD": {"value": SECRET, "secret": True}}
    )
    projects.replace_env(platform, principal, project.id, env)


def test_a_viewer_reads_a_job_log_with_the_secret_masked(
    job_platform: Platform,
    owner_principal: Principal,
    project: Project,
    wait_for: Callable[..., Any],
) -> None:
    _with_secret(job_platform, owner_principal, project)
    viewer = users.create_user(
        job_platform, None, username="vera", password="correct horse battery", email="v@x.org"
    )
    projects.set_collaborator(job_platform, owner_principal, project.id, "vera", "viewer")
    root = job_platform.settings.projects_dir / project.id
    (root / "print.py").write_text(PRINT_JOB)
    job = jobs.create(
        job_platform, owner_principal, project.id, JobFields(name="print", script="print.py")
    )
    run = job_runs.trigger(job_platform, owner_principal, project.id, job.id)

    # Follow the log while it runs, in small windows, as a viewer polling the API would.
    who = Principal(user=viewer, via="session")
    seen, offset = b"", 0
    while True:
        current = job_runs.get_run(job_platform, who, project.id, job.id, run.id)
        data, offset, _ = job_runs.run_log(job_platform, who, project.id, job.id, run.id, offset)
        seen += data
        if current.status.is_final and not data:
            break
        wait_for(run.id, set(RunStatus), timeout=60)  # one scheduler tick
    assert current.status is RunStatus.SUCCEEDED, seen.decode(errors="replace")
    assert SECRET.encode() not in seen
    assert b"hunter2" not in seen and b"db-password" not in seen
    assert b"connecting with ****" in seen and b"the last line quotes it: ****" in seen

    whole, _, _ = job_runs.run_log(job_platform, who, project.id, job.id, run.id)
    assert SECRET.encode() not in whole and whole.count(b"****") == 3
    # The owner reads the same masked log: values are shown only in project settings.
    mine, _, _ = job_runs.run_log(job_platform, owner_principal, project.id, job.id, run.id)
    assert mine == whole


def test_failure_reasons_quote_the_last_line_masked(
    job_platform: Platform, owner_principal: Principal, project: Project
) -> None:
    _with_secret(job_platform, owner_principal, project)
    log = job_platform.settings.workloads_dir / "logs" / "w.log"
    log.parent.mkdir(parents=True)
    log.write_text(f"Traceback...\nConnectionError: bad password {SECRET}\n")
    with job_platform.store.transaction() as uow:
        workload = uow.workloads.add(
            workload_id="wmaskedreason00",
            kind=WorkloadKind.APPLICATION,
            project_id=project.id,
            user_id=owner_principal.user.id,
            executor="local",
            log_path=str(log),
            resources=Resources(cpu=1.0, memory_mb=256),
        )
    assert workloads.last_log_line(job_platform, workload) == "ConnectionError: bad password ****"
