"""The Data page's server-rendered parts: what viewers and contributors are offered, the CSV
download form, and saving a dataset from the explorer (kept SQL and a message on error)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pyarrow as pa
from fastapi.testclient import TestClient
from sqlalchemy import event
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
    assert "data-write" not in explorer.text  # writes are offered to contributors only
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


def test_the_data_page_of_every_project_lists_tables_datasets_and_dashboards(
    client: TestClient, platform: Platform, make_user: Callable[..., User]
) -> None:
    from lakeworks.services import data_queries

    owner = Principal(user=make_user("alice"), via="session")
    pid = make_project(platform, owner)
    data_queries.run_write(
        platform, owner, pid, 'CREATE TABLE "default".seniors AS FROM churn WHERE SeniorCitizen = 1'
    )
    dataset = datasets.create_dataset(platform, owner, pid, "Seniors", 'FROM "default".seniors')
    board = datasets.create_dashboard(platform, owner, pid, "Churn board", "", [])
    stranger = Principal(user=make_user("bob"), via="session")
    hidden = make_project(platform, stranger)
    unused = make_project(platform, owner)

    login(client, "alice")
    page = client.get("/data")
    assert page.status_code == 200
    assert 'href="/data" class="nav-item active" aria-current="page"' in page.text
    assert f'href="/projects/{pid}/data">P</a>' in page.text
    assert ">default.seniors</a>" in page.text
    assert f'href="/projects/{pid}/data/datasets/{dataset.id}">Seniors</a>' in page.text
    assert f'href="/projects/{pid}/data/dashboards/{board.id}">Churn board</a>' in page.text
    assert hidden not in page.text
    # Pages that list make nothing: a project's warehouse appears when it is first written.
    assert client.get(f"/projects/{unused}/data").status_code == 200
    assert not platform.iceberg.warehouse(unused).exists()
    assert platform.iceberg.warehouse(pid).exists()
    explorer = client.get(f"/projects/{pid}/data")
    assert "data-write" in explorer.text  # the owner is offered writes


def _statements(platform: Platform, call: Callable[[], object]) -> int:
    """How many SQL statements ``call`` sends to the platform's database."""
    sent: list[str] = []

    def note(*args: object) -> None:
        sent.append(str(args[2]))

    event.listen(platform.store.engine, "before_cursor_execute", note)
    try:
        call()
    finally:
        event.remove(platform.store.engine, "before_cursor_execute", note)
    return len(sent)


def test_the_data_page_of_every_project_reads_a_fixed_number_of_statements(
    client: TestClient, platform: Platform, make_user: Callable[..., User]
) -> None:
    owner = Principal(user=make_user("alice"), via="session")
    schema = pa.schema([("n", pa.int64())])

    def add_project(tables: int) -> str:
        project = projects.create(
            platform, owner, name=f"P{tables}", source=projects.parse_source("", "")
        )
        catalog = platform.iceberg.catalog(project.id)
        for number in range(tables):
            catalog.create_table(f"default.t{number}", schema)
            dataset = datasets.create_dataset(
                platform, owner, project.id, f"D{number}", "SELECT 1 AS x"
            )
            datasets.create_dashboard(
                platform, owner, project.id, f"B{number}", "",
                [VisualSpec(dataset.id, "table", "", ("x",), ())],
            )  # fmt: skip
        return project.id

    login(client, "alice")
    add_project(1)
    few = _statements(platform, lambda: client.get("/data"))
    for tables in (2, 3, 4):
        add_project(tables)
    page = client.get("/data")
    assert page.text.count("data-project=") == 4
    assert ">default.t3</a>" in page.text and ">B3</a>" in page.text
    many = _statements(platform, lambda: client.get("/data"))
    assert many == few, f"{few} statements for 1 project with 1 table, {many} for 4 with 10"
