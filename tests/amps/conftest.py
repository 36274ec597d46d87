"""Fixtures for AMP setups with real workloads.

Provides (besides the serving fixtures re-exported from tests/serving/conftest.py):
- ``amp_repo(files)``: a git repository on disk holding ``files``; its path is a git URL.
- ``amp_tick(project_id, statuses)``: ticks the scheduler until the project's AMP setup
  reaches one of ``statuses``; returns the setup.
- ``live_base`` / ``live_platform``: Lakeworks served by uvicorn at ``http://localhost:<port>``
  with its own scheduler running, for AMPs whose workloads call the server (MLflow, the model
  gateway, API v2); every workload is stopped afterwards.
- ``wait_setup(platform, project_id, statuses)``: polls a setup the server's scheduler drives.

Tests marked ``slow`` (a whole AMP installed, 5-10 minutes on a busy machine) are skipped unless
selected with ``-m slow`` (``.ci/run`` runs them as a step of their own).
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from tests.scheduler.conftest import RUNTIME_CACHE
from tests.serving import conftest as serving
from tests.tracking.fixtures import drop_pg_schemas, tracking_settings
from tests.workload_cleanup import stop_live_workloads

from lakeworks.amps import runner
from lakeworks.config import Settings
from lakeworks.entities.amps import AmpSetup, SetupStatus
from lakeworks.scheduler.loop import Scheduler
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.uow import Store

# The serving fixtures (an app with the gateway on the test runtime cache, its scheduler).
modeler = serving.modeler
modeler_principal = serving.modeler_principal
serving_app = serving.serving_app
serving_client = serving.serving_client
serving_platform = serving.serving_platform
serving_scheduler = serving.serving_scheduler
serving_settings = serving.serving_settings


@pytest.fixture
def amp_repo(tmp_path: Path) -> Callable[[dict[str, str]], str]:
    def make(files: dict[str, str]) -> str:
        root = tmp_path / f"amp-{len(list(tmp_path.glob('amp-*')))}"
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        env = {
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.org",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.org",
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
        }
        for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "amp"]):
            subprocess.run(["git", *args], cwd=root, env=env, check=True)
        return str(root)

    return make


@pytest.fixture
def amp_tick(
    serving_scheduler: Scheduler, serving_platform: Platform, modeler_principal: Principal
) -> Callable[..., AmpSetup]:
    def wait(project_id: str, statuses: set[SetupStatus], timeout: float = 240.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            serving_scheduler.tick(wait=True)
            setup = runner.get(serving_platform, modeler_principal, project_id)
            if setup.status in statuses:
                return setup
            if time.monotonic() > deadline:
                states = [(t.title, t.status.value, t.reason) for t in setup.tasks]
                raise AssertionError(f"AMP setup stuck in {setup.status}: {states}")
            time.sleep(0.1)

    return wait


@pytest.fixture
def live_socket() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


@pytest.fixture(scope="session")
def _mlflow_schemas() -> Iterator[None]:
    yield
    drop_pg_schemas()


@pytest.fixture
def live_settings(
    settings: Settings,
    live_socket: socket.socket,
    tmp_path_factory: pytest.TempPathFactory,
    _mlflow_schemas: None,
) -> Settings:
    port = live_socket.getsockname()[1]
    # A migrated MLflow database (``lakeworks db upgrade`` does this on a real install).
    settings = tracking_settings(settings, tmp_path_factory.mktemp("mlflow-template"))
    return settings.model_copy(
        update={
            "runtimes_dir": RUNTIME_CACHE,
            # *.localhost resolves to the loopback in Chromium: apps by host name.
            "public_url": f"http://localhost:{port}",
            "port": port,
            "scheduler_enabled": True,
            "build_default_runtime": False,
            "app_start_timeout_seconds": 180.0,
        }
    )


@pytest.fixture
def live_app(live_settings: Settings, store: Store) -> FastAPI:
    from lakeworks.app import create_app

    return create_app(live_settings, store)


@pytest.fixture
def live_platform(live_app: FastAPI) -> Iterator[Platform]:
    platform: Platform = live_app.state.platform
    yield platform
    stop_live_workloads(platform)


@pytest.fixture
def live_base(
    live_app: FastAPI, live_platform: Platform, live_settings: Settings, live_socket: socket.socket
) -> Iterator[str]:
    config = uvicorn.Config(live_app, log_level="warning", ws="websockets")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [live_socket]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield live_settings.base_url
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def wait_setup(
    platform: Platform, project_id: str, statuses: set[SetupStatus], timeout: float
) -> AmpSetup:
    """Poll the setup the server's own scheduler drives until it reaches ``statuses``."""
    deadline = time.monotonic() + timeout
    while True:
        with platform.read() as uow:
            setup = uow.amps.get(project_id)
        assert setup is not None
        if setup.status in statuses:
            return setup
        if time.monotonic() > deadline:
            states = [(t.title, t.status.value, t.reason) for t in setup.tasks]
            raise AssertionError(f"AMP setup stuck in {setup.status}: {states}")
        time.sleep(1)
