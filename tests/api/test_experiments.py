"""API v2 experiments, runs and registry, backed by the embedded MLflow (real stores)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.tracking.fixtures import tracking_settings

from lakeworks.config import Settings
from lakeworks.entities.users import User
from lakeworks.services import projects
from lakeworks.services.platform import Platform, Principal

Headers = Callable[[User], dict[str, str]]


@pytest.fixture
def settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return tracking_settings(settings, tmp_path_factory.mktemp("mlflow-template"))


def _project(platform: Platform, user: User, name: str = "Churn") -> str:
    return projects.create(
        platform, Principal(user=user, via="cli"), name=name, source=projects.parse_source("", "")
    ).id


def _save_model(platform: Platform, project_id: str, artifact_uri: str, path: str) -> Path:
    """A real MLflow pyfunc model where a workload would have logged it."""
    import warnings

    relative = artifact_uri.removeprefix("/home/cdsw/")
    target = platform.settings.projects_dir / project_id / relative / path
    target.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # MLflow's own import-time pydantic deprecations and type-hint advice: imported here
        # only to write a real model as a workload would.
        warnings.simplefilter("ignore")
        import mlflow.pyfunc

        class Echo(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
            def predict(self, context, model_input):  # type: ignore[no-untyped-def]
                return model_input

        mlflow.pyfunc.save_model(str(target), python_model=Echo())
    return target


def test_experiments_runs_and_registry(
    client: TestClient,
    platform: Platform,
    make_user: Callable[..., User],
    api_headers: Headers,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # Saving a model creates MLflow's default ./mlruns store: keep it out of the checkout.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.chdir(tmp_path)
    alice = make_user("alice")
    headers = api_headers(alice)
    project_id = _project(platform, alice)
    base = f"/api/v2/projects/{project_id}/experiments"

    created = client.post(base, headers=headers, json={"name": "churn", "unknown": 1})
    assert created.status_code == 200, created.text
    experiment = created.json()
    assert experiment["project_id"] == project_id
    assert experiment["artifact_location"] == f"/home/cdsw/.experiments/{experiment['id']}"
    duplicate = client.post(base, headers=headers, json={"name": "churn"})
    assert duplicate.status_code == 409

    runs_url = f"{base}/{experiment['id']}/runs"
    run_ids = []
    for number in range(3):
        run = client.post(runs_url, headers=headers, json={"name": f"r{number}"}).json()
        logged = client.post(
            f"{runs_url}/{run['id']}:logbatch",
            headers=headers,
            json={
                "metrics": [{"key": "rmse", "value": str(1.0 - number / 10), "step": "0"}],
                "params": [{"key": "alpha", "value": number}],
                "tags": {"owner": "alice"},
            },
        )
        assert logged.status_code == 200, logged.text
        run_ids.append(run["id"])
    listed = client.get(runs_url, headers=headers).json()["experiment_runs"]
    assert [r["id"] for r in listed] == run_ids  # oldest first: [-1] is the newest
    assert listed[2]["data"]["metrics"][0]["value"] == pytest.approx(0.8)
    assert {"key": "alpha", "value": "2"} in listed[2]["data"]["params"]
    paged = client.get(runs_url, headers=headers, params={"page_size": 2}).json()
    assert len(paged["experiment_runs"]) == 2 and paged["next_page_token"]
    history = client.get(f"{runs_url}/{run_ids[0]}/metrics/rmse", headers=headers).json()
    assert [m["value"] for m in history["metrics"]] == [1.0]
    filtered = client.get(
        base, headers=headers, params={"search_filter": json.dumps({"name": "CHU"})}
    ).json()
    assert [e["id"] for e in filtered["experiments"]] == [experiment["id"]]
    everywhere = client.get("/api/v2/experiments", headers=headers).json()["experiments"]
    assert [e["name"] for e in everywhere] == ["churn"]

    _save_model(platform, project_id, listed[2]["artifact_uri"], "model")
    body = {
        "project_id": project_id,
        "experiment_id": experiment["id"],
        "run_id": run_ids[2],
        "model_name": "churn-model",
        "model_path": "model",
    }
    registered = client.post("/api/v2/registry/models", headers=headers, json=body)
    assert registered.status_code == 200, registered.text
    model = registered.json()
    [version] = model["model_versions"]
    assert version["model_version_metadata"]["mlflow_metadata"]["run_id"] == run_ids[2]
    assert version["model_version_metadata"]["mlflow_metadata"]["experiment_id"] == experiment["id"]
    second = client.post("/api/v2/registry/models", headers=headers, json=body).json()
    assert second["model_id"] == model["model_id"]
    assert second["model_versions"][0]["number"] == 2  # the version just created comes first
    fetched = client.get(f"/api/v2/registry/models/{model['model_id']}", headers=headers).json()
    assert [v["number"] for v in fetched["model_versions"]] == [1, 2]
    one = client.get(
        f"/api/v2/registry/models/{model['model_id']}/versions/{version['model_version_id']}",
        headers=headers,
    )
    assert one.status_code == 200 and one.json()["number"] == 1
    models = client.get(
        "/api/v2/registry/models",
        headers=headers,
        params={"search_filter": json.dumps({"model_name": "churn"})},
    ).json()["models"]
    assert [m["name"] for m in models] == ["churn-model"]

    # Bad input: a path with no model, unknown ids, missing fields.
    no_model = client.post(
        "/api/v2/registry/models", headers=headers, json=body | {"model_path": "nothing"}
    )
    assert no_model.status_code == 400 and "no MLflow model" in no_model.json()["message"]
    escape = client.post(
        "/api/v2/registry/models", headers=headers, json=body | {"model_path": "../../../x"}
    )
    assert escape.status_code == 400
    missing = client.post("/api/v2/registry/models", headers=headers, json={"model_name": "x"})
    assert missing.status_code == 400 and "project_id" in missing.json()["message"]
    assert client.get(f"{base}/424242", headers=headers).status_code == 404
    assert client.get(f"{base}/{experiment['id']}/runs/nope", headers=headers).status_code == 404
    assert client.get("/api/v2/registry/models/zzzz-zzzz", headers=headers).status_code == 404

    renamed = client.patch(f"{base}/{experiment['id']}", headers=headers, json={"name": "churn2"})
    assert renamed.json()["name"] == "churn2"
    assert client.delete(f"{runs_url}/{run_ids[0]}", headers=headers).status_code == 200
    assert len(client.get(runs_url, headers=headers).json()["experiment_runs"]) == 2


def test_other_projects_cannot_read_or_write(
    client: TestClient, platform: Platform, make_user: Callable[..., User], api_headers: Headers
) -> None:
    alice, mallory = make_user("alice"), make_user("mallory")
    project_a = _project(platform, alice, "A")
    project_m = _project(platform, mallory, "M")
    base = f"/api/v2/projects/{project_a}/experiments"
    experiment = client.post(base, headers=api_headers(alice), json={"name": "private"}).json()
    run = client.post(f"{base}/{experiment['id']}/runs", headers=api_headers(alice), json={}).json()

    other = api_headers(mallory)
    assert client.get(base, headers=other).status_code == 404
    assert client.get(f"{base}/{experiment['id']}", headers=other).status_code == 404
    assert client.post(base, headers=other, json={"name": "x"}).status_code == 404
    assert client.get("/api/v2/experiments", headers=other).json()["experiments"] == []
    # Through Mallory's own project: the experiment id of another project is not found there.
    crossed = client.get(
        f"/api/v2/projects/{project_m}/experiments/{experiment['id']}/runs", headers=other
    )
    assert crossed.status_code == 404
    written = client.post(
        f"/api/v2/projects/{project_m}/experiments/{experiment['id']}/runs/{run['id']}:logbatch",
        headers=other,
        json={"metrics": [{"key": "x", "value": 1}]},
    )
    assert written.status_code == 404
    assert (
        client.get(
            f"{base}/{experiment['id']}/runs/{run['id']}", headers=api_headers(alice)
        ).json()["data"]["metrics"]
        == []
    )

    # A viewer reads but cannot write.
    projects.set_collaborator(
        platform, Principal(user=alice, via="cli"), project_a, "mallory", "viewer"
    )
    assert client.get(base, headers=other).status_code == 200
    refused = client.post(f"{base}/{experiment['id']}/runs", headers=other, json={})
    assert refused.status_code == 403 and "contributor" in refused.json()["message"]
    assert client.get(base).status_code == 401
