"""MLflow 3's own UI in a real browser, behind the gate (issue 14 #11).

An MLflow 3 client (this test environment's, run as a workload without the sandbox runs it:
the workload site on ``PYTHONPATH``, ``LAKEWORKS_PROJECT_HOME`` set, a workload key) logs a
run with a scikit-learn model registered under a name. A project member then opens the
experiment page (the classic runs table, not the GenAI view), the run's artifacts (the logged
model's files, in the run's artifacts as CML compat §9 places them) and the model registry
pages: no request fails and no error toast shows. A non-member is refused. Screenshots go to
``LAKEWORKS_SHOTS`` (default: the temp folder's ``lakeworks-screenshots``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from tests.tracking.fixtures import tracking_settings
from tests.ui.test_ui_browser import sign_in

import lakeworks
from lakeworks.config import Settings
from lakeworks.entities.users import ApiKeyKind, User
from lakeworks.services import auth, projects
from lakeworks.services.platform import Platform, Principal

pytestmark = pytest.mark.browser
SHOTS = Path(
    os.environ.get("LAKEWORKS_SHOTS", Path(tempfile.gettempdir()) / "lakeworks-screenshots")
)
SITE = Path(lakeworks.__file__).parent / "workload" / "site"

TRAIN = """
import mlflow, mlflow.sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

assert mlflow.__version__.startswith("3."), mlflow.__version__
mlflow.set_experiment("iris-v3")
X, y = load_iris(return_X_y=True)
with mlflow.start_run(run_name="v3-run") as run:
    mlflow.log_param("C", 0.5)
    model = LogisticRegression(C=0.5, max_iter=300).fit(X, y)
    mlflow.log_metric("accuracy", model.score(X, y))
    info = mlflow.sklearn.log_model(model, name="model", registered_model_name="iris-v3")
print("RUN_ID", run.info.run_id, "EXPERIMENT_ID", run.info.experiment_id)
print("VERSION", info.registered_model_version)
"""


@pytest.fixture
def settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return tracking_settings(settings, tmp_path_factory.mktemp("mlflow-template"))


def _log_with_mlflow3(platform: Platform, user: User, project_id: str, url: str) -> dict[str, str]:
    key = auth.create_workload_key(
        platform, user, project_id, timedelta(hours=1), ApiKeyKind.V2
    ).secret
    root = platform.settings.projects_dir / project_id
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"{url}/mlflow",
        "MLFLOW_REGISTRY_URI": f"{url}/mlflow",
        "MLFLOW_TRACKING_TOKEN": key,
        "LAKEWORKS_PROJECT_HOME": str(root),
        "PYTHONPATH": str(SITE),
        "PYTHONWARNINGS": "ignore",
    }
    done = subprocess.run(
        [sys.executable, "-c", TRAIN],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    words = done.stdout.split()
    return {
        "run_id": words[words.index("RUN_ID") + 1],
        "experiment_id": words[words.index("EXPERIMENT_ID") + 1],
        "version": words[words.index("VERSION") + 1],
    }


# MLflow's own sign-in (its basic-auth app) is not part of the server: as on a stock MLflow
# server without it, its "who am I" answers 404, which the UI expects (no account menu).
STOCK_404 = ("/ajax-api/2.0/mlflow/users/current",)


def _watch(page: Page) -> list[str]:
    failed: list[str] = []

    def seen(response: Any) -> None:
        if response.status >= 400 and not (
            response.status == 404 and response.url.endswith(STOCK_404)
        ):
            failed.append(f"{response.status} {response.request.method} {response.url}")

    page.on("response", seen)
    return failed


def _see(page: Page, text: str, name: str, failed: list[str]) -> None:
    """Wait for ``text`` on the page; on failure, a screenshot and the failed requests."""
    try:
        expect(page.get_by_text(text).first).to_be_visible(timeout=30_000)
    except AssertionError as exc:
        _shot(page, f"failed-{name}")
        raise AssertionError(f"{text!r} not shown on {name}; failed requests: {failed}") from exc


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(1500)  # the UI's side requests come after the first paint
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _no_error_toast(page: Page) -> None:
    # Du Bois (MLflow's design system) raises notifications as role=alert / .du-bois-notification
    errors = page.locator("[class*='notification'], [role='alert']")
    texts = [t for t in errors.all_inner_texts() if t.strip()]
    assert texts == [], texts


@pytest.mark.timeout(600)  # an MLflow 3 client process logs the model first
def test_mlflow3_ui_shows_runs_artifacts_and_registry_for_members_only(
    page: Page, live_server: str, platform: Platform, make_user: Callable[..., User]
) -> None:
    alice = make_user("alice")
    make_user("mallory")
    project = projects.create(
        platform,
        Principal(user=alice, via="cli"),
        name="Iris",
        source=projects.parse_source("", ""),
    )
    logged = _log_with_mlflow3(platform, alice, project.id, live_server)
    experiment_id, run_id = logged["experiment_id"], logged["run_id"]
    assert logged["version"] == "1"
    # CML compat §9: the model is in the run's artifacts, under the name it was logged with.
    run_dir = platform.settings.projects_dir / project.id / ".experiments" / experiment_id
    assert (run_dir / run_id / "artifacts" / "model" / "MLmodel").is_file()

    failed = _watch(page)
    sign_in(page, live_server, "alice")

    # The experiment page opens on the classic runs table.
    page.goto(f"{live_server}/mlflow/#/experiments/{experiment_id}")
    _see(page, "v3-run", "experiment", failed)
    _shot(page, "1-experiment-runs")
    _no_error_toast(page)

    # The run page's artifacts list the logged model's files.
    page.goto(f"{live_server}/mlflow/#/experiments/{experiment_id}/runs/{run_id}/artifacts")
    _see(page, "model", "run-artifacts", failed)
    page.get_by_text("model", exact=True).first.click()
    _see(page, "MLmodel", "run-artifacts-model", failed)
    page.get_by_text("MLmodel", exact=True).first.click()
    _see(page, "flavors", "run-artifacts-mlmodel", failed)  # the file's content, served
    _shot(page, "2-run-artifacts")
    _no_error_toast(page)

    # The registry: the models list, the model, its version.
    page.goto(f"{live_server}/mlflow/#/models")
    _see(page, "iris-v3", "models", failed)
    _shot(page, "3-models")
    page.goto(f"{live_server}/mlflow/#/models/iris-v3")
    _see(page, "Version 1", "model", failed)
    _shot(page, "4-model")
    page.goto(f"{live_server}/mlflow/#/models/iris-v3/versions/1")
    _see(page, "v3-run", "model-version", failed)
    _shot(page, "5-model-version")
    _no_error_toast(page)
    assert failed == []

    # A non-member: the experiment and the model are not found, the lists are empty.
    page.context.clear_cookies()
    sign_in(page, live_server, "mallory")
    failed.clear()
    page.goto(f"{live_server}/mlflow/#/experiments/{experiment_id}")
    page.wait_for_timeout(3000)
    _shot(page, "6-non-member-experiment")
    assert "v3-run" not in page.content()
    assert failed and all(f.startswith("404 ") for f in failed), failed  # refused, not found
    page.goto(f"{live_server}/mlflow/#/models")
    page.wait_for_timeout(3000)
    _shot(page, "7-non-member-models")
    assert "iris-v3" not in page.content()
