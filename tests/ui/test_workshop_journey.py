"""The workshop's lab journey in a real browser, on a fresh server, through the UI only, as a
new user walks it (issue 13's "done means"):

new project from a zip → a Workbench session runs a file → a JupyterLab session with the
Spark add-on, at the same time, writes and reads a Spark table and shows Spark's UI → a job
pipeline (prepare, then train) → the MLflow run with its logged model, whose artifacts show
→ that registered version deployed from the UI → the curl sample, exactly as shown, sent from
outside (httpx) → a Flask application opened from its Open button → the workbench runs a
labelling script and the model's monitoring shows accuracy.

Small data (300 customers of the telco churn set, ``data/telco-churn-300.csv``) and one Spark
use keep it to minutes. Screenshots of every step go to ``$LAKEWORKS_SCREENSHOTS`` when set.
Marked ``slow``: ``pytest -m slow tests/ui/test_workshop_journey.py``.
"""

# ruff: noqa: F811 - the live-server fixtures are imported, then requested by name

from __future__ import annotations

import io
import json
import os
import re
import shlex
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect
from tests.amps.conftest import (  # noqa: F401 - fixtures
    _mlflow_schemas,
    live_app,
    live_base,
    live_platform,
    live_settings,
    live_socket,
)
from tests.ui.test_ui_browser import sign_in

from lakeworks.services.platform import Platform

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(1500)]
# Read at import: the suite's autouse fixture gives each test a clean environment.
SCREENSHOTS = os.environ.get("LAKEWORKS_SCREENSHOTS", "")
DATA = Path(__file__).parent / "data" / "telco-churn-300.csv"
FEATURES = ["tenure", "MonthlyCharges", "TotalCharges"]

EXPLORE = """\
import pandas as pd

df = pd.read_csv("data/churn.csv")
print("customers:", len(df))
print("churn rate: %.1f%%" % (100 * (df.Churn == "Yes").mean()))
display(df.groupby("Contract").size().rename("customers").to_frame())
"""

SPARK_LAB = """\
from pyspark.sql import SparkSession

spark = SparkSession.builder.appName("churn-lab").getOrCreate()
raw = spark.read.csv("data/churn.csv", header=True, inferSchema=True)
raw.write.mode("overwrite").saveAsTable("churn_raw")
spark.sql("SELECT Contract, count(*) AS customers FROM churn_raw GROUP BY Contract").show()
print("rows in table", spark.table("churn_raw").count())
"""

PREPARE = """\
import pandas as pd

df = pd.read_csv("data/churn.csv")
clean = pd.DataFrame({
    "tenure": df.tenure.astype(float),
    "MonthlyCharges": df.MonthlyCharges.astype(float),
    "TotalCharges": pd.to_numeric(df.TotalCharges, errors="coerce").fillna(0.0),
    "churn": (df.Churn == "Yes").astype(int),
})
clean.to_csv("data/clean.csv", index=False)
print("prepared", len(clean), "rows")
"""

TRAIN = f"""\
import mlflow
import mlflow.sklearn
import pandas as pd
from sklearn.linear_model import LogisticRegression

FEATURES = {FEATURES!r}
df = pd.read_csv("data/clean.csv")
X, y = df[FEATURES], df["churn"]
mlflow.set_experiment("churn-lab")
with mlflow.start_run(run_name="logreg"):
    model = LogisticRegression(max_iter=500).fit(X, y)
    mlflow.log_param("max_iter", 500)
    mlflow.log_metric("train_accuracy", model.score(X, y))
    mlflow.sklearn.log_model(
        model, "model", registered_model_name="churn-model", input_example=X.head(1)
    )
print("trained")
"""

APP = """\
import os

import pandas as pd
from flask import Flask

app = Flask(__name__)


@app.route("/")
def index():
    df = pd.read_csv("data/clean.csv")
    return (
        "<html><body><h1>Churn overview</h1>"
        f"<p id='customers'>{len(df)} customers</p>"
        f"<p>churn rate {df.churn.mean():.0%}</p></body></html>"
    )


app.run(host="127.0.0.1", port=int(os.environ["CDSW_APP_PORT"]))
"""

