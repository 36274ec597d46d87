"""The platform's Iceberg catalog: pyiceberg's ``SqlCatalog`` on the platform's database.

- **One catalog per project.** The rows are those of Iceberg's JDBC catalog
  (``iceberg_tables``, ``iceberg_namespace_properties``, see ``store/data.py``) and the
  ``catalog_name`` column is the project's id, so a project's catalog sees its own namespaces
  and tables only. A project gets the namespace ``default`` on first use; more on request.
- **One warehouse per project**: ``<data>/warehouse/<project id>/``, a table at
  ``<namespace>.db/<table>`` in it (Spark's layout). It belongs to the project's workload uid
  (``executors.sandbox.identity_for``) and is bind-mounted into the project's workloads at
  the same absolute path, so a file location written in Iceberg metadata means the same file
  inside and outside the sandbox. No workload sees another project's warehouse.
- **The server never trusts the warehouse.** Workloads write there (data files, manifests),
  and the server reads and writes metadata there as root. Every file the catalog touches goes
  through ``SafeFileIO``: a location must be a local path (``file://`` or absolute) inside
  the project's warehouse, every component is opened without following links
  (``safe_paths``), only plain, singly linked files are read, and files and folders
  the server makes are given to the warehouse's owner. Table properties cannot choose another
  FileIO or location provider (``ProjectCatalog`` ignores them, and the service refuses them).

``IcebergCatalogs`` is owned by ``Platform`` (``platform.iceberg``); nothing here is a module
global. Permissions and audit are the service's (``services/data_catalog.py``).
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote, urlsplit

import pyarrow as pa
from pyiceberg.catalog import MetastoreCatalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import NamespaceAlreadyExistsError
from pyiceberg.io import PY_IO_IMPL, FileIO, InputFile, InputStream, OutputFile, OutputStream
from pyiceberg.typedef import EMPTY_DICT, Properties
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from lakeworks import safe_paths
from lakeworks.config import Settings
from lakeworks.data.sources import TableSource
from lakeworks.data.warehouse import ensure_warehouse, warehouse_dir
from lakeworks.errors import PayloadTooLarge
from lakeworks.safe_paths import UnsafePath

DEFAULT_NAMESPACE = "default"
# The property that tells ``SafeFileIO`` which folder it may touch.
WAREHOUSE_PROPERTY = "lakeworks.warehouse"
SAFE_FILE_IO = "lakeworks.data.iceberg.SafeFileIO"
# Metadata files are read whole into memory: a workload must not make the server read 10 GB.
METADATA_MAX_BYTES = 64 * 1024 * 1024
# Namespace and table names: SQL identifiers every engine (Spark, DuckDB, Trino) takes bare.
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


# FileIO -------------------------------------------------------------------------------------


class SafeFileIO(FileIO):
    """A FileIO confined to one warehouse folder that never follows a link.

    Locations are ``file:///abs/path`` or ``/abs/path``; anything else (another scheme, a
    path outside the folder, ``..``) raises ``UnsafePath``, as does a link or a special file
    on the way.
    """

    def __init__(self, properties: Properties = EMPTY_DICT) -> None:
        super().__init__(properties)
        root = properties.get(WAREHOUSE_PROPERTY)
        if not root:
            raise ValueError(f"SafeFileIO needs the {WAREHOUSE_PROPERTY!r} property")
        self.root = Path(root)
        self._owner: tuple[int, int] | None | bool = False  # not looked up yet

    # Locations

    def relative(self, location: str) -> str:
        """The path of ``location`` inside the warehouse, or ``UnsafePath``."""
        if "\x00" in location:
            raise UnsafePath("Locations cannot contain NUL bytes.")
        parts = urlsplit(location)
        if parts.scheme == "file":
            if parts.netloc not in ("", "localhost"):
                raise UnsafePath(f"{location!r} names another machine.")
            path = unquote(parts.path)
        elif parts.scheme == "" and location.startswith("/"):
            path = location
        else:
            raise UnsafePath(
                f"{location!r} is not a local path; this catalog keeps its tables under "
                f"{self.root}."
            )
        if ".." in path.split("/"):
            raise UnsafePath(f"{location!r} leaves the warehouse; '..' is not allowed.")
        path = posixpath.normpath(path)
        root = str(self.root).rstrip("/")
        if not path.startswith(root + "/"):
            raise UnsafePath(f"{location!r} is outside the project's warehouse ({root}).")
        return path[len(root) + 1 :]

    def contains(self, location: str) -> bool:
        try:
            self.relative(location)
        except UnsafePath:
            return False
        return True

    @property
    def owner(self) -> tuple[int, int] | None:
        """Who files made here should belong to: the warehouse's owner, when the server runs
        as root and that is someone else."""
        if self._owner is False:
            owner: tuple[int, int] | None = None
            if os.geteuid() == 0:
                st = os.stat(self.root)
                if (st.st_uid, st.st_gid) != (0, 0):
                    owner = (st.st_uid, st.st_gid)
            self._owner = owner
        return self._owner  # type: ignore[return-value]

    # FileIO

    def new_input(self, location: str) -> InputFile:
        return SafeInputFile(self, location)

    def new_output(self, location: str) -> OutputFile:
        return SafeOutputFile(self, location)

    def delete(self, location: str | InputFile | OutputFile) -> None:
        where = location if isinstance(location, str) else location.location
        rel = self.relative(where)
        parts = safe_paths.parts_of(rel)
        with safe_paths.open_dir(self.root, "/".join(parts[:-1])) as dir_fd:
            st = os.stat(parts[-1], dir_fd=dir_fd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(f"{where} is a folder")
            os.unlink(parts[-1], dir_fd=dir_fd)


def _stat(io: SafeFileIO, rel: str) -> os.stat_result:
    parts = safe_paths.parts_of(rel)
    with safe_paths.open_dir(io.root, "/".join(parts[:-1])) as dir_fd:
        return os.stat(parts[-1], dir_fd=dir_fd, follow_symlinks=False)


class _SafeLocation:
    """What input and output files share: a location inside the warehouse, looked at without
    following links."""

    def __init__(self, io: SafeFileIO, location: str) -> None:
        super().__init__(location)  # type: ignore[call-arg]  # InputFile's or OutputFile's
        self._io = io
        self._rel = io.relative(location)

    def __len__(self) -> int:
        return _stat(self._io, self._rel).st_size

    def exists(self) -> bool:
        try:
            _stat(self._io, self._rel)
        except FileNotFoundError:
            return False
        return True


class SafeInputFile(_SafeLocation, InputFile):
    def open(self, seekable: bool = True) -> InputStream:
        limit = METADATA_MAX_BYTES if self._rel.endswith(".metadata.json") else None
        try:
            handle, _st = safe_paths.open_reader(self._io.root, self._rel, max_bytes=limit)
        except PayloadTooLarge as exc:
            raise PayloadTooLarge(
                f"{self.location} is larger than {METADATA_MAX_BYTES} bytes; refused."
            ) from exc
        return handle  # a BinaryIO is an InputStream


class SafeOutputFile(_SafeLocation, OutputFile):
    def to_input_file(self) -> InputFile:
        return SafeInputFile(self._io, self.location)

    def create(self, overwrite: bool = False) -> OutputStream:
        if not overwrite and self.exists():
            raise FileExistsError(f"{self.location} already exists")
        return _SafeWriter(self._io, self._rel, overwrite=overwrite)


class _SafeWriter:
    """Writes to a fresh name (``O_EXCL | O_NOFOLLOW``) beside the target and puts it in
    place on close: renamed over it (``overwrite``) or linked to it (never replacing one)."""

    def __init__(self, io: SafeFileIO, rel: str, *, overwrite: bool) -> None:
        parts = safe_paths.parts_of(rel)
        self._name = parts[-1]
        self._overwrite = overwrite
        self._owner = io.owner
        self._dir_cm = safe_paths.open_dir(
            io.root, "/".join(parts[:-1]), create=True, owner=self._owner
        )
        self._dir_fd = self._dir_cm.__enter__()
        self._tmp = f".{self._name}.{os.urandom(6).hex()}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(self._tmp, flags, 0o644, dir_fd=self._dir_fd)
            if self._owner is not None:
                os.fchown(fd, *self._owner)
            self._file = os.fdopen(fd, "wb")
        except BaseException:
            self._dir_cm.__exit__(None, None, None)
            raise
        self._done = False

    @property
    def closed(self) -> bool:
        return self._done

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readable(self) -> bool:
        return False

    def write(self, data: bytes) -> int:
        return self._file.write(data)

    def tell(self) -> int:
        return self._file.tell()

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._finish(ok=True)

    def _finish(self, *, ok: bool) -> None:
        if self._done:
            return
        self._done = True
        try:
            self._file.close()
            if ok:
                if self._overwrite:
                    os.replace(
                        self._tmp, self._name, src_dir_fd=self._dir_fd, dst_dir_fd=self._dir_fd
                    )
                else:
                    os.link(
                        self._tmp,
                        self._name,
                        src_dir_fd=self._dir_fd,
                        dst_dir_fd=self._dir_fd,
                        follow_symlinks=False,
                    )
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp, dir_fd=self._dir_fd)
            self._dir_cm.__exit__(None, None, None)

    def __enter__(self) -> _SafeWriter:
        return self

    def __exit__(
        self,
        exctype: type[BaseException] | None,
        excinst: BaseException | None,
        exctb: TracebackType | None,
    ) -> None:
        self._finish(ok=exctype is None)


# The catalog ---------------------------------------------------------------------------------


class ProjectCatalog(SqlCatalog):
    """pyiceberg's ``SqlCatalog`` for one project, on the platform's engine (no engine or pool
    of its own), with its files through ``SafeFileIO`` whatever a table's properties say."""

    def __init__(self, project_id: str, engine: Engine, warehouse: Path) -> None:
        # SqlCatalog.__init__ would create an engine from a URI and maybe create tables: the
        # platform's migrations made them (store/data.py), so only the base is initialised.
        MetastoreCatalog.__init__(
            self,
            project_id,
            uri="lakeworks:platform-database",
            warehouse=f"file://{warehouse}",
            **{PY_IO_IMPL: SAFE_FILE_IO, WAREHOUSE_PROPERTY: str(warehouse)},
        )
        self.engine = engine
        self._schema_version = "v1"
        self.warehouse = warehouse

    def file_io(self) -> SafeFileIO:
        return SafeFileIO(self.properties)

    def _load_file_io(
        self, properties: Properties = EMPTY_DICT, location: str | None = None
    ) -> FileIO:
        # Never the table's own properties: they could name another FileIO.
        return self.file_io()

    def _get_default_warehouse_location(self, database_name: str, table_name: str) -> str:
        # Spark's layout (<warehouse>/<db>.db/<table>), so both engines agree on paths.
        return self._get_hive_style_warehouse_location(database_name, table_name)


