"""Provides ``runtime``: a runtime built for the test interpreter (built once, cached).

Tests that use it get a long timeout while the cache is cold (see ``shared``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runtimes.shared import build_test_runtime, give_cold_builds_time


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    give_cold_builds_time(items)


@pytest.fixture(scope="session")
def runtime() -> Path:
    return build_test_runtime()
