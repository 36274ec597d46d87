"""Security tests. Provides nothing new; keeps the ``fuzz`` tests (Schemathesis over the API,
minutes long) out of every run that does not ask for them with ``-m fuzz``."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "fuzz" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="API fuzzing runs on its own: pytest -m fuzz (see .ci/run)")
    for item in items:
        if "fuzz" in item.keywords:
            item.add_marker(skip)
