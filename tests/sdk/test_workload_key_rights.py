"""A workload's API key acts with its user's rights (issue 14 #8, CML): an automation job
creates a project and a job in it through ``cmlapi``, reaches the user's other projects, but
cannot manage API keys; the key is revoked when the job ends. Real job, real server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from lakeworks.entities.jobs import RunStatus
from lakeworks.entities.users import User
from lakeworks.services import job_runs, jobs, projects
from lakeworks.services.jobs import JobFields
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.tables import ApiKeyRow

AUTOMATION = """
import os
import cmlapi

api = cmlapi.default_client()
made = api.create_project(cmlapi.CreateProjectRequest(name="Made by a job", template="Python"))
print("CREATED", made.id, made.owner.username)
job = api.create_job(
    {"name": "nightly", "script": "analysis.py", "kernel": "python3"}, project_id=made.id
)
print("JOB", job.name, job.project_id == made.id)
print("OTHER", api.get_project(os.environ["OTHER_PROJECT"]).name)
names = sorted(p.name for p in api.list_projects(page_size=50).projects)
print("LISTED", names)
try:
    api.create_v2_key(cmlapi.CreateV2KeyRequest(), username=os.environ["HADOOP_USER_NAME"])
except cmlapi.rest.ApiException as exc:
    print("KEYS REFUSED", exc.status)
"""


def test_a_job_creates_a_project_with_its_key_but_manages_no_keys(
    sdk_platform: Platform, alice: User, tick_until: Callable[..., Any]
) -> None:
    platform, principal = sdk_platform, Principal(user=alice, via="api_key")
    blank = projects.parse_source("", "")
    other = projects.create(platform, principal, name="Private other", source=blank)
    project = projects.create(
        platform,
        principal,
        name="Automation",
        source=blank,
        environment={"OTHER_PROJECT": other.id},
    )
    (platform.settings.projects_dir / project.id / "automate.py").write_text(AUTOMATION)
    job = jobs.create(
        platform, principal, project.id, JobFields(name="automate", script="automate.py")
    )
    run = job_runs.trigger(platform, principal, project.id, job.id)

    def finished() -> Any:
        current = job_runs.get_run(platform, principal, project.id, job.id, run.id)
        return current if current.status.is_final else None

    ended = tick_until(finished, "the automation job", timeout=600)
    log = job_runs.run_log(platform, principal, project.id, job.id, run.id)[0].decode()
    assert ended.status is RunStatus.SUCCEEDED, log[-4000:]
    assert "CREATED " in log and " alice" in log.split("CREATED ")[1].splitlines()[0]
    assert "JOB nightly True" in log
    assert "OTHER Private other" in log
    assert "LISTED ['Automation', 'Made by a job', 'Private other']" in log
    assert "KEYS REFUSED 403" in log

    created_id = log.split("CREATED ")[1].split()[0]
    views, _ = projects.list_projects(platform, principal)
    made = next(v.project for v in views if v.project.id == created_id)
    assert made.name == "Made by a job" and made.owner.id == alice.id
    assert [j.name for j in jobs.list_jobs(platform, principal, created_id)] == ["nightly"]
    # The job's keys ended with it.
    with platform.store.engine.connect() as conn:
        keys = conn.execute(select(ApiKeyRow).where(ApiKeyRow.project_id == project.id)).all()
    assert keys and all(k.revoked_at is not None for k in keys)
