"""``cml.data_v1``: data connections in a workload (CML compat §3.3), and incremental reads of
Iceberg tables.

- ``get_connection(name, parameters=None)``: a connection defined by a site admin or for the
  project, or a built-in one: ``"iceberg"`` (the project's tables in the platform's catalog,
  ``get_catalog()`` gives a pyiceberg ``RestCatalog``) and ``"spark"``
  (``get_spark_session()``). DuckDB, PostgreSQL and MySQL/MariaDB connections have
  ``get_cursor()`` (DB-API) and ``get_pandas_dataframe(sql)``. A name that does not exist is a
  ``ConnectionNotFound`` error naming the ones that do.
- ``list_connections()``: the names this project's workloads may use.
- ``incremental_append_scan(table, from_snapshot_id_exclusive, to_snapshot_id_inclusive)``:
  the rows appended to a pyiceberg table after one snapshot up to another, as a
  ``pyarrow.Table`` (pyiceberg's own scan where it has one, 0.12+, else the same semantics
  here: data files ADDED by append snapshots in the range, walking the snapshot ancestry).

Connection details (and a connection's secret) come from Lakeworks over HTTP with the
workload's key (``CDSW_APIV2_KEY``); the Iceberg catalog is reached through the project's
Iceberg REST catalog, so a workload never holds database credentials of the platform.

Example::

    import cml.data_v1 as cmldata
    catalog = cmldata.get_connection("iceberg").get_catalog()
    table = catalog.load_table("default.transactions")
    latest = table.current_snapshot().snapshot_id
    new_rows = cmldata.incremental_append_scan(table, previous_id, latest)

Importing this module never fails: pyiceberg, DuckDB, the database drivers and pyspark are
imported when a connection needs them.
"""

from __future__ import annotations

import glob
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from cml.data_v1.customconnection import CustomConnection

REQUEST_TIMEOUT_SECONDS = 60
SPARK_JAR_PATTERNS = (
    "/usr/share/java/iceberg-spark-runtime*.jar",
    "/opt/spark/optional-lib/iceberg-spark-runtime*.jar",
)

__all__ = [
    "ConnectionNotFound",
    "CustomConnection",
    "DuckDBConnection",
    "IcebergConnection",
    "MySQLConnection",
    "PostgreSQLConnection",
    "SparkConnection",
    "get_connection",
    "incremental_append_scan",
    "list_connections",
]


class ConnectionNotFound(LookupError):
    """No data connection has that name (the message lists the names there are)."""


# Talking to Lakeworks --------------------------------------------------------------------------


def _api_base() -> str:
    api_url = os.environ.get("CDSW_API_URL", "").rstrip("/")
    if not api_url:
        raise RuntimeError("CDSW_API_URL is not set: not running in a Lakeworks workload.")
    return api_url[: -len("/api/v1")] + "/api/v2" if api_url.endswith("/api/v1") else api_url


def _key() -> str:
    key = os.environ.get("CDSW_APIV2_KEY", "")
    if not key:
        raise RuntimeError("CDSW_APIV2_KEY is not set: not running in a Lakeworks workload.")
    return key


def _project_id() -> str:
    project = os.environ.get("CDSW_PROJECT_ID", "")
    if not project:
        raise RuntimeError("CDSW_PROJECT_ID is not set: not running in a Lakeworks workload.")
    return project


