"""The file browser and editor: listing, upload, create, rename, delete, save, and files the
editor cannot open."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

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
def project(platform: Platform, alice: User) -> Project:
    return projects.create(
        platform,
        Principal(user=alice, via="cli"),
        name="Files",
        source=projects.parse_source("python", ""),
    )


@pytest.fixture
def root(settings: Settings, project: Project) -> Path:
    return settings.projects_dir / project.id


@pytest.fixture
def token(client: TestClient, alice: User) -> str:
    return login(client, "alice")


def test_folders_first_with_breadcrumbs(
    client: TestClient, project: Project, root: Path, token: str
) -> None:
    (root / "zeta").mkdir()
    (root / "zeta" / "deep").mkdir()
    (root / "alpha.txt").write_text("a")
    page = client.get(f"/projects/{project.id}/files").text
    assert page.index(">zeta<") < page.index(">alpha.txt<")
    page = client.get(f"/projects/{project.id}/files/zeta/deep").text
    assert f'href="/projects/{project.id}/files/zeta"' in page
    assert "This folder is empty" in page
    assert f"/api/v2/projects/{project.id}/files/zeta/deep:download" in page


def test_upload_new_file_new_folder_rename_delete(
    client: TestClient, project: Project, root: Path, token: str
) -> None:
    base = f"/projects/{project.id}/files"
    response = client.post(
        f"{base}:new-folder", data={"csrf_token": token, "folder": "", "name": "data"}
    )
    assert "Folder data created." in response.text
    response = client.post(
        f"{base}:upload",
        data={"csrf_token": token, "folder": "data"},
        files=[
            ("uploads", ("a.csv", b"x,y\n1,2\n", "text/csv")),
            ("uploads", ("b.bin", b"\x00\x01", "application/octet-stream")),
        ],
    )
    assert response.url.path == f"{base}/data"
    assert "Uploaded a.csv, b.bin." in response.text
    assert (root / "data" / "a.csv").read_bytes() == b"x,y\n1,2\n"

    response = client.post(
        f"{base}:new-file", data={"csrf_token": token, "folder": "data", "name": "notes.md"}
    )
    assert response.url.path == f"{base}/data/notes.md"
    assert 'name="content"' in response.text
    response = client.post(
        f"{base}:new-file", data={"csrf_token": token, "folder": "data", "name": "a.csv"}
    )
    assert response.status_code == 409
    assert "already exists" in response.text
    assert (root / "data" / "a.csv").read_bytes() == b"x,y\n1,2\n"

    response = client.post(
        f"{base}:rename", data={"csrf_token": token, "path": "data/a.csv", "new_name": "c.csv"}
    )
    assert "Renamed a.csv to data/c.csv." in response.text
    assert (root / "data" / "c.csv").exists() and not (root / "data" / "a.csv").exists()

    response = client.post(f"{base}:delete", data={"csrf_token": token, "path": "data/c.csv"})
    assert response.url.path == f"{base}/data"
    assert "Deleted data/c.csv." in response.text
    assert not (root / "data" / "c.csv").exists()


def test_upload_without_files_says_so(client: TestClient, project: Project, token: str) -> None:
    response = client.post(
        f"/projects/{project.id}/files:upload", data={"csrf_token": token, "folder": ""}
    )
    assert response.status_code == 400
    assert "Choose one or more files" in response.text


def test_save_keeps_line_endings(
    client: TestClient, project: Project, root: Path, token: str
) -> None:
    (root / "unix.py").write_bytes(b"a = 1\n")
    (root / "dos.bat").write_bytes(b"echo 1\r\n")
    page = client.get(f"/projects/{project.id}/files/dos.bat").text
    assert 'name="newline" value="crlf"' in page
    # Browsers send textarea text with CRLF line ends whatever the file used.
    for name, newline, expected in (
        ("unix.py", "lf", b"a = 2\nb = 3\n"),
        ("dos.bat", "crlf", b"echo 2\r\necho 3\r\n"),
    ):
        body = expected.decode().replace("\r\n", "\n").replace("\n", "\r\n")
        response = client.post(
            f"/projects/{project.id}/files:save",
            data={"csrf_token": token, "path": name, "content": body, "newline": newline},
        )
        assert f"Saved {name}." in response.text
        assert (root / name).read_bytes() == expected


def test_leading_newline_survives_the_textarea(
    client: TestClient, project: Project, root: Path, token: str
) -> None:
    (root / "blank-first.txt").write_text("\nsecond line\n")
    page = client.get(f"/projects/{project.id}/files/blank-first.txt").text
    # The HTML parser drops one newline right after <textarea>; the template adds it back.
    assert '">\n\nsecond line\n</textarea>' in page


def test_binary_and_large_files_offer_a_download(
    client: TestClient, settings: Settings, project: Project, root: Path, token: str
) -> None:
    (root / "model.pkl").write_bytes(b"\x80\x04\x95\x00\x00binary")
    (root / "big.txt").write_text("x" * (settings.max_editable_bytes + 1))
    for name, reason in (("model.pkl", "binary file"), ("big.txt", "larger than the editor")):
        page = client.get(f"/projects/{project.id}/files/{name}").text
        assert reason in page
        assert f"/api/v2/projects/{project.id}/files/{name}:download" in page
        assert "<textarea" not in page


def test_bad_paths_are_refused(client: TestClient, project: Project, token: str) -> None:
    response = client.get(f"/projects/{project.id}/files/missing.txt")
    assert response.status_code == 404
    response = client.post(
        f"/projects/{project.id}/files:save",
        data={"csrf_token": token, "path": "../escape.txt", "content": "x"},
    )
    assert response.status_code == 400
    assert "not allowed in paths" in response.text


def test_viewer_reads_but_cannot_write(
    client: TestClient,
    platform: Platform,
    alice: User,
    make_user: Callable[..., User],
    project: Project,
    root: Path,
) -> None:
    make_user("vic")
    projects.set_collaborator(platform, Principal(alice, "cli"), project.id, "vic", "viewer")
    token = login(client, "vic")
    listing = client.get(f"/projects/{project.id}/files").text
    for control in (":upload", ":new-file", ":new-folder", ":rename", ":delete"):
        assert control not in listing
    page = client.get(f"/projects/{project.id}/files/main.py").text
    assert "<textarea" not in page and "Read only" in page
    before = (root / "main.py").read_bytes()
    for action, data in (
        ("save", {"path": "main.py", "content": "x"}),
        ("delete", {"path": "main.py"}),
        ("new-folder", {"name": "junk"}),
    ):
        response = client.post(
            f"/projects/{project.id}/files:{action}", data={"csrf_token": token, **data}
        )
        assert response.status_code == 403, action
    assert (root / "main.py").read_bytes() == before
    assert not (root / "junk").exists()


def test_oversize_upload_gets_a_page(
    client: TestClient, make_user: Callable[..., User], settings: Settings
) -> None:
    make_user("alice", is_admin=True)
    token = login(client, "alice")
    big = b"x" * (settings.max_upload_bytes + 1)
    response = client.post(
        "/projects/new",
        data={"csrf_token": token, "name": "Big", "source": "archive"},
        files={"archive": ("big.zip", big, "application/zip")},
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/html")
    assert "Upload too large" in response.text


def test_a_git_project_lists_its_files_without_git_internals(
    client: TestClient, platform: Platform, alice: User, token: str, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(repo)]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "analysis.py").write_text("print(1)\n")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "first"], check=True)
    project = projects.create(
        platform,
        Principal(user=alice, via="cli"),
        name="From git",
        source=projects.parse_source("git", str(repo)),
    )
    assert (platform.settings.projects_dir / project.id / ".git").is_dir()
    page = client.get(f"/projects/{project.id}/files").text
    assert ">analysis.py<" in page
    assert ">.git<" not in page
    assert f"/projects/{project.id}/files/.git" not in page
    overview = client.get(f"/projects/{project.id}").text
    assert ">analysis.py<" in overview and ".git<" not in overview