# What a labelling job does: call the model, later record the truth of each prediction.
LABEL = f"""\
import os

import cdsw
import cmlapi
import pandas as pd

FEATURES = {FEATURES!r}
found = cmlapi.default_client().list_models(os.environ["CDSW_PROJECT_ID"]).models
key = next(m.access_key for m in found if m.name == "churn-model")
df = pd.read_csv("data/clean.csv").head(20)
for _, row in df.iterrows():
    request = {{"dataframe_split": {{"columns": FEATURES, "data": [[row[c] for c in FEATURES]]}}}}
    answer = cdsw.call_model(key, request)
    cdsw.track_delayed_metrics({{"final_label": int(row["churn"])}}, answer["response"]["uuid"])
print("labelled", len(df), "predictions")
"""


def project_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("churn-lab/data/churn.csv", DATA.read_bytes())
        for name, text in {
            "explore.py": EXPLORE,
            "spark_lab.py": SPARK_LAB,
            "prepare.py": PREPARE,
            "train.py": TRAIN,
            "app.py": APP,
            "label.py": LABEL,
            "README.md": "# Churn lab\n\nThe workshop's files.\n",
        }.items():
            archive.writestr(f"churn-lab/{name}", text)
    return buffer.getvalue()


def shooter(page: Page) -> Callable[[str, Page | None], None]:
    count = [0]

    def shot(name: str, on: Page | None = None) -> None:
        count[0] += 1
        if SCREENSHOTS:
            Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
            path = Path(SCREENSHOTS) / f"{count[0]:02d}-{name}.png"
            (on or page).screenshot(path=str(path), full_page=True)

    return shot


def wait_for_text(page: Page, selector: str, text: str, timeout: float) -> None:
    """Reload ``page`` until ``selector`` shows ``text`` (pages the scheduler changes)."""
    deadline = time.monotonic() + timeout
    while True:
        found = page.locator(selector)
        if found.count() and text in found.first.inner_text():
            return
        assert time.monotonic() < deadline, f"{selector} never showed {text!r}"
        page.wait_for_timeout(2000)
        page.reload()


def curl_as_shown(sample: str) -> httpx.Response:
    """Send what the curl sample says (method, URL, headers, body), from this process."""
    words = shlex.split(sample.replace("\\\n", " "))
    assert words[0] == "curl", sample
    url = next(w for w in words if w.startswith("http"))
    headers = dict(
        words[i + 1].split(": ", 1) for i, w in enumerate(words) if w == "-H"
    )  # fmt: skip
    body = words[words.index("-d") + 1]
    return httpx.post(url, content=body, headers=headers, timeout=60)


