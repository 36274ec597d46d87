"""API v2 project files: list, upload, download, write, rename, mkdir, delete, and path abuse."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from lakeworks.config import Settings
from lakeworks.entities.users import User

Headers = dict[str, str]


@pytest.fixture
def alice(make_user: Callable[..., User], api_headers: Callable[[User], Headers]) -> Headers:
    return api_headers(make_user("alice"))


@pytest.fixture
def project(client: TestClient, alice: Headers) -> str:
    response = client.post("/api/v2/projects", headers=alice, json={"name": "Files"})
    return str(response.json()["id"])


def test_file_round_trip(
    client: TestClient, alice: Headers, project: str, settings: Settings
) -> None:
    base = f"/api/v2/projects/{project}/files"
    upload = client.post(
        base,
        headers=alice,
        files={
            "data/raw.csv": ("raw.csv", b"a,b\n1,2\n"),
            "file": ("notes.txt", b"notes"),
        },
        data={"path": "docs"},
    )
    assert upload.status_code == 200, upload.text
    assert {f["path"] for f in upload.json()["files"]} == {"data/raw.csv", "docs/notes.txt"}
    assert (settings.projects_dir / project / "data" / "raw.csv").read_bytes() == b"a,b\n1,2\n"

    listing = client.get(base, headers=alice).json()["files"]
    assert [(f["name"], f["is_dir"]) for f in listing] == [("data", True), ("docs", True)]
    one = client.get(f"{base}/data/raw.csv", headers=alice).json()["files"][0]
    assert one["file_size"] == "8" and one["is_dir"] is False

    assert client.post(f"{base}/data/raw.csv:download", headers=alice).content == b"a,b\n1,2\n"
    assert client.get(f"{base}/data/raw.csv:download", headers=alice).content == b"a,b\n1,2\n"
    folder = client.get(f"{base}/data:download", headers=alice)
    assert zipfile.ZipFile(io.BytesIO(folder.content)).namelist() == ["raw.csv"]

    written = client.put(f"{base}/src/app.py", headers=alice, content=b"print('x')\n")
    assert written.status_code == 200 and written.json()["path"] == "src/app.py"
    moved = client.patch(f"{base}/src/app.py", headers=alice, json={"path": "src/main.py"})
    assert moved.json()["path"] == "src/main.py"
    assert client.post(f"{base}/empty/dir:mkdir", headers=alice).json()["is_dir"] is True
    assert client.delete(f"{base}/docs", headers=alice).status_code == 204
    names = [f["name"] for f in client.get(base, headers=alice).json()["files"]]
    assert names == ["data", "empty", "src"]
    # Paths copied from inside a workload (/home/cdsw/...) mean the project root.
    assert client.get(f"{base}//home/cdsw/src/main.py:download", headers=alice).status_code == 200


@pytest.mark.parametrize("path", ["../outside.txt", "a/../../outside.txt", "..", "%2e%2e/x"])
def test_dotdot_paths_refused(
    client: TestClient, alice: Headers, project: str, path: str, settings: Settings
) -> None:
    response = client.put(
        f"/api/v2/projects/{project}/files/{path}", headers=alice, content=b"evil"
    )
    # Clients may normalise the dots away first (then another route answers 404/405).
    assert response.status_code in (400, 404, 405), response.text
    assert not list(settings.data_dir.parent.rglob("outside.txt"))


def test_absolute_and_upload_key_paths_refused(
    client: TestClient, alice: Headers, project: str, settings: Settings, tmp_path
) -> None:
    target = tmp_path / "abs.txt"
    response = client.post(
        f"/api/v2/projects/{project}/files",
        headers=alice,
        files={str(target): ("abs.txt", b"evil")},
    )
    assert response.status_code == 400 and "absolute" in response.json()["message"]
    slip = client.post(
        f"/api/v2/projects/{project}/files",
        headers=alice,
        files={"../../slip.txt": ("slip.txt", b"evil")},
    )
    assert slip.status_code == 400
    named = client.post(
        f"/api/v2/projects/{project}/files",
        headers=alice,
        files={"file": ("../named.txt", b"evil")},
    )
    assert named.status_code == 400
    assert not target.exists()
    assert not list(tmp_path.rglob("slip.txt")) and not list(tmp_path.rglob("named.txt"))


def test_symlink_escape(
    client: TestClient, alice: Headers, project: str, settings: Settings, tmp_path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    root = settings.projects_dir / project
    os.symlink(secret, root / "link.txt")
    os.symlink(tmp_path, root / "linkdir")
    base = f"/api/v2/projects/{project}/files"
    assert client.get(f"{base}/link.txt:download", headers=alice).status_code == 400
    assert client.get(f"{base}/linkdir", headers=alice).status_code == 400
    assert client.put(f"{base}/linkdir/new.txt", headers=alice, content=b"x").status_code == 400
    assert client.put(f"{base}/link.txt", headers=alice, content=b"x").status_code == 400
    assert "link.txt" not in [f["name"] for f in client.get(base, headers=alice).json()["files"]]
    whole = client.get(f"/api/v2/projects/{project}/files/:download", headers=alice)
    assert b"top secret" not in whole.content
    # Deleting the link removes the link, never the file it points at.
    assert client.delete(f"{base}/link.txt", headers=alice).status_code == 204
    assert secret.read_text() == "top secret" and not (root / "link.txt").is_symlink()
    assert secret.read_text() == "top secret"


def test_oversize_upload(
    client: TestClient, alice: Headers, project: str, settings: Settings
) -> None:
    big = b"x" * (settings.max_upload_bytes + 10)
    response = client.post(
        f"/api/v2/projects/{project}/files", headers=alice, files={"big.bin": ("big.bin", big)}
    )
    assert response.status_code == 413
    assert not (settings.projects_dir / project / "big.bin").exists()


def test_file_errors(client: TestClient, alice: Headers, project: str) -> None:
    base = f"/api/v2/projects/{project}/files"
    assert client.get(f"{base}/missing.txt", headers=alice).status_code == 404
    assert client.delete(f"{base}/missing.txt", headers=alice).status_code == 404
    assert client.patch(f"{base}/missing.txt", headers=alice, json={"path": "x"}).status_code == 404
    client.put(f"{base}/a.txt", headers=alice, content=b"a")
    client.put(f"{base}/b.txt", headers=alice, content=b"b")
    clash = client.patch(f"{base}/a.txt", headers=alice, json={"path": "b.txt"})
    assert clash.status_code == 409
    assert client.delete(base + "/", headers=alice).status_code in (400, 405)
    no_files = client.post(base, headers=alice, data={"x": "y"})
    assert no_files.status_code == 400
    not_multipart = client.post(base, headers=alice, json={"x": 1})
    assert not_multipart.status_code == 400
