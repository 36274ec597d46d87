"""The data connection pages: site-wide ones for site admins, a project's own on its settings
page (a table and a form); secrets are never rendered."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from tests.conftest import login

from lakeworks.entities.users import User
from lakeworks.services import projects
from lakeworks.services.platform import Platform, Principal


def test_site_admins_add_and_delete_site_connections(
    client: TestClient, make_user: Callable[..., User]
) -> None:
    make_user("root", is_admin=True)
    csrf = login(client, "root")
    page = client.get("/admin/data-connections")
    assert page.status_code == 200 and "Site-wide data connections" in page.text
    added = client.post(
        "/admin/data-connections",
        data={
            "csrf_token": csrf,
            "name": "warehouse_pg",
            "type": "postgresql",
            "options": '{"host": "db.example.org", "user": "etl"}',
            "secret": "hunter2-but-longer",
        },
    )
    assert added.status_code == 200
    assert "warehouse_pg" in added.text and "host=db.example.org" in added.text
    assert "hunter2-but-longer" not in added.text
    refused = client.post(
        "/admin/data-connections",
        data={"csrf_token": csrf, "name": "x", "type": "postgresql", "options": "[1]"},
    )
    assert "Options must be a JSON object" in refused.text
    gone = client.post("/admin/data-connections/warehouse_pg/delete", data={"csrf_token": csrf})
    assert "Data connection warehouse_pg deleted" in gone.text


def test_non_admins_cannot_open_the_site_page(
    client: TestClient, make_user: Callable[..., User]
) -> None:
    make_user("alice")
    login(client, "alice")
    assert client.get("/admin/data-connections").status_code == 403


def test_project_admins_manage_the_projects_connections_and_viewers_only_see_them(
    client: TestClient, platform: Platform, make_user: Callable[..., User]
) -> None:
    alice, _bob = make_user("alice"), make_user("bob")
    project = projects.create(
        platform,
        Principal(user=alice, via="cli"),
        name="Data",
        source=projects.parse_source("", ""),
    )
    projects.set_collaborator(platform, Principal(user=alice, via="cli"), project.id, "bob", "read")
    csrf = login(client, "alice")
    added = client.post(
        f"/projects/{project.id}/settings/connections",
        data={"csrf_token": csrf, "name": "scratch", "type": "duckdb", "options": ""},
    )
    assert added.status_code == 200 and "scratch" in added.text
    assert 'action="/projects/' in added.text and "Add connection" in added.text

    viewer = TestClient(client.app, base_url="http://testserver")
    login(viewer, "bob")
    page = viewer.get(f"/projects/{project.id}/settings")
    assert "scratch" in page.text and "Add connection" not in page.text
    csrf_bob = page.text.split('name="csrf-token" content="')[1].split('"')[0]
    refused = viewer.post(
        f"/projects/{project.id}/settings/connections",
        data={"csrf_token": csrf_bob, "name": "mine", "type": "duckdb"},
    )
    assert refused.status_code == 403
    viewer.close()
