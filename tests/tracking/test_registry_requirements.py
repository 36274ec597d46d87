"""Registry-built models install the MLflow model's own requirements (issue 14 #6, compat
§5.5): a pyfunc model that imports a package only its ``requirements.txt`` names (here a local
wheel logged with the model, offline) builds, loads and serves; without ``requirements.txt``
the pip section of its ``conda.yaml`` is used. Real job, registry, build and replica."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from tests.tracking.live import LiveServer
from tests.tracking.test_job_training import _key, _run_job, _tick_until, job_server

from lakeworks.entities.users import User
from lakeworks.services import experiments, projects
from lakeworks.services.platform import Platform, Principal
from runtimes.shared import make_wheel

__all__ = ["job_server"]  # the fixture, shared with the training test

WHEEL = "lwscale-1.0-py3-none-any.whl"

LOG_MODEL = f"""
import mlflow, mlflow.pyfunc


class Scaler(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        import lwscale  # only the model's requirements provide it (not the runtime)

        return [float(x) * lwscale.FACTOR for x in model_input["x"]]


mlflow.set_experiment("scaler")
with mlflow.start_run() as run:
    mlflow.pyfunc.log_model(
        "artifacts",
        python_model=Scaler(),
        artifacts={{"wheel": "wheels/{WHEEL}"}},
        pip_requirements=["artifacts/{WHEEL}"],
    )
print("RUN_ID", run.info.run_id, "EXPERIMENT", run.info.experiment_id)
"""


def _build(platform: Platform, headers: dict[str, str], models_api: str, version_id: str) -> Any:
    build = httpx.post(
        f"{models_api}/builds", headers=headers, json={"registered_model_version_id": version_id}
    ).json()
    return _tick_until(
        platform,
        lambda: httpx.get(f"{models_api}/builds/{build['id']}", headers=headers).json(),
        lambda b: b["status"] in ("built", "build failed"),
    )


@pytest.mark.timeout(900)
def test_a_registry_build_installs_the_models_requirements(
    job_server: LiveServer, make_user: Callable[..., User]
) -> None:
    platform = job_server.platform
    alice = make_user("alice")
    principal = Principal(user=alice, via="api_key")
    project = projects.create(
        platform, principal, name="Scaler", source=projects.parse_source("", "")
    )
    root = platform.settings.projects_dir / project.id
    (root / "wheels").mkdir()
    make_wheel(root / "wheels", "lwscale", "1.0", {"lwscale/__init__.py": "FACTOR = 3.0\n"})
    (root / "log_model.py").write_text(LOG_MODEL)
    _, log = _run_job(platform, principal, project.id, "log_model.py")
    words = log.decode().split("RUN_ID ")[1].split()
    run_id, experiment_id = words[0], words[2]

    api = f"{job_server.url}/api/v2"
    headers = _key(platform, alice)
    registered = httpx.post(
        f"{api}/registry/models",
        headers=headers,
        json={
            "project_id": project.id,
            "experiment_id": experiment_id,
            "run_id": run_id,
            "model_name": "scaler",
            "model_path": "artifacts",
        },
    )
    assert registered.status_code == 200, registered.text
    version_id = registered.json()["model_versions"][0]["model_version_id"]
    model_dir = experiments.resolve_version(platform, principal, version_id).artifact_dir
    assert f"artifacts/{WHEEL}" in (model_dir / "requirements.txt").read_text()

    model = httpx.post(
        f"{api}/projects/{project.id}/models",
        headers=headers,
        json={"name": "scaler", "disable_authentication": True},
    ).json()
    models_api = f"{api}/projects/{project.id}/models/{model['id']}"
    build = _build(platform, headers, models_api, version_id)
    build_log = httpx.get(f"{models_api}/builds/{build['id']}/logs", headers=headers).text
    assert build["status"] == "built", build_log
    assert "Installing the MLflow model's requirements" in build_log
    assert "MLflow model loads" in build_log

    deployments = f"{models_api}/builds/{build['id']}/deployments"
    deployment = httpx.post(deployments, headers=headers, json={"cpu": 1, "memory": 2}).json()
    deployment = _tick_until(
        platform,
        lambda: httpx.get(f"{deployments}/{deployment['id']}", headers=headers).json(),
        lambda d: d["status"] in ("deployed", "failed"),
    )
    assert deployment["status"] == "deployed", deployment
    rows = {"columns": ["x"], "data": [[1.0], [2.5]]}
    answer = httpx.post(
        f"{job_server.url}/model",
        json={"accessKey": model["access_key"], "request": {"dataframe_split": rows}},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["response"]["prediction"] == [3.0, 7.5]

    # Without requirements.txt, the pip section of conda.yaml is what the build installs.
    assert f"artifacts/{WHEEL}" in (model_dir / "conda.yaml").read_text()
    (model_dir / "requirements.txt").unlink()
    conda_build = _build(platform, headers, models_api, version_id)
    conda_log = httpx.get(f"{models_api}/builds/{conda_build['id']}/logs", headers=headers).text
    assert conda_build["status"] == "built", conda_log
    assert "requirements (mlflow_model: lakeworks-conda-pip.txt)" in conda_log
    assert "MLflow model loads" in conda_log
