"""API v2 projects: CML shapes, paging, filters, sorting, lenient bodies and bad input."""

from __future__ import annotations

import io
import json
import re
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lakeworks.config import Settings
from lakeworks.entities.users import User

Headers = dict[str, str]


@pytest.fixture
def alice(make_user: Callable[..., User], api_headers: Callable[[User], Headers]) -> Headers:
    return api_headers(make_user("alice"))


def create(client: TestClient, headers: Headers, **body: object) -> dict:
    response = client.post("/api/v2/projects", headers=headers, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_create_get_and_shape(client: TestClient, alice: Headers) -> None:
    project = create(
        client,
        alice,
        name="Churn Model",
        description="d",
        template="blank",
        environment={"A": 1, "FLAG": False},
    )
    assert project["creation_status"] == "success"
    assert project["slug"] == "churn-model"
    assert project["owner"]["username"] == "alice"
    assert project["creator"]["email"] == "alice@example.org"
    assert project["visibility"] == "private"
    assert project["permissions"]["owner"] is True
    # environment is a JSON string; non-strings are stringified Python-style.
    assert json.loads(project["environment"]) == {"A": "1", "FLAG": "False"}
    assert re.fullmatch(r"[a-z0-9]{4}(-[a-z0-9]{4}){3}", project["id"])
    assert project["created_at"].endswith("Z")
    again = client.get(f"/api/v2/projects/{project['id']}", headers=alice).json()
    assert again == project


def test_lenient_bodies(client: TestClient, alice: Headers) -> None:
    project = create(
        client,
        alice,
        name="Lenient",
        shared_memory_limit="128",
        environment='{"K": "v"}',
        unknown_key={"ignored": True},
        cpu="2",
    )
    assert project["shared_memory_limit"] == 128
    assert json.loads(project["environment"]) == {"K": "v"}
    # PATCH with a whole fetched object, one field changed: read-only fields are ignored.
    project["description"] = "now described"
    updated = client.patch(f"/api/v2/projects/{project['id']}", headers=alice, json=project)
    assert updated.status_code == 200, updated.text
    assert updated.json()["description"] == "now described"
    assert updated.json()["name"] == "Lenient"
    # Absent fields stay unchanged.
    again = client.patch(
        f"/api/v2/projects/{project['id']}", headers=alice, json={"name": "Renamed"}
    ).json()
    assert again["description"] == "now described" and again["name"] == "Renamed"


def test_secret_env_hidden_and_kept(client: TestClient, alice: Headers) -> None:
    project = create(
        client,
        alice,
        name="Secrets",
        environment={"TOKEN": {"value": "s3cret", "secret": True}, "PLAIN": "p"},
    )
    env = json.loads(project["environment"])
    assert env == {"TOKEN": "********", "PLAIN": "p"}
    assert "s3cret" not in json.dumps(project)
    # Sending the masked value back (GET-modify-PATCH) keeps the secret.
    env["PLAIN"] = "q"
    client.patch(
        f"/api/v2/projects/{project['id']}", headers=alice, json={"environment": json.dumps(env)}
    ).raise_for_status()
    from_v1 = client.get("/api/v1/projects/alice/secrets/environment", headers=alice).json()
    assert from_v1 == {"TOKEN": "********", "PLAIN": "q"}


def test_list_paging_sort_and_filter(
    client: TestClient,
    alice: Headers,
    make_user: Callable[..., User],
    api_headers: Callable[[User], Headers],
) -> None:
    names = ["Delta", "alpha", "Charlie", "bravo", "Echo churn", "churn two"]
    for name in names:
        create(client, alice, name=name)
    # Someone else's projects never show up in alice's list.
    create(client, api_headers(make_user("bob")), name="bob churn", visibility="private")

    first = client.get("/api/v2/projects", headers=alice, params={"page_size": "4"}).json()
    assert [p["name"] for p in first["projects"]] == names[:4]  # created_at ascending
    assert first["next_page_token"]
    second = client.get(
        "/api/v2/projects", headers=alice, params={"page_token": first["next_page_token"]}
    ).json()
    assert [p["name"] for p in second["projects"]] == names[4:]
    assert second["next_page_token"] == ""

    by_name = client.get(
        "/api/v2/projects", headers=alice, params={"sort": "+name", "page_size": 100}
    ).json()
    assert [p["name"] for p in by_name["projects"]] == sorted(names, key=str)
    newest = client.get(
        "/api/v2/projects", headers=alice, params={"sort": "-created_at", "page_size": 1}
    ).json()
    assert newest["projects"][0]["name"] == "churn two"

    churn = client.get(
        "/api/v2/projects", headers=alice, params={"search_filter": json.dumps({"name": "CHURN"})}
    ).json()
    assert sorted(p["name"] for p in churn["projects"]) == ["Echo churn", "churn two"]
    owned = client.get(
        "/api/v2/projects",
        headers=alice,
        params={"searchFilter": json.dumps({"owner.username": "alice"}), "pageSize": 100},
    ).json()
    assert len(owned["projects"]) == len(names)


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"search_filter": "{not json"}, "search_filter must be a JSON object"),
        ({"search_filter": '["name"]'}, "must be a JSON object"),
        ({"search_filter": '{"cpu": "2"}'}, "cannot be filtered by 'cpu'"),
        ({"sort": "-color"}, "cannot be sorted by 'color'"),
        ({"page_size": "many"}, "page_size must be a whole number"),
        ({"page_token": "garbage!"}, "page_token"),
    ],
)
def test_list_bad_parameters(
    client: TestClient, alice: Headers, params: dict, fragment: str
) -> None:
    response = client.get("/api/v2/projects", headers=alice, params=params)
    assert response.status_code == 400
    body = response.json()
    assert fragment in body["message"]
    assert body["code"] == 3 and body["error"] == body["message"] and body["details"] == []


