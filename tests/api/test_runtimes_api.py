"""Runtimes for site administrators (API, pages, CLI): states, building one ahead of its first
use with its log, removing one nobody uses; and the server building the default at start-up.

Builds here are real uv builds of a one-wheel lock (offline, a second or two)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.conftest import login
from tests.runtimes.shared import current_interpreter, make_wheel

from lakeworks.config import Settings
from lakeworks.entities.users import User
from lakeworks.runtimes.builder import runtime_python
from lakeworks.runtimes.catalog import Catalog
from lakeworks.runtimes.manager import RuntimeManager
from lakeworks.services.platform import Platform
from lakeworks.store.uow import Store

Headers = Callable[[User], dict[str, str]]


@pytest.fixture
def tiny_lock(tmp_path: Path) -> Path:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel = make_wheel(wheels, "lwtiny", "1.0", {"lwtiny/__init__.py": "print('lwtiny says hi')\n"})
    lock = tmp_path / "requirements.txt"
    lock.write_text(f"lwtiny @ {wheel.as_uri()}\n")
    return lock


@pytest.fixture
def python() -> str:
    return current_interpreter().python


@pytest.fixture
def manager(tmp_path: Path, tiny_lock: Path, python: str) -> RuntimeManager:
    """This host's interpreter only, building a tiny runtime with the real builder."""
    catalog = Catalog([current_interpreter()], default_python=python)
    return RuntimeManager(
        tmp_path / "runtimes", catalog=catalog, requirements=tiny_lock, imports=["lwtiny"]
    )


@pytest.fixture
def app_platform(app: FastAPI, manager: RuntimeManager) -> Platform:
    platform: Platform = app.state.platform
    platform.use_runtimes(manager)
    return platform


def wait_state(client: TestClient, headers: dict[str, str], python: str, want: str) -> Any:
    deadline = time.monotonic() + 60
    while True:
        rows = client.get("/api/v2/admin/runtimes", headers=headers).json()["runtimes"]
        row = next(r for r in rows if r["python_version"] == python)
        if row["state"] == want:
            return row
        assert time.monotonic() < deadline, row
        time.sleep(0.2)


def test_admins_see_every_runtime_build_one_ahead_and_read_its_log(
    client: TestClient,
    app_platform: Platform,
    admin: User,
    make_user: Callable[..., User],
    api_headers: Headers,
    python: str,
) -> None:
    headers = api_headers(admin)
    listed = client.get("/api/v2/admin/runtimes", headers=headers)
    assert listed.status_code == 200, listed.text
    row, lean = listed.json()["runtimes"]
    assert row["python_version"] == python and row["state"] == "not built"
    assert row["is_default"] is True and row["size_bytes"] is None
    assert (row["edition"], row["key"]) == ("Standard", python)
    # Every Python has a Lean edition too, built on its own (on first use, or here).
    assert (lean["python_version"], lean["edition"], lean["key"]) == (
        python,
        "Lean",
        f"{python}-lean",
    )
    assert lean["state"] == "not built" and lean["is_default"] is False
    assert lean["name"].startswith(f"python{python}-lean-")

    started = client.post(f"/api/v2/admin/runtimes/{python}/build", headers=headers)
    assert started.status_code == 200, started.text
    assert started.json()["state"] in ("building", "built")
    built = wait_state(client, headers, python, "built")
    assert built["size_bytes"] > 0 and built["built_at"]

    # Anyone signed in may follow a build (people whose workloads wait for it do).
    reader = api_headers(make_user("reader"))
    log = client.get(f"/api/v2/runtimes/builds/{python}/log", headers=reader)
    assert log.status_code == 200
    body = log.json()
    assert "lwtiny" in body["text"] and body["text"].endswith("The runtime is ready.\n")
    assert body["next_offset"] == len(body["text"].encode())
    rest = client.get(
        f"/api/v2/runtimes/builds/{python}/log",
        params={"offset": body["next_offset"]},
        headers=reader,
    ).json()
    assert rest["text"] == "" and rest["state"] == "built"

    with app_platform.read() as uow:
        actions = [event.action for event in uow.audit.query(action_prefix="runtime.")[0]]
    assert "runtime.build" in actions


def test_people_who_are_not_admins_cannot_manage_runtimes(
    client: TestClient, app_platform: Platform, make_user: Callable[..., User], api_headers: Headers
) -> None:
    headers = api_headers(make_user("alice"))
    assert client.get("/api/v2/admin/runtimes", headers=headers).status_code == 403
    python = app_platform.runtimes.default_python()
    assert client.post(f"/api/v2/admin/runtimes/{python}/build", headers=headers).status_code == 403
    assert client.delete("/api/v2/admin/runtimes/anything", headers=headers).status_code == 403
    assert app_platform.runtimes.state(python).state == "not built"


