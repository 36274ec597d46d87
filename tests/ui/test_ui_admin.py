"""Site administration pages: users, teams and the audit log; closed to everyone else."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from conftest import PASSWORD, login
from lakeworks.entities.users import User
from lakeworks.services import users
from lakeworks.services.platform import Platform, Principal


def test_admin_pages_are_forbidden_to_other_users(
    client: TestClient, admin: User, make_user: Callable[..., User]
) -> None:
    make_user("alice")
    token = login(client, "alice")
    assert "Site administration" not in client.get("/projects").text
    for path in ("/admin/audit", "/admin/users", "/admin/teams", "/admin/resources"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "Only site administrators" in response.text
    response = client.post(
        "/admin/users", data={"csrf_token": token, "username": "eve", "password": PASSWORD}
    )
    assert response.status_code == 403
    refused = client.post(
        "/admin/resources/quotas/alice", data={"csrf_token": token, "cpu": 64, "memory_gb": 512}
    )
    assert refused.status_code == 403


def test_resource_profiles_and_quotas(
    client: TestClient, platform: Platform, admin: User, make_user: Callable[..., User]
) -> None:
    alice = make_user("alice")
    token = login(client, "root")
    page = client.get("/admin/resources").text
    assert 'data-quota="alice"' in page and "badge-muted" in page  # alice on the default

    bad = client.post(
        "/admin/resources/profiles",
        data={"csrf_token": token, "name": "Broken", "cpu": 0, "memory_gb": 2},
    )
    assert bad.status_code == 400 and "must be positive" in bad.text
    assert 'value="Broken"' in bad.text  # the form keeps what was typed
    added = client.post(
        "/admin/resources/profiles",
        data={"csrf_token": token, "name": "Large", "cpu": 8, "memory_gb": 32},
    )
    assert added.status_code == 200 and 'data-profile="Large"' in added.text
    assert "32 GiB" in added.text

    client.post(
        "/admin/resources/quotas/alice", data={"csrf_token": token, "cpu": 2, "memory_gb": 4}
    )
    with platform.read() as uow:
        assert uow.workloads.quota(alice.id) == (2.0, 4096)
    client.post("/admin/resources/quotas/alice", data={"csrf_token": token, "use_default": "true"})
    with platform.read() as uow:
        assert uow.workloads.quota(alice.id) is None
    missing = client.post(
        "/admin/resources/quotas/nobody", data={"csrf_token": token, "cpu": 2, "memory_gb": 4}
    )
    assert missing.status_code == 404
    log = client.get("/admin/audit", params={"action": "user.quota"}).text
    assert "user.quota_clear" in log


def test_audit_log_filters_and_pages(client: TestClient, platform: Platform, admin: User) -> None:
    for n in range(50):  # cheap audited actions (users would cost an argon2 hash each)
        users.create_team(platform, None, f"team{n:02d}")
    login(client, "root")
    page = client.get("/admin/audit").text
    assert "52 events" in page  # root created, 50 teams, root signed in
    assert "Page 1" in page and "page=2" in page
    page = client.get("/admin/audit", params={"page": 2}).text
    assert "Page 2" in page
    page = client.get("/admin/audit", params={"action": "user.login"}).text
    assert "1 event<" in page
    assert re.search(r">root</a>", page)
    page = client.get("/admin/audit", params={"actor": "nobody"}).text
    assert "No events match" in page


def test_audit_log_shows_refusals(
    client: TestClient, admin: User, make_user: Callable[..., User]
) -> None:
    alice = make_user("alice")
    token = login(client, "alice")
    client.post("/admin/users", data={"csrf_token": token, "username": "eve", "password": "x"})
    login(client, "root")
    page = client.get("/admin/audit", params={"actor": alice.username}).text
    assert "user.create" in page and "denied" in page
    assert "Only site administrators can do this." in page


def test_create_and_update_users(client: TestClient, platform: Platform, admin: User) -> None:
    token = login(client, "root")
    response = client.post(
        "/admin/users",
        data={
            "csrf_token": token,
            "username": "Bad Name",
            "name": "Kept",
            "password": PASSWORD,
        },
    )
    assert response.status_code == 400
    assert "is not a valid username" in response.text
    assert 'value="Kept"' in response.text
    response = client.post(
        "/admin/users",
        data={
            "csrf_token": token,
            "username": "carol",
            "name": "Carol",
            "email": "carol@example.org",
            "password": PASSWORD,
        },
    )
    assert "User carol created." in response.text
    client.post("/admin/users/carol", data={"csrf_token": token, "is_admin": "true"})
    assert users.get_user(platform, Principal(admin, "cli"), "carol").is_admin
    response = client.post("/admin/users/carol", data={"csrf_token": token, "is_active": "false"})
    assert "carol is deactivated." in response.text
    assert not users.get_user(platform, Principal(admin, "cli"), "carol").is_active
    response = client.post("/admin/users/root", data={"csrf_token": token, "is_admin": "false"})
    assert response.status_code == 409
    assert "last site administrator" in response.text


def test_teams(client: TestClient, admin: User, make_user: Callable[..., User]) -> None:
    make_user("bob")
    token = login(client, "root")
    response = client.post(
        "/admin/teams", data={"csrf_token": token, "name": "ds", "description": "Data science"}
    )
    assert response.url.path == "/admin/teams/ds"
    assert "No members yet" in response.text
    response = client.post(
        "/admin/teams/ds/members", data={"csrf_token": token, "username": "ghost"}
    )
    assert response.status_code == 404
    assert "User &#39;ghost&#39; not found." in response.text
    response = client.post(
        "/admin/teams/ds/members",
        data={"csrf_token": token, "username": "bob", "role": "viewer"},
    )
    assert "bob is a viewer of team ds." in response.text
    assert "Bob" in response.text
    response = client.post(
        "/admin/teams/ds/members/remove", data={"csrf_token": token, "username": "bob"}
    )
    assert "bob left team ds." in response.text
    response = client.post("/admin/teams/ds/delete", data={"csrf_token": token})
    assert response.url.path == "/admin/teams"
    assert "No teams yet" in response.text
