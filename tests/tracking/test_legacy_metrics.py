"""``cdsw.track_metric`` with non-numeric values and ``track_file`` in a job run (issue 14 #10,
compat §3.2/§3.4): numbers are MLflow metrics, strings (and dicts) are kept as tags of the
same name, tracked files are the run's artifacts. Real job, real embedded server."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from tests.tracking.live import LiveServer
from tests.tracking.test_job_training import _key, _run_job, job_server

from lakeworks.entities.users import User
from lakeworks.services import projects
from lakeworks.services.platform import Principal

__all__ = ["job_server"]  # the fixture, shared with the training test

TRACK = """
import cdsw
cdsw.track_metric("accuracy", 0.5)
cdsw.track_metric("accuracy", 0.875)
cdsw.track_metric("model_type", "random forest")
cdsw.track_metric("grid", {"depth": 3, "trees": [10, 20]})
cdsw.track_metric("converged", True)
cdsw.track_metric("mlflow.runName", "not a system tag")
with open("report.txt", "w") as handle:
    handle.write("confusion matrix")
cdsw.track_file("report.txt")
"""


@pytest.mark.timeout(900)
def test_string_metrics_and_files_of_a_job_run_are_kept(
    job_server: LiveServer, make_user: Callable[..., User]
) -> None:
    platform = job_server.platform
    alice = make_user("alice")
    principal = Principal(user=alice, via="api_key")
    project = projects.create(
        platform, principal, name="Legacy", source=projects.parse_source("", "")
    )
    (platform.settings.projects_dir / project.id / "track.py").write_text(TRACK)
    run, _ = _run_job(platform, principal, project.id, "track.py")

    api = f"{job_server.url}/api/v2"
    headers = _key(platform, alice)
    listed = httpx.get(f"{api}/projects/{project.id}/experiments", headers=headers).json()
    [experiment] = [e for e in listed["experiments"] if e["name"].startswith("Job runs")]
    runs = httpx.get(
        f"{api}/projects/{project.id}/experiments/{experiment['id']}/runs", headers=headers
    ).json()["experiment_runs"]
    [tied] = [
        r for r in runs if {"key": "lakeworks.job_run_id", "value": run.id} in r["data"]["tags"]
    ]
    metrics = {m["key"]: float(m["value"]) for m in tied["data"]["metrics"]}
    assert metrics == {"accuracy": 0.875, "converged": 1.0}
    tags = {t["key"]: t["value"] for t in tied["data"]["tags"]}
    assert tags["model_type"] == "random forest"
    assert tags["grid"] == '{"depth": 3, "trees": [10, 20]}'
    assert tags.get("mlflow.runName") != "not a system tag"

    listing = httpx.get(
        f"{job_server.url}/mlflow/ajax-api/2.0/mlflow/artifacts/list",
        params={"run_id": tied["id"]},
        headers=headers,
    ).json()
    assert [f["path"] for f in listing["files"]] == ["report.txt"]
