"""The built-in "Fraud MLOps pipeline" AMP end to end, on a live server and in a real browser:
install it from the AMP catalog page, press "Run now" on the job "New Batch" once and see the
chain run (New Batch → Retrain
XGBoost → API Redeployment, in order), a new MLflow run tagged with the new snapshot's id, a
new registered model version, the model redeployed while a caller kept calling it (no failed
request, answers from both versions), and the drift view of the model. Screenshots of the
pipeline, the runs and the drift view go to $LAKEWORKS_SCREENSHOTS when set. Slow: model
builds. Offline: the workloads' pip has no package index and installs xgboost from the
wheelhouse scripts/test fills (tests/wheelhouse.py); the rest comes from the runtime."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from tests.amps.conftest import wait_setup
from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.wheelhouse import WHEELHOUSE, missing, pinned

from lakeworks.amps import catalog
from lakeworks.config import Settings
from lakeworks.entities.amps import SetupStatus, TaskStatus
from lakeworks.entities.jobs import JobRun, RunStatus
from lakeworks.entities.models import DeploymentStatus
from lakeworks.services import auth, job_runs, jobs, models, projects, users
from lakeworks.services.platform import Platform, Principal

PASSWORD = "correct horse battery"
SCREENSHOTS = os.environ.get("LAKEWORKS_SCREENSHOTS", "")
REQUEST = {
    "amount": 182.4,
    "hour": 2,
    "distance_km": 61.0,
    "merchant_risk": 0.41,
    "txn_last_24h": 6,
    "card_age_days": 45,
}


def production_traffic(directory: Path, batch: int, count: int) -> list[dict[str, Any]]:
    """Requests from the AMP's own generator (its ``fraud`` package): the world of ``batch``,
    as card payments would send them, so the drift view sees a plausible population."""
    spec = importlib.util.spec_from_file_location("fraud_amp", directory / "fraud/__init__.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    frame = module.generate(batch, count, seed=7)
    return [{f: row[f].item() for f in module.FEATURES} for _, row in frame.iterrows()]


class Caller:
    """Calls the model endpoint in a thread until stopped; counts answers by model version
    and keeps every failure."""

    def __init__(
        self, base: str, key: str, headers: dict[str, str], requests: list[dict[str, Any]]
    ) -> None:
        self.requests = requests
        self.client = httpx.Client(base_url=base, timeout=60, headers=headers)
        self.key = key
        self.versions: Counter[Any] = Counter()
        self.failures: list[str] = []
        self.calls = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            body = {
                "accessKey": self.key,
                "request": self.requests[self.calls % len(self.requests)],
            }
            self.calls += 1
            try:
                answer = self.client.post("/model", json=body)
            except httpx.HTTPError as exc:
                self.failures.append(f"transport: {exc!r}")
                continue
            if answer.status_code != 200 or not answer.json().get("success"):
                self.failures.append(f"{answer.status_code} {answer.text[:300]}")
                continue
            self.versions[answer.json()["response"]["prediction"]["model_version"]] += 1
            time.sleep(0.1)

    def __enter__(self) -> Caller:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=120)
        self.client.close()


@pytest.fixture
def live_settings(live_settings: Settings) -> Settings:
    """The server of the live fixtures with the wheelhouse as its only package source: with
    no index set, workloads get ``PIP_NO_INDEX``, so nothing waits on or reaches PyPI."""
    if missing():
        pytest.skip(f"{WHEELHOUSE} lacks {', '.join(missing())} (scripts/test fills it)")
    return live_settings.model_copy(
        update={"pip_find_links": WHEELHOUSE, "pip_index_url": "", "pip_extra_index_url": ""}
    )


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _shot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


def _runs_after(
    platform: Platform, who: Principal, project_id: str, job_id: str, since: float
) -> list[JobRun]:
    return [
        r
        for r in job_runs.list_runs(platform, who, project_id, job_id)
        if r.created_at is not None and r.created_at.timestamp() >= since
    ]


def _wait_final(
    platform: Platform, who: Principal, project_id: str, job_id: str, since: float, timeout: float
) -> JobRun:
    deadline = time.monotonic() + timeout
    while True:
        runs = _runs_after(platform, who, project_id, job_id, since)
        if runs and runs[-1].status.is_final:
            return runs[-1]
        assert time.monotonic() < deadline, f"job {job_id} did not finish: {runs}"
        time.sleep(1)


def _log(platform: Platform, who: Principal, project_id: str, run: JobRun) -> str:
    return job_runs.run_log(platform, who, project_id, run.job_id, run.id)[0].decode()


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.timeout(1500)
def test_one_new_batch_runs_the_whole_pipeline(
    browser: Browser, live_base: str, live_platform: Platform, request: pytest.FixtureRequest
) -> None:
    platform = live_platform
    user = users.create_user(
        platform, None, username="fraudster", password=PASSWORD, email="f@example.org"
    )
    who = Principal(user=user, via="api_key")
    headers = {"Authorization": "Bearer " + auth.create_api_key(platform, who, "fraudster").secret}
    api = httpx.Client(base_url=live_base, timeout=60, headers=headers)
    request.addfinalizer(api.close)

    entry = catalog.load(platform.settings).get("fraud-mlops")
    assert entry.builtin and entry.directory is not None and entry.spec is not None
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{live_base}/login")
    page.get_by_label("Username").fill("fraudster")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_base}/projects")

    # AMPs → the catalog, searched → Configure project → Launch.
    started = time.monotonic()
    page.get_by_role("link", name="AMPs").click()
    page.get_by_label("Search AMPs").fill("fraud")
    page.get_by_label("Search AMPs").press("Enter")
    card = page.locator('[data-amp="fraud-mlops"]')
    card.get_by_role("link", name="Configure project").click()
    expect(
        page.get_by_role("heading", name="Configure project: Fraud MLOps pipeline")
    ).to_be_visible()
    expect(page.locator('input[name="env.DRIFT_THRESHOLD"]')).to_have_value("0.2")
    page.locator('input[name="env.SIMULATION_CALLS"]').fill("80")
    page.locator('input[name="env.BATCH_ROWS"]').fill("3000")
    page.get_by_role("button", name="Launch project").click()
    expect(page).to_have_url(re.compile(r"/projects/[^/]+/amp$"))
    project_id = page.url.rsplit("/", 2)[1]
    expect(page.locator("[data-amp-tasks] tbody tr")).to_have_count(len(entry.spec.tasks))
    setup = wait_setup(platform, project_id, {SetupStatus.SUCCEEDED, SetupStatus.FAILED}, 900)
    print(f"\nFraud MLOps install: {time.monotonic() - started:.0f} s")
    for t in setup.tasks:
        seconds = None if t.duration_seconds is None else round(t.duration_seconds, 1)
        print(f"  {t.title:32s} {t.status.value:10s} {seconds} s")
    assert setup.status is SetupStatus.SUCCEEDED, [(t.title, t.reason) for t in setup.tasks]
    assert all(t.status is TaskStatus.SUCCEEDED for t in setup.tasks)
    # xgboost came from the wheelhouse (its pinned version) into the project's .local.
    local = platform.settings.projects_dir / project_id / ".local"
    version = pinned()["xgboost_cpu"]
    installed = list(local.glob("lib/python3.*/site-packages/xgboost_cpu-*.dist-info"))
    assert [p.name for p in installed] == [f"xgboost_cpu-{version}.dist-info"], installed

    by_name = {j.name: j for j in jobs.list_jobs(platform, who, project_id)}
    new_batch, retrain, redeploy = (
        by_name[n] for n in ("New Batch", "Retrain XGBoost", "API Redeployment")
    )
    assert retrain.parent_id == new_batch.id and redeploy.parent_id == retrain.id
    model = next(m for m in models.list_models(platform, who, project_id))
    key = models.access_key(platform, model)
    first = api.post("/model", json={"accessKey": key, "request": REQUEST}).json()
    assert first["success"], first
    assert first["response"]["prediction"]["model_version"] == 1
    assert 0 < first["response"]["prediction"]["probability"] < 1

    # The job page shows the pipeline; one press of "Run now" on New Batch, while a caller
    # keeps calling the model.
    page.goto(f"{live_base}/projects/{project_id}/jobs/{new_batch.id}")
    chain = page.locator(".chain")
    for name in ("New Batch", "Retrain XGBoost", "API Redeployment"):
        expect(chain.get_by_text(name, exact=True)).to_be_visible()
    _shot(page, "fraud-1-pipeline")
    triggered = time.time() - 1
    chain_started = time.monotonic()
    # The traffic comes from two batches ahead of the table (as the simulation job's does).
    traffic = production_traffic(entry.directory, 4, 2000)
    with Caller(live_base, key, headers, traffic) as caller:
        page.get_by_role("button", name="Run New Batch now").first.click()
        last = _wait_final(platform, who, project_id, redeploy.id, triggered, 600)
        time.sleep(3)  # a few calls answered by the new deployment
    print(f"Chain: {time.monotonic() - chain_started:.0f} s; calls by version {caller.versions}")
    runs = [
        _runs_after(platform, who, project_id, j.id, triggered)
        for j in (new_batch, retrain, redeploy)
    ]
    assert [len(r) for r in runs] == [1, 1, 1]
    batch_run, train_run, deploy_run = (r[0] for r in runs)
    for run in (batch_run, train_run, deploy_run):
        assert run.status is RunStatus.SUCCEEDED, _log(platform, who, project_id, run)[-3000:]
    assert last.id == deploy_run.id
    # In order: each starts after its parent finished.
    assert batch_run.finished_at and train_run.created_at and train_run.finished_at
    assert batch_run.finished_at <= train_run.created_at
    assert train_run.finished_at <= deploy_run.created_at
    assert train_run.parent_run_id == batch_run.id and deploy_run.parent_run_id == train_run.id

    # No request failed during the switch, and both versions answered.
    assert not caller.failures, caller.failures[:5]
    assert caller.versions[1] > 0 and caller.versions[2] > 0, caller.versions

    # The MLflow run of the retraining is tagged with the snapshot New Batch made.
    snapshot = _log(platform, who, project_id, batch_run).split("NEW_SNAPSHOT ", 1)[1].split()[0]
    experiment = api.get(
        "/mlflow/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": "fraud-mlops"}
    ).json()["experiment"]
    found = api.post(
        "/mlflow/api/2.0/mlflow/runs/search",
        json={"experiment_ids": [experiment["experiment_id"]], "max_results": 10},
    ).json()["runs"]
    assert len(found) == 2
    tags = [{t["key"]: t["value"] for t in r["data"].get("tags", [])} for r in found]
    newest = next(t for t in tags if t.get("snapshot_to") == snapshot)
    assert newest["snapshot_ids"] == snapshot
    assert newest["snapshot_from"] and newest["snapshot_from"] != snapshot
    trained = json.loads(
        _log(platform, who, project_id, train_run).split("TRAINED ", 1)[1].split("\n")[0]
    )
    assert trained["snapshots"] == [snapshot] and trained["version"] == 2
    assert trained["run_id"] in {r["info"]["run_id"] for r in found}

    # A new registered version, made by that run.
    versions = api.get(
        "/mlflow/api/2.0/mlflow/model-versions/search", params={"filter": "name='fraud-xgboost'"}
    ).json()["model_versions"]
    assert sorted(int(v["version"]) for v in versions) == [1, 2]
    assert next(v for v in versions if v["version"] == "2")["run_id"] == trained["run_id"]

    # Redeployed: a second deployment is deployed, the first stopped; the endpoint answers v2.
    with platform.read() as uow:
        deployments = uow.models.deployments_of(model.id)
    assert len(deployments) == 2 and deployments[-1].status is DeploymentStatus.DEPLOYED
    assert deployments[0].status in (DeploymentStatus.STOPPING, DeploymentStatus.STOPPED)
    now = api.post("/model", json={"accessKey": key, "request": REQUEST}).json()
    assert now["response"]["prediction"]["model_version"] == 2
    assert now["response"]["prediction"]["snapshot_ids"] == [snapshot]

    # The drift view: the serving build's training sample (the new snapshot) against the
    # simulation's and the caller's requests.
    drift = api.get(f"/api/v2/projects/{project_id}/models/{model.id}/drift").json()
    assert drift["problem"] == "", drift
    assert drift["snapshot_ids"] == [snapshot]
    assert drift["build_id"] == deployments[-1].build_id
    names = {f["name"] for f in drift["features"]}
    assert {"amount", "distance_km", "hour"} <= names
    assert all(f["psi"] >= 0 and 0 <= f["ks"] <= 1 for f in drift["features"])
    psi = {f["name"]: f["psi"] for f in drift["features"]}
    print("PSI per feature:", {k: round(v, 3) for k, v in psi.items()})
    # The generator moves amounts from batch to batch and never card ages: the view tells
    # the drifting feature from the stable one.
    assert psi["card_age_days"] < drift["threshold"] < psi["amount"]
    env = {v.name: v.value for v in projects.get_env(platform, who, project_id)}
    assert env["FRAUD_MODEL_ACCESS_KEY"] == key

    page.goto(f"{live_base}/projects/{project_id}/jobs/{redeploy.id}")
    expect(page.locator(".runs-table tbody tr")).to_have_count(1)
    _shot(page, "fraud-2-redeploy-runs")
    page.goto(f"{live_base}/projects/{project_id}/models/{model.id}/monitoring?window=1h")
    expect(page.locator("[data-drift-chart]")).to_have_attribute("data-drawn", "1")
    expect(page.locator("[data-drift-feature]")).to_have_count(6)
    expect(page.locator('[data-drift-feature="amount"]').get_by_text("drifted")).to_be_visible()
    if SCREENSHOTS:
        page.locator("#drift").screenshot(path=str(Path(SCREENSHOTS) / "fraud-3-drift.png"))
    _shot(page, "fraud-4-monitoring")
    assert not errors, errors

    # The drift check job reads the same figures and, past the threshold, starts the
    # pipeline again from New Batch (whose chain was checked above).
    check = by_name["Drift check"]
    checked = time.time() - 1
    answer = api.post(f"/api/v2/projects/{project_id}/jobs/{check.id}/runs", json={})
    assert answer.status_code == 200, answer.text
    check_run = _wait_final(platform, who, project_id, check.id, checked, 300)
    check_log = _log(platform, who, project_id, check_run)
    assert check_run.status is RunStatus.SUCCEEDED, check_log[-3000:]
    started_batch = check_log.split("RETRAIN_TRIGGERED ", 1)[1].split()[0]
    again = _runs_after(platform, who, project_id, new_batch.id, checked)
    assert [r.id for r in again] == [started_batch]