def test_the_workshop_journey(
    live_base: str, live_platform: Platform, make_user: Callable[..., object], page: Page
) -> None:
    # ``page`` comes last: the browser closes before the server stops.
    make_user("ana")
    port = live_base.rsplit(":", 1)[1]
    page.set_default_timeout(30_000)
    shot = shooter(page)
    failures: list[str] = []
    page.on("pageerror", lambda e: failures.append(f"page error: {e}"))
    page.on(
        "response", lambda r: failures.append(f"{r.status} {r.url}") if r.status >= 500 else None
    )
    sign_in(page, live_base, "ana")

    # 1. A new project from a zip of the lab's files.
    page.get_by_role("link", name="New project").first.click()
    page.locator("input[name=name]").fill("Churn lab")
    page.locator("label.source-tab", has_text="Local files").click()
    page.locator("input[name=archive]").set_input_files(
        {"name": "churn-lab.zip", "mimeType": "application/zip", "buffer": project_zip()}
    )
    shot("new-project-from-zip")
    page.get_by_role("button", name="Create project").click()
    expect(page).to_have_url(re.compile(r"/projects/[a-z0-9-]+$"))
    project_url = page.url
    project_path = project_url.removeprefix(live_base)
    expect(page.get_by_text("train.py").first).to_be_visible()
    shot("project-overview")

    # 2. A Workbench session runs a file: printed lines and a rich table.
    page.goto(f"{project_url}/sessions/new")
    page.get_by_label("Name").fill("explore")
    page.get_by_label("Workbench").check()
    page.get_by_role("button", name="Start session").click()
    expect(page.locator("[data-kernel-state]")).to_have_text("ready", timeout=240_000)
    workbench_url = page.url
    page.get_by_label("File", exact=True).select_option("explore.py")
    expect(page.locator("[data-code]")).to_have_value(EXPLORE)
    page.get_by_role("button", name="Run file").click()
    output = page.locator("[data-output]")
    expect(output).to_contain_text("customers: 300", timeout=60_000)
    expect(page.frame_locator(".wb-html").locator("table")).to_contain_text("Month-to-month")
    shot("workbench-ran-explore")

    # 3. Meanwhile, a JupyterLab session with the Spark add-on writes and reads a table.
    lab = page.context.new_page()
    lab.goto(f"{project_url}/sessions/new")
    lab.get_by_label("Name").fill("spark lab")
    lab.get_by_label("JupyterLab").check()
    lab.locator("input[name=spark]").check()
    lab.get_by_role("button", name="Start session").click()
    expect(lab.locator("[data-ready-text]")).to_have_text("JupyterLab is ready.", timeout=240_000)
    lab_session_url = lab.url
    spark_link = lab.locator("[data-spark-ui]")
    expect(spark_link).to_be_visible()
    shot("lab-session-ready", lab)
    lab.locator("[data-lab-open]").click()
    lab.locator(".jp-LauncherCard[data-category='Notebook']").first.click()
    expect(lab.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_be_visible(
        timeout=120_000
    )
    cell = lab.locator(".jp-Notebook .jp-Cell .cm-content").first
    cell.click()
    lab.keyboard.type("%run spark_lab.py")
    cell_output = lab.locator(".jp-OutputArea-output").first
    # JupyterLab may drop an execute sent while its kernel socket still connects (a loaded
    # machine): run the cell again, in place, until it answers.
    for attempt in range(3):
        cell.click()
        lab.keyboard.press("Control+Enter")
        try:
            expect(cell_output).to_be_visible(timeout=30_000)
            break
        except AssertionError:
            if attempt == 2:
                raise
    expect(lab.locator(".jp-OutputArea")).to_contain_text("rows in table 300", timeout=300_000)
    # Spark's start says what it must, without Java stack traces (Hadoop's group lookup).
    expect(lab.locator(".jp-OutputArea")).not_to_contain_text("no such user")
    shot("jupyterlab-spark-table", lab)

    # Spark's UI, from the session page's link: its Jobs page, behind the proxy.
    lab.goto(lab_session_url)
    with lab.context.expect_page() as opened:
        lab.locator("[data-spark-ui]").click()
    spark_ui = opened.value
    expect(spark_ui.get_by_text("Spark Jobs").first).to_be_visible()
    expect(spark_ui.get_by_text("churn-lab").first).to_be_visible()
    assert spark_ui.url.startswith(f"{live_base}/sessions/")
    spark_ui.get_by_role("link", name="SQL / DataFrame").click()
    expect(spark_ui.get_by_text("Completed Queries").first).to_be_visible()
    shot("spark-ui-sql", spark_ui)
    spark_ui.get_by_role("link", name="Jobs").first.click()
    expect(spark_ui.get_by_text("Completed Jobs").first).to_be_visible()
    shot("spark-ui-jobs", spark_ui)
    spark_ui.close()
    # The lab is done with: stopping it frees its memory for the rest of the journey.
    lab.get_by_role("button", name="Stop").click()
    lab.close()

    # 4. A job pipeline: prepare, then train after it; running the first runs both.
    page.goto(f"{project_url}/jobs/new")
    page.locator("input[name=name]").fill("Prepare data")
    page.locator("input[name=script]").fill("prepare.py")
    page.get_by_role("button", name="Create job").click()
    expect(page.get_by_role("heading", name="Prepare data")).to_be_visible()
    prepare_url = page.url
    page.get_by_role("link", name="Add a job after this one").click()
    page.locator("input[name=name]").fill("Train model")
    page.locator("input[name=script]").fill("train.py")
    expect(page.locator("#kind-dependent")).to_be_checked()
    page.get_by_role("button", name="Create job").click()
    expect(page.get_by_role("heading", name="Train model")).to_be_visible()
    train_url = page.url
    expect(page.locator(".chain")).to_contain_text("Prepare data")
    page.goto(prepare_url)
    expect(page.locator(".chain")).to_contain_text("Train model")
    shot("pipeline")
    page.get_by_role("button", name="Run Prepare data now").first.click()
    page.goto(train_url)
    wait_for_text(page, ".runs-table [data-run-status]", "succeeded", 420)
    shot("pipeline-trained")

    # 5. The MLflow run, with its logged model's files (the MLmodel among them).
    page.goto(f"{project_url}/experiments")
    page.get_by_role("link", name="churn-lab").first.click()
    run_link = page.get_by_role("link", name="logreg")
    expect(run_link).to_be_visible()
    run_href = run_link.get_attribute("href")
    assert run_href
    page.goto(f"{live_base}{run_href}/artifacts")
    expect(page.get_by_text("MLmodel").first).to_be_visible(timeout=60_000)
    page.get_by_text("MLmodel").first.click()
    expect(page.get_by_text("flavors").first).to_be_visible()
    shot("mlflow-run-artifacts")

    # 6. That registered version, deployed from the UI.
    page.goto(f"{project_url}/experiments")
    page.get_by_role("link", name="Deploy churn-model v1").click()
    expect(page.locator("[data-registry-source]")).to_contain_text("churn-model version 1")
    example = json.loads(page.locator("textarea[name=example]").input_value())
    assert example["dataframe_split"]["columns"] == FEATURES
    page.locator("input[name=cpu]").fill("0.5")
    page.locator("input[name=memory_gb]").fill("1")
    page.uncheck("input[name=auth_enabled]")
    shot("deploy-registered-version")
    page.get_by_role("button", name="Build and deploy").click()
    expect(page.locator("[data-deployment-status]")).to_contain_text("deployed", timeout=420_000)
    model_url = page.url
    shot("model-deployed")

    # 7. The curl sample, exactly as shown, from outside the platform.
    sample = page.locator("[data-sample-curl]").inner_text()
    assert "CDSW_APIV2_KEY" not in sample
    answer = curl_as_shown(sample)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["success"] is True and body["response"]["prediction"] in ([0], [1]), body

    # 8. The Flask application, opened from its Open button.
    page.goto(f"{project_url}/applications/new")
    page.locator("input[name=name]").fill("Churn overview")
    page.locator("input[name=subdomain]").fill("churn-overview")
    page.locator("input[name=script]").fill("app.py")
    page.get_by_role("button", name="Create and start").click()
    open_button = page.get_by_role("link", name="Open", exact=True)
    wait_for_text(page, "h2 .badge", "Running", 240)
    expect(open_button).to_be_visible()
    assert open_button.get_attribute("href") == f"http://churn-overview.localhost:{port}/"
    shot("application-running")
    with page.context.expect_page() as opened:
        open_button.click()
    app_page = opened.value
    expect(app_page.get_by_role("heading", name="Churn overview")).to_be_visible(timeout=60_000)
    expect(app_page.locator("#customers")).to_have_text("300 customers")
    shot("application-open", app_page)
    app_page.close()

    # 9. Back in the workbench: a labelling script calls the model and records the truth;
    # the model's monitoring shows accuracy without anyone picking keys.
    page.goto(workbench_url)
    expect(page.locator("[data-kernel-state]")).to_have_text("ready", timeout=60_000)
    page.get_by_label("File", exact=True).select_option("label.py")
    expect(page.locator("[data-code]")).to_have_value(LABEL)
    page.get_by_role("button", name="Run file").click()
    labelled = page.locator("[data-output]")
    expect(labelled).to_contain_text("labelled 20 predictions", timeout=120_000)
    shot("workbench-labelled")
    page.goto(model_url)
    page.click("[data-monitoring-link]")
    wait_for_text(page, "[data-stat=accuracy]", "%", 60)
    expect(page.locator("#chart-accuracy")).to_have_count(1)
    # The metric chart shows what the model tracked (its prediction), not the ground truth.
    expect(page.locator("select[name=metric]")).to_have_value("prediction")
    shot("monitoring-accuracy")

    assert not failures, failures
    assert project_path.startswith("/projects/")