def test_malformed_json_and_missing_fields(client: TestClient, alice: Headers) -> None:
    response = client.post(
        "/api/v2/projects",
        headers=alice | {"content-type": "application/json"},
        content=b'{"name": "x",',
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["message"]
    missing = client.post("/api/v2/projects", headers=alice, json={"description": "no name"})
    assert missing.status_code == 400 and "name" in missing.json()["message"]
    blank = client.post("/api/v2/projects", headers=alice, json={"name": "   "})
    assert blank.status_code == 400
    assert client.get("/api/v2/projects", headers=alice).json()["projects"] == []


def test_unknown_ids(client: TestClient, alice: Headers) -> None:
    for method, url in [
        ("GET", "/api/v2/projects/zzzz-zzzz-zzzz-zzzz"),
        ("PATCH", "/api/v2/projects/zzzz-zzzz-zzzz-zzzz"),
        ("DELETE", "/api/v2/projects/zzzz-zzzz-zzzz-zzzz"),
        ("GET", "/api/v2/projects/zzzz-zzzz-zzzz-zzzz/files"),
        ("GET", "/api/v1/projects/alice/nope/environment"),
    ]:
        response = client.request(
            method, url, headers=alice, json={} if method == "PATCH" else None
        )
        assert response.status_code == 404, (method, url, response.text)
        assert "not found" in response.json()["message"]


def test_unknown_template(client: TestClient, alice: Headers) -> None:
    response = client.post(
        "/api/v2/projects", headers=alice, json={"name": "x", "template": "Cobol"}
    )
    assert response.status_code == 400
    assert "no project template 'Cobol'" in response.json()["message"]


def test_shipped_template(client: TestClient, alice: Headers) -> None:
    project = create(client, alice, name="Demo", template="churn-demo")
    listing = client.get(f"/api/v2/projects/{project['id']}/files/data", headers=alice).json()
    assert [f["path"] for f in listing["files"]] == ["data/telco-customer-churn.csv"]
    python = create(client, alice, name="Py", template="Python")
    names = {
        f["name"]
        for f in client.get(f"/api/v2/projects/{python['id']}/files", headers=alice).json()["files"]
    }
    assert "main.py" in names


def _git_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "origin"
    repo.mkdir()
    (repo / "train.py").write_text("print('hi')\n")
    git = ["git", "-c", "user.name=T", "-c", "user.email=t@example.org", "-C", str(repo)]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "first"], check=True)
    return repo


def test_create_from_git(client: TestClient, alice: Headers, tmp_path: Path) -> None:
    repo = _git_repo(tmp_path)
    project = create(client, alice, name="From git", template="git", git_url=str(repo))
    assert project["git_url"] == str(repo)
    names = {
        f["name"]
        for f in client.get(f"/api/v2/projects/{project['id']}/files", headers=alice).json()[
            "files"
        ]
    }
    assert {"train.py", ".git"} <= names


def test_git_url_that_does_not_resolve(
    client: TestClient, alice: Headers, settings: Settings
) -> None:
    response = client.post(
        "/api/v2/projects",
        headers=alice,
        json={
            "name": "Nope",
            "template": "git",
            "git_url": "https://nonexistent.invalid/team/repo.git",
        },
    )
    assert response.status_code == 400
    assert "cannot reach nonexistent.invalid" in response.json()["message"]
    assert client.get("/api/v2/projects", headers=alice).json()["projects"] == []
    leftovers = [p for p in settings.projects_dir.rglob("*") if p.is_file()]
    assert leftovers == []


