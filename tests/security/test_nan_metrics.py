"""Issue 12, L2 to L4: a NaN metric goes out as valid JSON that still says NaN. The API refuses
NaN in what it is sent (tests/security/test_bad_input.py), but a workload's own MLflow client may
log one (a diverged loss). It used to come back as ``null``; CML's API (protobuf's JSON mapping)
writes the string ``"NaN"``."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from tests.tracking.fixtures import tracking_settings

from lakeworks.config import Settings
from lakeworks.entities.experiments import Metric
from lakeworks.entities.users import User
from lakeworks.services import experiments, projects
from lakeworks.services.platform import Platform, Principal


@pytest.fixture
def settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return tracking_settings(settings, tmp_path_factory.mktemp("mlflow-template"))


def test_non_finite_metrics_go_out_as_protobuf_strings(
    client: TestClient,
    platform: Platform,
    make_user: Callable[..., User],
    api_headers: Callable[[User], dict[str, str]],
) -> None:
    alice = make_user("alice")
    headers = api_headers(alice)
    principal = Principal(user=alice, via="cli")
    project_id = projects.create(
        platform, principal, name="NaN", source=projects.parse_source("", "")
    ).id
    base = f"/api/v2/projects/{project_id}/experiments"
    experiment = client.post(base, headers=headers, json={"name": "diverged"}).json()
    runs = f"{base}/{experiment['id']}/runs"
    run = client.post(runs, headers=headers, json={"name": "r"}).json()
    # As a workload's MLflow client logs them (the API itself refuses NaN bodies). MLflow's
    # store keeps NaN as NaN (it clamps Infinity to the largest float).
    experiments.log_batch(
        platform,
        principal,
        project_id,
        experiment["id"],
        run["id"],
        metrics=[
            Metric(key="loss", value=float("nan"), timestamp=1, step=0),
            Metric(key="rmse", value=0.5, timestamp=1, step=0),
        ],
        params={},
        tags={},
    )
    listed = client.get(runs, headers=headers)
    assert listed.status_code == 200, listed.text
    data = json.loads(listed.text, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))
    values = {m["key"]: m["value"] for m in data["experiment_runs"][0]["data"]["metrics"]}
    assert values == {"loss": "NaN", "rmse": 0.5}
    history = client.get(f"{runs}/{run['id']}/metrics/loss", headers=headers)
    assert history.status_code == 200, history.text
    assert [m["value"] for m in history.json()["metrics"]] == ["NaN"]