def _get(path: str) -> Any:
    request = urllib.request.Request(
        _api_base() + path,
        headers={"Accept": "application/json", "Authorization": f"Bearer {_key()}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as error:
        raw = error.read().decode("utf-8", "replace")
        try:
            message = json.loads(raw).get("message") or raw
        except (ValueError, AttributeError):
            message = raw
        if error.code == 404:
            raise ConnectionNotFound(message) from None
        raise RuntimeError(f"Lakeworks answered {error.code}: {message}") from None


def list_connections() -> list[str]:
    """The names of the connections this project's workloads may use."""
    found = _get(f"/projects/{_project_id()}/data/connections")
    return [c["name"] for c in found.get("connections", [])]


def get_connection(name: str, parameters: dict[str, Any] | None = None) -> CustomConnection:
    """The data connection ``name`` (built-in, site-wide or the project's), ready to use;
    ``parameters`` override its settings (``override_parameters``)."""
    if not isinstance(name, str) or not name:
        raise ConnectionNotFound("Give the name of a data connection, e.g. 'iceberg'.")
    quoted = urllib.parse.quote(name, safe="")
    details = _get(f"/projects/{_project_id()}/data/connections/{quoted}/credentials")
    if details.get("warning"):
        print(f"cml.data_v1: {details['warning']}", file=sys.stderr)
    kind = details.get("type", "")
    factory = _TYPES.get(kind)
    if factory is None:
        raise RuntimeError(f"Connection {name!r} has the type {kind!r}, unknown to this library.")
    connection = factory(details)
    if parameters:
        connection.override_parameters(parameters)
    return connection


def _properties(details: dict[str, Any]) -> dict[str, Any]:
    properties = dict(details.get("options") or {})
    properties["name"] = details.get("name", "")
    properties["secret"] = details.get("secret", "")
    return properties


# Connection types ------------------------------------------------------------------------------


class IcebergConnection(CustomConnection):
    """An Iceberg REST catalog: the built-in ``iceberg`` connection is the project's own
    tables in the platform's catalog (its namespaces only)."""

    def __init__(self, details: dict[str, Any]) -> None:
        super().__init__(_properties(details))
        self.name = details.get("name", "iceberg")
        self.builtin = bool(details.get("builtin"))
        self._catalog: Any = None

    def get_catalog(self) -> Any:
        """A pyiceberg ``RestCatalog`` (created once per connection)."""
        if self._catalog is None:
            from pyiceberg.catalog.rest import RestCatalog

            params = self.parameters
            token = _key() if self.builtin else params.get("secret", "")
            options = {"uri": params.get("uri") or os.environ.get("LAKEWORKS_ICEBERG_URI", "")}
            if token:
                options["token"] = token
            for key in ("warehouse", "prefix"):
                if params.get(key) and not self.builtin:
                    options[key] = params[key]
            self._catalog = RestCatalog(self.name, **options)
        return self._catalog

    def get_base_connection(self) -> Any:
        return self.get_catalog()

    def get_table(self, identifier: str) -> Any:
        """``get_catalog().load_table(identifier)`` (``"namespace.table"``)."""
        return self.get_catalog().load_table(identifier)

    def get_pandas_dataframe(self, query: str) -> Any:
        """A whole table as a DataFrame: ``query`` is a table name (``"default.orders"``)."""
        return self.get_table(query.strip()).scan().to_pandas()

    def print_usage(self) -> None:
        print(
            "catalog = conn.get_catalog()  # pyiceberg RestCatalog\n"
            "table = catalog.load_table('default.my_table')\n"
            "df = table.scan().to_pandas()"
        )


class DuckDBConnection(CustomConnection):
    """DuckDB: a database file (``database`` option) or in memory."""

    def __init__(self, details: dict[str, Any]) -> None:
        super().__init__(_properties(details))
        self._connection: Any = None

    def get_base_connection(self) -> Any:
        if self._connection is None:
            import duckdb

            database = self.parameters.get("database") or ":memory:"
            self._connection = duckdb.connect(
                database, read_only=bool(self.parameters.get("read_only", False))
            )
        return self._connection

    def get_cursor(self) -> Any:
        return self.get_base_connection().cursor()

    def get_pandas_dataframe(self, query: str) -> Any:
        return self.get_base_connection().execute(query).df()

    def print_usage(self) -> None:
        print("df = conn.get_pandas_dataframe('SELECT 42 AS answer')")


class _DbApiConnection(CustomConnection):
    """Shared by the SQL servers: DB-API cursor and a DataFrame of a query's rows."""

    def __init__(self, details: dict[str, Any]) -> None:
        super().__init__(_properties(details))
        self._connection: Any = None

    def _connect(self) -> Any:
        raise NotImplementedError

    def get_base_connection(self) -> Any:
        if self._connection is None:
            self._connection = self._connect()
        return self._connection

    def get_cursor(self) -> Any:
        return self.get_base_connection().cursor()

    def get_pandas_dataframe(self, query: str) -> Any:
        import pandas

        cursor = self.get_cursor()
        try:
            cursor.execute(query)
            columns = [d[0] for d in cursor.description or []]
            return pandas.DataFrame(list(cursor.fetchall()), columns=columns)
        finally:
            cursor.close()

    def print_usage(self) -> None:
        print("df = conn.get_pandas_dataframe('SELECT 1')\ncursor = conn.get_cursor()")


class PostgreSQLConnection(_DbApiConnection):
    def _connect(self) -> Any:
        import psycopg

        p = self.parameters
        options = {
            "host": p.get("host"),
            "port": p.get("port") or 5432,
            "dbname": p.get("database") or None,
            "user": p.get("user") or None,
            "password": p.get("secret") or None,
            "sslmode": p.get("sslmode") or None,
        }
        return psycopg.connect(**{k: v for k, v in options.items() if v is not None})


class MySQLConnection(_DbApiConnection):
    """MySQL and MariaDB (PyMySQL)."""

    def _connect(self) -> Any:
        import pymysql  # type: ignore[import-untyped]

        p = self.parameters
        return pymysql.connect(
            host=p.get("host"),
            port=int(p.get("port") or 3306),
            user=p.get("user") or None,
            password=p.get("secret") or "",
            database=p.get("database") or None,
            charset=p.get("charset") or "utf8mb4",
        )


def iceberg_spark_jar() -> str:
    """The Iceberg Spark runtime jar this workload can load, or ""."""
    configured = os.environ.get("LAKEWORKS_ICEBERG_SPARK_JAR", "")
    if configured and os.path.isfile(configured):
        return configured
    for pattern in SPARK_JAR_PATTERNS:
        found = sorted(glob.glob(pattern))
        if found:
            return found[-1]
    return ""


def iceberg_spark_conf(jar: str) -> dict[str, str]:
    """The Spark settings that put this project's Iceberg catalog behind ``spark_catalog``
    (docs/architecture.md, data): empty without the Iceberg runtime jar."""
    uri = os.environ.get("LAKEWORKS_ICEBERG_URI", "")
    if not jar or not uri:
        return {}
    conf = {
        "spark.jars": jar,
        "spark.sql.extensions": "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
        "spark.sql.catalog.spark_catalog": "org.apache.iceberg.spark.SparkSessionCatalog",
        "spark.sql.catalog.spark_catalog.type": "rest",
        "spark.sql.catalog.spark_catalog.uri": uri,
    }
    key = os.environ.get("CDSW_APIV2_KEY", "")
    if key:
        conf["spark.sql.catalog.spark_catalog.token"] = key
    return conf


class SparkConnection(CustomConnection):
    """Spark with the project's configuration (its ``spark-defaults.conf``), the
    connection's own settings (``conf``, ``master``) and, when the Iceberg runtime jar is
    installed, the project's Iceberg catalog."""

    def __init__(self, details: dict[str, Any]) -> None:
        super().__init__(_properties(details))

    def get_spark_session(self) -> Any:
        from pyspark.sql import SparkSession

        builder = SparkSession.builder
        master = self.parameters.get("master")
        if master:
            builder = builder.master(master)
        settings = dict(iceberg_spark_conf(iceberg_spark_jar()))
        settings.update(self.parameters.get("conf") or {})
        for key, value in settings.items():
            builder = builder.config(key, value)
        return builder.getOrCreate()

    def get_base_connection(self) -> Any:
        return self.get_spark_session()

    def get_pandas_dataframe(self, query: str) -> Any:
        return self.get_spark_session().sql(query).toPandas()

    def print_usage(self) -> None:
        print("spark = conn.get_spark_session()\nspark.sql('SHOW DATABASES').show()")


_TYPES: dict[str, Any] = {
    "iceberg": IcebergConnection,
    "duckdb": DuckDBConnection,
    "postgresql": PostgreSQLConnection,
    "mysql": MySQLConnection,
    "spark": SparkConnection,
}


# Incremental reads -----------------------------------------------------------------------------


def _snapshot_ids(table: Any) -> str:
    ids = [str(s.snapshot_id) for s in table.metadata.snapshots]
    return ", ".join(ids[-10:]) if ids else "none (the table has no snapshot)"


def _ancestry(table: Any, snapshot: Any) -> list[Any]:
    """``snapshot`` and its ancestors, newest first."""
    found = []
    while snapshot is not None:
        found.append(snapshot)
        parent = snapshot.parent_snapshot_id
        snapshot = table.metadata.snapshot_by_id(parent) if parent is not None else None
    return found


def _snapshot_range(
    table: Any, from_snapshot_id_exclusive: int | None, to_snapshot_id_inclusive: int
) -> list[Any]:
    """The snapshots after ``from`` up to ``to`` (newest first), or a ValueError that says
    which id is unknown or that they are out of order."""
    name = ".".join(table.name())
    end = table.metadata.snapshot_by_id(to_snapshot_id_inclusive)
    if end is None:
        raise ValueError(
            f"to_snapshot_id_inclusive {to_snapshot_id_inclusive} is not a snapshot of table "
            f"{name}; its snapshots: {_snapshot_ids(table)}."
        )
    lineage = _ancestry(table, end)
    if from_snapshot_id_exclusive is None:
        return lineage
    start = from_snapshot_id_exclusive
    ids = [s.snapshot_id for s in lineage]
    if start in ids:
        return lineage[: ids.index(start)]
    for index, snapshot in enumerate(lineage):
        if snapshot.parent_snapshot_id == start:  # expired, still the parent of one
            return lineage[: index + 1]
    begin = table.metadata.snapshot_by_id(start)
    if begin is None:
        raise ValueError(
            f"from_snapshot_id_exclusive {start} is not a snapshot of table {name}; its "
            f"snapshots: {_snapshot_ids(table)}."
        )
    if to_snapshot_id_inclusive in [s.snapshot_id for s in _ancestry(table, begin)]:
        raise ValueError(
            f"The snapshot ids are out of order: from_snapshot_id_exclusive {start} is newer "
            f"than to_snapshot_id_inclusive {to_snapshot_id_inclusive}; give the older one first."
        )
    raise ValueError(
        f"from_snapshot_id_exclusive {start} is not an ancestor of to_snapshot_id_inclusive "
        f"{to_snapshot_id_inclusive} (they are on different branches of table {name})."
    )


def incremental_append_scan(
    table: Any,
    from_snapshot_id_exclusive: int | None,
    to_snapshot_id_inclusive: int | None = None,
    row_filter: Any = None,
    selected_fields: tuple | None = None,
    limit: int | None = None,
) -> Any:
    """The rows appended to ``table`` (a pyiceberg ``Table``) by the append snapshots after
    ``from_snapshot_id_exclusive`` (None: from the first) up to ``to_snapshot_id_inclusive``
    (None: the current snapshot), as a ``pyarrow.Table`` in the table's current schema.

    Raises ``ValueError`` for an unknown snapshot id and for ids out of order (the "from"
    snapshot newer than the "to" one). Equal ids give no rows. Overwrites and deletes in the
    range are not read (as Spark's incremental read ignores them).
    """
    if to_snapshot_id_inclusive is None:
        current = table.current_snapshot()
        if current is None:
            raise ValueError(f"Table {'.'.join(table.name())} has no snapshot to read up to.")
        to_snapshot_id_inclusive = current.snapshot_id
    to_id = int(to_snapshot_id_inclusive)
    from_id = None if from_snapshot_id_exclusive is None else int(from_snapshot_id_exclusive)
    snapshots = _snapshot_range(table, from_id, to_id)
    schema = table.schema()
    if selected_fields and "*" not in selected_fields:
        schema = schema.select(*selected_fields)
    if not snapshots:
        from pyiceberg.io.pyarrow import schema_to_pyarrow

        return schema_to_pyarrow(schema).empty_table()
    if hasattr(table, "incremental_append_scan"):  # pyiceberg 0.12 and later
        options: dict[str, Any] = {"to_snapshot_id_inclusive": to_id, "limit": limit}
        if from_id is not None:
            options["from_snapshot_id_exclusive"] = from_id
        if row_filter is not None:
            options["row_filter"] = row_filter
        if selected_fields:
            options["selected_fields"] = tuple(selected_fields)
        return table.incremental_append_scan(**options).to_arrow()
    return _appended_rows(table, snapshots, schema, row_filter, limit)


def _appended_rows(
    table: Any, snapshots: list[Any], schema: Any, row_filter: Any, limit: Any
) -> Any:
    """What pyiceberg 0.12's ``IncrementalAppendScan`` does, for earlier pyiceberg: the data
    files ADDED by the append snapshots of the range, read through ``ArrowScan``."""
    from pyiceberg.expressions import AlwaysTrue
    from pyiceberg.expressions.parser import parse
    from pyiceberg.io.pyarrow import ArrowScan
    from pyiceberg.manifest import ManifestContent, ManifestEntryStatus
    from pyiceberg.table import FileScanTask
    from pyiceberg.table.snapshots import Operation

    appends = [
        s for s in snapshots if s.summary is not None and s.summary.operation == Operation.APPEND
    ]
    ids = {s.snapshot_id for s in appends}
    tasks = []
    seen = set()
    for snapshot in appends:
        for manifest in snapshot.manifests(table.io):
            if manifest.content != ManifestContent.DATA or manifest.added_snapshot_id not in ids:
                continue
            if manifest.manifest_path in seen:
                continue
            seen.add(manifest.manifest_path)
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                if entry.status == ManifestEntryStatus.ADDED and entry.snapshot_id in ids:
                    tasks.append(FileScanTask(entry.data_file))
    expression: Any
    if row_filter is None:
        expression = AlwaysTrue()
    elif isinstance(row_filter, str):
        expression = parse(row_filter)
    else:
        expression = row_filter
    scan = ArrowScan(table.metadata, table.io, schema, expression, True, limit)
    return scan.to_table(tasks)
