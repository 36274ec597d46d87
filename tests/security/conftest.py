"""Security tests: each reproduces an attack from issue 12's review, which must now fail.

Provides:
- ``live_server`` and ``page`` (headless Chromium), from ``tests/ui/conftest.py``.
- ``console_errors(page)``: starts collecting a Playwright page's console errors and page
  errors (CSP violations show up there) and returns the list it fills.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import ConsoleMessage, Page
from tests.ui.conftest import live_server, page

__all__ = ["live_server", "page"]


@pytest.fixture
def console_errors() -> Callable[[Page], list[str]]:
    def collect(page: Page) -> list[str]:
        errors: list[str] = []

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                errors.append(message.text)

        page.on("console", on_console)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return errors

    return collect
