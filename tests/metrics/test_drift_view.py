"""The drift of a model through the service, API v2 and the monitoring page: the serving
build's ``training_sample.json`` against the newest predictions' ``input_data``."""

from __future__ import annotations

import json
import random
import time
import uuid

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.conftest import login
from tests.metrics.support import Deployed

from lakeworks.entities.metrics import PredictionRecord
from lakeworks.entities.users import User
from lakeworks.services import auth, model_builds, model_drift
from lakeworks.services.platform import Platform, Principal


def _sample(n: int, mean: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(mean, 1.0) for _ in range(n)]


def write_reference(platform: Platform, d: Deployed, content: bytes | None = None) -> None:
    root = model_builds.snapshot_dir(platform, d.build_id)
    root.mkdir(parents=True, exist_ok=True)
    if content is None:
        content = json.dumps(
            {
                "features": {"amount": _sample(2000, 0, 1), "hour": _sample(2000, 0, 2)},
                "snapshot_ids": ["111", "222"],
            }
        ).encode()
    (root / model_drift.REFERENCE_FILE).write_bytes(content)


def predictions(app: FastAPI, d: Deployed, count: int, amount_mean: float) -> None:
    now = int(time.time() * 1000)
    amounts, hours = _sample(count, amount_mean, 3), _sample(count, 0, 4)
    for i in range(count):
        at = now - (count - i) * 10
        app.state.metrics.submit_prediction(
            PredictionRecord(
                d.deployment_id,
                d.build_id,
                d.model_id,
                str(uuid.uuid4()),
                at,
                at + 5,
                {"input_data": {"amount": amounts[i], "hour": hours[i]}, "prediction": 0},
            )
        )
    app.state.metrics.flush()


def _key(platform: Platform, user: User) -> dict[str, str]:
    new = auth.create_api_key(platform, Principal(user=user, via="cli"), user.username)
    return {"Authorization": f"Bearer {new.secret}"}


def test_a_shifted_feature_drifts_and_a_stable_one_does_not(
    app: FastAPI, client: TestClient, platform: Platform, alice: User, deployed: Deployed
) -> None:
    write_reference(platform, deployed)
    predictions(app, deployed, 600, amount_mean=1.0)
    url = f"/api/v2/projects/{deployed.project.id}/models/{deployed.model_id}/drift"
    answer = client.get(url, headers=_key(platform, alice))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    features = {f["name"]: f for f in body["features"]}
    assert features["amount"]["psi"] > 0.25 and features["amount"]["drifted"]
    assert features["hour"]["psi"] < 0.1 and not features["hour"]["drifted"]
    assert features["amount"]["ks"] > 0.3 > features["hour"]["ks"]
    assert features["amount"]["current_count"] == 600
    assert features["amount"]["reference_count"] == 2000
    assert body["drifted"] == ["amount"]
    assert body["snapshot_ids"] == ["111", "222"]
    assert body["build_id"] == deployed.build_id and body["problem"] == ""

    # A higher threshold: the same PSI is no longer drift.
    relaxed = client.get(url, params={"threshold": 5}, headers=_key(platform, alice)).json()
    assert relaxed["drifted"] == []


def test_the_monitoring_page_draws_the_drift_view(
    app: FastAPI, client: TestClient, platform: Platform, alice: User, deployed: Deployed
) -> None:
    write_reference(platform, deployed)
    predictions(app, deployed, 300, amount_mean=1.5)
    login(client, "alice")
    page = client.get(f"/projects/{deployed.project.id}/models/{deployed.model_id}/monitoring")
    assert page.status_code == 200
    assert "Data drift" in page.text
    assert 'data-drift-feature="amount"' in page.text
    assert "Drift in 1 of 2 features: amount" in page.text
    assert "/static/vendor/uplot/uPlot.iife.min.js" in page.text
    chart = page.text.split('data-drift-chart><script type="application/json">', 1)[1]
    spec = json.loads(chart.split("</script>", 1)[0])
    assert spec["features"] == ["amount", "hour"] and spec["threshold"] == 0.2
    assert spec["psi"][0] > 0.25


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "has no training_sample.json"),
        (b"{not json", "is not JSON"),
        (b"[" * 100_000, "is not JSON"),
        (b'{"features": {"amount": ["a", null]}}', "no numeric feature values"),
        (b'{"features": []}', 'no "features" object'),
        (json.dumps({"features": {"amount": [10**400]}}).encode(), "no numeric"),
    ],
)
def test_a_bad_or_missing_training_sample_is_a_problem_line_not_an_error(
    app: FastAPI,
    client: TestClient,
    platform: Platform,
    alice: User,
    deployed: Deployed,
    content: bytes | None,
    says: str,
) -> None:
    if content is not None:
        write_reference(platform, deployed, content)
    answer = client.get(
        f"/api/v2/projects/{deployed.project.id}/models/{deployed.model_id}/drift",
        headers=_key(platform, alice),
    )
    assert answer.status_code == 200, answer.text
    assert says in answer.json()["problem"]
    assert answer.json()["features"] == []


def test_a_linked_training_sample_is_not_followed(
    platform: Platform, alice: User, deployed: Deployed, tmp_path_factory: pytest.TempPathFactory
) -> None:
    secret = tmp_path_factory.mktemp("outside") / "secret.json"
    secret.write_text(json.dumps({"features": {"amount": [1, 2, 3]}}))
    root = model_builds.snapshot_dir(platform, deployed.build_id)
    root.mkdir(parents=True, exist_ok=True)
    (root / model_drift.REFERENCE_FILE).symlink_to(secret)
    result = model_drift.model_drift(
        platform, Principal(user=alice, via="cli"), deployed.project.id, deployed.model_id
    )
    assert "link" in result.problem and not result.features


def test_too_few_recent_values_and_bad_options(
    app: FastAPI, client: TestClient, platform: Platform, alice: User, deployed: Deployed
) -> None:
    write_reference(platform, deployed)
    predictions(app, deployed, 5, amount_mean=0)
    url = f"/api/v2/projects/{deployed.project.id}/models/{deployed.model_id}/drift"
    headers = _key(platform, alice)
    body = client.get(url, headers=headers).json()
    assert body["features"] == [] and "amount" in body["skipped"]
    assert "No feature has 20 recent values" in body["problem"]
    for params in (
        {"threshold": 0},
        {"threshold": "x"},
        {"threshold": "nan"},
        {"threshold": "inf"},
        {"recent": 0},
        {"recent": 10**9},
    ):
        assert client.get(url, params=params, headers=headers).status_code == 400, params
    login(client, "alice")
    page = f"/projects/{deployed.project.id}/models/{deployed.model_id}/monitoring"
    for bad in ("x", "nan", "-1", "1e400"):
        answer = client.get(page, params={"drift_threshold": bad})
        assert answer.status_code == 400, bad
        assert "threshold" in answer.text
    assert "threshold PSI 0.5" in client.get(page, params={"drift_threshold": "0.5"}).text


def test_other_users_do_not_see_the_drift(
    client: TestClient, platform: Platform, bob: User, deployed: Deployed
) -> None:
    answer = client.get(
        f"/api/v2/projects/{deployed.project.id}/models/{deployed.model_id}/drift",
        headers=_key(platform, bob),
    )
    assert answer.status_code == 404