def test_git_dangerous_urls_refused(client: TestClient, alice: Headers) -> None:
    for url in ["ext::sh -c touch% /tmp/pwned", "--upload-pack=touch /tmp/x", ""]:
        response = client.post(
            "/api/v2/projects",
            headers=alice,
            json={"name": "Bad", "template": "git", "git_url": url},
        )
        assert response.status_code == 400, url
    assert not Path("/tmp/pwned").exists()


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def test_create_from_archive_upload(client: TestClient, alice: Headers) -> None:
    archive = _zip({"proj/README.md": b"# Hello", "proj/src/app.py": b"print(1)"})
    response = client.post(
        "/api/v2/projects:upload",
        headers=alice,
        data={"name": "Uploaded", "visibility": "public"},
        files={"file": ("proj.zip", archive, "application/zip")},
    )
    assert response.status_code == 200, response.text
    project = response.json()
    assert project["visibility"] == "public"
    names = {
        f["name"]
        for f in client.get(f"/api/v2/projects/{project['id']}/files", headers=alice).json()[
            "files"
        ]
    }
    assert names == {"README.md", "src"}  # the single top-level folder is dropped


def test_zip_slip_upload_creates_nothing(
    client: TestClient, alice: Headers, settings: Settings
) -> None:
    archive = _zip({"ok.txt": b"fine", "../../escaped.txt": b"evil"})
    response = client.post(
        "/api/v2/projects:upload",
        headers=alice,
        data={"name": "Slip"},
        files={"file": ("slip.zip", archive, "application/zip")},
    )
    assert response.status_code == 400
    assert "outside the project" in response.json()["message"]
    assert client.get("/api/v2/projects", headers=alice).json()["projects"] == []
    assert not list(settings.data_dir.rglob("escaped.txt"))
    assert not (settings.data_dir.parent / "escaped.txt").exists()


def test_not_an_archive(client: TestClient, alice: Headers) -> None:
    response = client.post(
        "/api/v2/projects:upload",
        headers=alice,
        data={"name": "X"},
        files={"file": ("x.zip", b"this is not a zip", "application/zip")},
    )
    assert response.status_code == 400
    assert "not a .zip, .tar or .tar.gz" in response.json()["message"]


def test_oversize_request_refused(client: TestClient, alice: Headers, settings: Settings) -> None:
    big = b"x" * (settings.max_upload_bytes + 1)
    response = client.post(
        "/api/v2/projects:upload",
        headers=alice,
        data={"name": "Big"},
        files={"file": ("big.zip", big, "application/zip")},
    )
    assert response.status_code == 413
    assert "larger than" in response.json()["message"]
    assert client.get("/api/v2/projects", headers=alice).json()["projects"] == []


def test_delete_project_leaves_others(
    client: TestClient, alice: Headers, settings: Settings
) -> None:
    doomed = create(client, alice, name="Doomed", template="python")
    kept = create(client, alice, name="Kept", template="python", environment={"KEEP": "yes"})
    assert client.delete(f"/api/v2/projects/{doomed['id']}", headers=alice).status_code == 200
    assert client.get(f"/api/v2/projects/{doomed['id']}", headers=alice).status_code == 404
    assert not (settings.projects_dir / doomed["id"]).exists()
    assert (settings.projects_dir / kept["id"] / "main.py").exists()
    assert client.get(f"/api/v2/projects/{kept['id']}", headers=alice).json() == kept


def test_openapi_document(client: TestClient) -> None:
    spec = client.get("/api/v2/openapi.json").json()
    operations = {op["operationId"] for path in spec["paths"].values() for op in path.values()}
    assert {
        "list_projects",
        "create_project",
        "get_project",
        "update_project",
        "delete_project",
        "list_project_files",
        "upload_file",
        "delete_project_file",
        "add_project_collaborator",
        "create_v2_key",
        "list_v2_keys",
    } <= operations
    assert client.get("/api/v2/swagger.json").json()["paths"] == spec["paths"]
    docs = client.get("/api/v2/docs")
    assert docs.status_code == 200
    # Everything the docs page loads comes from this server, never a CDN.
    assert "https://" not in docs.text and "http://" not in docs.text
    assert client.get("/api/v2/docs-assets/swagger-ui-bundle.js").status_code == 200


def test_requests_without_credentials(client: TestClient) -> None:
    response = client.get("/api/v2/projects")
    assert response.status_code == 401
    assert response.json()["code"] == 16
    bad = client.get("/api/v2/projects", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and "not valid" in bad.json()["message"]
    odd = client.get("/api/v2/projects", headers={"Authorization": "Token abc"})
    assert odd.status_code == 401
