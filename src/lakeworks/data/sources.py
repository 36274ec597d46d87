"""The tables the Data page's SQL explorer can query, behind one small interface.

A ``TableSource`` is one table: a SQL name, what it is (shown in the side list), and
``open`` which hands the explorer an Arrow object DuckDB scans (a dataset, a table or a
record batch reader). A ``SourceProvider`` lists a project's tables of one kind. The
explorer never reads a path itself: every table reaches DuckDB as an Arrow object, so the
query runs with DuckDB's file access switched off (see ``explorer``).

Providers today: the project's Parquet and CSV files (``ProjectFiles``). Iceberg tables of
the platform's catalog and data connections plug in as further providers (their ``open``
returns ``pyarrow`` objects from ``read_table``) without a change to the explorer.

Project files are written by untrusted workloads, so they are found and opened through
``safe_paths``: no link is followed, only plain singly linked files inside the project are
opened, and the descriptor opened that way is what Arrow reads, through
``/proc/self/fd/<n>``: re-opening that magic link reaches the inode already opened, never
the path again, so swapping the file for a link after it was checked gains nothing.
"""

from __future__ import annotations

import os
import re
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeAlias

import pyarrow as pa
import pyarrow.dataset as ds

from lakeworks import safe_paths
from lakeworks.errors import InvalidInput

# Arrow objects DuckDB can scan. A dataset can be scanned several times in one query (a
# self-join); a reader only once.
ArrowSource: TypeAlias = ds.Dataset | pa.Table | pa.RecordBatchReader

FILE_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
# Folders no data lives in, and which can be large (pip's ~/.local, git's objects).
SKIPPED_FOLDERS = frozenset({"node_modules", "__pycache__", "site-packages"})
MAX_DEPTH = 6
MAX_ENTRIES = 20_000  # folder entries looked at while listing, so a huge tree stays cheap
MAX_KEPT_LISTINGS = 256  # projects whose last walk is kept
SETTLED_NS = 2_000_000_000  # a folder modified this recently when walked may change unseen


class TableSource(Protocol):
    """One table of the explorer.

    ``name`` is its SQL name (what a query writes after FROM; matched without regard to
    case); ``kind`` ("file", "iceberg", "connection") and ``description`` (a path, an
    identifier) are shown in the side list. ``open`` is called only for the tables a query
    names, once per query, and returns the Arrow object DuckDB scans; anything it opens it
    registers on ``stack``, which is closed when the query ends.
    """

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def description(self) -> str: ...

    def open(self, stack: ExitStack) -> ArrowSource: ...


class SourceProvider(Protocol):
    """The tables of one kind a project offers (``sources(project_id)``)."""

    def sources(self, project_id: str) -> list[TableSource]: ...


@dataclass(frozen=True)
class ProjectFile:
    """A Parquet or CSV file of the project, by its path relative to the project root."""

    root: Path
    path: str
    format: str
    name: str
    kind: str = "file"

    @property
    def description(self) -> str:
        return self.path

    def open(self, stack: ExitStack) -> ArrowSource:
        try:
            handle, _st = safe_paths.open_reader(self.root, self.path)
        except FileNotFoundError as exc:
            raise InvalidInput(f"{self.path!r} is no longer in the project.") from exc
        except PermissionError as exc:
            raise InvalidInput(f"{self.path!r} cannot be read.") from exc
        stack.callback(handle.close)
        # Arrow re-opens the magic link: the inode opened above, whatever the path is now.
        magic = f"/proc/self/fd/{handle.fileno()}"
        try:
            return ds.dataset(magic, format=self.format)
        except (pa.ArrowException, OSError, ValueError) as exc:
            message = str(exc).replace(magic, self.path)
            raise InvalidInput(f"{self.path!r} cannot be read as {self.format}: {message}") from exc


@dataclass(frozen=True)
class FileListing:
    """The data files of one walk of a project: ``files`` (path, format), at most the limit;
    ``truncated`` when the walk stopped before the end (more files than the limit, or more
    folder entries than ``MAX_ENTRIES``); ``folders`` (path, inode, mtime) of every folder
    read, which tell whether the listing still holds."""

    files: tuple[tuple[str, str], ...]
    truncated: bool
    folders: tuple[tuple[str, int, int], ...]


