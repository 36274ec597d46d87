"""The model monitoring page in a real browser: charts drawn from gateway records, picking a
tracked metric, live refresh, and the accuracy chart once delayed ground truth arrives; then
the same through a real deployment behind the real gateway."""

# ruff: noqa: F811 - the serving fixtures are imported, then requested by name

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from playwright.sync_api import Page, expect
from tests.metrics.support import Deployed, make_deployment, make_project
from tests.metrics.test_end_to_end import deploy
from tests.serving.conftest import (  # noqa: F401 - fixtures
    model_project,
    modeler,
    modeler_principal,
    serving_app,
    serving_platform,
    serving_scheduler,
    serving_settings,
    tick_until,
)
from tests.ui.plots import SHOTS, plotted
from tests.ui.test_ui_browser import sign_in

from lakeworks.entities.metrics import PredictionRecord, RequestSample
from lakeworks.entities.projects import Project
from lakeworks.entities.users import ApiKeyKind, User
from lakeworks.services import auth, model_metrics, models
from lakeworks.services.platform import Platform, Principal

pytestmark = pytest.mark.browser


def traffic(app: FastAPI, d: Deployed, count: int, status: int = 200) -> list[str]:
    now = int(time.time() * 1000)
    uuids = []
    for i in range(count):
        u = str(uuid.uuid4())
        uuids.append(u)
        at = now - (count - i) * 2000
        app.state.metrics.submit_request(
            RequestSample(d.model_id, d.deployment_id, "r1", at, 15.0 + i, status)
        )
        if status == 200:
            app.state.metrics.submit_prediction(
                PredictionRecord(
                    d.deployment_id,
                    d.build_id,
                    d.model_id,
                    u,
                    at,
                    at + 15,
                    {"prediction": i % 2, "probability": round(i / count, 3), "input": {"age": i}},
                )
            )
    app.state.metrics.flush()
    return uuids


def test_monitoring_charts_metric_choice_refresh_and_accuracy(
    page: Page,
    live_server: str,
    app: FastAPI,
    platform: Platform,
    make_user: Callable[..., User],
) -> None:
    alice = make_user("alice")
    deployed = make_deployment(platform, alice, make_project(platform, alice))
    uuids = traffic(app, deployed, 8)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    sign_in(page, live_server, "alice")
    page.goto(f"{live_server}/projects/{deployed.project.id}/models/{deployed.model_id}/monitoring")
    expect(page.locator("[data-stat='requests']")).to_have_text("8")
    requests_chart = plotted(page, "#chart-requests")
    assert requests_chart["names"] == ["requests", "errors", "429 busy"]
    assert sum(requests_chart["values"]["requests"]) == 8
    expect(page.locator("#chart-requests .u-legend")).to_contain_text("429 busy")
    assert plotted(page, "#chart-latency")["names"] == ["p50", "p95"]
    expect(page.locator("[data-no-accuracy]")).to_be_visible()
    expect(page.locator("table.monitoring-recent")).to_contain_text(uuids[-1])

    # Choose the tracked metric: the page reloads with that metric's chart.
    page.get_by_label("Tracked metric").select_option("probability")
    expect(page).to_have_url(re.compile(r"metric=probability"))
    metric_chart = plotted(page, "#chart-metric")
    assert sorted(metric_chart["values"]["probability"]) == [round(i / 8, 3) for i in range(8)]

    # New traffic, including 429s, shows up without a reload (the page refreshes itself).
    traffic(app, deployed, 3, status=429)
    expect(page.locator("[data-stat='throttled']")).to_have_text("3", timeout=25_000)
    expect(page.locator("[data-stat='requests']")).to_have_text("11")

    # A job reports ground truth for earlier predictions: the accuracy chart appears.
    for u in uuids:
        model_metrics.track_delayed(platform, Principal(user=alice, via="cli"), u, {"actual": 1})
    page.reload()
    assert plotted(page, "#chart-accuracy")["names"] == ["accuracy"]
    expect(page.locator("[data-stat='accuracy']")).to_have_text("50.0%")
    assert errors == []
    page.screenshot(path=str(SHOTS / "monitoring.png"), full_page=True)


# End to end: a real deployment behind the real gateway ------------------------------------


@pytest.fixture
def app(serving_app: FastAPI) -> FastAPI:
    """``live_server`` serves the app with the gateway on the test runtime."""
    return serving_app


