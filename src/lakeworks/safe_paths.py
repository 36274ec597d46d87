"""Reading and writing under a directory a workload controls, never following its links.

Workloads are hostile (STYLE §11) and the server runs as root: a project directory, a model
build snapshot or a job's output folder may hold symlinks, hard links, FIFOs or devices that a
workload planted, and it may swap a folder for a link while the server walks it. So every
touch goes through here:

- each path component is opened relative to the descriptor of the one before it, starting
  from the root, with ``O_NOFOLLOW``: a link anywhere on the path (planted before, or swapped
  in during the walk) is refused, never followed;
- only regular files are read, and only with one link (a hard link to a file outside the
  project shares that file's inode); FIFOs, sockets and devices are refused before they are
  opened, and opening is non-blocking, so a FIFO cannot hang the server;
- what is read or copied is bounded in bytes (and in files, for trees);
- writes go to a fresh name created with ``O_EXCL | O_NOFOLLOW`` and are renamed over the
  target within the same directory descriptor, so a link at either name is replaced, not
  written through.

The root itself (``projects_dir / id``, a snapshot folder) is the server's and is trusted.
Paths are relative, ``/``-separated; ``..``, absolute paths and NUL bytes are refused.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from lakeworks.errors import InvalidInput, PayloadTooLarge

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
_CHUNK = 1024 * 1024


class UnsafePath(InvalidInput):
    """A path that crosses a link or names something other than a plain file or folder."""


@dataclass
class Copied:
    """What ``copy_tree`` did: files and bytes copied, and what it left out (and why)."""

    files: int = 0
    bytes: int = 0
    skipped: list[str] = field(default_factory=list)


def parts_of(rel: str | PurePosixPath) -> tuple[str, ...]:
    """The components of a relative path; refuses ``..``, absolute paths and NUL bytes."""
    text = str(rel)
    if "\x00" in text:
        raise UnsafePath("Paths cannot contain NUL bytes.")
    if text.startswith("/"):
        raise UnsafePath(f"{text!r} is an absolute path; give a path inside the directory.")
    parts = tuple(p for p in text.split("/") if p not in ("", "."))
    if ".." in parts:
        raise UnsafePath(f"{text!r} leaves the directory; '..' is not allowed.")
    return parts


def _open_dir_at(dir_fd: int | None, name: str, shown: str) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except (FileNotFoundError, PermissionError):
        raise
    except OSError as exc:
        # ELOOP (a link, with O_NOFOLLOW) or ENOTDIR (a file, or a link with O_DIRECTORY).
        raise UnsafePath(f"{shown!r} is a link or not a folder; it is not followed.") from exc


@contextmanager
def open_dir(
    root: Path,
    rel: str | PurePosixPath = "",
    *,
    create: bool = False,
    owner: tuple[int, int] | None = None,
) -> Iterator[int]:
    """A descriptor of the folder ``rel`` under ``root``, walked without following links.

    With ``create`` missing folders are made (mode 0o755) on the way down; with ``owner``
    (uid, gid) too, the folders made are given to that user (a root server writing where a
    running workload must write next, e.g. an Iceberg table's folders in its warehouse).
    """
    parts = parts_of(rel)
    fd = os.open(root, _DIR_FLAGS)
    try:
        walked: list[str] = []
        for name in parts:
            walked.append(name)
            made = False
            if create:
                try:
                    os.mkdir(name, 0o755, dir_fd=fd)
                    made = True
                except FileExistsError:
                    pass
            child = _open_dir_at(fd, name, "/".join(walked))
            os.close(fd)
            fd = child
            if made and owner is not None:
                os.fchown(fd, *owner)
        yield fd
    finally:
        os.close(fd)


def _regular_fd(
    dir_fd: int, name: str, shown: str, *, max_bytes: int | None, single_link: bool
) -> tuple[int, os.stat_result]:
    """Open the plain file ``name`` in ``dir_fd`` for reading; refuse anything else."""
    before = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    _check_regular(before, shown, max_bytes=max_bytes, single_link=single_link)
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError | PermissionError):
            raise
        raise UnsafePath(f"{shown!r} is a link; it is not followed.") from exc
    try:
        after = os.fstat(fd)
        # Swapped between the lstat and the open: judge what was opened, not what was seen.
        _check_regular(after, shown, max_bytes=max_bytes, single_link=single_link)
        if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
            raise UnsafePath(f"{shown!r} changed while it was being opened; try again.")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, after


def _check_regular(
    st: os.stat_result, shown: str, *, max_bytes: int | None, single_link: bool
) -> None:
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePath(f"{shown!r} is a symbolic link; it is not followed.")
    if stat.S_ISDIR(st.st_mode):
        raise InvalidInput(f"{shown!r} is a folder, not a file.")
    if not stat.S_ISREG(st.st_mode):
        raise UnsafePath(f"{shown!r} is not a plain file (a pipe, socket or device); refused.")
    if single_link and st.st_nlink > 1:
        raise UnsafePath(f"{shown!r} has several hard links; it is refused.")
    if max_bytes is not None and st.st_size > max_bytes:
        raise PayloadTooLarge(f"{shown!r} is larger than {max_bytes} bytes.")


def open_reader(
    root: Path,
    rel: str | PurePosixPath,
    *,
    max_bytes: int | None = None,
    single_link: bool = True,
) -> tuple[BinaryIO, os.stat_result]:
    """The plain file ``rel`` under ``root`` open for reading, with its ``fstat``; the
    caller closes it."""
    parts = parts_of(rel)
    if not parts:
        raise InvalidInput("Give a file name, not the folder itself.")
    shown = "/".join(parts)
    with open_dir(root, "/".join(parts[:-1])) as dir_fd:
        fd, st = _regular_fd(dir_fd, parts[-1], shown, max_bytes=max_bytes, single_link=single_link)
    return os.fdopen(fd, "rb"), st


@contextmanager
def open_file(
    root: Path,
    rel: str | PurePosixPath,
    *,
    max_bytes: int | None = None,
    single_link: bool = True,
) -> Iterator[tuple[BinaryIO, os.stat_result]]:
    """``open_reader`` as a context manager."""
    handle, st = open_reader(root, rel, max_bytes=max_bytes, single_link=single_link)
    with handle:
        yield handle, st


def read_bytes(
    root: Path, rel: str | PurePosixPath, *, max_bytes: int, single_link: bool = True
) -> bytes:
    """The content of a plain file under ``root``, refused when over ``max_bytes``."""
    with open_file(root, rel, max_bytes=max_bytes, single_link=single_link) as (handle, _):
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:  # it grew after the fstat
        raise PayloadTooLarge(f"{str(rel)!r} is larger than {max_bytes} bytes.")
    return data


def read_range(root: Path, rel: str | PurePosixPath, offset: int, limit: int) -> tuple[bytes, int]:
    """Up to ``limit`` bytes from ``offset`` of a file (e.g. a growing log) and its size.

    A missing file reads as empty.
    """
    try:
        with open_file(root, rel) as (handle, st):
            handle.seek(max(offset, 0))
            return handle.read(limit), st.st_size
    except FileNotFoundError:
        return b"", 0


def write_bytes(root: Path, rel: str | PurePosixPath, data: bytes, *, mode: int = 0o644) -> None:
    """Replace the file ``rel`` under ``root`` with ``data``, atomically; folders on the way
    are created. A link at the name is replaced, never written through."""
    parts = parts_of(rel)
    if not parts:
        raise InvalidInput("Give a file name, not the folder itself.")
    with open_dir(root, "/".join(parts[:-1]), create=True) as dir_fd:
        _replace_in(dir_fd, parts[-1], [data], mode=mode)


def write_chunks(
    root: Path,
    rel: str | PurePosixPath,
    chunks: Iterable[bytes],
    *,
    exclusive: bool = False,
    mode: int = 0o666,
) -> int:
    """``write_bytes`` for a stream (a budget in ``chunks`` may raise: the target is then
    left as it was); with ``exclusive``, ``FileExistsError`` when the name is taken (checked
    atomically). The bytes written."""
    parts = parts_of(rel)
    if not parts:
        raise InvalidInput("Give a file name, not the folder itself.")
    with open_dir(root, "/".join(parts[:-1]), create=True) as dir_fd:
        if not exclusive:
            return _replace_in(dir_fd, parts[-1], chunks, mode=mode)
        tmp, written = _write_fresh(dir_fd, parts[-1], chunks, mode)
        try:
            os.link(tmp, parts[-1], src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
        finally:
            os.unlink(tmp, dir_fd=dir_fd)
        return written


def _write_fresh(dir_fd: int, name: str, chunks: Iterable[bytes], mode: int) -> tuple[str, int]:
    """Write ``chunks`` to a new, randomly named file next to ``name``: (its name, bytes)."""
    tmp = f".{name}.{secrets.token_hex(6)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, mode, dir_fd=dir_fd)
    written = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
                written += len(chunk)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
    return tmp, written


def _replace_in(dir_fd: int, name: str, chunks: Iterable[bytes], *, mode: int = 0o644) -> int:
    """Write ``chunks`` to a fresh name in ``dir_fd`` and rename it over ``name``; the bytes
    written. A failure (a budget running out in ``chunks``) leaves ``name`` as it was."""
    tmp, written = _write_fresh(dir_fd, name, chunks, mode)
    try:
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
    return written


def make_dirs(root: Path, rel: str | PurePosixPath) -> None:
    """Create the folder ``rel`` and those above it, refusing links on the way."""
    with open_dir(root, rel, create=True):
        pass


def rename(root: Path, source: str | PurePosixPath, target: str | PurePosixPath) -> None:
    """Rename ``source`` (a link is moved itself) to ``target``; folders above ``target``
    are created. Neither path's folders may be links."""
    src, dst = parts_of(source), parts_of(target)
    if not src or not dst:
        raise InvalidInput("Give the names to rename from and to.")
    with (
        open_dir(root, "/".join(src[:-1])) as src_fd,
        open_dir(root, "/".join(dst[:-1]), create=True) as dst_fd,
    ):
        os.rename(src[-1], dst[-1], src_dir_fd=src_fd, dst_dir_fd=dst_fd)


def remove(root: Path, rel: str | PurePosixPath) -> None:
    """Delete a file, a link (not what it points at) or a whole folder; ``rmtree`` with a
    folder descriptor never follows a link inside the tree either."""
    parts = parts_of(rel)
    if not parts:
        raise InvalidInput("The folder itself cannot be removed.")
    with open_dir(root, "/".join(parts[:-1])) as dir_fd:
        st = os.stat(parts[-1], dir_fd=dir_fd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(parts[-1], dir_fd=dir_fd)
        else:
            os.unlink(parts[-1], dir_fd=dir_fd)


def unlink(root: Path, rel: str | PurePosixPath) -> bool:
    """Remove the entry ``rel`` (a link is removed itself); False when it was not there or
    a folder on the way is a link."""
    parts = parts_of(rel)
    if not parts:
        return False
    try:
        with open_dir(root, "/".join(parts[:-1])) as dir_fd:
            os.unlink(parts[-1], dir_fd=dir_fd)
    except (FileNotFoundError, UnsafePath, IsADirectoryError):
        return False
    return True


def walk_files(
    root: Path,
    rel: str | PurePosixPath = "",
    *,
    skipped: list[str] | None = None,
    exclude_top: frozenset[str] = frozenset(),
) -> Iterator[tuple[str, int]]:
    """``(path relative to rel, parent folder descriptor)`` for every plain, singly linked
    file under ``rel``, depth first, in name order; links, hard links and special files are
    left out (and named in ``skipped``), as are the top-level entries ``exclude_top``. The
    descriptor is valid until the next item."""
    with open_dir(root, rel) as top:
        yield from _walk(top, "", skipped if skipped is not None else [], exclude_top)


def _walk(
    dir_fd: int, prefix: str, skipped: list[str], exclude: frozenset[str]
) -> Iterator[tuple[str, int]]:
    for name in sorted(os.listdir(dir_fd)):
        if name in exclude:
            continue
        shown = f"{prefix}{name}"
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(st.st_mode):
            try:
                child = _open_dir_at(dir_fd, name, shown)
            except (UnsafePath, FileNotFoundError):
                skipped.append(f"{shown}: not a folder any more")
                continue
            try:
                yield from _walk(child, f"{shown}/", skipped, frozenset())
            finally:
                os.close(child)
        elif stat.S_ISREG(st.st_mode) and st.st_nlink == 1:
            yield shown, dir_fd
        elif stat.S_ISREG(st.st_mode):
            skipped.append(f"{shown}: has several hard links")
        elif stat.S_ISLNK(st.st_mode):
            skipped.append(f"{shown}: a symbolic link")
        else:
            skipped.append(f"{shown}: not a plain file")


def copy_tree(
    root: Path,
    rel: str | PurePosixPath,
    dest_root: Path,
    dest_rel: str | PurePosixPath = "",
    *,
    max_bytes: int,
    max_files: int,
    only: set[str] | None = None,
    exclude_top: frozenset[str] = frozenset(),
) -> Copied:
    """Copy the plain files under ``root/rel`` to ``dest_root/dest_rel``, leaving out links,
    hard links and special files. Folders are created as needed; below ``dest_root`` the
    destination may be in a project too, and nothing is written through a link there either.
    ``only`` limits the copy to those relative paths. Stops with ``PayloadTooLarge`` past
    ``max_bytes`` or ``max_files`` (what was copied by then stays)."""
    report = Copied()
    base = parts_of(dest_rel)
    dest_root.mkdir(parents=True, exist_ok=True)  # the server's own folder
    walk = walk_files(root, rel, skipped=report.skipped, exclude_top=exclude_top)
    for path, dir_fd in walk:
        if only is not None and path not in only:
            continue
        name = path.rsplit("/", 1)[-1]
        try:
            fd, _ = _regular_fd(dir_fd, name, path, max_bytes=None, single_link=True)
        except (UnsafePath, FileNotFoundError) as exc:
            report.skipped.append(f"{path}: {exc}")
            continue
        with os.fdopen(fd, "rb") as source:
            report.files += 1
            if report.files > max_files:
                raise PayloadTooLarge(f"More than {max_files} files to copy.")
            target = (*base, *path.split("/"))
            with open_dir(dest_root, "/".join(target[:-1]), create=True) as out_fd:
                _replace_in(out_fd, target[-1], _budgeted(source, report, max_bytes))
    return report


def _budgeted(source: BinaryIO, report: Copied, max_bytes: int) -> Iterator[bytes]:
    while chunk := source.read(_CHUNK):
        report.bytes += len(chunk)
        if report.bytes > max_bytes:
            raise PayloadTooLarge(f"More than {max_bytes} bytes to copy.")
        yield chunk


def is_dir(root: Path, rel: str | PurePosixPath) -> bool:
    """Whether ``rel`` is a folder reached without crossing a link."""
    try:
        with open_dir(root, rel):
            return True
    except (FileNotFoundError, UnsafePath):
        return False


def is_file(root: Path, rel: str | PurePosixPath) -> bool:
    """Whether ``rel`` is a plain, singly linked file reached without crossing a link."""
    parts = parts_of(rel)
    if not parts:
        return False
    try:
        with open_dir(root, "/".join(parts[:-1])) as dir_fd:
            st = os.stat(parts[-1], dir_fd=dir_fd, follow_symlinks=False)
    except (FileNotFoundError, UnsafePath):
        return False
    return stat.S_ISREG(st.st_mode) and st.st_nlink == 1


def open_at(dir_fd: int, name: str, shown: str) -> tuple[int, os.stat_result]:
    """Open the plain, singly linked file ``name`` of a folder ``walk_files`` is in."""
    return _regular_fd(dir_fd, name, shown, max_bytes=None, single_link=True)
