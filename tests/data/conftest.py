"""Fixtures for data tests: real jobs in the shared test runtime (see tests/scheduler)."""

import pytest
from tests.scheduler.conftest import (  # noqa: F401 (fixtures, re-exported)
    RUNTIME_CACHE,
    job_platform,
    owner,
    owner_principal,
    project,
    scheduler,
    wait_for,
)

from lakeworks.config import Settings


@pytest.fixture
def job_settings(settings: Settings) -> Settings:
    """The shared Spark metastore where a test starts it (``shared_metastore``)."""
    return settings.model_copy(update={"runtimes_dir": RUNTIME_CACHE, "spark_metastore": "shared"})
