"""An MLflow 3 client against the embedded MLflow 3 server (issue 14 #11): a project that
``pip install``s MLflow 3.x (from the package index, into the project) logs a run, an
``mlflow.sklearn.log_model`` (a logged model, MLflow 3's storage, written under the project's
``.experiments``) registered under a name; the registered version builds and serves through
API v2. The runtimes' MLflow 2.22.5 client is tested by ``test_job_training``. Real job,
registry, build and replica."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from tests.tracking.live import LiveServer
from tests.tracking.test_job_training import _key, _run_job, _tick_until, job_server

from lakeworks.entities.users import User
from lakeworks.services import projects
from lakeworks.services.platform import Platform, Principal
from lakeworks.tracking import registry

__all__ = ["job_server"]  # the fixture, shared with the training test

MLFLOW3 = "3.17.2"

TRAIN = f"""
!pip install --quiet mlflow=={MLFLOW3}
import os
os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"  # a server error fails the job at once
import mlflow, mlflow.sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

print("CLIENT", mlflow.__version__)
mlflow.set_experiment("iris-mlflow3")
X, y = load_iris(return_X_y=True)
with mlflow.start_run() as run:
    mlflow.log_param("C", 0.5)
    model = LogisticRegression(C=0.5, max_iter=300).fit(X, y)
    mlflow.log_metric("accuracy", model.score(X, y))
    info = mlflow.sklearn.log_model(
        model, name="iris", registered_model_name="iris-mlflow3", input_example=X[:2]
    )
print("RUN_ID", run.info.run_id, "MODEL_ID", info.model_id, "URI", info.model_uri)
loaded = mlflow.pyfunc.load_model(info.model_uri)
print("LOADED", [int(v) for v in loaded.predict(X[[0, 100]])])
print("VERSION", info.registered_model_version)
"""


@pytest.mark.timeout(1200)
def test_an_mlflow3_client_logs_registers_and_deploys_a_model(
    job_server: LiveServer, make_user: Callable[..., User]
) -> None:
    platform: Platform = job_server.platform
    alice, mallory = make_user("alice"), make_user("mallory")
    principal = Principal(user=alice, via="api_key")
    project = projects.create(
        platform, principal, name="Iris3", source=projects.parse_source("", "")
    )
    root = platform.settings.projects_dir / project.id
    (root / "train.py").write_text(TRAIN)
    _, raw = _run_job(platform, principal, project.id, "train.py")
    log = raw.decode(errors="replace")
    assert f"CLIENT {MLFLOW3}" in log, log[-3000:]
    words = log.split("RUN_ID ")[1].split()
    run_id, model_id = words[0], words[2]
    assert model_id.startswith("m-") and "LOADED [0, 2]" in log
    assert "VERSION 1" in log

    # The logged model is in the project's files, under its experiment (MLflow 3's layout).
    api = f"{job_server.url}/api/v2"
    headers = _key(platform, alice)
    experiments = httpx.get(f"{api}/projects/{project.id}/experiments", headers=headers).json()
    [experiment] = [e for e in experiments["experiments"] if e["name"] == "iris-mlflow3"]
    model_dir = root / ".experiments" / experiment["id"] / "models" / model_id / "artifacts"
    assert (model_dir / "MLmodel").is_file()

    # MLflow's REST API (as its UI uses it) shows the logged model and its files to the
    # project, and to nobody else.
    mlflow_api = f"{job_server.url}/mlflow/ajax-api/2.0/mlflow"
    got = httpx.get(f"{mlflow_api}/logged-models/{model_id}", headers=headers)
    assert got.status_code == 200, got.text
    assert got.json()["model"]["info"]["source_run_id"] == run_id
    listing = httpx.get(
        f"{mlflow_api}/logged-models/{model_id}/artifacts/directories", headers=headers
    )
    assert listing.status_code == 200, listing.text
    assert "MLmodel" in {f["path"] for f in listing.json()["files"]}
    served = httpx.get(
        f"{mlflow_api}/logged-models/{model_id}/artifacts/files",
        params={"artifact_file_path": "MLmodel"},
        headers=headers,
    )
    assert served.status_code == 200 and "sklearn" in served.text
    escape = httpx.get(
        f"{mlflow_api}/logged-models/{model_id}/artifacts/files",
        params={"artifact_file_path": "../../../../train.py"},
        headers=headers,
    )
    assert escape.status_code == 400
    other = _key(platform, mallory)
    assert httpx.get(f"{mlflow_api}/logged-models/{model_id}", headers=other).status_code == 404
    tagged = httpx.patch(
        f"{mlflow_api}/logged-models/{model_id}/tags",
        json={"tags": [{"key": "stolen", "value": "1"}]},
        headers=other,
    )
    assert tagged.status_code == 404
    searched = httpx.post(
        f"{mlflow_api}/logged-models/search",
        json={"experiment_ids": [experiment["id"]]},
        headers=other,
    )
    assert searched.status_code == 404

    # The registered version (source models:/<model_id>) resolves to that directory and
    # deploys through API v2.
    models = httpx.get(f"{api}/registry/models", headers=headers).json()["models"]
    [registered] = [m for m in models if m["name"] == "iris-mlflow3"]
    detail = httpx.get(f"{api}/registry/models/{registered['model_id']}", headers=headers).json()
    version_id = detail["model_versions"][0]["model_version_id"]
    source = registry.resolve_version(platform, principal, version_id)
    assert source.artifact_dir.resolve() == model_dir.resolve() and source.project_id == project.id

    model = httpx.post(
        f"{api}/projects/{project.id}/models",
        headers=headers,
        json={"name": "iris3", "disable_authentication": True},
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
    build_log = httpx.get(f"{models_api}/builds/{build['id']}/logs", headers=headers).text
    assert build["status"] == "built", build_log[-4000:]
    deployments = f"{models_api}/builds/{build['id']}/deployments"
    deployment = httpx.post(deployments, headers=headers, json={"cpu": 1, "memory": 2}).json()
    deployment = _tick_until(
        platform,
        lambda: httpx.get(f"{deployments}/{deployment['id']}", headers=headers).json(),
        lambda d: d["status"] in ("deployed", "failed"),
    )
    assert deployment["status"] == "deployed", deployment
    rows = {"columns": ["a", "b", "c", "d"], "data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}
    answer = httpx.post(
        f"{job_server.url}/model",
        json={"accessKey": model["access_key"], "request": {"dataframe_split": rows}},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["response"]["prediction"] == [0, 2]
