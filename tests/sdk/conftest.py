"""Fixtures for the ``cmlapi`` client against a real server over HTTP.

Provides:
- ``cmlapi``: the client package (``lakeworks.sdk.load()``), imported under its own name.
- ``sdk_server``: a live Lakeworks server (uvicorn in a thread) on the shared test runtime
  cache, with a migrated MLflow database; every workload left running is stopped afterwards.
- ``sdk_platform``: its Platform. ``tick_until(predicate, what)``: ticks a scheduler on it
  until ``predicate()`` returns something truthy, and returns that.
- ``alice`` / ``bob``: users; ``alice_api`` / ``bob_api``: ``cmlapi.default_client(url, key)``
  with a fresh API key of each.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from tests.scheduler.conftest import RUNTIME_CACHE
from tests.tracking.fixtures import drop_pg_schemas, tracking_settings
from tests.tracking.live import LiveServer, live_server
from tests.workload_cleanup import stop_live_workloads

from lakeworks.config import Settings
from lakeworks.entities.users import User
from lakeworks.scheduler.loop import Scheduler
from lakeworks.sdk import load
from lakeworks.services import auth
from lakeworks.services.platform import Platform, Principal


@pytest.fixture
def cmlapi() -> ModuleType:
    return load()


@pytest.fixture(scope="session", autouse=True)
def _drop_mlflow_schemas() -> Iterator[None]:
    yield
    drop_pg_schemas()


@pytest.fixture
def sdk_server(
    settings: Settings, store: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    # A migrated MLflow database too: the experiment and registry calls reach it.
    settings = tracking_settings(settings, tmp_path_factory.mktemp("mlflow-template"))
    with live_server(settings.model_copy(update={"runtimes_dir": RUNTIME_CACHE}), store) as srv:
        try:
            yield srv
        finally:
            stop_live_workloads(srv.platform)


@pytest.fixture
def sdk_platform(sdk_server: LiveServer) -> Platform:
    platform: Platform = sdk_server.platform
    return platform


@pytest.fixture
def tick_until(sdk_platform: Platform) -> Iterator[Callable[..., Any]]:
    scheduler = Scheduler(sdk_platform)

    def tick(predicate: Callable[[], Any], what: str, timeout: float = 300) -> Any:
        deadline = time.monotonic() + timeout
        while not (found := predicate()):
            assert time.monotonic() < deadline, f"gave up waiting for {what}"
            scheduler.tick(wait=True)
            time.sleep(0.2)
        return found

    yield tick
    scheduler.stop()


def _user(platform: Platform, name: str) -> User:
    from lakeworks.services import users

    return users.create_user(
        platform,
        None,
        username=name,
        password="correct horse battery",
        name=name.title(),
        email=f"{name}@example.org",
    )


def _client(cmlapi: ModuleType, server: LiveServer, user: User) -> Any:
    key = auth.create_api_key(server.platform, Principal(user=user, via="cli"), user.username)
    return cmlapi.default_client(server.url, key.secret)


@pytest.fixture
def alice(sdk_platform: Platform) -> User:
    return _user(sdk_platform, "alice")


@pytest.fixture
def bob(sdk_platform: Platform) -> User:
    return _user(sdk_platform, "bob")


@pytest.fixture
def alice_api(cmlapi: ModuleType, sdk_server: LiveServer, alice: User) -> Any:
    return _client(cmlapi, sdk_server, alice)


@pytest.fixture
def bob_api(cmlapi: ModuleType, sdk_server: LiveServer, bob: User) -> Any:
    return _client(cmlapi, sdk_server, bob)
