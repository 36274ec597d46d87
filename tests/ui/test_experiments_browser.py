"""Experiments in a real browser: the project's Experiments tab, the runs table, comparing runs
with a chart, and the embedded MLflow UI under Lakeworks' sign-in."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from tests.tracking.fixtures import tracking_settings
from tests.ui.plots import plotted
from tests.ui.test_ui_browser import sign_in

from lakeworks.config import Settings
from lakeworks.entities.experiments import Metric
from lakeworks.entities.users import User
from lakeworks.services import experiments, projects
from lakeworks.services.platform import Platform, Principal

pytestmark = pytest.mark.browser
SHOTS = Path(tempfile.gettempdir()) / "lakeworks-screenshots"


@pytest.fixture
def settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return tracking_settings(settings, tmp_path_factory.mktemp("mlflow-template"))


def test_runs_table_compare_chart_and_mlflow_ui(
    page: Page, live_server: str, platform: Platform, make_user: Callable[..., User]
) -> None:
    alice = make_user("alice")
    principal = Principal(user=alice, via="cli")
    project = projects.create(
        platform, principal, name="Churn", source=projects.parse_source("", "")
    )
    experiment = experiments.create_experiment(platform, principal, project.id, "churn-exp")
    for number, (alpha, rmse) in enumerate([(0.1, 0.9), (0.5, 0.4)]):
        run = experiments.create_run(
            platform, principal, project.id, experiment.id, name=f"run-{number}"
        )
        experiments.log_batch(
            platform,
            principal,
            project.id,
            experiment.id,
            run.id,
            metrics=[Metric("rmse", rmse, int(time.time() * 1000), 0)],
            params={"alpha": str(alpha)},
            tags={},
        )

    sign_in(page, live_server, "alice")
    page.goto(f"{live_server}/projects/{project.id}")
    page.get_by_role("link", name="Experiments", exact=True).first.click()
    page.get_by_role("link", name="churn-exp").click()
    table = page.locator("#runs")
    expect(table).to_contain_text("run-0")
    expect(table).to_contain_text("alpha")
    expect(table).to_contain_text("0.4")
    for box in page.get_by_role("checkbox").all():
        box.check()
    page.get_by_role("button", name="Compare selected runs").click()
    chart = plotted(page, "#compare-chart")
    assert chart["names"] == ["rmse"] and sorted(chart["values"]["rmse"]) == [0.4, 0.9]
    page.screenshot(path=str(SHOTS / "compare.png"), full_page=True)
    expect(page.locator(".compare-table")).to_contain_text("0.5")

    # MLflow's own UI, on the same sign-in, shows the experiment and its runs.
    page.goto(f"{live_server}/mlflow/#/experiments/{experiment.id}")
    expect(page.get_by_text("run-1").first).to_be_visible(timeout=30_000)


def test_mlflow_ui_needs_sign_in_and_hides_other_projects(
    page: Page, live_server: str, platform: Platform, make_user: Callable[..., User]
) -> None:
    alice = make_user("alice")
    make_user("mallory")
    principal = Principal(user=alice, via="cli")
    project = projects.create(
        platform, principal, name="Secret", source=projects.parse_source("", "")
    )
    experiments.create_experiment(platform, principal, project.id, "secret-exp")
    page.goto(f"{live_server}/mlflow/")
    expect(page).to_have_url(f"{live_server}/login?next=/mlflow/")
    sign_in(page, live_server, "mallory")
    page.goto(f"{live_server}/mlflow/#/experiments")
    expect(page.get_by_text("Experiments").first).to_be_visible(timeout=30_000)
    page.wait_for_timeout(1500)
    assert "secret-exp" not in page.content()


def test_mlflow_ui_loads_without_errors_or_the_orphan_default_experiment(
    page: Page, live_server: str, platform: Platform, make_user: Callable[..., User]
) -> None:
    # An administrator: the one person who could see experiments of no project.
    alice = make_user("alice", is_admin=True)
    principal = Principal(user=alice, via="cli")
    project = projects.create(
        platform, principal, name="Churn", source=projects.parse_source("", "")
    )
    experiment = experiments.create_experiment(platform, principal, project.id, "churn-exp")
    experiments.create_run(platform, principal, project.id, experiment.id, name="run-a")
    failed: list[str] = []
    # MLflow's own sign-in app is not part of the server: its "who am I" answers 404, as a
    # stock MLflow server without it does, and the UI expects that (no account menu).
    page.on(
        "response",
        lambda r: failed.append(f"{r.status} {r.url}")
        if r.status >= 400 and not r.url.endswith("/ajax-api/2.0/mlflow/users/current")
        else None,
    )
    sign_in(page, live_server, "alice")
    page.goto(f"{live_server}/mlflow/#/experiments/{experiment.id}")
    expect(page.get_by_text("run-a").first).to_be_visible(timeout=30_000)
    expect(page.get_by_text("churn-exp").first).to_be_visible()
    page.wait_for_timeout(2000)  # the UI's side requests (gateway, datasets) come after
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "mlflow-ui.png"), full_page=True)
    assert failed == []
    assert page.get_by_text("Default", exact=True).count() == 0
