"""The project tab bar at a laptop's width: every tab shows, none hidden past the edge."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page

from lakeworks.entities.users import User
from lakeworks.services import projects
from lakeworks.services.platform import Platform, Principal

from .test_ui_browser import sign_in

pytestmark = pytest.mark.browser


def test_every_project_tab_shows_at_1280_px(
    page: Page, live_server: str, platform: Platform, make_user: Callable[..., User]
) -> None:
    alice = make_user("alice")
    project = projects.create(
        platform,
        Principal(user=alice, via="cli"),
        name="Customer churn prediction",
        source=projects.parse_source("", ""),
        description="Predicts which customers leave, from a year of usage.",
    )
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in(page, live_server, "alice")
    page.goto(f"{live_server}/projects/{project.id}", timeout=120_000)
    nav = page.get_by_role("navigation", name="Project")
    overflow = nav.evaluate("n => n.scrollWidth - n.clientWidth")
    box = nav.bounding_box()
    assert box is not None
    tabs = nav.get_by_role("link").all()
    assert len(tabs) == 11
    for tab in tabs:
        tab_box = tab.bounding_box()
        assert tab_box is not None
        inside = (
            box["x"] <= tab_box["x"] and tab_box["x"] + tab_box["width"] <= box["x"] + box["width"]
        )
        assert inside, f"{tab.text_content()} is cut off"
    assert overflow <= 0  # nothing scrolled out of sight
