"""Applications pages without starting workloads: empty states, the form's refusals, who sees
the buttons (pages with running apps are covered by test_applications_browser)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from conftest import login
from lakeworks.config import Settings
from lakeworks.entities.projects import Project
from lakeworks.entities.users import User
from lakeworks.services import projects
from lakeworks.services.platform import Platform, Principal


@pytest.fixture
def alice(make_user: Callable[..., User]) -> User:
    return make_user("alice")


@pytest.fixture
def project(platform: Platform, settings: Settings, alice: User) -> Project:
    created = projects.create(
        platform,
        Principal(user=alice, via="cli"),
        name="Dashboards",
        source=projects.parse_source("blank", ""),
    )
    (settings.projects_dir / created.id / "app.py").write_text("print('app')\n")
    return created


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found.group(1)


def test_empty_states_and_navigation(client: TestClient, alice: User, project: Project) -> None:
    login(client, "alice")
    everywhere = client.get("/applications")
    assert everywhere.status_code == 200
    assert "No applications yet" in everywhere.text
    assert "arrive in a later release" not in everywhere.text
    page = client.get(f"/projects/{project.id}/applications")
    assert "No applications yet" in page.text
    assert f'href="/projects/{project.id}/applications/new"' in page.text
    assert 'class="tab active" aria-current="page">Applications' in page.text


@pytest.mark.parametrize(
    ("subdomain", "script", "message"),
    [
        ("Bad_Name", "app.py", "must be lowercase"),
        ("modelservice", "app.py", "reserved"),
        ("good", "missing.py", "does not exist"),
    ],
)
def test_the_form_says_what_is_wrong_and_keeps_the_input(
    client: TestClient, alice: User, project: Project, subdomain: str, script: str, message: str
) -> None:
    login(client, "alice")
    form = client.get(f"/projects/{project.id}/applications/new")
    response = client.post(
        f"/projects/{project.id}/applications/new",
        data={
            "csrf_token": csrf(form.text),
            "name": "Dash",
            "subdomain": subdomain,
            "script": script,
            "cpu": "1",
            "memory_gb": "1",
            "env_name": ["MODE"],
            "env_value": ["demo"],
        },
    )
    assert response.status_code == 400
    assert message in response.text
    assert f'value="{subdomain}"' in response.text and 'value="MODE"' in response.text
    listed = client.get(f"/projects/{project.id}/applications")
    assert "No applications yet" in listed.text


def test_viewers_see_no_create_button(
    client: TestClient,
    platform: Platform,
    alice: User,
    project: Project,
    make_user: Callable[..., User],
) -> None:
    make_user("vera")
    projects.set_collaborator(
        platform, Principal(user=alice, via="cli"), project.id, "vera", "viewer"
    )
    login(client, "vera")
    page = client.get(f"/projects/{project.id}/applications")
    assert page.status_code == 200
    assert "/applications/new" not in page.text
    form = client.get(f"/projects/{project.id}/applications/new")
    refused = client.post(
        f"/projects/{project.id}/applications/new",
        data={"csrf_token": csrf(form.text), "name": "X", "subdomain": "x", "script": "app.py"},
    )
    assert refused.status_code == 403
