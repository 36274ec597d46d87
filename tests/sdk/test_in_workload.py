"""``cmlapi`` inside a real job (the workshop's last lab, compat §6.1): ``default_client()``
from the workload's environment, ``list_jobs`` and ``create_job_run``; the started run then
runs to the end. Real runtime, real local executor, real server over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lakeworks.entities.jobs import RunStatus
from lakeworks.entities.users import User
from lakeworks.services import job_runs, jobs, projects
from lakeworks.services.jobs import JobFields
from lakeworks.services.platform import Platform, Principal

LAB = """
import os
import cmlapi

project_id = os.environ["CDSW_PROJECT_ID"]
api_client = cmlapi.default_client()
listed = api_client.list_jobs(project_id)
print("JOBS", sorted(j.name for j in listed.jobs))
target = next(j for j in listed.jobs if j.name == "target")
run = api_client.create_job_run(
    cmlapi.CreateJobRunRequest(), project_id=project_id, job_id=target.id
)
print("STARTED", run.id, run.status)
try:
    api_client.get_job(project_id, "zzzz-zzzz-zzzz-zzzz")
except cmlapi.rest.ApiException as exc:
    print("REFUSED", exc.status)
print("PROJECT", api_client.get_project(project_id).name)
"""

TARGET = "print('target ran with', __import__('os').environ['CDSW_JOB_ID'])\n"


def test_a_job_lists_jobs_and_starts_another_through_cmlapi(
    sdk_platform: Platform, alice: User, tick_until: Callable[..., Any]
) -> None:
    platform, principal = sdk_platform, Principal(user=alice, via="api_key")
    project = projects.create(
        platform, principal, name="Workshop", source=projects.parse_source("", "")
    )
    root = platform.settings.projects_dir / project.id
    (root / "lab.py").write_text(LAB)
    (root / "target.py").write_text(TARGET)
    lab = jobs.create(
        platform, principal, project.id, JobFields(name="lab", script="lab.py", memory_mb=1024)
    )
    target = jobs.create(
        platform,
        principal,
        project.id,
        JobFields(name="target", script="target.py", memory_mb=1024),
    )
    run = job_runs.trigger(platform, principal, project.id, lab.id)

    def finished(job_id: str, run_id: str) -> Callable[[], Any]:
        def check() -> Any:
            current = job_runs.get_run(platform, principal, project.id, job_id, run_id)
            return current if current.status.is_final else None

        return check

    ended = tick_until(finished(lab.id, run.id), "the lab job", timeout=600)
    log = job_runs.run_log(platform, principal, project.id, lab.id, run.id)[0].decode()
    assert ended.status is RunStatus.SUCCEEDED, log[-4000:]
    assert "JOBS ['lab', 'target']" in log
    assert "REFUSED 404" in log
    assert "PROJECT Workshop" in log
    started_id = log.split("STARTED ")[1].split()[0]

    [started] = job_runs.list_runs(platform, principal, project.id, target.id)
    assert started.id == started_id
    done = tick_until(finished(target.id, started_id), "the started job", timeout=600)
    target_log = job_runs.run_log(platform, principal, project.id, target.id, started_id)[
        0
    ].decode()
    assert done.status is RunStatus.SUCCEEDED, target_log[-4000:]
    assert f"target ran with {target.id}" in target_log


FALLBACK = """
import os, subprocess, sys
# What projects do when `import cmlapi` fails (compat §6.1): v1 URL -> v2, then pip install.
url = os.environ["CDSW_API_URL"][:-1] + "2/python.tar.gz"
subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", url], check=True)
found = subprocess.run(
    [sys.executable, "-m", "pip", "show", "--files", "cmlapi"],
    check=True, capture_output=True, text=True,
).stdout
print("LOCATION", [l for l in found.splitlines() if l.startswith("Location:")])
"""


def test_a_job_can_pip_install_the_served_client(
    sdk_platform: Platform, alice: User, tick_until: Callable[..., Any]
) -> None:
    platform, principal = sdk_platform, Principal(user=alice, via="api_key")
    project = projects.create(
        platform, principal, name="Fallback", source=projects.parse_source("", "")
    )
    root = platform.settings.projects_dir / project.id
    (root / "fallback.py").write_text(FALLBACK)
    job = jobs.create(
        platform, principal, project.id, JobFields(name="fallback", script="fallback.py")
    )
    run = job_runs.trigger(platform, principal, project.id, job.id)

    def finished() -> Any:
        current = job_runs.get_run(platform, principal, project.id, job.id, run.id)
        return current if current.status.is_final else None

    ended = tick_until(finished, "the pip install job", timeout=600)
    log = job_runs.run_log(platform, principal, project.id, job.id, run.id)[0].decode()
    assert ended.status is RunStatus.SUCCEEDED, log[-4000:]
    # Installed into the project (its .local), where later workloads of the project see it.
    assert "LOCATION ['Location: /" in log and ".local/lib/python" in log, log[-2000:]
    assert list((root / ".local").glob("lib/python*/site-packages/cmlapi/__init__.py"))
