"""Done means: a job running a plain MLflow training script shows its run in the project,
through API v2 and MLflow's REST API; the model registers through API v2; other projects'
users see nothing. Real job, real runtime (sklearn, mlflow), real embedded server."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.tracking.live import LiveServer, live_server
from tests.workload_cleanup import stop_live_workloads

from lakeworks.config import Settings
from lakeworks.entities.jobs import RunStatus
from lakeworks.entities.users import User
from lakeworks.scheduler.loop import Scheduler
from lakeworks.services import auth, experiments, job_runs, jobs, projects
from lakeworks.services.jobs import JobFields
from lakeworks.services.platform import Platform, Principal

TRAIN = """
import mlflow, mlflow.sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
import cdsw

mlflow.set_experiment("iris-training")
X, y = load_iris(return_X_y=True)
with mlflow.start_run() as run:
    mlflow.log_param("C", 0.5)
    model = LogisticRegression(C=0.5, max_iter=300).fit(X, y)
    for step, acc in enumerate([0.5, 0.8, model.score(X, y)]):
        mlflow.log_metric("accuracy", acc, step=step)
    mlflow.set_tags({"stage": "demo"})
    mlflow.sklearn.log_model(model, artifact_path="artifacts")
    with open("notes.txt", "w") as handle:
        handle.write("trained")
    mlflow.log_artifact("notes.txt")
mlflow.set_experiment("iris-autolog")
mlflow.sklearn.autolog()
from sklearn.model_selection import GridSearchCV
with mlflow.start_run() as parent:
    GridSearchCV(LogisticRegression(max_iter=300), {"C": [0.1, 1.0]}, cv=2).fit(X, y)
