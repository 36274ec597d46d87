"""Metrics end to end: a real deployment (replica processes behind the gateway) records its
predictions and request samples; a workload key reads them, adds ground truth, and the
monitoring view shows requests, the tracked metric and accuracy."""

# ruff: noqa: F811 - the serving fixtures are imported, then requested by name

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from tests.serving.conftest import (  # noqa: F401 - fixtures
    model_project,
    modeler,
    modeler_principal,
    serving_app,
    serving_client,
    serving_platform,
    serving_scheduler,
    serving_settings,
    tick_until,
)

from lakeworks.entities.models import BuildStatus, DeploymentStatus, crn
from lakeworks.entities.projects import Project
from lakeworks.entities.users import ApiKeyKind, User
from lakeworks.services import auth, model_builds, model_deployments, model_metrics, models
from lakeworks.services.platform import Platform, Principal

SCORED = """
import cdsw

@cdsw.model_metrics
def predict(args):
    p = 0.9 if args["tenure"] < 12 else 0.2
    cdsw.track_metric("input_data", args)
    cdsw.track_metric("probability", p)
    cdsw.track_metric("prediction", int(p >= 0.5))
    return {"churn": p >= 0.5}
"""


def deploy(
    platform: Platform, principal: Principal, project: Project, tick_until: Callable[..., Any]
) -> tuple[Any, Any, Any]:
    (platform.settings.projects_dir / project.id / "scored.py").write_text(SCORED)
    model = models.create(platform, principal, project.id, models.ModelFields(name="scored"))
    build = model_builds.create(
        platform,
        principal,
        project.id,
        model.id,
        model_builds.BuildFields(file_path="scored.py", function_name="predict"),
    )
    build = tick_until(
        lambda: (
            b
            if (
                b := model_builds.get(platform, principal, project.id, model.id, build.id)
            ).status.is_final
            else None
        ),
        what="the build",
    )
    assert build.status is BuildStatus.BUILT
    deployment = model_deployments.create(
        platform,
        principal,
        project.id,
        model.id,
        build.id,
        model_deployments.DeploymentFields(replicas=1, cpu=0.5, memory_mb=1024),
    )
    deployment = tick_until(
        lambda: (
            d
            if (
                d := model_deployments.get(platform, principal, project.id, model.id, deployment.id)
            ).status
            in (DeploymentStatus.DEPLOYED, DeploymentStatus.FAILED)
            else None
        ),
        what="the deployment",
    )
    assert deployment.status is DeploymentStatus.DEPLOYED
    return model, build, deployment


def test_predictions_through_the_gateway_reach_read_metrics_and_monitoring(
    serving_client: TestClient,
    serving_platform: Platform,
    modeler: User,
    modeler_principal: Principal,
    model_project: Project,
    tick_until: Callable[..., Any],
) -> None:
    platform, principal, project = serving_platform, modeler_principal, model_project
    model, build, deployment = deploy(platform, principal, project, tick_until)
    key = models.access_key(platform, model)
    workload_key = auth.create_workload_key(
        platform, modeler, project.id, timedelta(hours=1), ApiKeyKind.V2
    ).secret
    headers = {"Authorization": f"Bearer {workload_key}"}

    uuids = []
    for tenure in (3, 30, 5, 40):
        r = serving_client.post(
            "/model", json={"accessKey": key, "request": {"tenure": tenure}}, headers=headers
        )
        assert r.status_code == 200, r.text
        uuids.append(r.json()["response"]["uuid"])

    # Ground truth for the first prediction right away: its record may still be queued.
    r = serving_client.post(
        "/api/v2/modelmetrics/trackDelayed",
        json={"prediction_uuid": uuids[0], "metrics": {"actual": 1}},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    for u, actual in zip(uuids[1:], (1, 1, 0), strict=True):
        r = serving_client.post(
            "/api/v2/modelmetrics/trackDelayed",
            json={"prediction_uuid": u, "metrics": {"actual": actual}},
            headers=headers,
        )
        assert r.status_code == 200, r.text

    r = serving_client.post(
        "/api/v2/modelmetrics/read",
        json={"model_deployment_crn": crn(deployment.id)},
        headers=headers,
    )
    records = r.json()["metrics"]
    assert [x["predictionUuid"] for x in records] == uuids
    assert records[0]["modelBuildCrn"] == crn(build.id)
    assert records[0]["modelCrn"] == crn(model.id)
    assert records[0]["metrics"] == {
        "input_data": {"tenure": 3},
        "probability": 0.9,
        "prediction": 1,
        "actual": 1,
    }

    failed = serving_client.post(
        "/model", json={"accessKey": key, "request": {"no": "tenure"}}, headers=headers
    )
    assert failed.status_code == 500 and failed.json()["errors"]["code"] == "model.error"
    serving_client.app.state.metrics.flush()  # type: ignore[attr-defined]
    view = model_metrics.monitoring(platform, principal, model.id, window="15m")
    assert view.requests.total == 5  # four predictions and the failed call
    assert view.requests.total_errors == 1
    assert view.metric_keys == ["actual", "input_data.tenure", "prediction", "probability"]
    assert view.accuracy is not None
    # Predictions 1, 0, 1, 0 against truth 1, 1, 1, 0: three right.
    assert (view.accuracy.labelled, view.accuracy.correct) == (4, 3)
