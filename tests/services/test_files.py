"""Project files through services.files: paths stay inside the project, roles are enforced."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from lakeworks.entities.audit import Outcome
from lakeworks.entities.users import User
from lakeworks.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge, PermissionDenied
from lakeworks.services import audit, files, projects
from lakeworks.services.platform import Platform, Principal


def as_(user: User) -> Principal:
    return Principal(user=user, via="session")


@pytest.fixture
def alice(make_user: Callable[..., User]) -> User:
    return make_user("alice")


@pytest.fixture
def project_id(platform: Platform, alice: User) -> str:
    project = projects.create(
        platform, as_(alice), name="Files", source=projects.parse_source("", "")
    )
    return project.id


@pytest.fixture
def root(platform: Platform, project_id: str) -> Path:
    return files.project_root(platform, project_id)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside every project, with a file that must never be read or changed."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text("top secret")
    return folder


def snapshot(folder: Path) -> dict[str, bytes | None]:
    return {
        p.relative_to(folder).as_posix(): (
            ("->" + os.readlink(p)).encode()
            if p.is_symlink()
            else (p.read_bytes() if p.is_file() else None)
        )
        for p in sorted(folder.rglob("*"))
    }


# The basics ---------------------------------------------------------------------------


def test_write_read_list_stat(platform: Platform, alice: User, project_id: str) -> None:
    who = as_(alice)
    entry = files.write_bytes(platform, who, project_id, "src/train.py", b"fit()\n")
    assert (entry.path, entry.name, entry.is_dir, entry.size) == (
        "src/train.py",
        "train.py",
        False,
        6,
    )
    files.write_bytes(platform, who, project_id, "README.md", b"# hi\n")
    files.mkdir(platform, who, project_id, "data")

    assert files.read_bytes(platform, who, project_id, "src/train.py") == b"fit()\n"
    # Paths copied from inside a workload name the same file.
    assert files.read_bytes(platform, who, project_id, "/home/cdsw/src/train.py") == b"fit()\n"
    assert [(e.name, e.is_dir) for e in files.list_dir(platform, who, project_id, "")] == [
        ("data", True),
        ("src", True),
        ("README.md", False),
    ]
    assert [e.path for e in files.list_dir(platform, who, project_id, "src")] == ["src/train.py"]
    assert files.stat(platform, who, project_id, "README.md").size == 5


def test_overwriting_replaces_content_and_leaves_no_temporary_file(
    platform: Platform, alice: User, project_id: str, root: Path
) -> None:
    files.write_bytes(platform, as_(alice), project_id, "a.txt", b"first version, long")
    files.write_bytes(platform, as_(alice), project_id, "a.txt", b"second")
    assert (root / "a.txt").read_bytes() == b"second"
    assert sorted(p.name for p in root.iterdir()) == ["a.txt"]


def test_read_limit(platform: Platform, alice: User, project_id: str) -> None:
    files.write_bytes(platform, as_(alice), project_id, "big.txt", b"x" * 100)
    with pytest.raises(PayloadTooLarge, match="download it instead"):
        files.read_bytes(platform, as_(alice), project_id, "big.txt", limit=99)
    assert files.read_bytes(platform, as_(alice), project_id, "big.txt", limit=100) == b"x" * 100


def test_move_and_delete(platform: Platform, alice: User, project_id: str, root: Path) -> None:
    who = as_(alice)
    files.write_bytes(platform, who, project_id, "old/name.txt", b"data")

    moved = files.move(platform, who, project_id, "old/name.txt", "new/place.txt")
    assert moved.path == "new/place.txt"
    assert (root / "new" / "place.txt").read_bytes() == b"data"
    assert not (root / "old" / "name.txt").exists()

    files.delete(platform, who, project_id, "new/place.txt")
    assert not (root / "new" / "place.txt").exists()
    files.delete(platform, who, project_id, "old")
    assert not (root / "old").exists()
    with pytest.raises(NotFound):
        files.delete(platform, who, project_id, "old")


def test_move_refusals(platform: Platform, alice: User, project_id: str, root: Path) -> None:
    who = as_(alice)
    files.write_bytes(platform, who, project_id, "a.txt", b"a")
    files.write_bytes(platform, who, project_id, "b.txt", b"b")
    files.mkdir(platform, who, project_id, "dir/sub")

    with pytest.raises(Conflict, match="already exists"):
        files.move(platform, who, project_id, "a.txt", "b.txt")
    with pytest.raises(InvalidInput, match="into itself"):
        files.move(platform, who, project_id, "dir", "dir/sub/dir")
    with pytest.raises(NotFound):
        files.move(platform, who, project_id, "missing.txt", "c.txt")
    with pytest.raises(InvalidInput, match="root"):
        files.move(platform, who, project_id, "", "elsewhere")
    assert (root / "a.txt").read_bytes() == b"a" and (root / "b.txt").read_bytes() == b"b"


def test_folder_and_file_mix_ups(platform: Platform, alice: User, project_id: str) -> None:
    who = as_(alice)
    files.write_bytes(platform, who, project_id, "note", b"text")
    files.mkdir(platform, who, project_id, "folder")
    with pytest.raises(Conflict, match="already exists as a file"):
        files.mkdir(platform, who, project_id, "note")
    with pytest.raises(Conflict, match="is a folder"):
        files.write_bytes(platform, who, project_id, "folder", b"x")
    with pytest.raises(InvalidInput, match="is a folder"):
        files.read_bytes(platform, who, project_id, "folder")
    with pytest.raises(InvalidInput):
        files.write_bytes(platform, who, project_id, "", b"x")
    with pytest.raises(InvalidInput, match="cannot be deleted"):
        files.delete(platform, who, project_id, "/")


# Paths that leave the project --------------------------------------------------------


BAD_PATHS = [
    "../escape.txt",
    "a/../../escape.txt",
    "..\\escape.txt",
    "/etc/passwd",
    "/tmp/escape.txt",
    "/home/cdsw/../escape.txt",
    "ok\x00.txt",
]


@pytest.mark.parametrize("path", BAD_PATHS)
def test_paths_leaving_the_project_are_refused_everywhere(
    platform: Platform, alice: User, project_id: str, root: Path, path: str
) -> None:
    who = as_(alice)
    files.write_bytes(platform, who, project_id, "inside.txt", b"in")
    before = snapshot(root.parent)

    attempts: list[Callable[[], object]] = [
        lambda: files.read_bytes(platform, who, project_id, path),
        lambda: files.list_dir(platform, who, project_id, path),
        lambda: files.stat(platform, who, project_id, path),
        lambda: files.write_bytes(platform, who, project_id, path, b"pwned"),
        lambda: files.write_stream(platform, who, project_id, path, io.BytesIO(b"pwned")),
        lambda: files.mkdir(platform, who, project_id, path),
        lambda: files.move(platform, who, project_id, "inside.txt", path),
        lambda: files.move(platform, who, project_id, path, "moved.txt"),
        lambda: files.delete(platform, who, project_id, path),
        lambda: files.open_download(platform, who, project_id, path),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidInput, match="absolute path|leaves the project|NUL"):
            attempt()
    assert snapshot(root.parent) == before
    assert not (root.parent.parent / "escape.txt").exists()


# Symlinks -------------------------------------------------------------------------------


@pytest.fixture
def links(root: Path, outside: Path) -> Path:
    """'file-link' and 'dir-link' inside the project point at things outside it."""
    os.symlink(outside / "secret.txt", root / "file-link")
    os.symlink(outside, root / "dir-link")
    os.symlink("../../../outside/nowhere.txt", root / "dangling-link")
    (root / "real.txt").write_text("real")
    os.symlink("real.txt", root / "inner-link")
    return outside


def test_a_symlink_out_of_the_project_cannot_be_read(
    platform: Platform, alice: User, project_id: str, links: Path
) -> None:
    who = as_(alice)
    for path in ("file-link", "dir-link/secret.txt", "dangling-link"):
        with pytest.raises(InvalidInput, match="points outside the project"):
            files.read_bytes(platform, who, project_id, path)
        with pytest.raises(InvalidInput, match="points outside the project"):
            files.stat(platform, who, project_id, path)
        with pytest.raises(InvalidInput, match="points outside the project"):
            files.open_download(platform, who, project_id, path)
    with pytest.raises(InvalidInput, match="points outside the project"):
        files.list_dir(platform, who, project_id, "dir-link")


def test_listing_hides_links_out_of_the_project(
    platform: Platform, alice: User, project_id: str, links: Path
) -> None:
    names = [e.name for e in files.list_dir(platform, as_(alice), project_id, "")]
    assert names == ["inner-link", "real.txt"]
    assert files.read_bytes(platform, as_(alice), project_id, "inner-link") == b"real"


def test_a_folder_download_leaves_out_what_links_point_at(
    platform: Platform, alice: User, project_id: str, links: Path
) -> None:
    import zipfile

    download = files.open_download(platform, as_(alice), project_id, "")
    with download.handle:
        assert download.name == "files.zip"
        with zipfile.ZipFile(download.handle) as zf:
            contents = {n: zf.read(n) for n in zf.namelist()}
    assert b"top secret" not in b"".join(contents.values())
    assert contents["real.txt"] == b"real"


def test_nothing_can_be_written_through_a_symlink_out_of_the_project(
    platform: Platform, alice: User, project_id: str, links: Path
) -> None:
    who = as_(alice)
    before = snapshot(links)
    for path in ("file-link", "dir-link/new.txt", "dir-link/secret.txt", "dangling-link"):
        with pytest.raises(InvalidInput, match="points outside the project"):
            files.write_bytes(platform, who, project_id, path, b"pwned")
        with pytest.raises(InvalidInput, match="points outside the project"):
            files.write_stream(platform, who, project_id, path, io.BytesIO(b"pwned"))
    with pytest.raises(InvalidInput, match="points outside the project"):
        files.mkdir(platform, who, project_id, "dir-link/sub")
    with pytest.raises(InvalidInput, match="points outside the project"):
        files.move(platform, who, project_id, "real.txt", "dir-link/stolen.txt")
    with pytest.raises(InvalidInput, match="points outside the project"):
        files.move(platform, who, project_id, "dir-link/secret.txt", "stolen.txt")
    with pytest.raises(InvalidInput, match="points outside the project"):
        files.delete(platform, who, project_id, "dir-link/secret.txt")
    assert snapshot(links) == before


def test_a_planted_link_at_the_temporary_name_is_not_written_through(
    platform: Platform, alice: User, project_id: str, root: Path, outside: Path
) -> None:
    # A workload can create any file in the project, including a link where the server
    # stages its writes; the write must replace the link, not follow it.
    os.symlink(outside / "secret.txt", root / ".report.txt.lakeworks-tmp")
    os.symlink(outside / "secret.txt", root / ".upload.bin.lakeworks-tmp")

    files.write_bytes(platform, as_(alice), project_id, "report.txt", b"report")
    files.write_stream(platform, as_(alice), project_id, "upload.bin", io.BytesIO(b"upload"))

    assert (outside / "secret.txt").read_text() == "top secret"
    assert (root / "report.txt").read_bytes() == b"report"
    assert (root / "upload.bin").read_bytes() == b"upload"
    assert not (root / "report.txt").is_symlink() and not (root / "upload.bin").is_symlink()


def test_deleting_a_symlink_removes_the_link_not_its_target(
    platform: Platform, alice: User, project_id: str, root: Path, links: Path
) -> None:
    who = as_(alice)
    files.delete(platform, who, project_id, "dir-link")
    files.delete(platform, who, project_id, "file-link")
    files.delete(platform, who, project_id, "dangling-link")
    files.delete(platform, who, project_id, "inner-link")

    assert not any(
        (root / n).is_symlink() for n in ("dir-link", "file-link", "dangling-link", "inner-link")
    )
    assert (links / "secret.txt").read_text() == "top secret"
    assert (root / "real.txt").read_text() == "real"


def test_a_symlink_can_be_renamed_without_touching_its_target(
    platform: Platform, alice: User, project_id: str, root: Path, links: Path
) -> None:
    files.move(platform, as_(alice), project_id, "dir-link", "renamed-link")
    assert os.readlink(root / "renamed-link") == str(links)
    assert (links / "secret.txt").read_text() == "top secret"


# Upload limit -------------------------------------------------------------------------


def test_an_upload_over_the_limit_is_refused_and_leaves_nothing(
    platform: Platform, alice: User, project_id: str, root: Path
) -> None:
    limit = platform.settings.max_upload_bytes
    files.write_bytes(platform, as_(alice), project_id, "model.bin", b"old model")

    with pytest.raises(PayloadTooLarge, match="LAKEWORKS_MAX_UPLOAD_BYTES"):
        files.write_stream(
            platform, as_(alice), project_id, "model.bin", io.BytesIO(bytes(limit + 1))
        )

    assert (root / "model.bin").read_bytes() == b"old model", "the old file is kept"
    assert sorted(p.name for p in root.iterdir()) == ["model.bin"], "no temporary file left"


def test_an_upload_of_exactly_the_limit_is_stored(
    platform: Platform, alice: User, project_id: str, root: Path
) -> None:
    limit = platform.settings.max_upload_bytes
    entry = files.write_stream(
        platform, as_(alice), project_id, "data/full.bin", io.BytesIO(bytes(limit))
    )
    assert entry.size == limit
    assert (root / "data" / "full.bin").stat().st_size == limit


# Permissions --------------------------------------------------------------------------


def test_a_viewer_can_read_but_not_change_anything(
    platform: Platform,
    alice: User,
    make_user: Callable[..., User],
    project_id: str,
    root: Path,
) -> None:
    viewer = make_user("victor")
    projects.set_collaborator(platform, as_(alice), project_id, "victor", "viewer")
    files.write_bytes(platform, as_(alice), project_id, "a.txt", b"alice's")
    files.mkdir(platform, as_(alice), project_id, "folder")
    before = snapshot(root)
    who = as_(viewer)

    assert files.read_bytes(platform, who, project_id, "a.txt") == b"alice's"
    assert len(files.list_dir(platform, who, project_id, "")) == 2

    attempts: list[Callable[[], object]] = [
        lambda: files.write_bytes(platform, who, project_id, "a.txt", b"victor's"),
        lambda: files.write_bytes(platform, who, project_id, "new.txt", b"victor's"),
        lambda: files.write_stream(platform, who, project_id, "up.bin", io.BytesIO(b"v")),
        lambda: files.mkdir(platform, who, project_id, "victor"),
        lambda: files.move(platform, who, project_id, "a.txt", "b.txt"),
        lambda: files.delete(platform, who, project_id, "a.txt"),
        lambda: files.delete(platform, who, project_id, "folder"),
    ]
    for attempt in attempts:
        with pytest.raises(PermissionDenied, match="viewer"):
            attempt()
    assert snapshot(root) == before


def test_a_contributor_can_write(
    platform: Platform, alice: User, make_user: Callable[..., User], project_id: str, root: Path
) -> None:
    carol = make_user("carol")
    projects.set_collaborator(platform, as_(alice), project_id, "carol", "contributor")
    files.write_bytes(platform, as_(carol), project_id, "carol.txt", b"hi")
    assert (root / "carol.txt").read_bytes() == b"hi"


def test_a_user_without_access_is_told_the_project_does_not_exist(
    platform: Platform,
    alice: User,
    make_user: Callable[..., User],
    project_id: str,
    root: Path,
) -> None:
    mallory = make_user("mallory")
    files.write_bytes(platform, as_(alice), project_id, "a.txt", b"alice's")
    before = snapshot(root)
    who = as_(mallory)

    attempts: list[Callable[[], object]] = [
        lambda: files.read_bytes(platform, who, project_id, "a.txt"),
        lambda: files.list_dir(platform, who, project_id, ""),
        lambda: files.stat(platform, who, project_id, "a.txt"),
        lambda: files.open_download(platform, who, project_id, ""),
        lambda: files.write_bytes(platform, who, project_id, "a.txt", b"mallory's"),
        lambda: files.move(platform, who, project_id, "a.txt", "b.txt"),
        lambda: files.delete(platform, who, project_id, "a.txt"),
    ]
    for attempt in attempts:
        with pytest.raises(NotFound, match="Project"):
            attempt()
    assert snapshot(root) == before


def test_a_workload_key_for_another_project_cannot_touch_files(
    platform: Platform, alice: User, project_id: str
) -> None:
    other = projects.create(
        platform, as_(alice), name="Other", source=projects.parse_source("", "")
    )
    scoped = Principal(user=alice, via="api_key", project_scope=other.id)
    files.write_bytes(platform, scoped, other.id, "ok.txt", b"fine")
    with pytest.raises(NotFound):
        files.read_bytes(platform, scoped, project_id, "anything")
    with pytest.raises(NotFound):
        files.write_bytes(platform, scoped, project_id, "x.txt", b"x")


# Audit --------------------------------------------------------------------------------


def test_writes_and_refusals_are_audited(
    platform: Platform,
    alice: User,
    admin: User,
    make_user: Callable[..., User],
    project_id: str,
) -> None:
    viewer = make_user("victor")
    projects.set_collaborator(platform, as_(alice), project_id, "victor", "viewer")
    files.write_bytes(platform, as_(alice), project_id, "a.txt", b"12345")
    files.move(platform, as_(alice), project_id, "a.txt", "b.txt")
    with pytest.raises(PermissionDenied):
        files.delete(platform, as_(viewer), project_id, "b.txt")
    with pytest.raises(InvalidInput):
        files.write_bytes(platform, as_(alice), project_id, "../x", b"x")

    events, total = audit.list_audit(
        platform, as_(admin), project_id=project_id, action_prefix="file."
    )
    assert total == 4
    summary = [(e.actor, e.action, e.target, e.outcome) for e in events]
    assert summary == [
        ("alice", "file.write", "../x", Outcome.FAILED),
        ("victor", "file.delete", "b.txt", Outcome.DENIED),
        ("alice", "file.move", "a.txt", Outcome.SUCCESS),
        ("alice", "file.write", "a.txt", Outcome.SUCCESS),
    ]
    assert events[3].detail == {"bytes": 5}
    assert events[2].detail == {"to": "b.txt"}
    assert "viewer" in events[1].detail["error"]


def test_only_site_admins_read_the_audit_log(platform: Platform, alice: User) -> None:
    with pytest.raises(PermissionDenied):
        audit.list_audit(platform, as_(alice))


def test_a_refused_nul_path_is_audited_on_every_backend(
    platform: Platform, alice: User, admin: User, project_id: str
) -> None:
    # PostgreSQL text cannot hold NUL: the refusal must still be recorded, not crash.
    with pytest.raises(InvalidInput, match="NUL"):
        files.write_bytes(platform, as_(alice), project_id, "a\x00b.txt", b"x")
    [event], _ = audit.list_audit(platform, as_(admin), action_prefix="file.write")
    assert (event.target, event.outcome) == ("a\\x00b.txt", Outcome.FAILED)


def test_an_exclusive_write_never_replaces_a_file(
    platform: Platform, alice: User, project_id: str, root: Path
) -> None:
    who = as_(alice)
    files.write_bytes(platform, who, project_id, "notes.md", b"mine", exclusive=True)
    with pytest.raises(Conflict, match="already exists"):
        files.write_bytes(platform, who, project_id, "notes.md", b"theirs", exclusive=True)
    assert (root / "notes.md").read_bytes() == b"mine"
    assert sorted(p.name for p in root.iterdir()) == ["notes.md"], "no temporary file left"
