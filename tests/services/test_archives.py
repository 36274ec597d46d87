"""Unpacking uploaded archives: hostile archives are refused and nothing lands outside dest."""

from __future__ import annotations

import io
import os
import struct
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lakeworks.errors import InvalidInput, PayloadTooLarge
from lakeworks.services.archives import extract

MAX_BYTES = 1024 * 1024
MAX_MEMBERS = 50


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    """dest sits in work/, next to a sentinel folder that no archive may touch."""
    (tmp_path / "work" / "dest").mkdir(parents=True)
    (tmp_path / "work" / "sentinel").mkdir()
    (tmp_path / "work" / "sentinel" / "keep.txt").write_text("untouched")
    (tmp_path / "secret").write_text("outside the project")
    (tmp_path / "archives").mkdir()
    return tmp_path / "work" / "dest"


def _outside(dest: Path) -> dict[str, bytes | None]:
    """Everything under tmp_path except dest itself and the archives the tests wrote."""
    root = dest.parent.parent
    found: dict[str, bytes | None] = {}
    for path in root.rglob("*"):
        if dest in path.parents or path == dest or path.parent == root / "archives":
            continue
        if path.is_symlink():
            found[path.relative_to(root).as_posix()] = b"->" + os.readlink(path).encode()
        else:
            rel = path.relative_to(root).as_posix()
            found[rel] = path.read_bytes() if path.is_file() else None
    return found


@pytest.fixture
def untouched_outside(dest: Path) -> Iterator[None]:
    before = _outside(dest)
    yield
    assert _outside(dest) == before, "nothing may be written outside dest"
    assert (dest.parent / "sentinel" / "keep.txt").read_text() == "untouched"


def _archive(dest: Path, name: str) -> Path:
    return dest.parent.parent / "archives" / name


def make_zip(dest: Path, members: dict[str, bytes], *, name: str = "upload.zip") -> Path:
    path = _archive(dest, name)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, content in members.items():
            # ZipInfo keeps the name exactly as given, as a hostile tool would write it.
            zf.writestr(zipfile.ZipInfo(member), content, compress_type=zipfile.ZIP_DEFLATED)
    return path


def make_tar(
    dest: Path, members: list[tarfile.TarInfo | tuple[str, bytes]], *, mode: str = "w"
) -> Path:
    path = _archive(dest, "upload.tar.gz" if mode == "w:gz" else "upload.tar")
    with tarfile.open(path, mode) as tf:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tf.addfile(member)
            else:
                info = tarfile.TarInfo(member[0])
                info.size = len(member[1])
                tf.addfile(info, io.BytesIO(member[1]))
    return path