def test_gateway_predictions_and_delayed_truth_in_the_monitoring_page(
    page: Page,
    live_server: str,
    serving_platform: Platform,
    modeler: User,
    modeler_principal: Principal,
    model_project: Project,
    tick_until: Callable[..., Any],
) -> None:
    platform, project = serving_platform, model_project
    model, _build, _deployment = deploy(platform, modeler_principal, project, tick_until)
    key = models.access_key(platform, model)
    workload_key = auth.create_workload_key(
        platform, modeler, project.id, timedelta(hours=1), ApiKeyKind.V2
    ).secret
    headers = {"Authorization": f"Bearer {workload_key}"}
    uuids = []
    with httpx.Client(base_url=live_server, headers=headers, timeout=60) as client:
        for tenure in (2, 50, 7):
            r = client.post("/model", json={"accessKey": key, "request": {"tenure": tenure}})
            assert r.status_code == 200, r.text
            uuids.append(r.json()["response"]["uuid"])

        sign_in(page, live_server, "modeler")
        url = f"{live_server}/projects/{project.id}/models/{model.id}/monitoring"
        page.goto(url)
        expect(page.locator("[data-stat='requests']")).to_have_text("3")
        for u in uuids:
            expect(page.locator("table.monitoring-recent")).to_contain_text(u)
        expect(page.locator("[data-no-accuracy]")).to_be_visible()
        expect(page.get_by_label("Tracked metric")).to_have_value("input_data.tenure")

        # What a labelling job does with cdsw.track_delayed_metrics.
        for u, actual in zip(uuids, (1, 1, 1), strict=True):
            r = client.post(
                "/api/v2/modelmetrics/trackDelayed",
                json={"prediction_uuid": u, "metrics": {"actual": actual}},
            )
            assert r.status_code == 200, r.text
    page.reload()
    expect(page.locator("[data-no-accuracy]")).to_have_count(0)
    # One interval so far: a point, not a line.
    assert plotted(page, "#chart-accuracy")["values"]["accuracy"] == [0.6667]
    # Predictions 1, 0, 1 against truth 1, 1, 1.
    expect(page.locator("[data-stat='accuracy']")).to_have_text("66.7%")


# The drift view -------------------------------------------------------------------------

RED_PIXELS = """box => {
  const canvas = box.querySelector("canvas");
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let red = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i] > 170 && data[i + 1] < 90 && data[i + 2] < 80 && data[i + 3] > 200) red++;
  }
  return red;
}"""


def _drift_page(
    page: Page,
    live_server: str,
    app: FastAPI,
    platform: Platform,
    user: User,
    amount_mean: float,
) -> tuple[Deployed, str, list[str]]:
    """A deployed model with a training sample and 400 predictions (their amounts around
    ``amount_mean``, the sample's around 0), its monitoring page's URL, and the page's
    script errors; ``user`` signed in."""
    from tests.metrics.test_drift_view import predictions, write_reference

    deployed = make_deployment(platform, user, make_project(platform, user))
    write_reference(platform, deployed)
    predictions(app, deployed, 400, amount_mean=amount_mean)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, live_server, user.username)
    url = f"{live_server}/projects/{deployed.project.id}/models/{deployed.model_id}/monitoring"
    return deployed, url, errors


def test_the_drift_view_draws_psi_bars_and_the_threshold_line(
    page: Page,
    live_server: str,
    app: FastAPI,
    platform: Platform,
    make_user: Callable[..., User],
) -> None:
    _deployed, url, errors = _drift_page(page, live_server, app, platform, make_user("alice"), 1.0)
    page.goto(url)
    chart = page.locator("[data-drift-chart]")
    expect(chart).to_have_attribute("data-drawn", "1")
    expect(chart.locator("canvas")).to_have_count(1)
    expect(page.locator("[data-drift-verdict]")).to_have_text("Drift in 1 of 2 features: amount")
    expect(page.locator('[data-drift-feature="hour"]')).to_contain_text("stable")
    assert chart.evaluate(RED_PIXELS) > 200  # the dashed threshold line across the plot

    # A higher threshold from the query: nothing drifted.
    page.goto(url + "?drift_threshold=5")
    expect(page.locator("[data-drift-verdict]")).to_contain_text("No feature past the threshold")
    assert errors == []


def test_the_drift_view_refreshes_with_the_page(
    page: Page,
    live_server: str,
    app: FastAPI,
    platform: Platform,
    make_user: Callable[..., User],
) -> None:
    from tests.metrics.test_drift_view import predictions

    deployed, url, errors = _drift_page(page, live_server, app, platform, make_user("alice"), 0.0)
    page.goto(url + "?drift_threshold=0.3")
    expect(page.locator("[data-drift-verdict]")).to_contain_text("No feature past the threshold")
    expect(page.locator("[data-drift-chart]")).to_have_attribute("data-drawn", "1")
    expect(page.locator('[data-drift-feature="amount"]')).to_contain_text("stable")

    # Requests drift after the page was opened: its poll (no reload) shows it, chart redrawn,
    # with the page's own threshold.
    predictions(app, deployed, 1000, amount_mean=2.0)
    verdict = page.locator("[data-drift-verdict]")
    expect(verdict).to_have_text("Drift in 1 of 2 features: amount", timeout=25_000)
    expect(page.locator('[data-drift-feature="amount"]')).to_contain_text("drifted")
    expect(page.locator("#drift")).to_contain_text("threshold PSI 0.3")
    chart = page.locator("[data-drift-chart]")
    expect(chart).to_have_attribute("data-drawn", "1")
    expect(chart.locator("canvas")).to_have_count(1)
    assert chart.evaluate(RED_PIXELS) > 200
    assert errors == []
