"""Builds and deployments that fail: a failing ``cdsw-build.sh`` gives ``build failed`` with its
log; a model file that cannot load fails the deployment after a bounded number of restarts
while another model keeps serving; metrics-enabled predictions reach the metrics writer."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from tests.conftest import login
from tests.serving.test_serving import _build, _deploy

from lakeworks.entities.models import BuildStatus, DeploymentStatus
from lakeworks.entities.projects import Project
from lakeworks.services import model_builds, model_deployments, models
from lakeworks.services.platform import Platform, Principal


def test_a_failing_build_script_fails_the_build_with_its_log(
    serving_client: TestClient,
    serving_platform: Platform,
    modeler_principal: Principal,
    model_project: Project,
    tick_until: Callable[..., Any],
) -> None:
    platform, principal, project = serving_platform, modeler_principal, model_project
    root = platform.settings.projects_dir / project.id
    (root / "cdsw-build.sh").write_text("echo about to fail\r\nexit 3\r\n")  # CRLF tolerated
    model = models.create(platform, principal, project.id, models.ModelFields(name="bad build"))
    build = _build(
        platform, principal, project, model.id, tick_until,
        file_path="predict.py", function_name="predict",
    )  # fmt: skip
    assert build.status is BuildStatus.FAILED
    log = model_builds.build_log(platform, principal, project.id, model.id, build.id)
    assert "about to fail" in log and "exited with 3" in log
    # The reason shown with the build quotes the log's last line, not only an exit code.
    assert "last output:" in build.reason and "exited with 3" in build.reason, build.reason
    login(serving_client, "modeler")
    page = serving_client.get(f"/projects/{project.id}/models/{model.id}")
    assert "exited with 3" in page.text
    api_build = serving_client.get(
        f"/api/v2/projects/{project.id}/models/{model.id}/builds/{build.id}"
    ).json()
    assert api_build["status"] == "build failed" and api_build["failure_reason"] == build.reason


def test_a_model_that_cannot_load_fails_while_others_keep_serving(
    serving_client: TestClient,
    serving_platform: Platform,
    modeler_principal: Principal,
    model_project: Project,
    tick_until: Callable[..., Any],
) -> None:
    platform, principal, project = serving_platform, modeler_principal, model_project
    good = models.create(
        platform, principal, project.id, models.ModelFields(name="good", auth_enabled=False)
    )
    build = _build(
        platform, principal, project, good.id, tick_until,
        file_path="predict.py", function_name="predict_tracked",
    )  # fmt: skip
    assert build.status is BuildStatus.BUILT
    deployment = _deploy(platform, principal, project, good.id, build.id, tick_until)
    assert deployment.status is DeploymentStatus.DEPLOYED
    key = models.access_key(platform, good)

    broken = models.create(platform, principal, project.id, models.ModelFields(name="broken"))
    bad_build = _build(
        platform, principal, project, broken.id, tick_until,
        file_path="broken.py", function_name="predict",
    )  # fmt: skip
    assert bad_build.status is BuildStatus.BUILT  # the file only fails when it loads
    failed = _deploy(platform, principal, project, broken.id, bad_build.id, tick_until)
    assert failed.status is DeploymentStatus.FAILED

    views = model_deployments.replicas(platform, principal, project.id, good.id, deployment.id)
    log, _ = model_deployments.replica_log(
        platform, principal, project.id, good.id, views[0].replica.workload_id
    )
    assert "model file loaded" in log

    # The good model serves throughout; its decorator wraps the prediction with a uuid.
    answer = serving_client.post("/model", json={"accessKey": key, "request": {"x": 2}})
    assert answer.status_code == 200, answer.text
    response = answer.json()["response"]
    assert response["prediction"] == {"p": 0.5}
    assert len(response["uuid"]) == 36
    assert answer.headers["x-lakeworks-prediction-uuid"] == response["uuid"]
    # Prediction uuids are UUIDv7, ordered as the calls were (the metrics store's index on
    # them grows at its end).
    later = serving_client.post("/model", json={"accessKey": key, "request": {"x": 3}})
    assert uuid.UUID(response["uuid"]).version == 7
    assert later.json()["response"]["uuid"] > response["uuid"]

    # CORS preflight.
    preflight = serving_client.options(
        "/model",
        headers={"Origin": "http://app.example.org", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "http://app.example.org"
    assert "POST" in preflight.headers["access-control-allow-methods"]
