"""/api/v2/projects/{id}/applications against real application workloads."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.conftest import PASSWORD
from tests.proxy import fixtures

from lakeworks.config import Settings
from lakeworks.entities.applications import Application, AppStatus
from lakeworks.entities.projects import Project
from lakeworks.services import auth, projects, users
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.uow import Store

# Fixtures shared by the application tests (see tests/proxy/fixtures.py).
app_owner = fixtures.app_owner
app_principal = fixtures.app_principal
app_project = fixtures.app_project
app_scheduler = fixtures.app_scheduler
app_settings = fixtures.app_settings
wait_app = fixtures.wait_app


Wait = Callable[..., Application]


@pytest.fixture
def lw_app(app_settings: Settings, store: Store) -> FastAPI:
    from lakeworks.app import create_app

    return create_app(app_settings, store)


@pytest.fixture
def app_platform(lw_app: FastAPI) -> Iterator[Platform]:
    platform: Platform = lw_app.state.platform
    yield platform
    fixtures.stop_everything(platform)


@pytest.fixture
def api(lw_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(lw_app, base_url="http://testserver") as client:
        yield client


def key_for(platform: Platform, principal: Principal) -> dict[str, str]:
    new = auth.create_api_key(platform, principal, principal.user.username)
    return {"Authorization": f"Bearer {new.secret}"}


@pytest.fixture
def owner_headers(app_platform: Platform, app_principal: Principal) -> dict[str, str]:
    return key_for(app_platform, app_principal)


def base(project: Project) -> str:
    return f"/api/v2/projects/{project.id}/applications"


def test_create_starts_the_app_and_returns_cml_fields(
    api: TestClient,
    owner_headers: dict[str, str],
    app_project: Project,
    wait_app: Wait,
) -> None:
    body = {
        "project_id": app_project.id,
        "name": "Web",
        "description": "A dashboard",
        "subdomain": "web",
        "script": "web.py",
        "kernel": "python3",
        "cpu": "1",
        "memory": "0.5",
        "environment": json.dumps({"GREETING": "hello", "N": 3}),
        "bypass_authentication": "false",
        "runtime_addon_identifiers": [],
        "cdv_app": False,  # unknown or unsupported keys are ignored
    }
    created = api.post(base(app_project), json=body, headers=owner_headers)
    assert created.status_code == 200, created.text
    app = created.json()
    assert app["status"] == "APPLICATION_STARTING"
    assert app["subdomain"] == "web" and app["script"] == "web.py"
    assert app["cpu"] == 1.0 and app["memory"] == 0.5
    assert json.loads(app["environment"]) == {"GREETING": "hello", "N": "3"}
    assert app["bypass_authentication"] is False
    assert app["creator"]["username"] == "owner"
    assert app["url"] == "http://web.testserver/"
    assert app["path_url"] == "http://testserver/apps/web/"
    running = wait_app(app["id"], {AppStatus.RUNNING, AppStatus.FAILED})
    assert running.status is AppStatus.RUNNING, running.reason

    listed = api.get(
        base(app_project),
        params={"search_filter": json.dumps({"status": "running"})},
        headers=owner_headers,
    ).json()
    assert [a["id"] for a in listed["applications"]] == [app["id"]]
    assert listed["next_page_token"] == ""
    assert (
        api.get(
            base(app_project),
            params={"searchFilter": json.dumps({"status": "stopped"})},
            headers=owner_headers,
        ).json()["applications"]
        == []
    )
    logs = api.get(f"{base(app_project)}/{app['id']}/logs", headers=owner_headers).json()
    assert "serving on" in logs["text"]

    first_engine = api.get(f"{base(app_project)}/{app['id']}", headers=owner_headers).json()[
        "engine_id"
    ]
    restarted = api.post(f"{base(app_project)}/{app['id']}:restart", headers=owner_headers)
    assert restarted.status_code == 200 and restarted.json()["id"] == app["id"]
    again = wait_app(app["id"], {AppStatus.RUNNING, AppStatus.FAILED})
    assert again.workload_id != first_engine

    stopped = api.post(f"{base(app_project)}/{app['id']}:stop", headers=owner_headers)
    assert stopped.status_code == 200
    assert stopped.json()["status"] in ("APPLICATION_STOPPING", "APPLICATION_STOPPED")
    wait_app(app["id"], {AppStatus.STOPPED})


def test_update_accepts_a_whole_fetched_application(
    api: TestClient, owner_headers: dict[str, str], app_project: Project, wait_app: Wait
) -> None:
    app = api.post(
        base(app_project),
        json={"name": "Slow", "subdomain": "slow", "script": "never_binds.py"},
        headers=owner_headers,
    ).json()
    fetched = api.get(f"{base(app_project)}/{app['id']}", headers=owner_headers).json()
    fetched["description"] = "changed"
    fetched["bypass_authentication"] = "True"
    updated = api.patch(f"{base(app_project)}/{app['id']}", json=fetched, headers=owner_headers)
    assert updated.status_code == 200, updated.text
    assert updated.json()["description"] == "changed"
    assert updated.json()["bypass_authentication"] is True
    assert updated.json()["subdomain"] == "slow"
    api.post(f"{base(app_project)}/{app['id']}:stop", headers=owner_headers)
    wait_app(app["id"], {AppStatus.STOPPED})
    assert api.delete(f"{base(app_project)}/{app['id']}", headers=owner_headers).json() == {}
    assert api.get(f"{base(app_project)}/{app['id']}", headers=owner_headers).status_code == 404


def test_subdomain_clash_is_409_and_invalid_subdomain_is_400(
    api: TestClient, owner_headers: dict[str, str], app_project: Project, wait_app: Wait
) -> None:
    first = api.post(
        base(app_project),
        json={"name": "A", "subdomain": "taken", "script": "never_binds.py"},
        headers=owner_headers,
    )
    assert first.status_code == 200
    clash = api.post(
        base(app_project),
        json={"name": "B", "subdomain": "taken", "script": "web.py"},
        headers=owner_headers,
    )
    assert clash.status_code == 409
    assert "already used" in clash.json()["message"]
    for bad, message in [
        ("Has_Caps", "lowercase"),
        ("no_underscores", "not a DNS label"),
        ("modelservice", "reserved"),
    ]:
        refused = api.post(
            base(app_project),
            json={"name": "C", "subdomain": bad, "script": "web.py"},
            headers=owner_headers,
        )
        assert refused.status_code == 400, bad
        assert message in refused.json()["message"]
    missing = api.post(
        base(app_project), json={"name": "D", "script": "web.py"}, headers=owner_headers
    )
    assert missing.status_code == 400
    # More than the creator's quota: 429 saying so, and nothing recorded.
    huge = api.post(
        base(app_project),
        json={"name": "E", "subdomain": "huge", "script": "web.py", "cpu": 500},
        headers=owner_headers,
    )
    assert huge.status_code == 429, huge.text
    assert "This application needs 500 vCPU" in huge.json()["message"]
    listed = api.get(base(app_project), headers=owner_headers).json()["applications"]
    assert "huge" not in [a["subdomain"] for a in listed]
    api.post(f"{base(app_project)}/{first.json()['id']}:stop", headers=owner_headers)
    wait_app(first.json()["id"], {AppStatus.STOPPED})


def test_other_projects_users_cannot_see_or_touch_apps(
    api: TestClient,
    app_platform: Platform,
    owner_headers: dict[str, str],
    app_principal: Principal,
    app_project: Project,
    wait_app: Wait,
) -> None:
    app = api.post(
        base(app_project),
        json={"name": "A", "subdomain": "private-app", "script": "never_binds.py"},
        headers=owner_headers,
    ).json()
    bob = users.create_user(
        app_platform, None, username="bob", password=PASSWORD, email="bob@example.org"
    )
    bob_headers = key_for(app_platform, Principal(user=bob, via="api_key"))
    assert api.get(base(app_project), headers=bob_headers).status_code == 404
    assert api.post(f"{base(app_project)}/{app['id']}:stop", headers=bob_headers).status_code == (
        404
    )
    projects.set_collaborator(app_platform, app_principal, app_project.id, "bob", "viewer")
    assert api.get(base(app_project), headers=bob_headers).status_code == 200
    refused: Any = api.post(
        base(app_project),
        json={"name": "B", "subdomain": "bobs", "script": "web.py"},
        headers=bob_headers,
    )
    assert refused.status_code == 403
    assert api.post(f"{base(app_project)}/{app['id']}:stop", headers=bob_headers).status_code == (
        403
    )
    api.post(f"{base(app_project)}/{app['id']}:stop", headers=owner_headers)
    wait_app(app["id"], {AppStatus.STOPPED})


def test_bad_list_parameters_and_verbs(
    api: TestClient, owner_headers: dict[str, str], app_project: Project
) -> None:
    unknown = api.get(
        base(app_project), params={"search_filter": '{"color": "red"}'}, headers=owner_headers
    )
    assert unknown.status_code == 400
    status = api.get(
        base(app_project), params={"search_filter": '{"status": "sleepy"}'}, headers=owner_headers
    )
    assert status.status_code == 400 and "not an application status" in status.json()["message"]
    verb = api.post(f"{base(app_project)}/nope:explode", headers=owner_headers)
    assert verb.status_code == 400
    assert api.get(f"{base(app_project)}/nope", headers=owner_headers).status_code == 404


def test_an_app_that_exits_at_once_reports_why(
    api: TestClient, owner_headers: dict[str, str], app_project: Project, wait_app: Wait
) -> None:
    app = api.post(
        base(app_project),
        json={"name": "Broken", "subdomain": "broken", "script": "exit_now.py"},
        headers=owner_headers,
    ).json()
    wait_app(app["id"], {AppStatus.FAILED, AppStatus.RUNNING})
    deadline = time.monotonic() + 10
    fetched = api.get(f"{base(app_project)}/{app['id']}", headers=owner_headers).json()
    while fetched["status"] != "APPLICATION_FAILED" and time.monotonic() < deadline:
        fetched = api.get(f"{base(app_project)}/{app['id']}", headers=owner_headers).json()
    assert fetched["status"] == "APPLICATION_FAILED"
    assert "missing configuration" in fetched["status_message"]
