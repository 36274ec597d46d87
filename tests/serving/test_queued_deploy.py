"""Deploying a build that is still building (CML compat §7, issue 14 #4): the deployment is
queued (``pending``) and starts when the build is built; a build that fails fails the queued
deployment with the build's reason. Scripts create a build and deploy it at once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from lakeworks.entities.projects import Project
from lakeworks.entities.users import ApiKeyKind, User
from lakeworks.services import auth, models
from lakeworks.services.platform import Platform, Principal


def _bearer(platform: Platform, user: User) -> dict[str, str]:
    created = auth.create_workload_key(platform, user, None, timedelta(hours=1), ApiKeyKind.V2)
    return {"Authorization": f"Bearer {created.secret}"}


def _build_and_deploy_at_once(
    client: TestClient, headers: dict[str, str], project: Project, model_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    base = f"/api/v2/projects/{project.id}/models/{model_id}/builds"
    build = client.post(
        base,
        headers=headers,
        json={"file_path": "predict.py", "function_name": "predict", "kernel": "python3"},
    )
    assert build.status_code == 200, build.text
    assert build.json()["status"] in ("pending", "building")
    deploy = client.post(
        f"{base}/{build.json()['id']}/deployments",
        headers=headers,
        json={"cpu": "0.5", "memory": "1", "replicas": 1},
    )
    assert deploy.status_code == 200, deploy.text
    assert deploy.json()["status"] == "pending"
    return build.json(), deploy.json()


def test_a_deployment_of_a_building_build_waits_then_serves(
    serving_client: TestClient,
    serving_platform: Platform,
    modeler: User,
    modeler_principal: Principal,
    model_project: Project,
    tick_until: Callable[..., Any],
) -> None:
    platform, project = serving_platform, model_project
    model = models.create(
        platform, modeler_principal, project.id, models.ModelFields(name="queued")
    )
    headers = _bearer(platform, modeler)
    build, deployment = _build_and_deploy_at_once(serving_client, headers, project, model.id)
    url = f"/api/v2/projects/{project.id}/models/{model.id}/builds/{build['id']}"

    def deployed() -> Any:
        got = serving_client.get(f"{url}/deployments/{deployment['id']}", headers=headers).json()
        assert got["status"] != "failed", got
        return got if got["status"] == "deployed" else None

    done = tick_until(deployed, what="the queued deployment")
    assert done["failure_reason"] == ""
    assert serving_client.get(url, headers=headers).json()["status"] == "built"
    key = models.access_key(platform, model)
    answer = serving_client.post(
        "/model", json={"accessKey": key, "request": {"x": 4}}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["response"]["doubled"] == 8


def test_a_failing_build_fails_its_queued_deployment_with_the_reason(
    serving_client: TestClient,
    serving_platform: Platform,
    modeler: User,
    modeler_principal: Principal,
    model_project: Project,
    tick_until: Callable[..., Any],
) -> None:
    platform, project = serving_platform, model_project
    root = platform.settings.projects_dir / project.id
    (root / "cdsw-build.sh").write_text("echo cannot install xgboost\nexit 4\n")
    model = models.create(
        platform, modeler_principal, project.id, models.ModelFields(name="doomed")
    )
    headers = _bearer(platform, modeler)
    build, deployment = _build_and_deploy_at_once(serving_client, headers, project, model.id)
    url = f"/api/v2/projects/{project.id}/models/{model.id}/builds/{build['id']}"

    def settled() -> Any:
        got = serving_client.get(f"{url}/deployments/{deployment['id']}", headers=headers).json()
        return got if got["status"] not in ("pending", "deploying") else None

    failed = tick_until(settled, what="the queued deployment to fail")
    assert failed["status"] == "failed"
    assert build["id"] in failed["failure_reason"]
    assert "build failed" in failed["failure_reason"]
    assert "exited with 4" in failed["failure_reason"], failed
    assert serving_client.get(url, headers=headers).json()["status"] == "build failed"

    # A build that has already failed is refused outright, saying why.
    again = serving_client.post(f"{url}/deployments", headers=headers, json={})
    assert again.status_code == 409, again.text
    assert "build failed" in again.json()["message"]
