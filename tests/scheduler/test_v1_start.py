"""API v1 ``jobs/<id>/start`` (CML's legacy endpoint, used by helper libraries): runs the job
now and answers with the engine id the job sees as ``CDSW_ENGINE_ID``. A real server with its
scheduler thread, a real job process."""

from __future__ import annotations

import base64
import time

from fastapi.testclient import TestClient

from lakeworks.config import Settings
from lakeworks.entities.jobs import RunStatus
from lakeworks.entities.projects import Project
from lakeworks.entities.users import ApiKeyKind
from lakeworks.services import auth, job_runs, jobs
from lakeworks.services.jobs import JobFields
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.uow import Store


def test_start_runs_the_job_and_answers_its_engine_id(
    job_settings: Settings,
    store: Store,
    job_platform: Platform,
    owner_principal: Principal,
    project: Project,
) -> None:
    from lakeworks.app import create_app

    settings = job_settings.model_copy(update={"scheduler_enabled": True})
    job = jobs.create(
        job_platform, owner_principal, project.id, JobFields(name="Env", script="env.py")
    )
    key = auth.create_api_key(job_platform, owner_principal, "owner", kind=ApiKeyKind.V1)
    basic = {"Authorization": "Basic " + base64.b64encode(f"{key.secret}:".encode()).decode()}
    url = f"/api/v1/projects/owner/{project.slug}/jobs/{job.id}/start"

    with TestClient(create_app(settings, store)) as client:
        started = client.post(url, headers=basic, json={"environment": {"MY_RUN_VAR": "v1"}})
        assert started.status_code == 200, started.text
        engine_id = started.json()["engine_id"]
        assert engine_id and started.json()["status"] in ("running", "succeeded")

        deadline = time.monotonic() + 90
        while not (run := job_runs.get_run(
            job_platform, owner_principal, project.id, job.id, started.json()["id"]
        )).status.is_final:  # fmt: skip
            assert time.monotonic() < deadline, run.status
            time.sleep(0.2)
        assert run.status is RunStatus.SUCCEEDED and run.workload_id == engine_id
        log, _, _ = job_runs.run_log(job_platform, owner_principal, project.id, job.id, run.id)
        assert f"CDSW_ENGINE_ID={engine_id}" in log.decode()
        assert "MY_RUN_VAR=v1" in log.decode()

        # Bad input: a clear 4xx, nothing started.
        assert client.post(url, json={}).status_code == 401
        unknown = url.replace(job.id, "nojob")
        assert client.post(unknown, headers=basic).status_code == 404
        bad_env = client.post(url, headers=basic, json={"environment": "[1, 2]"})
        assert bad_env.status_code == 400 and "JSON object" in bad_env.json()["message"]
    runs = job_runs.list_runs(job_platform, owner_principal, project.id, job.id)
    assert len(runs) == 1
