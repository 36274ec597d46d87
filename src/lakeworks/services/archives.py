"""Unpacking uploaded project archives (.zip, .tar, .tar.gz) without letting them escape.

Refused: absolute member names, ``..`` components, links pointing outside the archive,
device files, and archives that expand past the configured size or member count (bombs).
Sizes are counted on the bytes actually written, not on what headers claim.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import uuid
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO

from lakeworks.errors import InvalidInput, PayloadTooLarge

_CHUNK = 1024 * 1024


class _Budget:
    def __init__(self, max_bytes: int, max_members: int) -> None:
        self.bytes_left = max_bytes
        self.members_left = max_members
        self.max_bytes = max_bytes
        self.max_members = max_members

    def member(self) -> None:
        self.members_left -= 1
        if self.members_left < 0:
            raise PayloadTooLarge(f"The archive holds more than {self.max_members} entries.")

    def spend(self, n: int) -> None:
        self.bytes_left -= n
        if self.bytes_left < 0:
            raise PayloadTooLarge(
                f"The archive expands to more than {self.max_bytes} bytes; it is refused "
                "(the limit is LAKEWORKS_MAX_ARCHIVE_BYTES)."
            )


def member_path(name: str) -> PurePosixPath | None:
    """The safe relative path of an archive member, None for the archive root, or raise."""
    if "\x00" in name:
        raise InvalidInput(f"Archive member {name!r} has a NUL byte in its name.")
    normalised = name.replace("\\", "/")
    if normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":"):
        raise InvalidInput(f"Archive member {name!r} has an absolute path; it is refused.")
    parts = [p for p in PurePosixPath(normalised).parts if p not in ("", ".")]
    if ".." in parts:
        raise InvalidInput(f"Archive member {name!r} points outside the project; it is refused.")
    return PurePosixPath(*parts) if parts else None


def _copy(source: IO[bytes], target: Path, budget: _Budget, dest: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # Never write through a link already on disk (an earlier member), whatever the filters
    # upstream concluded: the real parent must be inside dest and the name must not be a link.
    root = dest.resolve()
    parent = target.parent.resolve(strict=True)
    if (parent != root and root not in parent.parents) or target.is_symlink():
        raise InvalidInput(f"Archive member {target.name!r} would be written through a link.")
    if target.is_file():
        target.unlink()  # a repeated member name: the later one wins, as unzip does
    with target.open("xb") as out:
        while chunk := source.read(_CHUNK):
            budget.spend(len(chunk))
            out.write(chunk)


def extract(archive: Path, dest: Path, *, max_bytes: int, max_members: int) -> None:
    """Unpack ``archive`` into the (existing, empty) directory ``dest``.

    When every entry sits under one top-level folder (``myproject/...``, as archive tools
    and git hosts make them), that folder is dropped so the project root holds the files.
    On error ``dest`` may hold a partial tree; the caller removes it.
    """
    budget = _Budget(max_bytes, max_members)
    if zipfile.is_zipfile(archive):
        _extract_zip(archive, dest, budget)
    else:
        try:
            is_tar = tarfile.is_tarfile(archive)
        except OSError:
            is_tar = False
        if not is_tar:
            raise InvalidInput("The upload is not a .zip, .tar or .tar.gz archive.")
        _extract_tar(archive, dest, budget)
    _hoist_single_folder(dest)
    _refuse_escaping_links(dest)


def _extract_zip(archive: Path, dest: Path, budget: _Budget) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                budget.member()
                rel = member_path(info.filename)
                if rel is None:
                    continue
                target = dest / rel
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                # Unix symlinks in zips (mode S_IFLNK) are written as plain files holding the
                # link text: never followed, never a way out.
                with zf.open(info) as source:
                    _copy(source, target, budget, dest)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        EOFError,
        NotImplementedError,
        OSError,
    ) as exc:
        # OSError: members that clash on disk (a file "a" and a file "a/b") are bad input too.
        raise InvalidInput(f"The zip archive is damaged or unsupported: {exc}") from exc


def _extract_tar(archive: Path, dest: Path, budget: _Budget) -> None:
    try:
        with tarfile.open(archive, mode="r:*") as tf:
            for info in tf:
                budget.member()
                rel = member_path(info.name)
                if rel is None:
                    continue
                try:
                    # The stdlib "data" filter rejects links out of dest, devices and odd modes.
                    safe = tarfile.data_filter(info, str(dest))
                except tarfile.FilterError as exc:
                    raise InvalidInput(f"Archive member {info.name!r} is refused: {exc}") from exc
                target = dest / rel
                if safe.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                elif safe.isreg():
                    source = tf.extractfile(safe)
                    assert source is not None
                    _copy(source, target, budget, dest)
                elif safe.issym() or safe.islnk():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    tf.extract(safe, dest, set_attrs=False, filter="data")
                # Anything else (fifos, devices) the filter has already refused.
    except (tarfile.TarError, EOFError, OSError) as exc:
        if isinstance(exc, tarfile.FilterError):
            raise InvalidInput(f"An archive member is refused: {exc}") from exc
        raise InvalidInput(f"The tar archive is damaged or unsupported: {exc}") from exc


def _hoist_single_folder(dest: Path) -> None:
    entries = list(dest.iterdir())
    if len(entries) != 1 or not entries[0].is_dir() or entries[0].is_symlink():
        return
    inner = entries[0]
    # Random, so no entry of the folder (which moves into dest next to it) can share its name.
    holding = dest / f".lakeworks-unpack-{uuid.uuid4().hex}"
    inner.rename(holding)
    for child in holding.iterdir():
        shutil.move(str(child), dest / child.name)
    holding.rmdir()


def _refuse_escaping_links(dest: Path) -> None:
    """Check every link once the tree is in place.

    The tar filter judges each link where it is extracted, but hoisting the top folder moves
    links up one level (``top/link -> ../x`` then points out of ``dest``), so check again.
    """
    root = dest.resolve()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            if not path.is_symlink():
                continue
            target = (path.parent / os.readlink(path)).resolve()
            if target != root and root not in target.parents:
                rel = path.relative_to(root).as_posix()
                raise InvalidInput(
                    f"Archive member {rel!r} is a link pointing outside the project; it is refused."
                )