def test_bad_runtime_names_are_clear_errors(
    client: TestClient, app_platform: Platform, admin: User, api_headers: Headers
) -> None:
    headers = api_headers(admin)
    missing = client.post("/api/v2/admin/runtimes/3.99/build", headers=headers)
    assert missing.status_code == 404 and "3.99" in missing.json()["message"]
    python = app_platform.runtimes.default_python()
    edition = client.post(f"/api/v2/admin/runtimes/{python}-gpu/build", headers=headers)
    assert edition.status_code == 400 and "no edition 'gpu'" in edition.json()["message"]
    for bad in ("lean", "3.11-", "3.11-Lean-x", "python3.11"):
        answer = client.get(f"/api/v2/runtimes/builds/{bad}/log", headers=headers)
        assert answer.status_code == 400, (bad, answer.text)
    gone = client.delete("/api/v2/admin/runtimes/python3.11-notthere", headers=headers)
    assert gone.status_code == 404 and "notthere" in gone.json()["message"]
    # A path is not a runtime name: nothing outside the runtimes directory is touched.
    escape = client.delete("/api/v2/admin/runtimes/..", headers=headers)
    assert escape.status_code in (404, 405)


def test_a_runtime_in_use_is_kept_and_an_unused_one_removed(
    client: TestClient,
    app_platform: Platform,
    manager: RuntimeManager,
    admin: User,
    api_headers: Headers,
    python: str,
) -> None:
    headers = api_headers(admin)
    path = manager.wait(python, since=time.time(), timeout=120)
    user = subprocess.Popen([str(runtime_python(path)), "-c", "import time; time.sleep(60)"])
    try:
        refused = client.delete(f"/api/v2/admin/runtimes/{path.name}", headers=headers)
        assert refused.status_code == 409 and "in use" in refused.json()["message"]
        assert path.is_dir()
    finally:
        user.kill()
        user.wait()
    removed = client.delete(f"/api/v2/admin/runtimes/{path.name}", headers=headers)
    assert removed.status_code == 204, removed.text
    assert not path.exists()
    assert manager.state(python).state == "not built"


def test_the_runtimes_page_builds_and_shows_the_log(
    client: TestClient, app_platform: Platform, admin: User, python: str
) -> None:
    login(client, admin.username)
    page = client.get("/admin/runtimes")
    assert page.status_code == 200
    assert f'data-runtime="{python}"' in page.text and "not built" in page.text
    csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    built = client.post(
        f"/admin/runtimes/{python}/build", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert built.status_code == 303 and built.headers["location"] == f"/admin/runtimes/{python}/log"
    app_platform.runtimes.wait(python, since=time.time(), timeout=120)
    log_page = client.get(f"/admin/runtimes/{python}/log")
    assert "The runtime is ready." in log_page.text
    assert "badge-ok" in client.get("/admin/runtimes").text


def test_a_run_waiting_for_its_runtime_follows_the_build_log_on_its_page() -> None:
    from lakeworks.runtimes.manager import RuntimePreparing, preparing_python

    message = RuntimePreparing("3.9", Path("/x")).message
    assert message == "Preparing runtime Python 3.9 (first use, about 2 minutes)"
    assert preparing_python(message) == "3.9"
    lean = RuntimePreparing("3.11-lean", Path("/x")).message
    assert lean == "Preparing runtime Python 3.11 Lean (first use, about 2 minutes)"
    assert preparing_python(lean) == "3.11-lean"
    assert preparing_python("could not start: Python 3.9 is missing") is None


@pytest.fixture
def started_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"scheduler_enabled": True})


@pytest.fixture
def started_app(started_settings: Settings, store: Store, manager: RuntimeManager) -> FastAPI:
    from lakeworks.app import create_app

    app = create_app(started_settings, store)
    app.state.platform.use_runtimes(manager)
    return app


def test_the_server_builds_the_default_runtime_at_start_up(
    started_app: FastAPI, manager: RuntimeManager, python: str
) -> None:
    assert manager.state(python).state == "not built"
    began = time.monotonic()
    with TestClient(started_app):
        assert time.monotonic() - began < 5  # start-up does not wait for the build
        manager.wait(python, since=time.time(), timeout=120)
    assert manager.state(python).state == "built"


@pytest.fixture
def runtimes_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    yield {"LAKEWORKS_RUNTIMES_DIR": str(tmp_path / "cli-runtimes")}


def test_the_cli_lists_runtimes(runtimes_env: dict[str, str]) -> None:
    from lakeworks.cli.main import main

    result = CliRunner().invoke(main, ["runtimes", "list"], env=runtimes_env)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any("(default)" in line and "not built" in line for line in lines), result.output
    bad = CliRunner().invoke(main, ["runtimes", "build", "2.7"], env=runtimes_env)
    assert bad.exit_code != 0 and "2.7" in bad.output
