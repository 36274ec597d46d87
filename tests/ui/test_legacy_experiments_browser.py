"""Experiments (legacy) in a real browser: Run Experiment from the project's tab, the runs
table with one column per tracked metric (strings, dicts and lists too), the run page with its
metrics, tracked file, snapshot and log; a viewer sees the table but may not launch.
Screenshots go to ``$LAKEWORKS_SHOTS`` (default: the temporary folder's lakeworks-screenshots)."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from tests.api.test_legacy_experiments_api import TRAIN
from tests.scheduler.conftest import RUNTIME_CACHE
from tests.ui.test_ui_browser import sign_in, sign_out
from tests.workload_cleanup import stop_live_workloads

from lakeworks.config import Settings
from lakeworks.entities.jobs import RunStatus
from lakeworks.entities.users import User
from lakeworks.scheduler.loop import Scheduler
from lakeworks.services import experiment_runs, projects
from lakeworks.services.platform import Platform, Principal

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]
SHOTS = Path(
    os.environ.get("LAKEWORKS_SHOTS", Path(tempfile.gettempdir()) / "lakeworks-screenshots")
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"runtimes_dir": RUNTIME_CACHE})


@pytest.fixture
def scheduler(platform: Platform) -> Iterator[Scheduler]:
    sched = Scheduler(platform)
    yield sched
    sched.stop()
    stop_live_workloads(platform)


def _finish(scheduler: Scheduler, platform: Platform, run_id: str) -> None:
    deadline = time.monotonic() + 600  # a first run may build the runtime
    while True:
        scheduler.tick(wait=True)
        with platform.read() as uow:
            run = uow.jobs.get_run(run_id)
        assert run is not None
        if run.status.is_final:
            assert run.status is RunStatus.SUCCEEDED, run.reason
            return
        assert time.monotonic() < deadline, f"run {run_id} stuck in {run.status}"
        time.sleep(0.2)


def test_run_experiment_table_with_metric_columns_and_run_page(
    page: Page,
    live_server: str,
    platform: Platform,
    scheduler: Scheduler,
    make_user: Callable[..., User],
) -> None:
    alice = make_user("alice")
    make_user("vera")
    principal = Principal(user=alice, via="cli")
    project = projects.create(
        platform, principal, name="Tuning", source=projects.parse_source("", "")
    )
    projects.set_collaborator(platform, principal, project.id, "vera", "viewer")
    root = platform.settings.projects_dir / project.id
    (root / "train.py").write_text(TRAIN.format(version="original"))

    sign_in(page, live_server, "alice")
    page.goto(f"{live_server}/projects/{project.id}")
    page.get_by_role("link", name="Experiments (legacy)").click()
    expect(page.get_by_text("No experiment runs yet")).to_be_visible()
    form = page.get_by_role("form", name="Run Experiment")
    form.get_by_label("Script").fill("train.py")
    form.get_by_label("Arguments").fill("--alpha 0.25 'first try'")
    form.get_by_label("Comment").fill("baseline")
    form.get_by_role("button", name="Start Run").click()
    expect(page.locator("h2.h1")).to_contain_text("Run")
    first = page.url.rsplit("/", 1)[-1]
    expect(page.locator("[data-run-status]").first).to_contain_text("scheduled")
    # Off the live run page: it reloads itself when the run ends, which would abort a
    # navigation made at that moment (net::ERR_ABORTED under load).
    page.goto("about:blank")

    # Edited after launch: the first run keeps the original; a second run sees the edit.
    (root / "train.py").write_text(TRAIN.format(version="edited"))
    _finish(scheduler, platform, first)
    second = experiment_runs.create(
        platform,
        principal,
        project.id,
        experiment_runs.RunFields(script="train.py", arguments="--alpha 0.5 second"),
    )
    _finish(scheduler, platform, second.id)

    page.goto(f"{live_server}/projects/{project.id}/legacy_experiments")
    table = page.get_by_role("table", name="Experiment runs")
    headers = table.locator("thead th")
    expect(headers).to_have_text(
        [
            "Run ID",
            "Status",
            "Created",
            "Duration",
            "Script",
            "Arguments",
            "alpha",
            "accuracy",
            "label",
            "version",
            "params",
            "scores",
            "converged",
        ]
    )
    row = table.locator(f"tr[data-run='{first}']")
    expect(row.locator("[data-run-status]")).to_have_text("succeeded")
    expect(row.locator("td[data-metric='label']")).to_have_text("first try")
    expect(row.locator("td[data-metric='version']")).to_have_text("original")
    expect(row.locator("td[data-metric='accuracy']")).to_have_text("0.75")
    expect(row.locator("td[data-metric='params']")).to_have_text('{"depth": 3, "kind": "tree"}')
    expect(row.locator("td[data-metric='scores']")).to_have_text("[1, 2, 3]")
    expect(row.locator("td[data-metric='converged']")).to_have_text("true")
    expect(row).to_contain_text("baseline")
    other = table.locator(f"tr[data-run='{second.id}']")
    expect(other.locator("td[data-metric='version']")).to_have_text("edited")
    expect(table.locator("tbody tr").first).to_have_attribute("data-run", second.id)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1720, "height": 900})  # every metric column in view
    page.screenshot(path=str(SHOTS / "legacy-experiments-table.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    row.get_by_role("link", name=first).click()
    metrics = page.get_by_role("region", name="Metrics")
    expect(metrics.locator("tr[data-metric='label'] td").last).to_have_text("first try")
    tracked = page.get_by_role("region", name="Tracked files")
    with page.expect_download() as download:
        tracked.get_by_role("link", name="out/model.txt").click()
    saved = download.value.path()
    assert saved is not None and Path(saved).read_text() == "weights of original\n"
    snapshot = page.get_by_role("region", name="Snapshot")
    expect(snapshot.get_by_role("link", name="train.py")).to_be_visible()
    expect(page.locator("pre.log")).to_contain_text("VERSION original ALPHA 0.25 LABEL first try")
    page.screenshot(path=str(SHOTS / "legacy-experiment-run.png"), full_page=True)

    # A viewer sees the runs but is not offered Run Experiment.
    sign_out(page, live_server)
    sign_in(page, live_server, "vera")
    page.goto(f"{live_server}/projects/{project.id}/legacy_experiments")
    expect(page.get_by_role("table", name="Experiment runs").locator("tbody tr")).to_have_count(2)
    expect(page.get_by_role("button", name="Run Experiment")).to_be_disabled()
    expect(page.get_by_role("form", name="Run Experiment")).to_have_count(0)
