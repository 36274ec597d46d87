"""Project pages: list and search, creation from each source, overview, settings, sharing."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from conftest import login
from lakeworks.entities.projects import EnvVar, Project
from lakeworks.entities.users import User
from lakeworks.services import projects
from lakeworks.services.platform import Platform, Principal

MakeProject = Callable[..., Project]


@pytest.fixture
def make_project(platform: Platform) -> MakeProject:
    def make(owner: User, name: str, template: str = "blank", **kwargs: str) -> Project:
        return projects.create(
            platform,
            Principal(user=owner, via="cli"),
            name=name,
            source=projects.parse_source(template, ""),
            **kwargs,
        )

    return make


@pytest.fixture
def alice(make_user: Callable[..., User]) -> User:
    return make_user("alice")


def test_empty_list_invites_to_create(client: TestClient, alice: User) -> None:
    login(client, "alice")
    page = client.get("/projects").text
    assert "You have no projects yet" in page
    assert 'href="/projects/new"' in page


def test_list_and_search(client: TestClient, alice: User, make_project: MakeProject) -> None:
    make_project(alice, "Churn model")
    make_project(alice, "Forecast")
    login(client, "alice")
    page = client.get("/projects").text
    assert "Churn model" in page and "Forecast" in page
    found = client.get("/projects", params={"q": "churn"}).text
    assert "Churn model" in found and "Forecast" not in found
    nothing = client.get("/projects", params={"q": "zzz"}).text
    assert "No projects match" in nothing


def test_public_projects_appear_under_all_you_can_see(
    client: TestClient, alice: User, make_user: Callable[..., User], make_project: MakeProject
) -> None:
    make_project(make_user("bob"), "Shared demo", visibility="public")
    login(client, "alice")
    assert "Shared demo" not in client.get("/projects").text
    assert "Shared demo" in client.get("/projects", params={"scope": "visible"}).text


def test_create_blank_and_from_template(client: TestClient, alice: User) -> None:
    token = login(client, "alice")
    response = client.post(
        "/projects/new",
        data={"csrf_token": token, "name": "Empty one", "source": "blank", "visibility": "team"},
    )
    assert response.status_code == 200
    assert "Project &#39;Empty one&#39; created." in response.text
    assert "No README yet" in response.text
    assert ">team<" in response.text
    response = client.post(
        "/projects/new",
        data={
            "csrf_token": token,
            "name": "Demo",
            "source": "template",
            "template": "churn-demo",
        },
    )
    assert "<h1>Telco customer churn</h1>" in response.text
    assert "train.py" in response.text


def test_create_from_uploaded_archive(client: TestClient, alice: User) -> None:
    token = login(client, "alice")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("top/README.md", "# Uploaded\n\n<script>alert(1)</script>\n")
        archive.writestr("top/main.py", "print(1)\n")
    response = client.post(
        "/projects/new",
        data={"csrf_token": token, "name": "Up", "source": "upload"},
        files={"archive": ("up.zip", buffer.getvalue(), "application/zip")},
    )
    assert response.status_code == 200
    assert "<h1>Uploaded</h1>" in response.text
    # Raw HTML in a README is shown as text, never run.
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


def test_creation_errors_keep_the_input(client: TestClient, alice: User) -> None:
    token = login(client, "alice")
    response = client.post(
        "/projects/new",
        data={"csrf_token": token, "name": "Kept name", "description": "kept", "source": "git"},
    )
    assert response.status_code == 400
    assert "Give the URL of the git repository" in response.text
    assert 'value="Kept name"' in response.text
    assert ">kept</textarea>" in response.text
    response = client.post(
        "/projects/new",
        data={"csrf_token": token, "name": "Bad zip", "source": "upload"},
        files={"archive": ("x.zip", b"not an archive", "application/zip")},
    )
    assert response.status_code == 400
    assert "not a .zip, .tar or .tar.gz archive" in response.text
    response = client.post("/projects/new", data={"csrf_token": token, "source": "blank"})
    assert response.status_code == 400
    assert "A project needs a name." in response.text


def test_strangers_get_not_found(
    client: TestClient, alice: User, make_user: Callable[..., User], make_project: MakeProject
) -> None:
    secret = make_project(make_user("bob"), "Private thing")
    login(client, "alice")
    for path in ("", "/files", "/collaborators", "/settings"):
        response = client.get(f"/projects/{secret.id}{path}")
        assert response.status_code == 404
        assert "Private thing" not in response.text
        assert "<html" in response.text


def test_settings_and_secret_variables(
    client: TestClient, platform: Platform, alice: User, make_project: MakeProject
) -> None:
    project = make_project(alice, "Settings demo")
    token = login(client, "alice")
    url = f"/projects/{project.id}/settings"
    response = client.post(
        url,
        data={
            "csrf_token": token,
            "name": "Renamed",
            "description": "new words",
            "visibility": "public",
        },
    )
    assert "Project settings saved." in response.text
    assert 'value="Renamed"' in response.text

    response = client.post(
        f"{url}/env",
        data={
            "csrf_token": token,
            "env_name": ["TOKEN", "MODE", ""],
            "env_value": ["s3cret-value", "fast", ""],
            "env_secret": ["0"],
        },
    )
    assert "Environment variables saved." in response.text
    assert "s3cret-value" not in response.text
    assert projects.SECRET_MASK in response.text
    assert projects.workload_env(platform, project.id) == {"TOKEN": "s3cret-value", "MODE": "fast"}

    # The mask sent back keeps the secret; ticking "remove" drops a variable.
    client.post(
        f"{url}/env",
        data={
            "csrf_token": token,
            "env_name": ["TOKEN", "MODE"],
            "env_value": [projects.SECRET_MASK, "slow"],
            "env_secret": ["0"],
            "env_remove": ["1"],
        },
    )
    assert projects.workload_env(platform, project.id) == {"TOKEN": "s3cret-value"}

    response = client.post(
        f"{url}/env",
        data={"csrf_token": token, "env_name": ["1BAD", "OK"], "env_value": ["x", "kept"]},
    )
    assert response.status_code == 400
    assert "not a valid environment variable name" in response.text
    assert 'value="kept"' in response.text


def test_viewer_sees_settings_read_only(
    client: TestClient,
    platform: Platform,
    alice: User,
    make_user: Callable[..., User],
    make_project: MakeProject,
) -> None:
    project = make_project(alice, "Shared")
    owner = Principal(user=alice, via="cli")
    projects.replace_env(platform, owner, project.id, [EnvVar("KEY", "hidden-value", True)])
    make_user("vic")
    projects.set_collaborator(platform, owner, project.id, "vic", "viewer")
    token = login(client, "vic")
    page = client.get(f"/projects/{project.id}/settings").text
    assert "Save changes" not in page and "Save variables" not in page
    assert "Delete project" not in page
    assert "hidden-value" not in page and "KEY" in page
    response = client.post(
        f"/projects/{project.id}/settings",
        data={"csrf_token": token, "name": "Hijacked", "visibility": "public"},
    )
    assert response.status_code == 403
    assert "you need admin or above" in response.text


def test_collaborators_add_change_remove(
    client: TestClient, alice: User, make_user: Callable[..., User], make_project: MakeProject
) -> None:
    project = make_project(alice, "Team work")
    make_user("bob")
    token = login(client, "alice")
    url = f"/projects/{project.id}/collaborators"
    response = client.post(url, data={"csrf_token": token, "name": "nobody", "role": "viewer"})
    assert response.status_code == 404
    assert "No user or team named" in response.text
    assert 'value="nobody"' in response.text
    response = client.post(url, data={"csrf_token": token, "name": "bob", "role": "viewer"})
    assert "bob is now viewer on this project." in response.text
    response = client.post(url, data={"csrf_token": token, "name": "bob", "role": "contributor"})
    assert "bob is now contributor on this project." in response.text
    response = client.post(f"{url}/remove", data={"csrf_token": token, "name": "bob"})
    assert "bob is no longer a collaborator." in response.text


def test_delete_project_needs_its_name(
    client: TestClient, alice: User, make_project: MakeProject
) -> None:
    project = make_project(alice, "Doomed")
    token = login(client, "alice")
    url = f"/projects/{project.id}/delete"
    response = client.post(url, data={"csrf_token": token, "confirm_name": "doomed?"})
    assert response.status_code == 400
    assert "Type the project" in response.text
    response = client.post(url, data={"csrf_token": token, "confirm_name": "Doomed"})
    assert response.url.path == "/projects"
    assert "and its files were deleted" in response.text
    assert client.get(f"/projects/{project.id}").status_code == 404
