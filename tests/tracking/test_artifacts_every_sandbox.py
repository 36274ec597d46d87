"""MLflow artifacts land in the project whatever the sandbox: a job logs a model (to the
``/home/cdsw/.experiments/...`` location the platform gives every run), the files are in the
project's folder, the run's artifacts list, and the registered version resolves to its MLmodel
(what a registry deploy builds from). With ``LAKEWORKS_SANDBOX=none`` the workload runs in the
real project folder and ``/home/cdsw`` on the machine is not the project: this failed there
("No Artifacts Recorded", "has no MLmodel file")."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from tests.scheduler.conftest import RUNTIME_CACHE
from tests.tracking.live import live_server
from tests.tracking.test_job_training import _key, _run_job
from tests.workload_cleanup import stop_live_workloads

from lakeworks.config import Settings
from lakeworks.entities.users import User
from lakeworks.services import experiments, projects
from lakeworks.services.platform import Principal

TRAIN = """
import os, mlflow, mlflow.sklearn
from sklearn.linear_model import LogisticRegression
mlflow.set_experiment("tiny")
with mlflow.start_run() as run:
    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    mlflow.sklearn.log_model(model, artifact_path="model")
    with open("notes.txt", "w") as handle:
        handle.write("kept")
    mlflow.log_artifact("notes.txt")
print("RUN_ID", run.info.run_id, "EXPERIMENT", run.info.experiment_id)
print("URI", run.info.artifact_uri, "CWD", os.getcwd())
"""


@pytest.mark.timeout(900)
@pytest.mark.parametrize("sandbox", ["bwrap", "none"])
def test_logged_model_lands_in_the_project_and_registers(
    sandbox: str, settings: Settings, store: object, make_user: Callable[..., User]
) -> None:
    # The shared runtime cache (tests' HOME is their own folder, so Path.home() is not it).
    configured = settings.model_copy(update={"runtimes_dir": RUNTIME_CACHE, "sandbox": sandbox})
    with live_server(configured, store) as server:
        try:
            platform = server.platform
            alice = make_user("alice")
            principal = Principal(user=alice, via="api_key")
            project = projects.create(
                platform, principal, name="Tiny", source=projects.parse_source("", "")
            )
            root = platform.settings.projects_dir / project.id
            (root / "train.py").write_text(TRAIN)
            _, log = _run_job(platform, principal, project.id, "train.py")
            text = log.decode()
            run_id, experiment_id = text.split("RUN_ID ")[1].split()[0], text.split()[-1]
            run_id = text.split("RUN_ID ")[1].split()[0]
            experiment_id = text.split("EXPERIMENT ")[1].split()[0]
            # The run's location is the same in every mode (as CML places it) ...
            uri = text.split("URI ")[1].split()[0]
            assert uri.endswith(f"/home/cdsw/.experiments/{experiment_id}/{run_id}/artifacts")
            if sandbox == "none":  # ... though the job ran in the real folder
                assert f"CWD {root}" in text
            # ... and the files are in the project.
            artifacts = root / ".experiments" / experiment_id / run_id / "artifacts"
            assert (artifacts / "model" / "MLmodel").is_file()
            assert (artifacts / "notes.txt").read_text() == "kept"

            headers = _key(platform, alice)
            listing = httpx.get(
                f"{server.url}/mlflow/ajax-api/2.0/mlflow/artifacts/list",
                params={"run_id": run_id},
                headers=headers,
            ).json()
            assert {f["path"] for f in listing["files"]} == {"model", "notes.txt"}
            registered = httpx.post(
                f"{server.url}/api/v2/registry/models",
                headers=headers,
                json={
                    "project_id": project.id,
                    "experiment_id": experiment_id,
                    "run_id": run_id,
                    "model_name": f"tiny-{sandbox}",
                    "model_path": "model",
                },
            )
            assert registered.status_code == 200, registered.text
            version_id = registered.json()["model_versions"][0]["model_version_id"]
            source = experiments.resolve_version(platform, principal, version_id)
            assert source.artifact_dir == artifacts / "model"
        finally:
            stop_live_workloads(server.platform)
