"""/api/v2/modelmetrics/...: what the in-workload library calls."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.metrics.support import Deployed, make_project

from lakeworks.entities.metrics import PredictionRecord
from lakeworks.entities.models import crn
from lakeworks.entities.users import ApiKeyKind, User
from lakeworks.services import auth
from lakeworks.services.platform import Platform


def submit(app: FastAPI, d: Deployed, count: int, start: int = 1000) -> list[str]:
    uuids = [str(uuid.uuid4()) for _ in range(count)]
    for i, u in enumerate(uuids):
        app.state.metrics.submit_prediction(
            PredictionRecord(
                d.deployment_id, d.build_id, d.model_id, u, start + i, start + i + 3, {"i": i}
            )
        )
    return uuids


def test_read_track_delayed_and_aggregate_round_trip(
    app: FastAPI,
    client: TestClient,
    alice: User,
    deployed: Deployed,
    api_headers: Callable[[User], dict[str, str]],
) -> None:
    headers = api_headers(alice)
    uuids = submit(app, deployed, 3)
    app.state.metrics.flush()
    target = crn(deployed.deployment_id)

    r = client.post(
        "/api/v2/modelmetrics/trackDelayed",
        json={"prediction_uuid": uuids[1], "metrics": {"actual": 1}},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["metrics"] == {"i": 1, "actual": 1}

    r = client.post(
        "/api/v2/modelmetrics/trackAggregate",
        json={
            "model_deployment_crn": target,
            "metrics": {"accuracy": 0.5},
            "start_timestamp_ms": "1000",  # lenient: numbers as strings
            "end_timestamp_ms": 1003,
        },
        headers=headers,
    )
    assert r.status_code == 200, r.text

    r = client.post(
        "/api/v2/modelmetrics/read",
        json={"model_deployment_crn": target, "start_timestamp_ms": 1000},
        headers=headers,
    )
    assert r.status_code == 200
    records = r.json()["metrics"]
    assert [(x["predictionUuid"], x["metrics"]) for x in records] == [
        (uuids[0], {"i": 0}),
        ("", {"accuracy": 0.5}),  # same start as uuids[0], inserted later
        (uuids[1], {"i": 1, "actual": 1}),
        (uuids[2], {"i": 2}),
    ]
    assert set(records[0]) == {
        "modelDeploymentCrn",
        "modelBuildCrn",
        "modelCrn",
        "startTimeStampMs",
        "endTimeStampMs",
        "predictionUuid",
        "metrics",
    }
    assert records[0]["modelBuildCrn"] == crn(deployed.build_id)


def test_delayed_metrics_for_a_record_still_queued_are_not_lost(
    app: FastAPI,
    client: TestClient,
    alice: User,
    deployed: Deployed,
    api_headers: Callable[[User], dict[str, str]],
) -> None:
    # The writer thread runs (client started the lifespan) but may not have written yet.
    (queued,) = submit(app, deployed, 1)
    r = client.post(
        "/api/v2/modelmetrics/trackDelayed",
        json={"prediction_uuid": queued, "metrics": {"actual": 0}},
        headers=api_headers(alice),
    )
    assert r.status_code == 200, r.text
    assert r.json()["metrics"] == {"i": 0, "actual": 0}


def test_unknown_uuid_is_a_clear_404(
    client: TestClient, alice: User, api_headers: Callable[[User], dict[str, str]]
) -> None:
    r = client.post(
        "/api/v2/modelmetrics/trackDelayed",
        json={"prediction_uuid": "0000-missing", "metrics": {"actual": 1}},
        headers=api_headers(alice),
    )
    assert r.status_code == 404
    assert "0000-missing" in r.json()["message"]


def test_bad_bodies_are_400s(
    client: TestClient,
    alice: User,
    deployed: Deployed,
    api_headers: Callable[[User], dict[str, str]],
) -> None:
    headers = api_headers(alice)
    r = client.post("/api/v2/modelmetrics/read", json={}, headers=headers)
    assert r.status_code == 400 and "CRN" in r.json()["message"]
    r = client.post(
        "/api/v2/modelmetrics/read",
        json={"model_crn": deployed.model_id, "start_timestamp_ms": "yesterday"},
        headers=headers,
    )
    assert r.status_code == 400 and "start_timestamp_ms" in r.json()["message"]
    r = client.post(
        "/api/v2/modelmetrics/trackDelayed",
        content=b"not json",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 400


def test_a_workload_key_of_another_project_is_refused(
    app: FastAPI,
    client: TestClient,
    platform: Platform,
    alice: User,
    bob: User,
    deployed: Deployed,
    api_headers: Callable[[User], dict[str, str]],
) -> None:
    (u,) = submit(app, deployed, 1)
    app.state.metrics.flush()
    # Workload keys act with their user's rights (issue 14 #8, CML): the foreign key is one of
    # another project whose user has no role on the model's project.
    other = make_project(platform, bob, "Elsewhere")
    foreign = auth.create_workload_key(platform, bob, other.id, timedelta(hours=1), ApiKeyKind.V2)
    own = auth.create_workload_key(
        platform, alice, deployed.project.id, timedelta(hours=1), ApiKeyKind.V2
    )
    for key, status in ((foreign.secret, 404), (own.secret, 200)):
        headers = {"Authorization": f"Bearer {key}"}
        r = client.post(
            "/api/v2/modelmetrics/read",
            json={"model_deployment_crn": crn(deployed.deployment_id)},
            headers=headers,
        )
        assert r.status_code == status, r.text
        r = client.post(
            "/api/v2/modelmetrics/trackDelayed",
            json={"prediction_uuid": u, "metrics": {"actual": 1}},
            headers=headers,
        )
        assert r.status_code == status, r.text
    r = client.post("/api/v2/modelmetrics/read", json={"model_crn": deployed.model_id})
    assert r.status_code == 401
