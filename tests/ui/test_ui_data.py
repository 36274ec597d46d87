"""The Data page's server-rendered parts: what viewers and contributors are offered, the CSV
download form, and saving a dataset from the explorer (kept SQL and a message on error)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from fastapi.testclient import TestClient
from tests.conftest import login

from lakeworks.entities.datasets import RECORD_COUNT
from lakeworks.entities.users import User
from lakeworks.services import datasets, projects
from lakeworks.services.datasets import VisualSpec
from lakeworks.services.platform import Platform, Principal

CHURN_CSV = (
    Path(str(resources.files("lakeworks.project_templates")))
    / "churn-demo/data/telco-customer-churn.csv"
)


def make_project(platform: Platform, owner: Principal) -> str:
    project = projects.create(platform, owner, name="P", source=projects.parse_source("", ""))
    target = platform.settings.projects_dir / project.id / "churn.csv"
    shutil.copy(CHURN_CSV, target)
    return project.id


def test_viewers_see_the_dashboard_but_no_editing_controls(
    client: TestClient, platform: Platform, make_user: Callable[..., User]
) -> None:
    owner = Principal(user=make_user("alice"), via="session")
    make_user("carol")
    pid = make_project(platform, owner)
    projects.set_collaborator(platform, owner, pid, "carol", "viewer")
    dataset = datasets.create_dataset(platform, owner, pid, "All", "FROM churn")
    board = datasets.create_dashboard(
        platform,
        owner,
        pid,
        "Board",
        "Sub",
        [VisualSpec(dataset.id, "bar", "", ("Contract",), ((RECORD_COUNT, "count"),))],
    )

    login(client, "carol")
    explorer = client.get(f"/projects/{pid}/data")
    assert explorer.status_code == 200
    assert 'data-table="churn"' in explorer.text
    assert "Save as dataset" not in explorer.text
    page = client.get(f"/projects/{pid}/data/dashboards/{board.id}")
    assert page.status_code == 200
    assert "data-visual" in page.text and "Sub" in page.text
    assert "Add visual" not in page.text and "Delete dashboard" not in page.text
    fields = client.get(f"/projects/{pid}/data/datasets/{dataset.id}")
    assert "Save fields" not in fields.text and "Month-to-month" in fields.text
    assert "New dashboard" not in client.get(f"/projects/{pid}/data/dashboards").text


def test_csv_download_and_saving_a_dataset_from_the_explorer(
    client: TestClient, platform: Platform, make_user: Callable[..., User]
) -> None:
    owner = Principal(user=make_user("alice"), via="session")
    pid = make_project(platform, owner)
    csrf = login(client, "alice")

    csv = client.post(
        f"/projects/{pid}/data/download",
        data={
            "csrf_token": csrf,
            "sql": "SELECT gender, count(*) AS n FROM churn GROUP BY 1 ORDER BY 1",
        },
    )
    assert csv.status_code == 200
    assert csv.headers["content-disposition"] == 'attachment; filename="query.csv"'
    assert csv.text.splitlines() == ['"gender","n"', '"Female",3488', '"Male",3555']
    refused = client.post(
        f"/projects/{pid}/data/download", data={"csrf_token": csrf, "sql": "DROP TABLE churn"}
    )
    assert refused.status_code == 400 and "read-only" in refused.text
    no_token = client.post(f"/projects/{pid}/data/download", data={"sql": "SELECT 1"})
    assert no_token.status_code == 403

    bad = client.post(
        f"/projects/{pid}/data/datasets",
        data={"csrf_token": csrf, "name": "Broken", "sql": "SELECT nope FROM churn"},
        follow_redirects=True,
    )
    assert "The dataset was not saved" in bad.text and "nope" in bad.text
    assert "SELECT nope FROM churn" in bad.text  # the query is kept in the editor
    saved = client.post(
        f"/projects/{pid}/data/datasets",
        data={"csrf_token": csrf, "name": "Everyone", "sql": "FROM churn"},
        follow_redirects=True,
    )
    assert saved.status_code == 200
    assert "Saved the dataset" in saved.text and 'data-field="Churn"' in saved.text
