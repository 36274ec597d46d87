"""Issue 14 #11: the embedded server is MLflow 3; runtimes keep their MLflow 2 client (CML
compat §9), and a project may ``pip install`` MLflow 3. Both clients, in real jobs, log params
and metrics and ``mlflow.sklearn.log_model(..., registered_model_name=...)``; both models land
in the run's artifacts (``/home/cdsw/.experiments/<e>/<r>/artifacts/model``, listed by
``list_artifacts(run_id, "model")``), and the MLflow 3 registered version builds, deploys and
answers as a model. Uses the shared runtime cache (runtimes are unchanged) and PyPI (the 3.x
client, and the 3.x model's requirements in its build)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from tests.tracking.live import LiveServer
from tests.tracking.test_job_training import _key, _run_job, _tick_until, job_server

from lakeworks.entities.users import User
from lakeworks.services import experiments, projects
from lakeworks.services.platform import Principal

__all__ = ["job_server"]  # the fixture, shared with the training test

MLFLOW_3 = "3.17.2"  # the server's version (pyproject.toml)

TRAIN = """
import json, mlflow, mlflow.sklearn
from mlflow import MlflowClient
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

assert mlflow.__version__.startswith("MAJOR."), mlflow.__version__
mlflow.set_experiment("iris-MAJOR")
X, y = load_iris(return_X_y=True)
with mlflow.start_run() as run:
    mlflow.log_param("C", 0.5)
    model = LogisticRegression(C=0.5, max_iter=300).fit(X, y)
    mlflow.log_metric("accuracy", model.score(X, y))
    info = mlflow.sklearn.log_model(model, "model", registered_model_name="iris-MAJOR")
client = MlflowClient()
version = client.get_model_version("iris-MAJOR", info.registered_model_version)
listed = [(f.path, f.is_dir) for f in client.list_artifacts(run.info.run_id, "model")]
print("RESULT", json.dumps({
    "mlflow": mlflow.__version__,
    "run_id": run.info.run_id,
    "experiment_id": run.info.experiment_id,
    "artifact_uri": run.info.artifact_uri,
    "version_id": version.tags.get("lakeworks.version_id"),
    "source": version.source,
    "listed": listed,
}))
"""

INSTALL = f"""
!pip install --quiet "mlflow=={MLFLOW_3}"
"""


def _result(log: bytes) -> dict[str, object]:
    line = log.decode(errors="replace").split("RESULT ", 1)[1].splitlines()[0]
    return dict(json.loads(line))


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_mlflow_2_and_3_clients_log_register_and_the_3x_version_deploys(
    job_server: LiveServer, make_user: Callable[..., User]
) -> None:
    platform = job_server.platform
    alice = make_user("alice")
    principal = Principal(user=alice, via="api_key")
    project = projects.create(
        platform, principal, name="Clients", source=projects.parse_source("", "")
    )
    root = platform.settings.projects_dir / project.id
    (root / "train2.py").write_text(TRAIN.replace("MAJOR", "2"))
    (root / "install3.py").write_text(INSTALL)
    (root / "train3.py").write_text(TRAIN.replace("MAJOR", "3"))

    # The runtime's own client (2.x), then MLflow 3 installed by the project and used.
    _, log2 = _run_job(platform, principal, project.id, "train2.py")
    _run_job(platform, principal, project.id, "install3.py")
    _, log3 = _run_job(platform, principal, project.id, "train3.py")
    results = {"2": _result(log2), "3": _result(log3)}
    assert str(results["3"]["mlflow"]) == MLFLOW_3

    api = f"{job_server.url}/api/v2"
    headers = _key(platform, alice)
    for major, result in results.items():
        run_id, experiment_id = str(result["run_id"]), str(result["experiment_id"])
        # CML compat §9: the model is in the run's artifacts, as the client listed it.
        uri = f"/home/cdsw/.experiments/{experiment_id}/{run_id}/artifacts"
        assert str(result["artifact_uri"]).removeprefix("file://") == uri
        assert ["model/MLmodel", False] in result["listed"], result
        model_dir = root / ".experiments" / experiment_id / run_id / "artifacts" / "model"
        assert (model_dir / "MLmodel").is_file()
        # ... the registered version is that directory ...
        assert str(result["source"]).removeprefix("file://") in (
            f"{uri}/model",
            f"runs:/{run_id}/model",
        )
        source = experiments.resolve_version(platform, principal, str(result["version_id"]))
        assert source.artifact_dir == model_dir.resolve() and source.run_id == run_id
        # ... and params and metrics are the run's, through API v2.
        runs = httpx.get(
            f"{api}/projects/{project.id}/experiments/{experiment_id}/runs", headers=headers
        ).json()["experiment_runs"]
        [logged] = [r for r in runs if r["id"] == run_id]
        assert {"key": "C", "value": "0.5"} in logged["data"]["params"], major
        [accuracy] = [m for m in logged["data"]["metrics"] if m["key"] == "accuracy"]
        assert float(accuracy["value"]) > 0.9

    # The MLflow 3 version deploys as a model (a registry build) and answers.
    model = httpx.post(
        f"{api}/projects/{project.id}/models",
        headers=headers,
        json={"name": "iris3", "disable_authentication": True},
    ).json()
    models_api = f"{api}/projects/{project.id}/models/{model['id']}"
    build = httpx.post(
        f"{models_api}/builds",
        headers=headers,
        json={"registered_model_version_id": results["3"]["version_id"]},
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
