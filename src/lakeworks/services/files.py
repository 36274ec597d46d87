"""Project files: every path resolved safely inside the project directory.

Paths are relative to the project root (``/home/cdsw`` inside workloads). Refused: absolute
paths, ``..`` components, NUL bytes, and anything whose real location (after symlinks) lies
outside the project. The check resolves the path once; the read or write itself then walks
the resolved path with ``safe_paths`` (no link followed on the way, plain singly linked files
only), so a workload that swaps a folder for a link meanwhile gains nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from lakeworks import safe_paths
from lakeworks.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from lakeworks.executors import ownership, sandbox
from lakeworks.services.permissions import Action, require
from lakeworks.services.platform import Platform, Principal

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative to the project root, "/"-separated
    name: str
    is_dir: bool
    size: int
    modified_at: datetime


def project_root(platform: Platform, project_id: str) -> Path:
    return platform.settings.projects_dir / project_id


def clean_relative(path: str) -> PurePosixPath:
    """Normalise a user-given path; '' or '/' mean the project root."""
    if "\x00" in path:
        raise InvalidInput("File paths cannot contain NUL bytes.")
    if path.startswith("/") and path.strip("/") and not path.startswith("/home/cdsw"):
        raise InvalidInput(f"{path!r} is an absolute path; give a path inside the project.")
    if path.startswith("/home/cdsw"):
        # Paths copied from inside a workload are accepted: /home/cdsw is the project root.
        path = path[len("/home/cdsw") :]
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidInput(f"{path!r} leaves the project; '..' is not allowed in paths.")
    return PurePosixPath(*parts) if parts else PurePosixPath()


def resolve(root: Path, path: str, *, follow_last: bool = True) -> Path:
    """The absolute location of ``path`` inside ``root``, refusing symlink escapes.

    With ``follow_last`` False the final component is not followed, so a symlink itself can
    be renamed or deleted without touching what it points at.
    """
    rel = clean_relative(path)
    real_root = root.resolve()
    candidate = real_root / rel
    if follow_last:
        real = candidate.resolve()
    else:
        real = candidate.parent.resolve() / candidate.name if rel.parts else real_root
    if real != real_root and real_root not in real.parents:
        raise InvalidInput(f"{path!r} points outside the project (through a symbolic link).")
    return real


def _entry(root: Path, location: Path) -> FileEntry:
    stat = location.lstat() if location.is_symlink() else location.stat()
    rel = location.relative_to(root.resolve()).as_posix()
    return FileEntry(
        path=rel,
        name=location.name,
        is_dir=location.is_dir(),
        size=0 if location.is_dir() else stat.st_size,
        modified_at=datetime.fromtimestamp(stat.st_mtime, UTC),
    )


def _existing(root: Path, path: str) -> Path:
    location = resolve(root, path)
    if not location.exists():
        raise NotFound(
            f"No file or folder {clean_relative(path).as_posix() or '/'!r} in the project."
        )
    return location


# Reads -------------------------------------------------------------------------------


def list_dir(
    platform: Platform, principal: Principal, project_id: str, path: str = ""
) -> list[FileEntry]:
    """Entries of a folder (folders first, then by name); a file path lists just that file."""
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
    root = project_root(platform, project_id)
    location = _existing(root, path)
    if location.is_file():
        return [_entry(root, location)]
    entries = []
    for child in location.iterdir():
        try:
            resolve(root, child.relative_to(root.resolve()).as_posix())
        except InvalidInput:
            continue  # a symlink pointing out of the project is not shown
        if child.exists():
            entries.append(_entry(root, child))
    return sorted(entries, key=lambda e: (not e.is_dir, e.name.lower()))


def stat(platform: Platform, principal: Principal, project_id: str, path: str) -> FileEntry:
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
    root = project_root(platform, project_id)
    return _entry(root, _existing(root, path))


def read_bytes(
    platform: Platform,
    principal: Principal,
    project_id: str,
    path: str,
    *,
    limit: int | None = None,
) -> bytes:
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
    root = project_root(platform, project_id)
    location = _existing(root, path)
    if location.is_dir():
        raise InvalidInput(f"{path!r} is a folder, not a file.")
    bound = limit if limit is not None else platform.settings.max_upload_bytes
    try:
        return safe_paths.read_bytes(root, _inside(root, location), max_bytes=bound)
    except PayloadTooLarge:
        raise PayloadTooLarge(
            f"{path!r} is larger than {bound} bytes; download it instead."
        ) from None


@dataclass
class Download:
    """A file to send: its name, size and an open handle (for a folder, a zip of it in an
    already unlinked temporary file, so nothing is left behind however the send ends)."""

    name: str
    size: int
    handle: BinaryIO

    def chunks(self) -> Iterator[bytes]:
        """The content, no more than ``size`` bytes (the length announced to the client,
        however the file grows meanwhile)."""
        left = self.size
        with self.handle:
            while left > 0 and (chunk := self.handle.read(min(_CHUNK, left))):
                left -= len(chunk)
                yield chunk


def open_download(platform: Platform, principal: Principal, project_id: str, path: str) -> Download:
    """Open a file, or a zip of a folder, for a download.

    The file is opened here, without following links (``safe_paths``), and the handle is
    what gets sent: a workload cannot swap the path for a link between the check and the
    send. A folder's zip holds only its plain, singly linked files.
    """
    with platform.read() as uow:
        project = require(uow, principal, project_id, Action.READ)
    root = project_root(platform, project_id)
    location = _existing(root, path)
    rel = _inside(root, location)
    if not location.is_dir():
        handle, st = safe_paths.open_reader(root, rel)
        return Download(location.name, st.st_size, handle)
    name = (location.name if location != root.resolve() else project.slug) + ".zip"
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(tempfile.TemporaryFile())
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for member, dir_fd in safe_paths.walk_files(root, rel):
                leaf = member.rsplit("/", 1)[-1]
                try:
                    fd, _st = safe_paths.open_at(dir_fd, leaf, member)
                except (FileNotFoundError, InvalidInput):
                    continue  # swapped for a link or removed meanwhile: left out
                with os.fdopen(fd, "rb") as source, zf.open(member, "w") as target:
                    shutil.copyfileobj(source, target, _CHUNK)
        size = out.tell()
        out.seek(0)
        stack.pop_all()  # the Download owns the file now
    return Download(name, size, out)


def _inside(root: Path, location: Path) -> str:
    return location.relative_to(root.resolve()).as_posix()


# Writes ------------------------------------------------------------------------------


def _give_to_workloads(platform: Platform, project_id: str) -> None:
    """What the server just wrote belongs to the project's workloads' user at once, so a
    session that is running can change an uploaded file too (a start hands over the rest).
    The walk never follows a link (``ownership.hand_over``); nothing happens unless the
    server runs as root with the sandbox on."""
    if platform.settings.sandbox != "bwrap":
        return
    root = platform.settings.projects_dir / project_id
    ownership.hand_over(root, sandbox.identity_for(str(root)))


def write_bytes(
    platform: Platform,
    principal: Principal,
    project_id: str,
    path: str,
    content: bytes,
    *,
    exclusive: bool = False,
) -> FileEntry:
    """Write a file; with ``exclusive`` refuse (Conflict) when it exists, atomically."""
    with platform.command(principal, "file.write", target=path, project_id=project_id) as cmd:
        require(cmd.uow, principal, project_id, Action.WRITE_FILES)
        root = project_root(platform, project_id)
        location = _writable(root, path)
        try:
            # Through safe_paths: a workload may swap a folder on the way for a link at any
            # time, and a write (as root) must never land outside the project.
            safe_paths.write_chunks(root, _inside(root, location), [content], exclusive=exclusive)
        except FileExistsError:
            raise Conflict(f"{clean_relative(path).as_posix()!r} already exists.") from None
        cmd.detail = {"bytes": len(content)}
        entry = _entry(root, location)
    _give_to_workloads(platform, project_id)
    return entry


def write_stream(
    platform: Platform, principal: Principal, project_id: str, path: str, source: BinaryIO
) -> FileEntry:
    """Store an upload, enforcing the upload size limit on the bytes actually received."""
    limit = platform.settings.max_upload_bytes
    with platform.command(principal, "file.upload", target=path, project_id=project_id) as cmd:
        require(cmd.uow, principal, project_id, Action.WRITE_FILES)
        root = project_root(platform, project_id)
        location = _writable(root, path)

        def chunks() -> Iterator[bytes]:
            received = 0
            while chunk := source.read(_CHUNK):
                received += len(chunk)
                if received > limit:
                    raise PayloadTooLarge(
                        f"The upload is larger than {limit} bytes (LAKEWORKS_MAX_UPLOAD_BYTES)."
                    )
                yield chunk

        written = safe_paths.write_chunks(root, _inside(root, location), chunks())
        cmd.detail = {"bytes": written}
        entry = _entry(root, location)
    _give_to_workloads(platform, project_id)
    return entry


def mkdir(platform: Platform, principal: Principal, project_id: str, path: str) -> FileEntry:
    with platform.command(principal, "file.mkdir", target=path, project_id=project_id) as cmd:
        require(cmd.uow, principal, project_id, Action.WRITE_FILES)
        root = project_root(platform, project_id)
        location = resolve(root, path)
        if location == root.resolve():
            raise InvalidInput("Give the name of the folder to create.")
        if location.exists() and not location.is_dir():
            raise Conflict(f"{path!r} already exists as a file.")
        safe_paths.make_dirs(root, _inside(root, location))
        entry = _entry(root, location)
    _give_to_workloads(platform, project_id)
    return entry


def move(
    platform: Platform, principal: Principal, project_id: str, source: str, target: str
) -> FileEntry:
    with platform.command(principal, "file.move", target=source, project_id=project_id) as cmd:
        require(cmd.uow, principal, project_id, Action.WRITE_FILES)
        root = project_root(platform, project_id)
        src = resolve(root, source, follow_last=False)
        if not src.exists() and not src.is_symlink():
            raise NotFound(f"No file or folder {source!r} in the project.")
        if src == root.resolve():
            raise InvalidInput("The project root cannot be moved.")
        dst = _writable(root, target)
        if dst.exists():
            raise Conflict(f"{target!r} already exists.")
        if src.is_dir() and (dst == src or src in dst.parents):
            raise InvalidInput("A folder cannot be moved into itself.")
        safe_paths.rename(root, _inside(root, src), _inside(root, dst))
        cmd.detail = {"to": clean_relative(target).as_posix()}
        return _entry(root, dst)


def delete(platform: Platform, principal: Principal, project_id: str, path: str) -> None:
    with platform.command(principal, "file.delete", target=path, project_id=project_id) as cmd:
        require(cmd.uow, principal, project_id, Action.WRITE_FILES)
        root = project_root(platform, project_id)
        location = resolve(root, path, follow_last=False)
        if location == root.resolve():
            raise InvalidInput("The project root cannot be deleted; delete the project instead.")
        try:
            safe_paths.remove(root, _inside(root, location))
        except FileNotFoundError:
            raise NotFound(f"No file or folder {path!r} in the project.") from None


def _writable(root: Path, path: str) -> Path:
    location = resolve(root, path)
    if location == root.resolve():
        raise InvalidInput("Give a file name inside the project.")
    if location.is_dir():
        raise Conflict(f"{path!r} is a folder.")
    return location
