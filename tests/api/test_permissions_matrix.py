"""Every project route x every role: what is allowed, refused (403) or hidden (404).

The expected table below is written out by hand from CML's role definitions, independently of
``services.permissions.MINIMUM_ROLE``, so a change to the rules shows up here as a failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lakeworks.entities.users import User
from lakeworks.services import projects
from lakeworks.services.platform import Platform, Principal

ROLES = [
    "site_admin",
    "owner",
    "admin",
    "contributor",
    "operator",
    "viewer",
    "team_viewer",
    "outsider",
]

# Minimum role per kind of route; "owner" means owner or project admin (CML: admins may delete).
READ, WRITE, ADMIN = "viewer", "contributor", "admin"
RANK = {
    "outsider": -1,
    "viewer": 0,
    "team_viewer": 0,
    "operator": 1,
    "contributor": 2,
    "admin": 3,
    "owner": 4,
    "site_admin": 5,
}


@dataclass(frozen=True)
class Route:
    name: str
    needs: str  # minimum role
    call: Callable[[TestClient, dict[str, str], dict[str, Any]], Any]
    ok: tuple[int, ...] = (200, 204)


def _upload(c: TestClient, h: dict[str, str], p: dict[str, Any]) -> Any:
    return c.post(
        f"/api/v2/projects/{p['id']}/files",
        headers=h,
        files={"uploaded.txt": ("uploaded.txt", b"data")},
    )


ROUTES = [
    Route("get project", READ, lambda c, h, p: c.get(f"/api/v2/projects/{p['id']}", headers=h)),
    Route(
        "list files", READ, lambda c, h, p: c.get(f"/api/v2/projects/{p['id']}/files", headers=h)
    ),
    Route(
        "download file",
        READ,
        lambda c, h, p: c.get(f"/api/v2/projects/{p['id']}/files/keep.txt:download", headers=h),
    ),
    Route(
        "list collaborators",
        READ,
        lambda c, h, p: c.get(f"/api/v2/projects/{p['id']}/collaborators", headers=h),
    ),
    Route(
        "v1 get environment",
        READ,
        lambda c, h, p: c.get(f"/api/v1/projects/{p['owner']}/{p['slug']}/environment", headers=h),
    ),
    Route(
        "write file",
        WRITE,
        lambda c, h, p: c.put(
            f"/api/v2/projects/{p['id']}/files/new.txt", headers=h, content=b"hello"
        ),
    ),
    Route("upload file", WRITE, _upload),
    Route(
        "mkdir",
        WRITE,
        lambda c, h, p: c.post(f"/api/v2/projects/{p['id']}/files/newdir:mkdir", headers=h),
    ),
    Route(
        "rename file",
        WRITE,
        lambda c, h, p: c.patch(
            f"/api/v2/projects/{p['id']}/files/move-me.txt", headers=h, json={"path": "moved.txt"}
        ),
    ),
    Route(
        "delete file",
        WRITE,
        lambda c, h, p: c.delete(f"/api/v2/projects/{p['id']}/files/delete-me.txt", headers=h),
    ),
    Route(
        "update settings",
        ADMIN,
        lambda c, h, p: c.patch(
            f"/api/v2/projects/{p['id']}", headers=h, json={"description": "changed"}
        ),
    ),
    Route(
        "v1 put environment",
        ADMIN,
        lambda c, h, p: c.put(
            f"/api/v1/projects/{p['owner']}/{p['slug']}/environment", headers=h, json={"A": "1"}
        ),
    ),
    Route(
        "add collaborator",
        ADMIN,
        lambda c, h, p: c.put(
            f"/api/v2/projects/{p['id']}/collaborators/newcomer",
            headers=h,
            json={"permission": "read"},
        ),
    ),
    Route(
        "remove collaborator",
        ADMIN,
        lambda c, h, p: c.delete(f"/api/v2/projects/{p['id']}/collaborators/leaver", headers=h),
    ),
    # Last: it removes the project.
    Route(
        "delete project", ADMIN, lambda c, h, p: c.delete(f"/api/v2/projects/{p['id']}", headers=h)
    ),
]


@pytest.fixture
def world(
    platform: Platform,
    make_user: Callable[..., User],
    api_headers: Callable[[User], dict[str, str]],
) -> dict[str, Any]:
    from lakeworks.services import files, users

    owner = make_user("owner")
    people = {role: make_user(role.replace("_", "")) for role in ROLES if role != "owner"}
    make_user("newcomer")
    leaver = make_user("leaver")
    site_admin = people["site_admin"]
    users.update_user(platform, None, site_admin.username, is_admin=True)
    principal = Principal(user=owner, via="cli")
    project = projects.create(
        platform,
        principal,
        name="Matrix",
        source=projects.parse_source("", ""),
        environment={"X": "1"},
    )
    for role in ("admin", "contributor", "operator", "viewer"):
        projects.set_collaborator(platform, principal, project.id, people[role].username, role)
    projects.set_collaborator(platform, principal, project.id, leaver.username, "viewer")
    # team_viewer reaches the project only through a team that is a viewer collaborator.
    users.create_team(platform, None, "analysts")
    users.set_team_member(platform, None, "analysts", people["team_viewer"].username, "admin")
    projects.set_collaborator(platform, principal, project.id, "analysts", "viewer")
    for name in ("keep.txt", "move-me.txt", "delete-me.txt"):
        files.write_bytes(platform, principal, project.id, name, b"content")
    headers = {"owner": api_headers(owner)} | {r: api_headers(u) for r, u in people.items()}
    return {
        "project": {"id": project.id, "owner": "owner", "slug": project.slug},
        "headers": headers,
    }


@pytest.mark.parametrize("role", ROLES)
def test_route_permissions(role: str, client: TestClient, world: dict[str, Any]) -> None:
    headers = world["headers"][role]
    mismatches = []
    for route in ROUTES:
        response = route.call(client, headers, world["project"])
        if RANK[role] >= RANK[route.needs]:
            expected: tuple[int, ...] = route.ok
        elif role == "outsider":
            expected = (404,)  # a private project is invisible, not merely forbidden
        else:
            expected = (403,)
        if response.status_code not in expected:
            mismatches.append(
                f"{route.name}: got {response.status_code}, want {expected}: {response.text[:200]}"
            )
        elif response.status_code >= 400:
            body = response.json()
            assert body["message"] and body["code"] in (5, 7), body
    assert not mismatches, f"{role}:\n" + "\n".join(mismatches)


def test_refused_writes_change_nothing(
    client: TestClient, world: dict[str, Any], platform: Platform
) -> None:
    """A viewer trying every write leaves files, settings and collaborators as they were."""
    project = world["project"]
    owner = world["headers"]["owner"]
    before_files = client.get(f"/api/v2/projects/{project['id']}/files", headers=owner).json()
    before_project = client.get(f"/api/v2/projects/{project['id']}", headers=owner).json()
    before_collab = client.get(
        f"/api/v2/projects/{project['id']}/collaborators", headers=owner
    ).json()
    for route in ROUTES:
        if route.needs != READ:
            assert route.call(client, world["headers"]["viewer"], project).status_code == 403
    assert (
        client.get(f"/api/v2/projects/{project['id']}/files", headers=owner).json() == before_files
    )
    after_project = client.get(f"/api/v2/projects/{project['id']}", headers=owner).json()
    assert after_project == before_project
    assert (
        client.get(f"/api/v2/projects/{project['id']}/collaborators", headers=owner).json()
        == before_collab
    )


def test_public_and_team_visibility(
    client: TestClient,
    world: dict[str, Any],
    make_user: Callable[..., User],
    api_headers: Callable[[User], dict[str, str]],
    platform: Platform,
) -> None:
    from lakeworks.services import users

    project = world["project"]
    owner = world["headers"]["owner"]
    stranger = api_headers(make_user("stranger"))
    teammate_user = make_user("teammate")
    teammate = api_headers(teammate_user)
    url = f"/api/v2/projects/{project['id']}"
    assert client.get(url, headers=stranger).status_code == 404

    users.create_team(platform, None, "owners-team")
    users.set_team_member(platform, None, "owners-team", "owner", "admin")
    users.set_team_member(platform, None, "owners-team", "teammate", "viewer")
    client.patch(url, headers=owner, json={"visibility": "team"}).raise_for_status()
    assert client.get(url, headers=teammate).json()["permissions"]["read"] is True
    assert client.get(url, headers=stranger).status_code == 404
    assert client.put(f"{url}/files/x.txt", headers=teammate, content=b"x").status_code == 403

    client.patch(url, headers=owner, json={"visibility": "public"}).raise_for_status()
    body = client.get(url, headers=stranger).json()
    assert body["permissions"] == {
        "business_user": True,
        "read": True,
        "operator": False,
        "write": False,
        "admin": False,
        "owner": False,
    }
    assert client.delete(url, headers=stranger).status_code == 403
