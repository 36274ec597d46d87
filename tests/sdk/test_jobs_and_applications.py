"""``cmlapi`` from outside: jobs, job runs and applications (compat §6.5), on a live server.
Job runs stay queued here (no scheduler tick), so stopping one needs no process;
test_in_workload runs real jobs. Applications start for real (create also starts)."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest


@pytest.fixture
def project_id(alice_api: Any) -> str:
    pid: str = alice_api.create_project({"name": "Jobs"}).id
    alice_api.upload_file(pid, {"train.py": "print('training')\n", "report.py": "print(1)\n"})
    return pid


def test_jobs_are_created_listed_updated_and_deleted(
    cmlapi: ModuleType, alice_api: Any, bob_api: Any, project_id: str
) -> None:
    train = alice_api.create_job(
        cmlapi.CreateJobRequest(
            project_id=project_id,
            name="train",
            script="train.py",
            cpu=1,
            memory=2,
            environment={"ALPHA": "0.5"},
            arguments="--fast",
        ),
        project_id,
    )
    assert isinstance(train, cmlapi.Job)
    assert train.memory == 2.0 and train.parent_id == "" and train.type == "manual"
    assert json.loads(train.environment) == {"ALPHA": "0.5"}
    # A dict body, numbers as strings and the parent_job_id alias (compat §6.3).
    report = alice_api.create_job(
        {
            "name": "report",
            "script": "report.py",
            "cpu": "1",
            "memory": "1",
            "parent_job_id": train.id,
            "kernel": "python3",
            "runtime_addon_identifiers": [],
        },
        project_id=project_id,
    )
    assert report.parent_id == train.id and report.type == "dependent"
    listed = alice_api.list_jobs(project_id)
    assert [j.name for j in listed.jobs] == ["train", "report"]  # created_at ascending
    assert alice_api.list_jobs(project_id, sort="-created_at", page_size=1).jobs[0].id == report.id
    # Walking parent_id up to "" (compat §6.5).
    job, chain = alice_api.get_job(project_id, report.id), []
    while job.parent_id:
        chain.append(job.parent_id)
        job = alice_api.get_job(project_id, job.parent_id)
    assert chain == [train.id]

    changed = alice_api.update_job(cmlapi.Job(arguments="--slow", cpu=2), project_id, train.id)
    assert changed.arguments == "--slow" and changed.cpu == 2.0 and changed.script == "train.py"
    # A whole fetched job sent back with one field changed (compat §6.2).
    whole = alice_api.get_job(project_id, report.id)
    whole.arguments = "--weekly"
    again = alice_api.update_job(whole, project_id, report.id)
    assert again.arguments == "--weekly" and again.parent_id == train.id
    assert again.type == "dependent" and json.loads(again.environment) == {}
    everywhere = alice_api.list_all_jobs(page_size=100)
    assert [j.id for j in everywhere.jobs] == [train.id, report.id]
    assert bob_api.list_all_jobs().jobs == []  # nothing of projects bob is not in

    assert alice_api.delete_job(project_id, report.id) is None
    assert [j.id for j in alice_api.list_jobs(project_id).jobs] == [train.id]


def test_job_runs_are_created_read_listed_and_stopped(
    cmlapi: ModuleType, alice_api: Any, project_id: str
) -> None:
    job = alice_api.create_job({"name": "train", "script": "train.py"}, project_id)
    # Positional order (project_id, job_id) of CreateJobRunRequest (compat §6.2).
    first = alice_api.create_job_run(
        cmlapi.CreateJobRunRequest(project_id, job.id, arguments="--once"),
        project_id,
        job.id,
    )
    assert isinstance(first, cmlapi.JobRun)
    assert first.job_id == job.id and first.arguments == "--once"
    assert first.status == "ENGINE_SCHEDULING"
    assert alice_api.get_job_run(project_id, job.id, first.id).id == first.id
    stopped = alice_api.stop_job_run(project_id, job.id, first.id)
    assert stopped.status == "ENGINE_STOPPED"
    # Stopping a finished run raises (compat §6.5).
    with pytest.raises(cmlapi.rest.ApiException) as again:
        alice_api.stop_job_run(project_id, job.id, first.id)
    assert 400 <= again.value.status < 500 and again.value.body

    # A whole CreateJobRequest as the run body: its extra keys are ignored (compat §6.3).
    second = alice_api.create_job_run(
        cmlapi.CreateJobRequest(project_id=project_id, name="x", script="x.py"),
        project_id=project_id,
        job_id=job.id,
    )
    assert second.job_id == job.id and second.status == "ENGINE_SCHEDULING"
    runs = alice_api.list_job_runs(project_id, job.id, sort="-created_at", page_size=1)
    assert [r.id for r in runs.job_runs] == [second.id]
    status_filter = json.dumps({"status": "stopped"})
    only = alice_api.list_job_runs(project_id, job.id, search_filter=status_filter)
    assert [r.id for r in only.job_runs] == [first.id]


APP = """
import http.server, os
server = http.server.HTTPServer(("127.0.0.1", int(os.environ["CDSW_APP_PORT"])),
                                http.server.SimpleHTTPRequestHandler)
server.serve_forever()
"""


def test_applications_are_created_listed_restarted_stopped_and_deleted(
    cmlapi: ModuleType,
    alice_api: Any,
    project_id: str,
    tick_until: Callable[..., Any],
) -> None:
    alice_api.upload_file(project_id, {"app.py": APP})
    created = alice_api.create_application(
        cmlapi.CreateApplicationRequest(
            name="Dashboard",
            subdomain="sdk-dashboard",
            script="app.py",
            cpu=1,
            memory=1,
            environment={"MODE": "demo"},
        ),
        project_id,
    )
    assert isinstance(created, cmlapi.Application)
    assert created.status in ("APPLICATION_STARTING", "APPLICATION_RUNNING")
    # The documented idiom of compat §6.5.
    listed = alice_api.list_applications(
        project_id, search_filter=json.dumps({"subdomain": "sdk-dashboard"})
    )
    assert listed.to_dict()["applications"][0]["id"] == created.id

    def running() -> Any:
        app = alice_api.get_application(project_id, created.id)
        return app if app.status == "APPLICATION_RUNNING" else None

    first_engine = tick_until(running, "the application to run").engine_id
    restarted = alice_api.restart_application(project_id, created.id)
    assert isinstance(restarted, cmlapi.Application)
    assert restarted.status == "APPLICATION_STARTING"

    def on_a_new_engine() -> Any:
        app = running()
        return app if app and app.engine_id != first_engine else None

    tick_until(on_a_new_engine, "the restart on a new engine")

    renamed = alice_api.update_application(
        cmlapi.Application(description="for the team"), project_id, created.id
    )
    assert renamed.description == "for the team" and renamed.subdomain == "sdk-dashboard"
    whole = alice_api.get_application(project_id, created.id)
    whole.name = "Team dashboard"
    again = alice_api.update_application(whole, project_id, created.id)
    assert again.name == "Team dashboard" and json.loads(again.environment) == {"MODE": "demo"}
    stopped = alice_api.stop_application(project_id, application_id=created.id)
    assert stopped.status in ("APPLICATION_STOPPING", "APPLICATION_STOPPED")
    assert alice_api.delete_application(project_id, created.id) is None
    assert alice_api.list_applications(project_id).applications == []
