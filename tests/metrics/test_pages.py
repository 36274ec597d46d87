"""The monitoring page and its JSON refresh, rendered through the app."""

from __future__ import annotations

import re
import time
import uuid

from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.conftest import login
from tests.metrics.support import Deployed

from lakeworks.entities.metrics import PredictionRecord, RequestSample
from lakeworks.entities.users import User
from lakeworks.services import model_metrics
from lakeworks.services.platform import Platform, Principal


def traffic(app: FastAPI, d: Deployed, count: int) -> list[str]:
    now = int(time.time() * 1000)
    uuids = []
    for i in range(count):
        u = str(uuid.uuid4())
        uuids.append(u)
        at = now - (count - i) * 1000
        app.state.metrics.submit_request(
            RequestSample(d.model_id, d.deployment_id, "r1", at, 20.0 + i, 200)
        )
        app.state.metrics.submit_prediction(
            PredictionRecord(
                d.deployment_id,
                d.build_id,
                d.model_id,
                u,
                at,
                at + 20,
                {"prediction": i % 2, "probability": i / count, "input": {"age": 30 + i}},
            )
        )
    app.state.metrics.flush()
    return uuids


def test_the_page_shows_totals_metric_choices_and_recent_predictions(
    app: FastAPI, client: TestClient, alice: User, deployed: Deployed
) -> None:
    uuids = traffic(app, deployed, 6)
    login(client, "alice")
    url = f"/projects/{deployed.project.id}/models/{deployed.model_id}/monitoring"
    page = client.get(url)
    assert page.status_code == 200
    assert 'data-stat="requests">6<' in page.text
    assert '<option value="input.age"' in page.text  # nested keys flattened
    assert uuids[-1] in page.text
    assert "No ground truth yet" in page.text

    chosen = client.get(url, params={"metric": "input.age", "window": "15m"})
    assert '<option value="input.age" selected>' in chosen.text

    data = client.get(url + ".json", params={"metric": "probability"}).json()
    assert data["summary"]["requests"] == 6
    assert [p[1] for p in data["charts"]["metric"]["series"][0]["points"]] == [
        i / 6 for i in range(6)
    ]
    assert "accuracy" not in data["charts"]


def test_accuracy_appears_once_ground_truth_is_tracked(
    app: FastAPI, client: TestClient, platform: Platform, alice: User, deployed: Deployed
) -> None:
    uuids = traffic(app, deployed, 4)
    for u in uuids:
        model_metrics.track_delayed(platform, Principal(user=alice, via="cli"), u, {"actual": 1})
    login(client, "alice")
    url = f"/projects/{deployed.project.id}/models/{deployed.model_id}/monitoring.json"
    data = client.get(url).json()
    assert data["summary"]["accuracy"] == "50.0%"  # predictions alternate 0, 1
    assert data["summary"]["labelled"] == 4


def test_other_users_and_other_projects_get_404(
    app: FastAPI, client: TestClient, alice: User, bob: User, deployed: Deployed
) -> None:
    login(client, "bob")
    url = f"/projects/{deployed.project.id}/models/{deployed.model_id}/monitoring"
    assert client.get(url).status_code == 404
    assert client.get(url + ".json").status_code == 404


def test_accuracy_takes_the_delayed_key_whatever_its_name_and_remembers_a_choice(
    app: FastAPI, client: TestClient, platform: Platform, alice: User, deployed: Deployed
) -> None:
    uuids = traffic(app, deployed, 4)
    # CML's workshop labels predictions later under a name of its own.
    # Predictions are 0, 1, 0, 1 (probabilities 0, .25, .5, .75); the truth 1, 1, 0, 0.
    for u, label in zip(uuids, [1, 1, 0, 0], strict=True):
        model_metrics.track_delayed(
            platform, Principal(user=alice, via="cli"), u, {"final_label": label}
        )
    login(client, "alice")
    url = f"/projects/{deployed.project.id}/models/{deployed.model_id}/monitoring"
    page = client.get(url)
    assert chosen(page.text, "truth_key") == "final_label"
    assert chosen(page.text, "prediction_key") == "prediction"
    assert 'data-stat="accuracy">50.0%<' in page.text
    assert "No ground truth yet" not in page.text

    # A different pick is kept for the next visit (the page and its refresh).
    picked = client.get(url, params={"prediction_key": "probability", "truth_key": "final_label"})
    assert chosen(picked.text, "prediction_key") == "probability"
    again = client.get(url)
    assert chosen(again.text, "prediction_key") == "probability"
    assert chosen(again.text, "truth_key") == "final_label"
    refreshed = client.get(url + ".json").json()
    assert refreshed["summary"]["labelled"] == 4
    assert refreshed["summary"]["accuracy"] == "0.0%"  # no probability is on the truth's side
    # Choosing "—" again goes back to what the data says.
    client.get(url, params={"prediction_key": "", "truth_key": ""})
    assert chosen(client.get(url).text, "prediction_key") == "prediction"


def chosen(page: str, select: str) -> str:
    """The selected option of the page's ``<select name=...>``."""
    block = page.split(f'<select name="{select}"', 1)[1].split("</select>", 1)[0]
    found = re.search(r'<option value="([^"]*)" selected>', block)
    return found.group(1) if found else ""
