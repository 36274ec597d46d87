"""Fixtures for the embedded MLflow tests.

Provides:
- ``settings``: the shared settings plus a clean, migrated MLflow database;
- ``server``: a real ``lakeworks`` HTTP server (uvicorn in a thread) on a free port, for the
  real ``mlflow`` client; ``server.url`` is its base URL;
- ``mlflow_env(key)``: points the mlflow client of this process at ``server`` with ``key``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from tests.tracking.fixtures import drop_pg_schemas, tracking_settings
from tests.tracking.live import LiveServer, live_server

from lakeworks.config import Settings


@pytest.fixture(scope="session", autouse=True)
def _drop_mlflow_schemas() -> Iterator[None]:
    yield
    drop_pg_schemas()


@pytest.fixture
def settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return tracking_settings(settings, tmp_path_factory.mktemp("mlflow-template"))


@pytest.fixture
def server(settings: Settings, store: object) -> Iterator[LiveServer]:
    with live_server(settings, store) as running:
        yield running


@pytest.fixture
def mlflow_env(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    import mlflow

    def use(key: str) -> None:
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", key)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"{server.url}/mlflow")
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        mlflow.set_tracking_uri(f"{server.url}/mlflow")
        mlflow.set_registry_uri(f"{server.url}/mlflow")

    yield use
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)
    if mlflow.active_run():
        mlflow.end_run()
