"""lakeworks.safe_paths: reads, writes and copies under a hostile folder never follow a link,
never read a hard-linked, special or oversized file, and never block on a FIFO."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lakeworks import safe_paths
from lakeworks.errors import InvalidInput, PayloadTooLarge
from lakeworks.safe_paths import UnsafePath


def within(seconds: float, call: Callable[[], Any]) -> Any:
    """``call()``, failing the test if it has not returned in ``seconds`` (a FIFO hang)."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed back to the test below
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still blocked after {seconds} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text("top secret")
    return folder


@pytest.fixture
def root(tmp_path: Path, outside: Path) -> Path:
    """A project a workload has booby-trapped."""
    root = tmp_path / "project"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "plain.txt").write_text("plain")
    os.symlink(outside / "secret.txt", root / "leak")
    os.symlink(outside, root / "leakdir")
    os.symlink("plain.txt", root / "sub" / "inner-link")
    os.link(outside / "secret.txt", root / "hard")
    os.mkfifo(root / "pipe")
    return root


def test_plain_files_read(root: Path) -> None:
    assert safe_paths.read_bytes(root, "sub/plain.txt", max_bytes=100) == b"plain"
    assert safe_paths.is_file(root, "sub/plain.txt") and safe_paths.is_dir(root, "sub")


@pytest.mark.parametrize(
    "path", ["leak", "leakdir/secret.txt", "sub/inner-link", "hard", "pipe", "../outside/x"]
)
def test_links_hard_links_and_fifos_are_refused(root: Path, path: str) -> None:
    with pytest.raises(UnsafePath):
        within(5, lambda: safe_paths.read_bytes(root, path, max_bytes=100))
    assert not safe_paths.is_file(root, path if ".." not in path else "leak")


def test_a_device_is_refused(root: Path) -> None:
    # A workload with mknod rights could plant one; /dev/zero stands in for it via a bind.
    os.symlink("/dev/zero", root / "zero")
    with pytest.raises(UnsafePath):
        safe_paths.read_bytes(root, "zero", max_bytes=10)
    with pytest.raises(UnsafePath, match="not a plain file"):
        safe_paths.read_bytes(Path("/dev"), "zero", max_bytes=10)


def test_sizes_are_bounded(root: Path) -> None:
    with pytest.raises(PayloadTooLarge):
        safe_paths.read_bytes(root, "sub/plain.txt", max_bytes=3)


def test_a_folder_is_not_a_file(root: Path) -> None:
    with pytest.raises(InvalidInput, match="folder"):
        safe_paths.read_bytes(root, "sub", max_bytes=3)


def test_writes_replace_a_planted_link_and_refuse_a_linked_folder(
    root: Path, outside: Path
) -> None:
    safe_paths.write_bytes(root, "leak", b"new")
    assert (root / "leak").read_bytes() == b"new" and not (root / "leak").is_symlink()
    safe_paths.write_bytes(root, "hard", b"new")
    with pytest.raises(UnsafePath):
        safe_paths.write_bytes(root, "leakdir/secret.txt", b"pwned")
    with pytest.raises(UnsafePath):
        safe_paths.write_bytes(root, "leakdir/new/file", b"pwned")
    assert (outside / "secret.txt").read_text() == "top secret"
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    safe_paths.write_bytes(root, "a/b/c.txt", b"deep")
    assert (root / "a" / "b" / "c.txt").read_bytes() == b"deep"


def test_unlink_removes_links_not_targets(root: Path, outside: Path) -> None:
    assert safe_paths.unlink(root, "leak")
    assert not safe_paths.unlink(root, "leakdir/secret.txt")
    assert not safe_paths.unlink(root, "missing")
    assert (outside / "secret.txt").read_text() == "top secret"


def test_copy_tree_copies_only_plain_files(root: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    copied = within(10, lambda: safe_paths.copy_tree(root, "", dest, max_bytes=100, max_files=10))
    found = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if not p.is_dir()}
    assert found == {"sub/plain.txt"}
    assert (copied.files, copied.bytes) == (1, 5)
    assert sorted(s.split(":")[0] for s in copied.skipped) == [
        "hard",
        "leak",
        "leakdir",
        "pipe",
        "sub/inner-link",
    ]


def test_copy_tree_is_bounded(root: Path, tmp_path: Path) -> None:
    (root / "big.bin").write_bytes(b"x" * 1000)
    with pytest.raises(PayloadTooLarge):
        safe_paths.copy_tree(root, "", tmp_path / "d1", max_bytes=100, max_files=10)
    with pytest.raises(PayloadTooLarge):
        safe_paths.copy_tree(root, "", tmp_path / "d2", max_bytes=10_000, max_files=1)


def test_copy_tree_writes_into_a_hostile_destination_without_following_links(
    root: Path, outside: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    os.symlink(outside, dest / "sub")  # planted where the copy wants a folder
    with pytest.raises(UnsafePath):
        safe_paths.copy_tree(root, "sub", dest, "sub", max_bytes=100, max_files=10)
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


def test_a_folder_swapped_for_a_link_mid_walk_is_not_followed(
    root: Path, outside: Path, tmp_path: Path
) -> None:
    (root / "zz").mkdir()
    (root / "zz" / "secret.txt").write_text("inside")
    walked = []
    for path, _fd in safe_paths.walk_files(root):
        walked.append(path)
        if path == "sub/plain.txt":  # the workload swaps zz for a link while we walk
            (root / "zz" / "secret.txt").unlink()
            (root / "zz").rmdir()
            os.symlink(outside, root / "zz")
    assert walked == ["sub/plain.txt"]
