"""Fixtures for data tests: real jobs in the shared test runtime (see tests/scheduler)."""

from tests.scheduler.conftest import (  # noqa: F401 (fixtures, re-exported)
    job_platform,
    job_settings,
    owner,
    owner_principal,
    project,
    scheduler,
    wait_for,
)
