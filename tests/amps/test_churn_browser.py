"""In a real browser, on a fresh server: AMPs → Customer churn → Configure project → Launch,
watch the setup's steps complete, open the app and re-score a customer by changing a value,
then see the model's monitoring with accuracy. Screenshots go to $LAKEWORKS_SCREENSHOTS when
set. (The whole AMP installs: minutes.)"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from tests.amps.conftest import wait_setup
from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS

from lakeworks.entities.amps import SetupStatus, TaskStatus
from lakeworks.services import models, users
from lakeworks.services.platform import Platform, Principal

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(1800)]
PASSWORD = "correct horse battery"
# Read at import: the suite's autouse fixture gives each test a clean environment.
SCREENSHOTS = os.environ.get("LAKEWORKS_SCREENSHOTS", "")


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


def test_install_customer_churn_from_the_catalog_and_rescore_a_customer(
    browser: Browser, live_base: str, live_platform: Platform
) -> None:
    user = users.create_user(
        live_platform, None, username="ana", password=PASSWORD, email="ana@example.org"
    )
    port = live_base.rsplit(":", 1)[1]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on(
        "response",
        lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    page.goto(f"{live_base}/login")
    page.get_by_label("Username").fill("ana")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_base}/projects")

    # AMPs in the left navigation: the catalog, searched.
    page.get_by_role("link", name="AMPs").click()
    expect(page).to_have_url(f"{live_base}/amps")
    page.get_by_label("Search AMPs").fill("churn")
    page.get_by_label("Search AMPs").press("Enter")
    card = page.locator('[data-amp="customer-churn"]')
    expect(card.get_by_text("Workbench · Python 3.11 · Standard")).to_be_visible()
    _shot(page, "1-catalog")
    card.get_by_role("link", name="Configure project").click()

    # Configure: the declared variables with their defaults, then Launch.
    expect(page.get_by_role("heading", name="Configure project: Customer churn")).to_be_visible()
    table = page.locator('input[name="env.HIVE_TABLE"]')
    expect(table).to_have_value("churn_customers")
    table.fill("churn_ana")
    page.locator('input[name="env.SIMULATION_CALLS"]').fill("60")
    _shot(page, "2-configure")
    page.get_by_role("button", name="Launch project").click()
    expect(page).to_have_url(re.compile(r"/projects/[^/]+/amp$"))
    project_id = page.url.rsplit("/", 2)[1]
    expect(page.locator("[data-amp-tasks] tbody tr")).to_have_count(14)

    # The progress page refreshes itself while the steps run.
    setup = wait_setup(live_platform, project_id, {SetupStatus.SUCCEEDED, SetupStatus.FAILED}, 1500)
    assert setup.status is SetupStatus.SUCCEEDED, [(t.title, t.reason) for t in setup.tasks]
    assert all(t.status is TaskStatus.SUCCEEDED for t in setup.tasks)
    page.reload()
    expect(page.locator("[data-amp-setup] .card-head").get_by_text("succeeded")).to_be_visible()
    expect(page.locator("[data-amp-tasks]").get_by_text("succeeded")).to_have_count(14)
    _shot(page, "3-setup-done")

    # The app, on its own host name: customers by risk; open one and change its contract.
    page.goto(f"http://churn.localhost:{port}/")
    expect(page.get_by_role("heading", name="Customers most likely to leave")).to_be_visible()
    _shot(page, "4-app-table")
    page.locator("[data-customer]").first.click()
    probability = page.locator("[data-probability]")
    before = probability.inner_text()
    contract = page.locator('select[name="Contract"]')
    current = contract.input_value()
    other = "Two year" if current != "Two year" else "Month-to-month"
    contract.select_option(other)
    # The app answers on a busy machine: allow it time.
    expect(page.locator("[data-whatif]")).to_have_attribute("data-rescored", "1", timeout=60_000)
    assert not problems, problems
    after = probability.inner_text()
    assert after != before, (before, after)
    _shot(page, "5-app-rescored")

    # The model's monitoring shows accuracy from the simulation's delayed ground truth.
    who = Principal(user=user, via="ui")
    model = next(
        m for m in models.list_models(live_platform, who, project_id)
        if m.name == "Customer churn model"
    )  # fmt: skip
    page.goto(f"{live_base}/projects/{project_id}/models/{model.id}/monitoring")
    expect(page.locator("#chart-accuracy")).to_have_count(1)
    _shot(page, "6-monitoring")
    context.close()
