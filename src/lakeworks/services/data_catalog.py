"""The rules of the platform's Iceberg catalog: who may read and write a project's tables,
what names and locations are allowed, and the audit trail of every change.

Project viewers read (namespaces, tables, schemas, snapshots, rows); contributors write
(create and drop namespaces and tables, commit snapshots). A project the caller cannot read is
reported as not found, so another project's tables are neither listed nor reachable. A
workload's key reaches the catalog of its own project only, whatever ``workload_key_scope``
says: it sees only its own project's warehouse, so another project's tables would be names
without files to it.

Every change is audited (``data.namespace.*``, ``data.table.*``), refusals and failures too.
The catalog's rows are written by pyiceberg's own session, so the audit row of a change is
written right after it, not in the same transaction.

``read_table`` is the server-side read helper (the Data page uses it): rows of a table, at its
current snapshot, at a snapshot id or as of a time, read through ``SafeFileIO``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import ValidationError
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceAlreadyExistsError,
    NamespaceNotEmptyError,
    NoSuchNamespaceError,
    NoSuchTableError,
    TableAlreadyExistsError,
)
from pyiceberg.exceptions import (
    ValidationError as IcebergValidationError,
)
from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import CommitTableResponse, Table
from pyiceberg.table.sorting import UNSORTED_SORT_ORDER, SortOrder
from pyiceberg.table.update import (
    AddSnapshotUpdate,
    SetLocationUpdate,
    SetPropertiesUpdate,
    SetStatisticsUpdate,
    TableRequirement,
    TableUpdate,
)

from lakeworks.data import iceberg
from lakeworks.data.iceberg import NAME_RE, ProjectCatalog
from lakeworks.errors import (
    Conflict,
    InvalidInput,
    InvalidState,
    LakeworksError,
    NotFound,
    PermissionDenied,
)
from lakeworks.safe_paths import UnsafePath
from lakeworks.services.permissions import Action, require
from lakeworks.services.platform import Platform, Principal

if TYPE_CHECKING:
    import pyarrow as pa

T = TypeVar("T")

READ = Action.READ
WRITE = Action.WRITE_FILES  # contributors and above: the same bar as changing files
MAX_PROPERTY_VALUE = 1000  # iceberg_namespace_properties.property_value
# Properties that would make the server load code or write elsewhere: refused.
_FORBIDDEN_PROPERTY_PARTS = ("py-io-impl", "py-location-provider", "io-impl")
DEFAULT_READ_LIMIT = 10_000
MAX_READ_LIMIT = 1_000_000


@dataclass(frozen=True)
class Namespace:
    name: str
    properties: dict[str, str]


@dataclass(frozen=True)
class TableName:
    namespace: str
    name: str

    @property
    def identifier(self) -> str:
        return f"{self.namespace}.{self.name}"


# Names -----------------------------------------------------------------------------------------


def check_name(name: str, what: str = "name") -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise InvalidInput(
            f"{name!r} is not a valid {what}: use letters, digits and '_' (not first a digit), "
            "at most 128 characters."
        )
    return name


def parse_namespace(value: str | tuple[str, ...] | list[str]) -> str:
    """One namespace level (``default``); nested namespaces are not supported."""
    parts = tuple(value) if isinstance(value, tuple | list) else tuple(str(value).split("."))
    if len(parts) != 1:
        raise InvalidInput(
            f"{'.'.join(parts)!r}: nested namespaces are not supported; use one level, "
            "e.g. 'default'."
        )
    return check_name(parts[0], "namespace name")


def parse_identifier(value: str | tuple[str, ...] | list[str]) -> TableName:
    """``namespace.table`` (or a tuple); a bare table name means the ``default`` namespace."""
    parts = tuple(value) if isinstance(value, tuple | list) else tuple(str(value).split("."))
    if len(parts) == 1:
        parts = (iceberg.DEFAULT_NAMESPACE, parts[0])
    if len(parts) != 2:
        raise InvalidInput(
            f"{'.'.join(parts)!r} is not a table name: use 'namespace.table' (one level of "
            "namespace)."
        )
    return TableName(parse_namespace(parts[0]), check_name(parts[1], "table name"))


# Access ----------------------------------------------------------------------------------------


def _check_scope(principal: Principal, project_id: str) -> None:
    """A workload's key reaches its own project's catalog only (see the module's doc)."""
    if principal.project_scope is not None and principal.project_scope != project_id:
        raise NotFound(f"Project {project_id!r} not found.")


def catalog(
    platform: Platform, principal: Principal, project_id: str, action: Action = READ
) -> ProjectCatalog:
    """The project's catalog once ``action`` is allowed (NotFound / PermissionDenied)."""
    _check_scope(principal, project_id)
    with platform.read() as uow:
        require(uow, principal, project_id, action)
    return platform.iceberg.catalog(project_id)


@contextmanager
def iceberg_errors() -> Iterator[None]:
    """pyiceberg's exceptions as Lakeworks errors (the API answers each once)."""
    try:
        yield
    except (NoSuchTableError, NoSuchNamespaceError) as exc:
        raise NotFound(_message(exc)) from exc
    except (TableAlreadyExistsError, NamespaceAlreadyExistsError) as exc:
        raise Conflict(_message(exc)) from exc
    except CommitFailedException as exc:
        raise CommitConflict(_message(exc)) from exc
    except NamespaceNotEmptyError as exc:
        raise InvalidState(_message(exc)) from exc
    except (ValidationError, IcebergValidationError, ValueError) as exc:
        raise InvalidInput(_message(exc)) from exc
    except PermissionError as exc:
        raise PermissionDenied(f"The warehouse refused access: {exc}") from exc
    except FileNotFoundError as exc:
        raise NotFound(f"A file of the table is missing: {exc}") from exc


class CommitConflict(Conflict):
    """A commit's requirements no longer hold (another commit came first): retry."""


def _message(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _mutate(
    platform: Platform,
    principal: Principal,
    project_id: str,
    action: str,
    target: str,
    change: Callable[[ProjectCatalog], T],
    detail: Callable[[T], dict[str, Any]] | None = None,
) -> T:
    """Check write access, run ``change`` on the project's catalog and audit it."""
    with platform.command(principal, action, target=target, project_id=project_id) as cmd:
        _check_scope(principal, project_id)
        require(cmd.uow, principal, project_id, WRITE)
        cat = platform.iceberg.catalog(project_id)
        with iceberg_errors():
            result = change(cat)
        if detail is not None:
            cmd.detail = detail(result)
    return result


# What a client may ask for -------------------------------------------------------------------


def check_properties(cat: ProjectCatalog, properties: dict[str, str], *, what: str) -> None:
    for key, value in properties.items():
        lowered = str(key).lower()
        if any(part in lowered for part in _FORBIDDEN_PROPERTY_PARTS):
            raise InvalidInput(f"The {what} property {key!r} cannot be set in this catalog.")
        if lowered in ("location", "write.data.path", "write.metadata.path"):
            check_location(cat, str(value))
        if len(str(value)) > MAX_PROPERTY_VALUE:
            raise InvalidInput(
                f"The {what} property {key!r} is over {MAX_PROPERTY_VALUE} characters."
            )


def check_location(cat: ProjectCatalog, location: str) -> None:
    try:
        cat.file_io().relative(location)
    except UnsafePath as exc:
        raise InvalidInput(exc.message) from exc


def _check_updates(cat: ProjectCatalog, updates: tuple[TableUpdate, ...]) -> None:
    for update in updates:
        if isinstance(update, SetLocationUpdate):
            check_location(cat, update.location)
        elif isinstance(update, SetPropertiesUpdate):
            check_properties(cat, update.updates, what="table")
        elif isinstance(update, AddSnapshotUpdate):
            check_location(cat, update.snapshot.manifest_list)
        elif isinstance(update, SetStatisticsUpdate):
            check_location(cat, update.statistics.statistics_path)


# Namespaces ------------------------------------------------------------------------------------


def list_namespaces(platform: Platform, principal: Principal, project_id: str) -> list[Namespace]:
    cat = catalog(platform, principal, project_id)
    with iceberg_errors():
        names = sorted(".".join(ns) for ns in cat.list_namespaces())
        return [Namespace(n, dict(cat.load_namespace_properties(n))) for n in names]


def get_namespace(
    platform: Platform, principal: Principal, project_id: str, namespace: str | tuple[str, ...]
) -> Namespace:
    name = parse_namespace(namespace)
    cat = catalog(platform, principal, project_id)
    with iceberg_errors():
        return Namespace(name, dict(cat.load_namespace_properties(name)))


def create_namespace(
    platform: Platform,
    principal: Principal,
    project_id: str,
    namespace: str | tuple[str, ...],
    properties: dict[str, str] | None = None,
) -> Namespace:
    name = parse_namespace(namespace)
    props = {str(k): str(v) for k, v in (properties or {}).items()}

    def change(cat: ProjectCatalog) -> Namespace:
        check_properties(cat, props, what="namespace")
        cat.create_namespace(name, props)
        return Namespace(name, dict(cat.load_namespace_properties(name)))

    return _mutate(platform, principal, project_id, "data.namespace.create", name, change)


def drop_namespace(
    platform: Platform, principal: Principal, project_id: str, namespace: str
) -> None:
    name = parse_namespace(namespace)
    _mutate(
        platform,
        principal,
        project_id,
        "data.namespace.drop",
        name,
        lambda cat: cat.drop_namespace(name),
    )


def update_namespace_properties(
    platform: Platform,
    principal: Principal,
    project_id: str,
    namespace: str,
    removals: set[str],
    updates: dict[str, str],
) -> dict[str, list[str]]:
    name = parse_namespace(namespace)
    props = {str(k): str(v) for k, v in updates.items()}

    def change(cat: ProjectCatalog) -> dict[str, list[str]]:
        check_properties(cat, props, what="namespace")
        summary = cat.update_namespace_properties(name, set(removals), props)
        return {"removed": summary.removed, "updated": summary.updated, "missing": summary.missing}

    return _mutate(
        platform, principal, project_id, "data.namespace.properties", name, change, lambda r: r
    )


# Tables ----------------------------------------------------------------------------------------


def list_tables(
    platform: Platform, principal: Principal, project_id: str, namespace: str | None = None
) -> list[TableName]:
    cat = catalog(platform, principal, project_id)
    with iceberg_errors():
        if namespace is not None:
            spaces = [parse_namespace(namespace)]
        else:
            spaces = sorted(".".join(ns) for ns in cat.list_namespaces())
        found = [
            TableName(".".join(ident[:-1]), ident[-1])
            for space in spaces
            for ident in cat.list_tables(space)
        ]
    return sorted(found, key=lambda t: (t.namespace, t.name))


def load_table(
    platform: Platform, principal: Principal, project_id: str, identifier: str | tuple[str, ...]
) -> Table:
    name = parse_identifier(identifier)
    cat = catalog(platform, principal, project_id)
    with iceberg_errors():
        return cat.load_table((name.namespace, name.name))


def create_table(
    platform: Platform,
    principal: Principal,
    project_id: str,
    identifier: str | tuple[str, ...],
    schema: Schema | pa.Schema,
    *,
    location: str | None = None,
    partition_spec: PartitionSpec | None = None,
    sort_order: SortOrder | None = None,
    properties: dict[str, str] | None = None,
    stage: bool = False,
) -> Table:
    """Create a table (``stage``: only its first metadata, committed later with the table's
    first commit, as ``create_table_transaction`` does)."""
    name = parse_identifier(identifier)
    props = {str(k): str(v) for k, v in (properties or {}).items()}

    def change(cat: ProjectCatalog) -> Table:
        check_properties(cat, props, what="table")
        if location:
            check_location(cat, location)
        make = cat._create_staged_table if stage else cat.create_table
        return make(
            (name.namespace, name.name),
            schema,
            location=location or None,
            partition_spec=partition_spec or UNPARTITIONED_PARTITION_SPEC,
            sort_order=sort_order or UNSORTED_SORT_ORDER,
            properties=props,
        )

    if stage:
        # Nothing is written: the table appears with its first commit (audited then).
        cat = catalog(platform, principal, project_id, WRITE)
        with iceberg_errors():
            if cat.table_exists((name.namespace, name.name)):
                raise Conflict(f"Table {name.identifier} already exists.")
            return change(cat)
    return _mutate(
        platform,
        principal,
        project_id,
        "data.table.create",
        name.identifier,
        change,
        lambda t: {"location": t.location()},
    )


class _Named:
    """What ``SqlCatalog.commit_table`` needs of a table it may not have yet: its name."""

    def __init__(self, identifier: tuple[str, str]) -> None:
        self._identifier = identifier

    def name(self) -> tuple[str, str]:
        return self._identifier


def commit_table(
    platform: Platform,
    principal: Principal,
    project_id: str,
    identifier: str | tuple[str, ...],
    requirements: tuple[TableRequirement, ...],
    updates: tuple[TableUpdate, ...],
) -> CommitTableResponse:
    """Apply a commit (requirements checked against the current metadata, then updates)."""
    name = parse_identifier(identifier)

    def change(cat: ProjectCatalog) -> CommitTableResponse:
        _check_updates(cat, updates)
        return cat.commit_table(
            _Named((name.namespace, name.name)),  # type: ignore[arg-type]
            requirements,
            updates,
        )

    def detail(response: CommitTableResponse) -> dict[str, Any]:
        snapshots = [u.snapshot.snapshot_id for u in updates if isinstance(u, AddSnapshotUpdate)]
        return {
            "updates": [u.action for u in updates],
            "snapshot_ids": [str(s) for s in snapshots],
            "current_snapshot_id": str(response.metadata.current_snapshot_id or ""),
        }

    return _mutate(
        platform, principal, project_id, "data.table.commit", name.identifier, change, detail
    )


def drop_table(
    platform: Platform,
    principal: Principal,
    project_id: str,
    identifier: str | tuple[str, ...],
    *,
    purge: bool = False,
) -> None:
    """Forget the table; with ``purge`` its files go too."""
    name = parse_identifier(identifier)

    def change(cat: ProjectCatalog) -> None:
        location = cat.load_table((name.namespace, name.name)).location() if purge else ""
        cat.drop_table((name.namespace, name.name))
        if purge and location:
            _remove_table_files(cat, location)

    _mutate(
        platform,
        principal,
        project_id,
        "data.table.purge" if purge else "data.table.drop",
        name.identifier,
        change,
    )


@dataclass(frozen=True)
class Written:
    table: str  # namespace.table
    rows: int
    snapshot_id: int | None


def write_rows(
    platform: Platform,
    principal: Principal,
    project_id: str,
    identifier: str | tuple[str, ...],
    rows: pa.Table,
    *,
    create: bool,
) -> Written:
    """Append ``rows`` to a project's table, made first (from the rows' schema) when
    ``create``: the Data page's writes. Contributors only; audited with the row count and the
    new snapshot. An existing table for ``create``, a missing one otherwise, or rows whose
    schema the table does not take are refused (the table is left as it was)."""
    name = parse_identifier(identifier)

    def change(cat: ProjectCatalog) -> Written:
        ident = (name.namespace, name.name)
        if create:
            if cat.table_exists(ident):
                raise Conflict(
                    f"Table {name.identifier} already exists: INSERT INTO it, or pick another name."
                )
            table = cat.create_table(ident, rows.schema)
        else:
            table = cat.load_table(ident)
        if rows.num_rows:
            table.append(rows)
        snapshot = table.current_snapshot()
        return Written(name.identifier, rows.num_rows, snapshot.snapshot_id if snapshot else None)

    return _mutate(
        platform,
        principal,
        project_id,
        "data.table.create_as" if create else "data.table.append",
        name.identifier,
        change,
        lambda w: {"rows": w.rows, "snapshot_id": w.snapshot_id},
    )


def _remove_table_files(cat: ProjectCatalog, location: str) -> None:
    from lakeworks import safe_paths

    rel = cat.file_io().relative(location)
    with suppress(FileNotFoundError):
        safe_paths.remove(cat.warehouse, rel)


def rename_table(
    platform: Platform,
    principal: Principal,
    project_id: str,
    source: str | tuple[str, ...],
    destination: str | tuple[str, ...],
) -> Table:
    src, dst = parse_identifier(source), parse_identifier(destination)
    return _mutate(
        platform,
        principal,
        project_id,
        "data.table.rename",
        f"{src.identifier} -> {dst.identifier}",
        lambda cat: cat.rename_table((src.namespace, src.name), (dst.namespace, dst.name)),
    )


def table_exists(
    platform: Platform, principal: Principal, project_id: str, identifier: str
) -> bool:
    name = parse_identifier(identifier)
    cat = catalog(platform, principal, project_id)
    with iceberg_errors():
        return bool(cat.table_exists((name.namespace, name.name)))


# Reading ---------------------------------------------------------------------------------------


def snapshot_for(table: Table, snapshot_id: int | None, as_of: datetime | int | None) -> int | None:
    """The snapshot id a read at ``snapshot_id`` or ``as_of`` (a datetime or epoch ms) sees;
    None: the current one. Unknown ids and times before the first snapshot are refused."""
    if snapshot_id is not None and as_of is not None:
        raise InvalidInput("Give a snapshot id or a time (as of), not both.")
    if snapshot_id is not None:
        if table.snapshot_by_id(int(snapshot_id)) is None:
            raise NotFound(
                f"Table {'.'.join(table.name())} has no snapshot {snapshot_id}; "
                f"its snapshots: {_snapshot_list(table)}."
            )
        return int(snapshot_id)
    if as_of is not None:
        ms = int(as_of.timestamp() * 1000) if isinstance(as_of, datetime) else int(as_of)
        found = table.snapshot_as_of_timestamp(ms, inclusive=True)
        if found is None:
            raise NotFound(
                f"Table {'.'.join(table.name())} had no snapshot as of that time "
                f"({ms} ms since the epoch)."
            )
        return found.snapshot_id
    return None


def _snapshot_list(table: Table) -> str:
    ids = [str(s.snapshot_id) for s in table.snapshots()]
    return ", ".join(ids[-10:]) if ids else "none (the table is empty)"


def read_table(
    platform: Platform,
    principal: Principal,
    project_id: str,
    identifier: str,
    *,
    snapshot_id: int | None = None,
    as_of: datetime | int | None = None,
    limit: int | None = DEFAULT_READ_LIMIT,
    columns: tuple[str, ...] | None = None,
    row_filter: str | None = None,
) -> pa.Table:
    """Rows of a project's table as a ``pyarrow.Table``: the current snapshot, or the one
    ``snapshot_id`` names, or the one current ``as_of`` a time (datetime or epoch ms). At most
    ``limit`` rows (None: all, up to ``MAX_READ_LIMIT``); ``columns`` selects some, and
    ``row_filter`` is an Iceberg filter expression (``"amount > 100"``). Project viewers may
    read. Files are read through ``SafeFileIO`` (no link followed, nothing outside the
    project's warehouse)."""
    if limit is not None and limit < 0:
        raise InvalidInput("The row limit cannot be negative.")
    bounded = MAX_READ_LIMIT if limit is None else min(limit, MAX_READ_LIMIT)
    table = load_table(platform, principal, project_id, identifier)
    chosen = snapshot_for(table, snapshot_id, as_of)
    try:
        with iceberg_errors():
            options: dict[str, Any] = {"snapshot_id": chosen, "limit": bounded}
            if columns:
                options["selected_fields"] = tuple(columns)
            if row_filter:
                options["row_filter"] = row_filter
            scan = table.scan(**options)
            return scan.to_arrow()
    except LakeworksError:
        raise
    except OSError as exc:  # a damaged or vanished data file
        raise InvalidState(f"Reading {identifier} failed: {exc}") from exc