class ProjectFiles:
    """The project's ``*.parquet``, ``*.pq`` and ``*.csv`` files as tables.

    A table is named after its file (``data/churn.csv`` → ``churn``); when two files would
    share a name, both are named after their whole path (``data_churn``, ``old_churn``).
    Hidden folders (``.git``, ``.local``, ``.experiments``) and links are left out.

    Every page and query of the Data tab asks for the tables, so a walk is kept per project
    and reused while none of the folders it read has changed (a file made, removed or renamed
    changes its folder's mtime): a check stats the folders instead of listing every entry.
    """

    def __init__(self, projects_dir: Path, *, max_sources: int) -> None:
        self.projects_dir = projects_dir
        self.max_sources = max_sources
        self._listings: OrderedDict[str, FileListing] = OrderedDict()
        self._lock = threading.Lock()

    def listing(self, project_id: str) -> FileListing:
        """The project's data files, from the kept walk while it holds, else a new walk."""
        root = self.projects_dir / project_id
        with self._lock:
            kept = self._listings.get(project_id)
        if kept is not None and _unchanged(root, kept.folders):
            return kept
        started = time.time_ns()
        found = _data_files(root, self.max_sources)
        with self._lock:
            self._listings.pop(project_id, None)
            # A folder changed within the mtime clock's coarse tick of the walk could change
            # again unseen: such a walk is used once, not kept.
            if all(started - mtime > SETTLED_NS for _p, _i, mtime in found.folders):
                self._listings[project_id] = found
                while len(self._listings) > MAX_KEPT_LISTINGS:
                    self._listings.popitem(last=False)
        return found

    def sources(self, project_id: str) -> list[TableSource]:
        root = self.projects_dir / project_id
        found = self.listing(project_id).files
        short = [sql_name(Path(path).stem) for path, _fmt in found]
        taken: dict[str, int] = {}
        for name in short:
            taken[name.lower()] = taken.get(name.lower(), 0) + 1
        out: list[TableSource] = []
        for (path, fmt), name in zip(found, short, strict=True):
            if taken[name.lower()] > 1:
                name = sql_name(str(Path(path).with_suffix("")).replace("/", "_"))
            out.append(ProjectFile(root=root, path=path, format=fmt, name=name))
        return out

    def notice(self, project_id: str) -> str:
        """What the Data tab says when the walk did not list every file ("" when it did)."""
        if not self.listing(project_id).truncated:
            return ""
        return (
            f"Only the first {self.max_sources} Parquet/CSV files found (of at most "
            f"{MAX_ENTRIES} folder entries looked at, {MAX_DEPTH} folders deep) are listed; "
            "move data files into fewer, shallower folders to see the rest."
        )


def sql_name(text: str) -> str:
    """A plain SQL identifier made from a file name: letters, digits and ``_``."""
    name = re.sub(r"[^0-9A-Za-z_]+", "_", text).strip("_") or "table"
    return f"t_{name}" if name[0].isdigit() else name


def _data_files(root: Path, limit: int) -> FileListing:
    files: list[tuple[str, str]] = []
    folders: list[tuple[str, int, int]] = []
    budget = [MAX_ENTRIES]
    try:
        with safe_paths.open_dir(root) as top:
            for item in _walk(top, "", 0, budget, folders):
                if len(files) == limit:
                    return FileListing(tuple(files), True, tuple(folders))
                files.append(item)
    except (FileNotFoundError, safe_paths.UnsafePath):
        pass
    return FileListing(tuple(files), budget[0] < 0, tuple(folders))


def _unchanged(root: Path, folders: tuple[tuple[str, int, int], ...]) -> bool:
    """Whether every folder a walk read is still the same folder, unmodified (a check that
    only decides whether to walk again: nothing is opened through these paths)."""
    for path, inode, mtime in folders:
        try:
            st = os.stat(root / path, follow_symlinks=False)
        except OSError:
            return False
        if not stat.S_ISDIR(st.st_mode) or (st.st_ino, st.st_mtime_ns) != (inode, mtime):
            return False
    return bool(folders)


def _walk(
    dir_fd: int,
    prefix: str,
    depth: int,
    budget: list[int],
    folders: list[tuple[str, int, int]],
) -> Iterator[tuple[str, str]]:
    try:
        # Before the listing: a change after it moves the mtime past what is kept.
        here = os.fstat(dir_fd)
        folders.append((prefix, here.st_ino, here.st_mtime_ns))
        names = sorted(os.listdir(dir_fd))
    except OSError:
        return
    for name in names:
        budget[0] -= 1
        if budget[0] < 0:
            return
        if name.startswith(".") or name in SKIPPED_FOLDERS:
            continue
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and depth < MAX_DEPTH:
            try:
                child = os.open(
                    name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd
                )
            except OSError:
                continue
            try:
                yield from _walk(child, f"{prefix}{name}/", depth + 1, budget, folders)
            finally:
                os.close(child)
        elif stat.S_ISREG(st.st_mode) and st.st_nlink == 1:
            fmt = FILE_FORMATS.get(os.path.splitext(name)[1].lower())
            if fmt:
                yield f"{prefix}{name}", fmt