def tar_entry(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def run(archive: Path, dest: Path, **limits: int) -> None:
    extract(
        archive,
        dest,
        max_bytes=limits.get("max_bytes", MAX_BYTES),
        max_members=limits.get("max_members", MAX_MEMBERS),
    )


def tree(dest: Path) -> dict[str, bytes | str | None]:
    result: dict[str, bytes | str | None] = {}
    for path in sorted(dest.rglob("*")):
        rel = path.relative_to(dest).as_posix()
        if path.is_symlink():
            result[rel] = "-> " + os.readlink(path)
        elif path.is_dir():
            result[rel] = None
        else:
            result[rel] = path.read_bytes()
    return result


def bytes_written(dest: Path) -> int:
    return sum(p.stat().st_size for p in dest.rglob("*") if p.is_file() and not p.is_symlink())


# Happy paths --------------------------------------------------------------------------


def test_a_zip_is_unpacked(dest: Path) -> None:
    archive = make_zip(dest, {"main.py": b"print(1)\n", "data/x.csv": b"a,b\n", "empty/": b""})
    run(archive, dest)
    assert tree(dest) == {
        "data": None,
        "data/x.csv": b"a,b\n",
        "empty": None,
        "main.py": b"print(1)\n",
    }


@pytest.mark.parametrize("mode", ["w", "w:gz"])
def test_a_tar_is_unpacked(dest: Path, mode: str) -> None:
    archive = make_tar(
        dest,
        [
            ("main.py", b"print(1)\n"),
            tar_entry("data", tarfile.DIRTYPE),
            ("data/x.csv", b"a,b\n"),
            tar_entry("latest.csv", tarfile.SYMTYPE, "data/x.csv"),
            tar_entry("copy.csv", tarfile.LNKTYPE, "data/x.csv"),
        ],
        mode=mode,
    )
    run(archive, dest)
    assert tree(dest) == {
        "copy.csv": b"a,b\n",
        "data": None,
        "data/x.csv": b"a,b\n",
        "latest.csv": "-> data/x.csv",
        "main.py": b"print(1)\n",
    }
    assert (dest / "latest.csv").read_bytes() == b"a,b\n", "a link inside the archive works"


def test_a_single_top_level_folder_is_hoisted(dest: Path) -> None:
    archive = make_zip(
        dest,
        {
            "churn-main/": b"",
            "churn-main/README.md": b"# churn\n",
            "churn-main/src/train.py": b"fit()\n",
        },
    )
    run(archive, dest)
    assert tree(dest) == {"README.md": b"# churn\n", "src": None, "src/train.py": b"fit()\n"}


def test_hoisting_keeps_links_inside_the_folder_working(dest: Path) -> None:
    archive = make_tar(
        dest,
        [
            ("top/data/x.csv", b"1\n"),
            tar_entry("top/latest.csv", tarfile.SYMTYPE, "data/x.csv"),
        ],
    )
    run(archive, dest)
    assert (dest / "latest.csv").read_bytes() == b"1\n"


def test_a_folder_holding_an_entry_named_like_the_unpack_folder_is_hoisted(dest: Path) -> None:
    archive = make_zip(dest, {"top/.lakeworks-unpack-top/x.txt": b"x", "top/y.txt": b"y"})
    run(archive, dest)
    assert tree(dest) == {
        ".lakeworks-unpack-top": None,
        ".lakeworks-unpack-top/x.txt": b"x",
        "y.txt": b"y",
    }


@pytest.mark.parametrize(
    "members",
    [
        {"top/a.txt": b"a", "other.txt": b"b"},  # two top-level entries
        {"only.txt": b"a"},  # a single file
    ],
)
def test_anything_but_a_single_folder_stays_as_is(dest: Path, members: dict[str, bytes]) -> None:
    run(make_zip(dest, members), dest)
    assert {k for k, v in tree(dest).items() if v is not None} == set(members)


def test_a_zip_symlink_becomes_a_plain_file(dest: Path, untouched_outside: None) -> None:
    archive = _archive(dest, "links.zip")
    with zipfile.ZipFile(archive, "w") as zf:
        link = zipfile.ZipInfo("passwd")
        link.external_attr = 0o120777 << 16  # S_IFLNK, as `zip --symlinks` writes it
        zf.writestr(link, "/etc/passwd")
    run(archive, dest)
    assert not (dest / "passwd").is_symlink()
    assert (dest / "passwd").read_text() == "/etc/passwd"


# Paths that leave dest ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["../evil.txt", "ok/../../evil.txt", "..\\evil.txt", "/tmp/evil.txt", "C:/evil.txt"],
)
def test_zip_members_leaving_dest_are_refused(
    dest: Path, untouched_outside: None, name: str
) -> None:
    archive = make_zip(dest, {"fine.txt": b"ok", name: b"pwned"})
    with pytest.raises(InvalidInput, match="absolute path|points outside the project"):
        run(archive, dest)


@pytest.mark.parametrize("name", ["../evil.txt", "a/../../evil.txt", "/tmp/evil.txt"])
def test_tar_members_leaving_dest_are_refused(
    dest: Path, untouched_outside: None, name: str
) -> None:
    archive = make_tar(dest, [("fine.txt", b"ok"), (name, b"pwned")])
    with pytest.raises(InvalidInput, match="absolute path|points outside the project"):
        run(archive, dest)


