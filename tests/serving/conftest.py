"""Fixtures for real model serving: the app (gateway included) on the real runtime, a scheduler
on the app's own platform, a project with model files.

Provides:
- ``serving_app`` / ``serving_client``: the ASGI app on the test runtime cache and a TestClient.
- ``serving_platform`` / ``serving_scheduler``: the app's Platform and a Scheduler on it (tests
  call ``tick``); every workload left running is stopped afterwards.
- ``modeler`` / ``modeler_principal`` / ``model_project``: a user and a project with model files.
- ``tick_until(predicate, timeout)``: ticks the scheduler until ``predicate()`` is truthy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.scheduler.conftest import RUNTIME_CACHE
from tests.workload_cleanup import stop_live_workloads

from lakeworks.config import Settings
from lakeworks.entities.projects import Project
from lakeworks.entities.users import User
from lakeworks.scheduler.loop import Scheduler
from lakeworks.services import projects, users
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.uow import Store

MODEL_FILES = {
    "predict.py": """
import os, time
import cdsw
from cml.models_v1 import cml_model

LOADED_AT = time.time()
print("model file loaded", flush=True)


def predict(args):
    if args.get("boom"):
        raise ValueError("boom: " + str(args["boom"]))
    if args.get("sleep"):
        time.sleep(float(args["sleep"]))
    if args.get("crash"):
        os._exit(7)
    return {
        "doubled": args["x"] * 2,
        "replica": os.environ["LAKEWORKS_REPLICA_ID"],
        "var": os.environ.get("MY_DEPLOY_VAR"),
    }


@cml_model(metrics=True)
def predict_tracked(args):
    cdsw.track_metric("input", args)
    return {"p": 0.25 * args["x"]}
""",
    "broken.py": "raise RuntimeError('this model file cannot load')\n",
    "cdsw-build.sh": "echo building the model environment\n",
    ".gitignore": "data/\n*.bin\n",
    "data/huge.csv": "a,b\n1,2\n",
    "weights.bin": "ignored",
}


@pytest.fixture
def serving_settings(settings: Settings) -> Settings:
    # A short queue wait, so "all replicas busy" answers 429 quickly.
    return settings.model_copy(update={"runtimes_dir": RUNTIME_CACHE, "model_queue_seconds": 0.5})


@pytest.fixture
def serving_app(serving_settings: Settings, store: Store) -> FastAPI:
    from lakeworks.app import create_app

    return create_app(serving_settings, store)


@pytest.fixture
def serving_platform(serving_app: FastAPI) -> Iterator[Platform]:
    platform: Platform = serving_app.state.platform
    yield platform
    stop_live_workloads(platform)


@pytest.fixture
def serving_client(serving_app: FastAPI, serving_platform: Platform) -> Iterator[TestClient]:
    with TestClient(serving_app) as client:
        yield client


@pytest.fixture
def serving_scheduler(serving_platform: Platform) -> Iterator[Scheduler]:
    sched = Scheduler(serving_platform)
    yield sched
    sched.stop()


@pytest.fixture
def modeler(serving_platform: Platform) -> User:
    return users.create_user(
        serving_platform,
        None,
        username="modeler",
        password="correct horse battery",
        email="modeler@example.org",
    )


@pytest.fixture
def modeler_principal(modeler: User) -> Principal:
    return Principal(user=modeler, via="api_key")


@pytest.fixture
def model_project(serving_platform: Platform, modeler_principal: Principal) -> Project:
    project = projects.create(
        serving_platform,
        modeler_principal,
        name="Churn models",
        source=projects.parse_source("", ""),
        environment={"MY_DEPLOY_VAR": "from-project"},
    )
    root = serving_platform.settings.projects_dir / project.id
    for name, text in MODEL_FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return project


@pytest.fixture
def tick_until(serving_scheduler: Scheduler) -> Callable[..., Any]:
    def wait(predicate: Callable[[], Any], timeout: float = 120.0, what: str = "") -> Any:
        deadline = time.monotonic() + timeout
        while True:
            serving_scheduler.tick(wait=True)
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or predicate}")
            time.sleep(0.1)

    return wait