class IcebergCatalogs:
    """Every project's catalog, on one engine; made on first use (cheap: no connection of its
    own), each with its warehouse folder and ``default`` namespace."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self._ready: set[str] = set()
        self._lock = threading.Lock()

    def warehouse(self, project_id: str) -> Path:
        return warehouse_dir(self.settings, project_id)

    def catalog(self, project_id: str, *, prepare: bool = True) -> ProjectCatalog:
        """The project's catalog; on first use its warehouse and ``default`` namespace are
        made, unless ``prepare`` is off (a page that only lists must not write)."""
        path = self.warehouse(project_id)
        catalog = ProjectCatalog(project_id, self.engine, path)
        with self._lock:
            ready = project_id in self._ready
        if prepare and not ready:
            ensure_warehouse(self.settings, project_id)
            _ensure_namespace(catalog, DEFAULT_NAMESPACE)
            with self._lock:
                self._ready.add(project_id)
        return catalog

    def forget(self, project_id: str) -> None:
        """The project was deleted: its next catalog (same id, never in practice) starts anew."""
        with self._lock:
            self._ready.discard(project_id)


def _ensure_namespace(catalog: ProjectCatalog, name: str) -> None:
    if catalog.namespace_exists(name):
        return
    # Made meanwhile by another thread or server: as good.
    with contextlib.suppress(NamespaceAlreadyExistsError, IntegrityError):
        catalog.create_namespace(name)


# The Data page's Iceberg tables ------------------------------------------------------------


@dataclass(frozen=True)
class IcebergTableSource:
    """A project's Iceberg table as a table of the Data page's explorer (``data.sources``):
    queried as ``<namespace>.<table>`` (quote a namespace that is a SQL word:
    ``"default".churn``), read through the catalog's ``SafeFileIO`` as a stream of batches."""

    catalog: ProjectCatalog
    namespace: str
    table: str
    kind: str = "iceberg"

    @property
    def name(self) -> str:
        return f"{self.namespace}.{self.table}"

    @property
    def description(self) -> str:
        return f"Iceberg table {self.namespace}.{self.table}"

    def open(self, stack: contextlib.ExitStack) -> pa.RecordBatchReader:
        table = self.catalog.load_table((self.namespace, self.table))
        return table.scan().to_arrow_batch_reader()


class IcebergTables:
    """The Data page's provider of a project's Iceberg tables (``Platform.table_providers``).
    Callers have checked that the user may read the project."""

    def __init__(self, catalogs: Callable[[], IcebergCatalogs]) -> None:
        self._catalogs = catalogs

    def sources(self, project_id: str) -> list[TableSource]:
        catalog = self._catalogs().catalog(project_id, prepare=False)
        found: list[TableSource] = []
        for namespace in sorted(".".join(ns) for ns in catalog.list_namespaces()):
            for identifier in catalog.list_tables(namespace):
                found.append(IcebergTableSource(catalog, namespace, identifier[-1]))
        return sorted(found, key=lambda source: source.name)
