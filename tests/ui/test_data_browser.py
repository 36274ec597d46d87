"""The Data page in a real browser, as the workshop uses it: run SQL over the churn table,
save the query as a dataset, clone the churn field into a measure, and build a dashboard with
two bar charts."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from tests.ui.test_ui_browser import sign_in

from lakeworks.entities.datasets import RECORD_COUNT
from lakeworks.entities.users import User
from lakeworks.services import datasets, projects
from lakeworks.services.datasets import VisualSpec
from lakeworks.services.platform import Platform, Principal

pytestmark = pytest.mark.browser
SHOTS = Path(tempfile.gettempdir()) / "lakeworks-screenshots"
CHURN_CSV = (
    Path(str(resources.files("lakeworks.project_templates")))
    / "churn-demo/data/telco-customer-churn.csv"
)
WORKSHOP_SQL = """SELECT
    COUNT(DISTINCT internetservice) as 'internetservice',
    COUNT(DISTINCT multiplelines) as 'multiplelines',
    COUNT(DISTINCT contract) as 'contract',
    COUNT(DISTINCT paymentmethod) as 'paymentmethod'
FROM churn_prototype;"""
SENIORS_SQL = "SELECT *\nFROM churn_prototype\nWHERE seniorcitizen = '1';"


def test_workshop_sql_dataset_and_a_dashboard_of_two_bar_charts(
    page: Page, live_server: str, platform: Platform, make_user: Callable[..., User]
) -> None:
    alice = make_user("alice")
    project = projects.create(
        platform,
        Principal(user=alice, via="cli"),
        name="Churn",
        source=projects.parse_source("", ""),
    )
    target = platform.settings.projects_dir / project.id / "data" / "churn_prototype.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(CHURN_CSV, target)
    SHOTS.mkdir(exist_ok=True)

    sign_in(page, live_server, "alice")
    page.goto(f"{live_server}/projects/{project.id}")
    page.locator("a.tab", has_text="Data").click()  # the project's tab, not the main Data page
    expect(page.locator("[data-table='churn_prototype']")).to_be_visible()
    page.locator("[data-table='churn_prototype'] summary").click()
    expect(page.locator("[data-table='churn_prototype'] [data-columns]")).to_contain_text(
        "PaymentMethod"
    )

    # The workshop's first query: distinct values of four categorical columns.
    page.locator("[data-sql]").fill(WORKSHOP_SQL)
    page.get_by_role("button", name="Run", exact=True).click()
    grid = page.locator("[data-grid]")
    expect(grid).to_contain_text("internetservice")
    expect(grid.locator("tbody tr")).to_have_count(1)
    expect(grid.locator("tbody td").nth(3)).to_have_text("4")
    expect(page.locator("[data-history]")).to_contain_text("COUNT(DISTINCT internetservice)")

    # A write is refused with the reason, and nothing changes.
    page.locator("[data-sql]").fill("DROP TABLE churn_prototype")
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.locator("[data-error]")).to_contain_text("read-only")

    # With writes allowed (the owner may), the query's rows become an Iceberg table.
    page.locator("[data-sql]").fill(
        'CREATE TABLE "default".seniors AS SELECT * FROM churn_prototype WHERE seniorcitizen = 1'
    )
    page.get_by_label("Allow writes").check()
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.locator("[data-status]")).to_contain_text("Wrote 1142 rows to default.seniors")
    page.get_by_label("Allow writes").uncheck()
    page.locator("[data-sql]").fill('SELECT count(*) AS n FROM "default".seniors')
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.locator("[data-grid] tbody td").first).to_have_text("1142")
    page.goto(f"{live_server}/data")
    expect(page.locator(f"tr[data-project='{project.id}']")).to_contain_text("default.seniors")
    page.screenshot(path=str(SHOTS / "data-all-projects.png"), full_page=True)
    page.goto(f"{live_server}/projects/{project.id}/data")

    # Paging through the seniors, then saving them as a dataset.
    page.locator("[data-sql]").fill(SENIORS_SQL)
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.locator("[data-range]")).to_contain_text("Rows 1\N{EN DASH}100, more follow")
    expect(page.locator("[data-error]")).to_be_hidden()
    page.get_by_role("button", name="Next").click()
    expect(page.locator("[data-range]")).to_contain_text("Rows 101\N{EN DASH}200")
    page.screenshot(path=str(SHOTS / "data-explorer.png"), full_page=True)
    page.get_by_label("Save as dataset").fill("Churn seniors")
    page.get_by_role("button", name="Save as dataset").click()
    expect(page.get_by_role("heading", name="Churn seniors")).to_be_visible()

    # Clone the churn field and make the copy an integer measure.
    page.locator("tr[data-field='Churn']").get_by_role("button", name="Clone").click()
    copy = page.locator("tr[data-field='Copy of Churn']")
    expect(copy).to_be_visible()
    copy.get_by_label("Type of Copy of Churn").select_option("integer")
    copy.get_by_label("Role of Copy of Churn").select_option("measure")
    page.get_by_role("button", name="Save fields").click()
    expect(page.locator(".alert-success")).to_contain_text("Saved the fields")

    # A dashboard with a title, a subtitle and two bar charts.
    page.locator("[data-sections]").get_by_role("link", name="Dashboards").click()
    page.get_by_label("New dashboard").fill("Senior customers")
    page.get_by_label("Subtitle").fill("How they pay, and who churns")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("[data-dashboard-title]")).to_have_text("Senior customers")

    page.get_by_label("Visual type").select_option("horizontal_bar")
    page.get_by_label("Dimension 1").select_option("PaymentMethod")
    page.get_by_label("Measure 1", exact=True).select_option("Record Count")
    page.get_by_role("button", name="Add visual").click()
    expect(page.locator("[data-visual]")).to_have_count(1)

    page.get_by_label("Visual type").select_option("bar")
    page.get_by_label("Title", exact=True).fill("Churned seniors by contract")
    # This one by dragging fields onto the shelves, as the workshop does.
    palette = page.locator("[data-palette]")
    # Shelves and chips in view first: a drag whose target must be scrolled to is lost.
    page.locator("[data-shelf='measure']").scroll_into_view_if_needed()
    palette.locator("[data-field='Contract']").drag_to(page.locator("[data-shelf='dimension']"))
    palette.locator("[data-field='Copy of Churn']").drag_to(page.locator("[data-shelf='measure']"))
    expect(page.get_by_label("Dimension 1")).to_have_value("Contract")
    expect(page.get_by_label("Measure 1", exact=True)).to_have_value("Copy of Churn")
    expect(page.get_by_label("Aggregate of measure 1")).to_have_value("sum")
    page.get_by_role("button", name="Add visual").click()
    visuals = page.locator("[data-visual]")
    expect(visuals).to_have_count(2)
    expect(visuals.nth(0)).to_have_attribute("data-drawn", "1")
    expect(visuals.nth(1)).to_have_attribute("data-drawn", "1")
    expect(visuals.locator("canvas")).to_have_count(2)
    expect(visuals.nth(1)).to_contain_text("Churned seniors by contract")
    page.screenshot(path=str(SHOTS / "data-dashboard.png"), full_page=True)


def test_every_visual_kind_draws(
    page: Page, live_server: str, platform: Platform, make_user: Callable[..., User]
) -> None:
    owner = Principal(user=make_user("alice"), via="cli")
    project = projects.create(platform, owner, name="Churn", source=projects.parse_source("", ""))
    shutil.copy(CHURN_CSV, platform.settings.projects_dir / project.id / "churn.csv")
    dataset = datasets.create_dataset(platform, owner, project.id, "All", "FROM churn")
    count = ((RECORD_COUNT, "count"),)
    board = datasets.create_dashboard(
        platform,
        owner,
        project.id,
        "Every kind",
        "",
        [
            VisualSpec(dataset.id, "line", "", ("tenure",), (("MonthlyCharges", "avg"),)),
            VisualSpec(dataset.id, "histogram", "", (), (("MonthlyCharges", "sum"),)),
            VisualSpec(
                dataset.id, "scatter", "", (), (("tenure", "sum"), ("MonthlyCharges", "sum"))
            ),
            VisualSpec(dataset.id, "table", "", ("Contract",), count),
            VisualSpec(
                dataset.id,
                "bar",
                "Two measures",
                ("InternetService",),
                (*count, ("tenure", "avg")),
            ),
        ],
    )
    SHOTS.mkdir(exist_ok=True)
    sign_in(page, live_server, "alice")
    page.goto(f"{live_server}/projects/{project.id}/data/dashboards/{board.id}")
    visuals = page.locator("[data-visual]")
    expect(visuals).to_have_count(5)
    for n in range(5):
        expect(visuals.nth(n)).to_have_attribute("data-drawn", "1")
    expect(visuals.locator("canvas")).to_have_count(4)
    expect(visuals.nth(3).locator("tbody tr")).to_have_count(3)
    page.screenshot(path=str(SHOTS / "data-every-kind.png"), full_page=True)