children = mlflow.search_runs(
    parent.info.experiment_id, filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
)
print("CHILDREN", len(children))
mlflow.set_experiment("iris-training")
found = mlflow.search_runs(run.info.experiment_id)
print("RUNS", list(found["run_id"]))
cdsw.track_metric("legacy_score", 0.75)
print("RUN_ID", run.info.run_id)
"""

CALL = """
import json, cdsw
rows = {"columns": ["a", "b", "c", "d"], "data": [[6.7, 3.0, 5.2, 2.3]]}
print("CALLED", json.dumps(cdsw.call_model("ACCESS_KEY", {"dataframe_split": rows})))
"""


@pytest.fixture
def job_server(settings: Settings, store: object) -> Iterator[LiveServer]:
    import os

    cache = Path(
        os.environ.get(
            "LAKEWORKS_TEST_RUNTIME_CACHE", Path.home() / ".cache" / "lakeworks-test-runtimes"
        )
    )
    with live_server(settings.model_copy(update={"runtimes_dir": cache}), store) as running:
        yield running
        stop_live_workloads(running.platform)


def _run_job(
    platform: Platform, principal: Principal, project_id: str, script: str
) -> tuple[Any, bytes]:
    """Run ``script`` as a job to the end: (the run, its log); fails unless it succeeded."""
    job = jobs.create(
        platform, principal, project_id, JobFields(name=script, script=script, memory_mb=2048)
    )
    run = job_runs.trigger(platform, principal, project_id, job.id)
    _tick_until(
        platform,
        lambda: {"run": job_runs.get_run(platform, principal, project_id, job.id, run.id)},
        lambda current: current["run"].status.is_final,
    )
    run = job_runs.get_run(platform, principal, project_id, job.id, run.id)
    log, _, _ = job_runs.run_log(platform, principal, project_id, job.id, run.id)
    assert run.status is RunStatus.SUCCEEDED, log.decode(errors="replace")[-4000:]
    return run, log


def _tick_until(
    platform: Platform, read: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """Tick a scheduler on ``platform`` until ``done(read())``; the last ``read()``."""
    scheduler = Scheduler(platform)
    try:
        deadline = time.monotonic() + 600
        while not done(current := read()):
            assert time.monotonic() < deadline, f"gave up waiting: {current}"
            scheduler.tick(wait=True)
            time.sleep(0.2)
        return current
    finally:
        scheduler.stop()


def _key(platform: object, user: User) -> dict[str, str]:
    secret = auth.create_api_key(platform, Principal(user=user, via="cli"), user.username).secret  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.timeout(900)  # the first test to run may build the runtime
def test_training_job_run_lands_in_the_project(
    job_server: LiveServer, make_user: Callable[..., User]
) -> None:
    platform = job_server.platform
    alice, mallory = make_user("alice"), make_user("mallory")
    principal = Principal(user=alice, via="api_key")
    project = projects.create(
        platform, principal, name="Iris", source=projects.parse_source("", "")
    )
    root = platform.settings.projects_dir / project.id
    (root / "train.py").write_text(TRAIN)
    run, log = _run_job(platform, principal, project.id, "train.py")
    mlflow_run_id = log.decode().split("RUN_ID ")[1].split()[0]
    assert "CHILDREN 2" in log.decode()  # autolog's grid search logged its child runs

    api = f"{job_server.url}/api/v2"
    headers = _key(platform, alice)
    listed = httpx.get(f"{api}/projects/{project.id}/experiments", headers=headers).json()
    [experiment] = [e for e in listed["experiments"] if e["name"] == "iris-training"]
    assert experiment["artifact_location"] == f"/home/cdsw/.experiments/{experiment['id']}"
    runs = httpx.get(
        f"{api}/projects/{project.id}/experiments/{experiment['id']}/runs", headers=headers
    ).json()["experiment_runs"]
    [mlflow_run] = [r for r in runs if r["id"] == mlflow_run_id]
    assert {"key": "C", "value": "0.5"} in mlflow_run["data"]["params"]
    [accuracy] = [m for m in mlflow_run["data"]["metrics"] if m["key"] == "accuracy"]
    assert float(accuracy["value"]) > 0.9

    # Artifacts are in the project, as the compat spec places them.
    artifacts = root / ".experiments" / experiment["id"] / mlflow_run_id / "artifacts"
    assert (artifacts / "artifacts" / "MLmodel").is_file()
    assert (artifacts / "notes.txt").read_text() == "trained"
    # ... and MLflow's REST API (as its UI uses it) lists and serves them.
    mlflow_api = f"{job_server.url}/mlflow/ajax-api/2.0/mlflow"
    listing = httpx.get(
        f"{mlflow_api}/artifacts/list", params={"run_id": mlflow_run_id}, headers=headers
    ).json()
    assert {f["path"] for f in listing["files"]} == {"artifacts", "notes.txt"}
    served = httpx.get(
        f"{job_server.url}/mlflow/get-artifact",
        params={"run_uuid": mlflow_run_id, "path": "notes.txt"},
        headers=headers,
    )
    assert served.status_code == 200 and served.text == "trained"
    escape = httpx.get(
        f"{job_server.url}/mlflow/get-artifact",
        params={"run_uuid": mlflow_run_id, "path": "../../../../train.py"},
        headers=headers,
    )
    assert escape.status_code == 400

    # Register through API v2; the version resolves to the model on disk.
    registered = httpx.post(
        f"{api}/registry/models",
        headers=headers,
        json={
            "project_id": project.id,
            "experiment_id": experiment["id"],
            "run_id": mlflow_run_id,
            "model_name": "iris-classifier",
            "model_path": "artifacts",
        },
    )
    assert registered.status_code == 200, registered.text
    body = registered.json()
    version_id = body["model_versions"][0]["model_version_id"]
    assert body["model_versions"][0]["number"] == 1
    source = experiments.resolve_version(platform, principal, version_id)
    assert source.project_id == project.id and source.run_id == mlflow_run_id
    assert (source.artifact_dir / "MLmodel").is_file()
    again = httpx.post(
        f"{api}/registry/models",
        headers=headers,
        json={
            "project_id": project.id,
            "experiment_id": experiment["id"],
            "run_id": mlflow_run_id,
            "model_name": "iris-classifier",
            "model_path": "artifacts",
        },
    ).json()
    assert again["model_id"] == body["model_id"]
    assert again["model_versions"][0]["number"] == 2

    # The registered version deploys through API v2 (a registry build: MLflow's pyfunc behind
    # the CML protocol) and answers dataframe_split input with a list of predictions.
    model = httpx.post(
        f"{api}/projects/{project.id}/models",
        headers=headers,
        json={"name": "iris", "disable_authentication": True},
    ).json()
    models_api = f"{api}/projects/{project.id}/models/{model['id']}"
    build = httpx.post(
        f"{models_api}/builds", headers=headers, json={"registered_model_version_id": version_id}
    ).json()
    build = _tick_until(
        platform,
        lambda: httpx.get(f"{models_api}/builds/{build['id']}", headers=headers).json(),
        lambda b: b["status"] in ("built", "build failed"),
    )
    assert build["status"] == "built", httpx.get(
        f"{models_api}/builds/{build['id']}/logs", headers=headers
    ).text
    deployments = f"{models_api}/builds/{build['id']}/deployments"
    deployment = httpx.post(
        deployments, headers=headers, json={"cpu": 1, "memory": 2, "replicas": 1}
    ).json()
    deployment = _tick_until(
        platform,
        lambda: httpx.get(f"{deployments}/{deployment['id']}", headers=headers).json(),
        lambda d: d["status"] in ("deployed", "failed"),
    )
    assert deployment["status"] == "deployed", deployment
    replicas = httpx.get(f"{deployments}/{deployment['id']}/replicas", headers=headers).json()
    assert [r["state"] for r in replicas["replicas"]] == ["ready"]
    # The deployment is not found under another build's path (nor stopped through it).
    elsewhere = f"{models_api}/builds/{uuid.uuid4()}/deployments/{deployment['id']}"
    for method, suffix in (("GET", ""), ("GET", "/replicas"), ("POST", ":stop")):
        assert httpx.request(method, elsewhere + suffix, headers=headers).status_code == 404
    rows = {"columns": ["a", "b", "c", "d"], "data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}
    answer = httpx.post(
        f"{job_server.url}/model",
        json={"accessKey": model["access_key"], "request": {"dataframe_split": rows}},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    # Compat §5.5: metrics on, {"uuid", "prediction": [one value per row]}.
    response = answer.json()["response"]
    assert response["prediction"] == [0, 2]
    assert response["uuid"] == answer.headers["x-lakeworks-prediction-uuid"]
    # ... and a job reaches it with cdsw.call_model (the workload's own key and address).
    (root / "call.py").write_text(CALL.replace("ACCESS_KEY", model["access_key"]))
    _, call_log = _run_job(platform, principal, project.id, "call.py")
    called = json.loads(call_log.decode().split("CALLED ", 1)[1].splitlines()[0])
    assert called["success"] is True and called["response"]["prediction"] == [2]

    # Legacy cdsw.track_metric in a job run is recorded on an MLflow run tied to the job run.
    legacy = httpx.get(f"{api}/projects/{project.id}/experiments", headers=headers).json()
    [jobs_experiment] = [e for e in legacy["experiments"] if e["name"].startswith("Job runs")]
    legacy_runs = httpx.get(
        f"{api}/projects/{project.id}/experiments/{jobs_experiment['id']}/runs", headers=headers
    ).json()["experiment_runs"]
    [tied] = [
        r
        for r in legacy_runs
        if {"key": "lakeworks.job_run_id", "value": run.id} in r["data"]["tags"]
    ]
    assert [m["value"] for m in tied["data"]["metrics"]] == [0.75]

    # Another project's user sees none of it.
    other = _key(platform, mallory)
    assert httpx.get(f"{api}/experiments", headers=other).json()["experiments"] == []
    assert httpx.get(f"{api}/registry/models", headers=other).json()["models"] == []
    hidden = httpx.get(
        f"{api}/projects/{project.id}/experiments/{experiment['id']}/runs", headers=other
    )
    assert hidden.status_code == 404
    from lakeworks.errors import NotFound

    with pytest.raises(NotFound):
        experiments.resolve_version(platform, Principal(user=mallory, via="api_key"), version_id)
    stolen = httpx.post(
        f"{api}/registry/models",
        headers=other,
        json={
            "project_id": project.id,
            "experiment_id": experiment["id"],
            "run_id": mlflow_run_id,
            "model_name": "stolen",
            "model_path": "artifacts",
        },
    )
    assert stolen.status_code == 404
