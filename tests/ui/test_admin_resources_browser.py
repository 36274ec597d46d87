"""Site administration → Resources in a real browser: add a resource profile, give a user
their own quota, put them back on the default."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from conftest import PASSWORD
from lakeworks.entities.users import User
from lakeworks.services.platform import Platform

pytestmark = pytest.mark.browser


def test_admin_sets_profiles_and_quotas(
    page: Page,
    live_server: str,
    platform: Platform,
    admin: User,
    make_user: Callable[..., User],
) -> None:
    alice = make_user("alice")
    page.goto(f"{live_server}/login")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server}/admin")
    page.get_by_role("link", name="Resources").click()
    expect(page).to_have_url(f"{live_server}/admin/resources")

    profiles = page.locator("[data-profiles]")
    profiles.get_by_label("Name").fill("GPU-less large")
    profiles.get_by_label("vCPU").fill("8")
    profiles.get_by_label("Memory (GiB)").fill("32")
    profiles.get_by_role("button", name="Add profile").click()
    expect(page.get_by_text("Resource profile GPU-less large added.")).to_be_visible()
    row = page.locator('[data-profile="GPU-less large"]')
    expect(row).to_contain_text("32 GiB")

    quota = page.locator('[data-quota="alice"]')
    expect(quota.locator("[data-quota-value]")).to_contain_text("default")
    quota.get_by_label("vCPU for alice").fill("2")
    quota.get_by_label("Memory (GiB) for alice").fill("6")
    quota.get_by_role("button", name="Save").click()
    expect(page.get_by_text("alice's quota is 2 vCPU / 6 GiB.")).to_be_visible()
    value = page.locator('[data-quota="alice"] [data-quota-value]')
    expect(value).to_contain_text("2 vCPU / 6 GiB")
    expect(value).to_contain_text("own")
    with platform.read() as uow:
        assert uow.workloads.quota(alice.id) == (2.0, 6144)

    page.locator('[data-quota="alice"]').get_by_role("button", name="Use default").click()
    expect(page.get_by_text("alice is on the default quota.")).to_be_visible()
    expect(page.locator('[data-quota="alice"] [data-quota-value]')).to_contain_text("default")

    row = page.locator('[data-profile="GPU-less large"]')
    row.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("Resource profile deleted.")).to_be_visible()
    expect(page.locator('[data-profile="GPU-less large"]')).to_have_count(0)