@pytest.mark.parametrize(
    ("kind", "target"),
    [
        (tarfile.SYMTYPE, "/etc/passwd"),
        (tarfile.SYMTYPE, "../../secret"),
        (tarfile.SYMTYPE, "../sentinel"),
        (tarfile.LNKTYPE, "/etc/passwd"),
        (tarfile.LNKTYPE, "../../secret"),
    ],
)
def test_tar_links_pointing_outside_are_refused(
    dest: Path, untouched_outside: None, kind: bytes, target: str
) -> None:
    archive = make_tar(dest, [("fine.txt", b"ok"), tar_entry("link", kind, target)])
    with pytest.raises(InvalidInput, match="refused"):
        run(archive, dest)
    assert not (dest / "link").exists() and not (dest / "link").is_symlink()


def test_a_link_into_a_linked_folder_cannot_be_used_to_write_outside(
    dest: Path, untouched_outside: None
) -> None:
    # First a harmless-looking link to ".", then a link through it that climbs out.
    archive = make_tar(
        dest,
        [
            tar_entry("here", tarfile.SYMTYPE, "."),
            tar_entry("here/up", tarfile.SYMTYPE, ".."),
            ("up/evil.txt", b"pwned"),
        ],
    )
    with pytest.raises(InvalidInput):
        run(archive, dest)


def test_a_link_that_hoisting_would_move_outside_is_refused(
    dest: Path, untouched_outside: None
) -> None:
    # Inside top/, "../secret" stays in dest; once top/ is hoisted it would point above dest.
    archive = make_tar(
        dest,
        [
            ("top/readme.txt", b"hi"),
            tar_entry("top/link", tarfile.SYMTYPE, "../secret"),
        ],
    )
    with pytest.raises(InvalidInput, match="link pointing outside"):
        run(archive, dest)


@pytest.mark.parametrize("kind", [tarfile.FIFOTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE])
def test_device_and_fifo_members_are_refused(
    dest: Path, untouched_outside: None, kind: bytes
) -> None:
    archive = make_tar(dest, [tar_entry("dev", kind)])
    with pytest.raises(InvalidInput, match="refused"):
        run(archive, dest)
    assert not (dest / "dev").exists()


# Bombs and limits ---------------------------------------------------------------------


def test_a_zip_bomb_is_stopped_by_the_bytes_written(dest: Path, untouched_outside: None) -> None:
    archive = make_zip(dest, {"zeros.bin": bytes(8 * MAX_BYTES)})
    assert archive.stat().st_size < MAX_BYTES / 10, "highly compressible"
    with pytest.raises(PayloadTooLarge, match="LAKEWORKS_MAX_ARCHIVE_BYTES"):
        run(archive, dest)
    assert bytes_written(dest) <= MAX_BYTES


def test_many_members_together_are_held_to_the_byte_limit(dest: Path) -> None:
    third = MAX_BYTES // 3 + 1
    archive = make_zip(dest, {f"part{i}.bin": bytes(third) for i in range(3)})
    with pytest.raises(PayloadTooLarge):
        run(archive, dest)
    assert bytes_written(dest) <= MAX_BYTES


def test_a_tar_bomb_is_stopped_too(dest: Path) -> None:
    archive = make_tar(dest, [("zeros.bin", bytes(3 * MAX_BYTES))], mode="w:gz")
    with pytest.raises(PayloadTooLarge):
        run(archive, dest)
    assert bytes_written(dest) <= MAX_BYTES


def _patch_sizes(archive: Path, claimed: int) -> None:
    """Rewrite the uncompressed size in the zip's local and central headers."""
    data = bytearray(archive.read_bytes())
    local = data.index(b"PK\x03\x04")
    struct.pack_into("<I", data, local + 22, claimed)
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, claimed)
    archive.write_bytes(bytes(data))


