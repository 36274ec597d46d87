"""Deploying a model registry version from the UI: the Experiments page's registered models
have a Deploy button (for those who may start workloads) that opens the new-model form on that
version, named after it and pre-filled with the request MLflow saved with it; submitting queues
a registry build. Real embedded MLflow stores; a real pyfunc model saved where a run would."""

from __future__ import annotations

import html
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.api.test_experiments import _project, _save_model
from tests.conftest import login
from tests.tracking.fixtures import tracking_settings

from lakeworks.config import Settings
from lakeworks.entities.users import User
from lakeworks.services import models, projects
from lakeworks.services.platform import Platform, Principal

EXAMPLE = {"dataframe_split": {"columns": ["tenure"], "data": [[3.0]]}}


@pytest.fixture
def settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return tracking_settings(settings, tmp_path_factory.mktemp("mlflow-template"))


def test_a_registered_version_is_deployed_from_the_experiments_page(
    client: TestClient,
    platform: Platform,
    make_user: Callable[..., User],
    api_headers: Callable[[User], dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # Saving a model creates MLflow's default ./mlruns store: keep it out of the checkout.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.chdir(tmp_path)
    alice = make_user("alice")
    make_user("carol")
    headers = api_headers(alice)
    project_id = _project(platform, alice)
    projects.set_collaborator(
        platform, Principal(user=alice, via="cli"), project_id, "carol", "viewer"
    )
    base = f"/api/v2/projects/{project_id}/experiments"
    experiment = client.post(base, headers=headers, json={"name": "churn"}).json()
    run = client.post(f"{base}/{experiment['id']}/runs", headers=headers, json={}).json()
    model_dir = _save_model(platform, project_id, run["artifact_uri"], "model")
    (model_dir / "serving_input_example.json").write_text(json.dumps(EXAMPLE))
    registered = client.post(
        "/api/v2/registry/models",
        headers=headers,
        json={
            "project_id": project_id,
            "experiment_id": experiment["id"],
            "run_id": run["id"],
            "model_name": "churn-model",
            "model_path": "model",
        },
    )
    assert registered.status_code == 200, registered.text
    [version] = registered.json()["model_versions"]
    version_id = version["model_version_id"]

    login(client, "alice")
    listing = client.get(f"/projects/{project_id}/experiments").text
    form_url = f"/projects/{project_id}/models/new?registered_model_version_id={version_id}"
    assert f'href="{html.escape(form_url)}"' in listing
    form = html.unescape(client.get(form_url).text)
    assert "churn-model version 1" in form
    assert 'name="file_path"' not in form  # the version is the source, not a file
    shown = form.split('name="example"', 1)[1].split(">", 1)[1].split("</textarea>", 1)[0]
    assert json.loads(shown) == EXAMPLE

    token = login(client, "alice")
    created = client.post(
        f"/projects/{project_id}/models/new",
        data={
            "csrf_token": token,
            "name": "churn-model",
            "registered_model_version_id": version_id,
            "registry_label": "churn-model version 1",
            "example": json.dumps(EXAMPLE),
            "replicas": "1",
            "cpu": "0.5",
            "memory_gb": "1",
        },
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    alice_principal = Principal(user=alice, via="session")
    [model] = models.list_models(platform, alice_principal, project_id)
    with platform.read() as uow:
        [build] = uow.models.builds_of(model.id)
    assert build.registered_model_version_id == version_id and build.from_registry
    assert build.examples == [{"request": EXAMPLE}]
    # Its page offers the next build from a registry version, not from a file.
    page = html.unescape(client.get(f"/projects/{project_id}/models/{model.id}").text)
    assert f'name="registered_model_version_id" class="mono" value="{version_id}"' in page
    assert 'name="file_path"' not in page
    rebuilt = client.post(
        f"/projects/{project_id}/models/{model.id}/builds/new",
        data={"csrf_token": token, "registered_model_version_id": version_id},
        follow_redirects=False,
    )
    assert rebuilt.status_code == 303
    with platform.read() as uow:
        builds = uow.models.builds_of(model.id)
    assert len(builds) == 2 and all(b.registered_model_version_id == version_id for b in builds)

    # An unknown version is a clear 404, not a form.
    unknown = client.get(f"/projects/{project_id}/models/new?registered_model_version_id=nope")
    assert unknown.status_code == 404
    # A viewer may not deploy: no button.
    client.cookies.clear()
    login(client, "carol")
    assert form_url not in html.unescape(client.get(f"/projects/{project_id}/experiments").text)


def test_the_saved_example_is_read_without_following_links(tmp_path: Path) -> None:
    from lakeworks.services.experiments import ModelVersionSource, serving_example

    source = ModelVersionSource("p", "m", "1", None, tmp_path)
    assert serving_example(source) is None  # none saved
    (tmp_path / "serving_input_example.json").write_text(json.dumps(EXAMPLE))
    assert serving_example(source) == EXAMPLE
    (tmp_path / "serving_input_example.json").unlink()
    secret = tmp_path.parent / "secret.json"
    secret.write_text(json.dumps({"secret": 1}))
    os.symlink(secret, tmp_path / "serving_input_example.json")
    assert serving_example(source) is None
    (tmp_path / "serving_input_example.json").unlink()
    (tmp_path / "serving_input_example.json").write_text("[1, 2")  # not JSON
    assert serving_example(source) is None
