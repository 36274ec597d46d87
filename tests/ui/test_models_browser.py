"""Models in a real browser, the issue's "done means": a person creates a model from
``predict`` in a project file with 2 replicas, waits for it to deploy, tests it on the Test
tab, copies the curl sample and runs it to get a prediction, then sees the request counted on
the monitoring page. The server is a real uvicorn with its scheduler thread; replicas are real
processes."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Page, expect
from tests.conftest import PASSWORD
from tests.scheduler.conftest import RUNTIME_CACHE  # at import: before HOME is patched
from tests.workload_cleanup import stop_live_workloads

from lakeworks.config import Settings
from lakeworks.entities.projects import Project
from lakeworks.services import projects, users
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.uow import Store

pytestmark = [pytest.mark.browser, pytest.mark.timeout(400)]

PREDICT = """
import os
from cml.models_v1 import cml_model


@cml_model(metrics=True)
def predict(args):
    return {"churn": args["tenure"] < 12, "replica": os.environ["LAKEWORKS_REPLICA_ID"]}
"""


@pytest.fixture
def server_socket() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


@pytest.fixture
def lw_app(settings: Settings, store: Store, server_socket: socket.socket) -> Iterator[FastAPI]:
    from lakeworks.app import create_app

    port = server_socket.getsockname()[1]
    app = create_app(
        settings.model_copy(
            update={
                "runtimes_dir": RUNTIME_CACHE,
                "public_url": f"http://localhost:{port}",
                "scheduler_enabled": True,
                "scheduler_tick_seconds": 0.5,
            }
        ),
        store,
    )
    yield app
    platform: Platform = app.state.platform
    stop_live_workloads(platform)


@pytest.fixture
def server(lw_app: FastAPI, server_socket: socket.socket) -> Iterator[str]:
    port = server_socket.getsockname()[1]
    config = uvicorn.Config(lw_app, host="127.0.0.1", port=port, log_level="warning", ws="none")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [server_socket]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://localhost:{port}"
    finally:
        uv.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
def churn_project(lw_app: FastAPI) -> Project:
    platform: Platform = lw_app.state.platform
    owner = users.create_user(
        platform, None, username="dana", password=PASSWORD, email="dana@example.org"
    )
    project = projects.create(
        platform,
        Principal(user=owner, via="cli"),
        name="Churn",
        source=projects.parse_source("", ""),
    )
    (platform.settings.projects_dir / project.id / "predict.py").write_text(PREDICT)
    return project


def test_deploy_test_curl_and_monitor_a_model(
    server: str, page: Page, churn_project: Project
) -> None:
    page.goto(f"{server}/login")
    page.fill("input[name=username]", "dana")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{server}/projects/{churn_project.id}/models")
    page.click("text=New model")
    page.fill("input[name=name]", "Churn predictor")
    page.fill("input[name=file_path]", "predict.py")
    page.fill("input[name=function_name]", "predict")
    page.fill("textarea[name=example]", '{"tenure": 3}')
    page.fill("input[name=replicas]", "2")
    page.fill("input[name=cpu]", "0.5")
    page.fill("input[name=memory_gb]", "1")
    page.uncheck("input[name=auth_enabled]")
    page.click("button:has-text('Build and deploy')")

    expect(page.locator("[data-deployment-status]")).to_contain_text("deployed", timeout=180_000)
    expect(page.locator("[data-replicas] tbody tr")).to_have_count(2)
    expect(page.locator("[data-replicas]")).not_to_contain_text("starting")

    # The Test tab, pre-filled with the build's example.
    expect(page.locator("[data-test-input]")).to_have_value('{\n  "tenure": 3\n}')
    page.click("[data-test-submit]")
    expect(page.locator("[data-test-status]")).to_contain_text("HTTP 200")
    output = json.loads(page.locator("[data-test-output]").inner_text())
    assert output["success"] is True
    assert output["response"]["prediction"]["churn"] is True

    # The curl sample, as shown, gives a prediction.
    curl = page.locator("[data-sample-curl]").inner_text()
    assert server + "/model" in curl
    done = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=60)
    answer = json.loads(done.stdout)
    assert answer["success"] is True and answer["response"]["prediction"]["churn"] is True

    # With authentication on, the sample says where to get an API key; with one pasted where
    # it says, it works from outside (no CDSW_APIV2_KEY, which only workloads have).
    model_page = page.url
    page.check("[data-autosubmit-auth]")
    page.click("[data-auth-form] button[type=submit]")
    expect(page.locator("[data-api-key-help]")).to_be_visible()
    page.click("[data-create-key]")
    page.fill("input[name=name]", "laptop")
    page.click("button:has-text('Create key')")
    api_key = page.locator("[data-secret]").inner_text().strip()
    page.goto(model_page)
    curl = page.locator("[data-sample-curl]").inner_text()
    assert "CDSW_APIV2_KEY" not in curl
    refused = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=60)
    assert json.loads(refused.stdout)["success"] is False  # the placeholder is no key
    curl = curl.replace("paste-an-API-key-here", api_key)
    done = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=60)
    answer = json.loads(done.stdout)
    assert answer["success"] is True and answer["response"]["prediction"]["churn"] is True

    # The requests show on the monitoring page (written in batches, off the request path).
    page.click("[data-monitoring-link]")
    deadline = time.monotonic() + 30
    while True:
        count = page.locator("[data-stat=requests]").inner_text().strip()
        if count.isdigit() and int(count) >= 2:
            break
        assert time.monotonic() < deadline, f"monitoring shows {count!r} requests"
        time.sleep(1)
        page.reload()