def test_a_zip_whose_header_understates_the_size_is_refused(
    dest: Path, untouched_outside: None
) -> None:
    archive = make_zip(dest, {"zeros.bin": bytes(4 * MAX_BYTES)})
    _patch_sizes(archive, 100)
    assert zipfile.ZipFile(archive).infolist()[0].file_size == 100, "the header now lies"

    with pytest.raises((InvalidInput, PayloadTooLarge)):
        run(archive, dest)
    assert bytes_written(dest) <= MAX_BYTES


def test_an_overstated_header_does_not_count_against_the_limit(dest: Path) -> None:
    # The limit is on bytes written: a header claiming 10 MB for 4 real bytes is harmless.
    archive = make_zip(dest, {"small.txt": b"tiny"})
    _patch_sizes(archive, 10 * MAX_BYTES)
    run(archive, dest)
    assert tree(dest) == {"small.txt": b"tiny"}


@pytest.mark.parametrize("maker", ["zip", "tar"])
def test_too_many_members_are_refused(dest: Path, maker: str) -> None:
    members = {f"f{i}.txt": b"x" for i in range(6)}
    archive = (
        make_zip(dest, members)
        if maker == "zip"
        else make_tar(dest, [(k, v) for k, v in members.items()])
    )
    with pytest.raises(PayloadTooLarge, match="more than 5 entries"):
        run(archive, dest, max_members=5)


def test_exactly_the_member_limit_is_accepted(dest: Path) -> None:
    run(make_zip(dest, {f"f{i}.txt": b"x" for i in range(5)}), dest, max_members=5)
    assert len(list(dest.iterdir())) == 5


# Damaged input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b"", b"hello, this is plain text\n" * 40, os.urandom(4096), b"PK\x03\x04" + bytes(100)],
    # Fixed ids: a random value in a test id differs between pytest-xdist's workers.
    ids=["empty", "text", "random-bytes", "cut-zip-header"],
)
def test_something_that_is_not_an_archive_is_refused(dest: Path, content: bytes) -> None:
    path = _archive(dest, "upload.bin")
    path.write_bytes(content)
    with pytest.raises(InvalidInput, match=r"not a \.zip, \.tar or \.tar\.gz archive"):
        run(path, dest)


def _truncate(path: Path, fraction: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


@pytest.mark.parametrize(
    "make",
    [
        lambda d: make_zip(d, {"a.bin": os.urandom(64 * 1024), "b.bin": os.urandom(64 * 1024)}),
        lambda d: make_tar(d, [("a.bin", os.urandom(64 * 1024))]),
        lambda d: make_tar(d, [("a.bin", os.urandom(64 * 1024))], mode="w:gz"),
    ],
    ids=["zip", "tar", "tar.gz"],
)
def test_a_truncated_archive_is_refused_clearly(dest: Path, make: Callable[[Path], Path]) -> None:
    archive = _truncate(make(dest), 0.6)
    with pytest.raises(InvalidInput) as caught:
        run(archive, dest)
    assert "damaged" in caught.value.message or "not a .zip" in caught.value.message


def test_a_zip_with_a_corrupted_member_is_refused(dest: Path) -> None:
    archive = make_zip(dest, {"a.txt": b"hello world " * 100})
    data = bytearray(archive.read_bytes())
    start = data.index(b"PK\x03\x04") + 30 + len("a.txt")
    data[start + 2 : start + 10] = b"\xff" * 8  # scramble the deflate stream
    archive.write_bytes(bytes(data))
    with pytest.raises(InvalidInput, match="damaged"):
        run(archive, dest)


def test_members_that_clash_on_disk_are_bad_input(dest: Path) -> None:
    # A file "a" and then "a/b" cannot both exist: a 400 for the uploader, not a crash.
    archive = make_zip(dest, {"a": b"file", "a/b": b"nested"})
    with pytest.raises(InvalidInput):
        run(archive, dest)
