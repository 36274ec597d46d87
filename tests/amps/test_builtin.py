"""The built-in "Customer churn" AMP installed end to end, offline, from the catalog: every
task succeeds (Spark ingest into Hive, notebook, MLflow training, model build and deploy, the
app, the MLOps jobs) and what each made works. Slow: three JVM starts, a model build, an app.
Prints the install time, end to end and per task."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

import httpx
import pytest
from tests.amps.conftest import wait_setup

from lakeworks.amps import catalog, runner
from lakeworks.entities.amps import SetupStatus, TaskStatus
from lakeworks.entities.applications import AppStatus
from lakeworks.entities.users import User
from lakeworks.services import applications, jobs, models, projects
from lakeworks.services.platform import Platform, Principal


def _api_key(platform: Platform, user: User) -> dict[str, str]:
    from lakeworks.services import auth

    new = auth.create_api_key(platform, Principal(user=user, via="cli"), user.username)
    return {"Authorization": f"Bearer {new.secret}"}


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_customer_churn_installs_offline_and_works(
    live_base: str, live_platform: Platform, request: pytest.FixtureRequest
) -> None:
    from lakeworks.services import users

    platform = live_platform
    modeler = users.create_user(
        platform, None, username="modeler", password="correct horse battery", email="m@x.org"
    )
    who = Principal(user=modeler, via="api_key")
    serving_client = httpx.Client(base_url=live_base, timeout=60)
    request.addfinalizer(serving_client.close)  # a socket left open fails the next test
    entry = catalog.load(platform.settings).get("customer-churn")
    assert entry.builtin and entry.directory is not None and not entry.problem
    setup = runner.create_project(
        platform,
        who,
        name="Churn",
        directory=entry.directory,
        environment={"HIVE_TABLE": "churn_test", "SIMULATION_CALLS": "90"},
    )
    project_id = setup.project_id
    setup = wait_setup(platform, project_id, {SetupStatus.SUCCEEDED, SetupStatus.FAILED}, 1400)
    timings = [(t.title, t.status.value, t.duration_seconds) for t in setup.tasks]
    total = (setup.finished_at - setup.created_at).total_seconds() if setup.finished_at else None
    print(f"\nCustomer churn install: {total} s end to end")
    for title, status, seconds in timings:
        print(f"  {title:40s} {status:10s} {seconds if seconds is None else round(seconds, 1)} s")
    assert setup.status is SetupStatus.SUCCEEDED, [(t.title, t.reason) for t in setup.tasks]
    assert all(t.status is TaskStatus.SUCCEEDED for t in setup.tasks)

    root = platform.settings.projects_dir / project_id
    # Spark saved the Hive table in the project's warehouse; training saved the model.
    assert (root / ".lakeworks/spark/warehouse/churn_test").is_dir()
    assert (root / "models/churn_model.pkl").is_file()
    assert (root / "reports/accuracy_over_time.png").stat().st_size > 1000
    report = {j.name: j for j in jobs.list_jobs(platform, who, project_id)}
    assert {"Ingest customers into Hive", "Train the churn model", "MLOps simulation"} <= set(
        report
    )

    # MLflow: several tuning runs and a registered model.
    headers = _api_key(platform, modeler)
    search = serving_client.get("/mlflow/api/2.0/mlflow/registered-models/search", headers=headers)
    assert search.status_code == 200, search.text
    assert "customer-churn" in [m["name"] for m in search.json().get("registered_models", [])]

    # The model endpoint explains: probability plus one share per feature.
    model = next(
        m for m in models.list_models(platform, who, project_id) if m.name == "Customer churn model"
    )
    env = {v.name: v.value for v in projects.get_env(platform, who, project_id)}
    assert env["CHURN_MODEL_ACCESS_KEY"] == models.access_key(platform, model)
    example = entry.spec.tasks[7].fields["examples"][0]["request"]  # type: ignore[union-attr]
    answer = serving_client.post(
        "/model",
        json={"accessKey": env["CHURN_MODEL_ACCESS_KEY"], "request": example},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    prediction = answer.json()["response"]["prediction"]
    assert 0 < prediction["probability"] < 1
    assert set(prediction["explanation"]) == set(example)

    # The metrics store holds the simulation's predictions with their delayed truth, and the
    # report's accuracy aggregates.
    read = serving_client.post(
        "/api/v2/modelmetrics/read", json={"model_crn": model.id}, headers=headers
    )
    assert read.status_code == 200, read.text
    records = read.json()["metrics"]
    with_truth = [r for r in records if "actual" in r["metrics"]]
    assert len(with_truth) == 90
    assert [r for r in records if r["predictionUuid"] == "" and "accuracy" in r["metrics"]]

    # The app lists customers; a customer's page re-scores when a value changes.
    app = next(a for a in applications.list_applications(platform, who, project_id))
    assert app.status is AppStatus.RUNNING and app.subdomain == "churn"
    base = f"http://{app.target}"
    with urllib.request.urlopen(f"{base}/", timeout=30) as response:
        page = response.read().decode()
    assert "Customers most likely to leave" in page
    customer_id = page.split('data-customer="', 1)[1].split('"', 1)[0]
    body = json.dumps(
        {**example, "Contract": "Month-to-month", "InternetService": "Fiber optic"}
    ).encode()
    rescore = urllib.request.Request(
        f"{base}/api/score", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(rescore, timeout=30) as response:
        risky = json.loads(response.read())
    safer = json.loads(
        urllib.request.urlopen(
            urllib.request.Request(
                f"{base}/api/score",
                data=json.dumps({**example, "Contract": "Two year"}).encode(),
                headers={"Content-Type": "application/json"},
            ),
            timeout=30,
        ).read()
    )
    assert safer["probability"] < risky["probability"]
    query = urllib.parse.urlencode({"Contract": "Two year"})
    with urllib.request.urlopen(f"{base}/customer/{customer_id}?{query}", timeout=30) as response:
        assert 'value="Two year" selected' in response.read().decode()
