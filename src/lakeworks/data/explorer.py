"""The Data page's SQL explorer: one read-only DuckDB query over a project's tables.

Where it runs, and why: in the server, on a fresh in-memory DuckDB per query. What makes that
safe with tables written by untrusted workloads is that DuckDB never opens a file: every
table reaches it as an Arrow object its ``TableSource`` opened (project files through
``safe_paths``, see ``sources``), and the connection is locked down from its creation —
``enable_external_access = false`` (no file, URL or database can be named in SQL:
``read_csv('/etc/passwd')``, ``COPY … TO``, ``ATTACH`` are refused), extension installing
and loading off, and ``lock_configuration`` so no statement can turn any of it back on. On
top of that only one ``SELECT`` (or ``EXPLAIN``) statement is accepted: DDL, DML, ``SET``,
``PRAGMA``, ``INSTALL`` and ``LOAD`` are refused before DuckDB runs anything. (A sandboxed
process per query, as workloads run, would add a process start and a runtime to every
query; the lock-down above leaves DuckDB nothing of the machine to reach.)

Writes, when a contributor asks for them (``write_statement``): ``CREATE TABLE ns.t AS
<select>`` and ``INSERT INTO ns.t <select>`` into the project's Iceberg tables. DuckDB still
only runs the ``SELECT``, read-only as above; the rows it returns are written by the Iceberg
catalog's service (``services.data_catalog.write_rows``) through the warehouse's ``SafeFileIO``.

Bounds: a memory limit and thread count per query (settings), a time limit enforced by
interrupting the connection, and results read as a stream of Arrow batches of which only one
page is kept, so a query returning millions of rows costs one page of memory.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import IO, Any, Literal

import duckdb
import pyarrow as pa
import pyarrow.csv as pa_csv

from lakeworks.data.sources import TableSource
from lakeworks.errors import InvalidInput, InvalidState, NotFound, QuotaExceeded, RateLimited

READ_ONLY = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
MAX_SQL_CHARS = 100_000
MAX_CELL_CHARS = 2_000  # the grid shows this much of a long value; CSV downloads keep all
BATCH_ROWS = 2_048


class QueryCancelled(InvalidState):
    """Its author (or an administrator) cancelled the query."""


class QueryTimedOut(QuotaExceeded):
    """The query ran past the time limit and was interrupted."""


@dataclass(frozen=True)
class Limits:
    timeout_seconds: float
    memory_mb: int
    threads: int


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # DuckDB's type name: INTEGER, VARCHAR, DOUBLE, TIMESTAMP...


@dataclass
class Page:
    """One page of a query's results. ``has_more``: rows follow this page."""

    columns: list[Column]
    rows: list[list[Any]]
    offset: int
    has_more: bool
    elapsed_ms: int = 0


@dataclass
class _Running:
    owner_id: int
    project_id: str
    connection: duckdb.DuckDBPyConnection
    cancelled: bool = False
    timed_out: bool = False


@dataclass
class RunningQueries:
    """The queries this process is running now, so their authors can cancel them, and at
    most ``max_running`` at once (each holds DuckDB threads and memory)."""

    max_running: int = 4
    _running: dict[tuple[int, str], _Running] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def track(
        self,
        query_id: str,
        owner_id: int,
        project_id: str,
        connection: duckdb.DuckDBPyConnection,
    ) -> Iterator[_Running]:
        key = (owner_id, query_id)
        entry = _Running(owner_id, project_id, connection)
        with self._lock:
            if key in self._running:
                raise InvalidInput(f"Your query {query_id!r} is already running.")
            if len(self._running) >= self.max_running:
                raise RateLimited(
                    f"{len(self._running)} Data page queries are running, the server's limit "
                    "(LAKEWORKS_DATA_MAX_RUNNING_QUERIES); try again in a moment.",
                    retry_after=2,
                )
            self._running[key] = entry
        try:
            yield entry
        finally:
            with self._lock:
                self._running.pop(key, None)

    def cancel(self, query_id: str, *, project_id: str, user_id: int, is_admin: bool) -> None:
        """Interrupt a running query of the caller's (anyone's, for a site administrator)."""
        with self._lock:
            found = [
                entry
                for (owner, qid), entry in self._running.items()
                if qid == query_id
                and entry.project_id == project_id
                and (is_admin or owner == user_id)
            ]
            if not found:
                raise NotFound(f"No query {query_id!r} of yours is running in this project.")
            for entry in found:
                entry.cancelled = True
                entry.connection.interrupt()

    def count(self) -> int:
        with self._lock:
            return len(self._running)


def new_query_id() -> str:
    return uuid.uuid4().hex


def check_query_id(query_id: str) -> str:
    if not (1 <= len(query_id) <= 64) or not all(c.isalnum() or c in "-_" for c in query_id):
        raise InvalidInput("A query id is 1 to 64 letters, digits, '-' or '_'.")
    return query_id


def read_only_statement(sql: str) -> str:
    """The one read-only statement ``sql`` holds, without its trailing ``;``; refuses
    anything else with a message saying what and why."""
    if not sql.strip():
        raise InvalidInput("Write a SQL query first.")
    statement = _one_statement(sql)
    if statement.type not in READ_ONLY:
        kind = statement.type.name.replace("_STATEMENT", "")
        raise InvalidInput(
            f"The Data page runs read-only queries: a {kind} statement is refused. "
            "Use SELECT (or EXPLAIN) to read the project's tables; a contributor can turn "
            f"writes on to run {_WRITE_FORMS}."
        )
    return sql.strip().rstrip(";").strip()


_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_LEADING_COMMENTS = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.S)
_CREATE_AS = re.compile(
    rf"create\s+table\s+(?P<namespace>{_IDENT})\s*\.\s*(?P<table>{_IDENT})\s+as\s+(?P<query>.+)",
    re.I | re.S,
)
_INSERT_INTO = re.compile(
    rf"insert\s+into\s+(?P<namespace>{_IDENT})\s*\.\s*(?P<table>{_IDENT})\s+(?P<query>.+)",
    re.I | re.S,
)
_COLUMN_LIST = re.compile(rf"\(\s*{_IDENT}\s*(?:,\s*{_IDENT}\s*)*\)")
_WRITE_FORMS = (
    "CREATE TABLE <namespace>.<table> AS SELECT … (a new Iceberg table) or "
    "INSERT INTO <namespace>.<table> SELECT … (appended to an Iceberg table)"
)


@dataclass(frozen=True)
class WriteStatement:
    """A write the explorer takes: the rows of ``query`` (one read-only statement) go into the
    Iceberg table ``namespace.table``, a new one (``create``) or an existing one (``insert``)."""

    kind: Literal["create", "insert"]
    namespace: str
    table: str
    query: str


def _unquote(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name.lower()


def write_statement(sql: str) -> WriteStatement:
    """The one write ``sql`` holds (see ``WriteStatement``); anything else is refused with
    the forms that are taken."""
    if not sql.strip():
        raise InvalidInput("Write a SQL statement first.")
    kinds = {duckdb.StatementType.CREATE: "create", duckdb.StatementType.INSERT: "insert"}
    statement = _one_statement(sql)
    if statement.type in READ_ONLY:
        raise InvalidInput(
            "Writes are on, but this is a read-only query: turn writes off to run it, "
            f"or write {_WRITE_FORMS}."
        )
    if statement.type not in kinds:
        kind = statement.type.name.replace("_STATEMENT", "")
        raise InvalidInput(f"A {kind} statement is refused. The Data page writes {_WRITE_FORMS}.")
    text = _LEADING_COMMENTS.sub("", sql.strip().rstrip(";").strip(), count=1)
    pattern = _CREATE_AS if kinds[statement.type] == "create" else _INSERT_INTO
    match = pattern.fullmatch(text)
    if match is None:
        raise InvalidInput(
            f"The Data page writes {_WRITE_FORMS}; name the namespace and the table, with no "
            "column list, options or other clauses."
        )
    if _COLUMN_LIST.match(match["query"]):
        raise InvalidInput(
            "A column list is not taken: select the table's columns, in its order, by name."
        )
    query = read_only_statement(match["query"])
    return WriteStatement(
        kind="create" if kinds[statement.type] == "create" else "insert",
        namespace=_unquote(match["namespace"]),
        table=_unquote(match["table"]),
        query=query,
    )


def _one_statement(sql: str) -> Any:
    if len(sql) > MAX_SQL_CHARS:
        raise InvalidInput(f"The query is longer than {MAX_SQL_CHARS} characters.")
    if "\x00" in sql:
        raise InvalidInput("The query holds a NUL character.")
    parser = duckdb.connect(":memory:")
    try:
        statements = parser.extract_statements(sql)
    except duckdb.Error as exc:
        raise InvalidInput(f"SQL error: {_message(exc)}") from exc
    finally:
        parser.close()
    if not statements:
        raise InvalidInput("Write a SQL query first.")
    if len(statements) > 1:
        raise InvalidInput(
            f"The query holds {len(statements)} statements; run one statement at a time."
        )
    return statements[0]


class Query:
    """A running query's result stream; made by ``run``, read by ``page`` or ``write_csv``."""

    def __init__(self, relation: duckdb.DuckDBPyRelation, entry: _Running, limits: Limits) -> None:
        self._relation = relation
        self._entry = entry
        self._limits = limits
        self._reader: pa.RecordBatchReader | None = None
        self.columns = [
            Column(name, str(kind))
            for name, kind in zip(relation.columns, relation.types, strict=True)
        ]

    def batches(self) -> Iterator[pa.RecordBatch]:
        """The result's batches, in order; the stream is read once."""
        with self._errors():
            if self._reader is None:
                self._reader = self._relation.to_arrow_reader(BATCH_ROWS)
            while True:
                try:
                    batch = self._reader.read_next_batch()
                except StopIteration:
                    return
                yield batch

    def schema(self) -> pa.Schema:
        """The Arrow schema of the result (its batches')."""
        with self._errors():
            if self._reader is None:
                self._reader = self._relation.to_arrow_reader(BATCH_ROWS)
            return self._reader.schema

    def page(self, offset: int, limit: int) -> Page:
        """Rows ``offset`` to ``offset + limit``, read as a stream: the rows before are
        skipped, not kept, and reading stops one row past the page."""
        rows: list[list[Any]] = []
        skip = offset
        for batch in self.batches():
            if skip >= batch.num_rows:
                skip -= batch.num_rows
                continue
            part = batch.slice(skip, limit + 1 - len(rows))
            skip = 0
            columns = [_cells(column.to_pylist()) for column in part.columns]
            rows.extend(list(row) for row in zip(*columns, strict=True))
            if len(rows) > limit:
                break
        return Page(
            columns=self.columns, rows=rows[:limit], offset=offset, has_more=len(rows) > limit
        )

    def write_csv(self, sink: IO[bytes], max_rows: int) -> int:
        """Every row (at most ``max_rows``) as CSV with a header line; the number written."""
        written = 0
        writer: pa_csv.CSVWriter | None = None
        for batch in self.batches():
            if written + batch.num_rows > max_rows:
                batch = batch.slice(0, max_rows - written)
            if writer is None:
                writer = pa_csv.CSVWriter(sink, batch.schema)
            writer.write_batch(batch)
            written += batch.num_rows
            if written >= max_rows:
                break
        if writer is None:
            sink.write((",".join(_csv_header(c.name) for c in self.columns) + "\n").encode())
        else:
            writer.close()
        return written

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except duckdb.InterruptException as exc:
            raise _interrupted(self._entry, self._limits) from exc
        except duckdb.Error as exc:
            raise sql_error(exc) from exc
        except pa.ArrowException as exc:
            raise InvalidInput(f"A table could not be read: {exc}") from exc


@contextmanager
def run(
    sql: str,
    sources: list[TableSource],
    limits: Limits,
    *,
    running: RunningQueries,
    query_id: str,
    owner_id: int,
    project_id: str,
) -> Iterator[Query]:
    """Run ``sql`` (already checked by ``read_only_statement``) over the tables it names of
    ``sources``; the block reads the results. Everything opened is closed when it ends."""
    by_name = {s.name.lower(): s for s in sources}
    with ExitStack() as stack:
        connection = connect(limits)
        stack.callback(connection.close)
        for source in _named(connection, sql, by_name):
            _register(connection, source, stack)
        entry = stack.enter_context(running.track(query_id, owner_id, project_id, connection))
        timer = threading.Timer(limits.timeout_seconds, _time_out, (entry,))
        timer.daemon = True
        timer.start()
        stack.callback(timer.cancel)
        try:
            relation = connection.sql(sql)
        except duckdb.InterruptException as exc:
            raise _interrupted(entry, limits) from exc
        except duckdb.Error as exc:
            raise sql_error(exc, sources) from exc
        if relation is None:  # EXPLAIN ANALYZE and the like return nothing to page
            relation = connection.sql("SELECT 'done' AS result")
        yield Query(relation, entry, limits)


def _named(
    connection: duckdb.DuckDBPyConnection, sql: str, by_name: dict[str, TableSource]
) -> list[TableSource]:
    """The sources ``sql`` names: plain names (``churn``) and, for sources whose names are
    qualified (an Iceberg ``namespace.table``), qualified ones."""
    try:
        plain = connection.get_table_names(sql)
        qualified = connection.get_table_names(sql, qualified=True)
    except duckdb.Error as exc:
        raise sql_error(exc) from exc
    names = {n.lower() for n in plain} | {n.replace('"', "").lower() for n in qualified}
    return [by_name[n] for n in sorted(names) if n in by_name]


def _register(connection: duckdb.DuckDBPyConnection, source: TableSource, stack: ExitStack) -> None:
    data = source.open(stack)
    parts = source.name.split(".")
    if len(parts) != 2:
        # A plain name (or one SQL can only write quoted, "a.b.c").
        connection.register(source.name, data)
        return
    # schema.table: the data under a private name, and a view in the schema SQL names.
    schema, table = (_quote(part) for part in parts)
    hidden = "lw_source_" + uuid.uuid4().hex[:12]
    connection.register(hidden, data)
    try:
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        connection.execute(f"CREATE VIEW {schema}.{table} AS SELECT * FROM {_quote(hidden)}")
    except duckdb.Error as exc:
        raise sql_error(exc) from exc


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def describe(source: TableSource) -> list[Column]:
    """A table's columns, as DuckDB types them."""
    with ExitStack() as stack:
        connection = connect(Limits(timeout_seconds=0, memory_mb=256, threads=1))
        stack.callback(connection.close)
        connection.register("t", source.open(stack))
        try:
            rows = connection.sql("DESCRIBE t").fetchall()
        except duckdb.Error as exc:
            raise sql_error(exc) from exc
        return [Column(str(r[0]), str(r[1])) for r in rows]


def connect(limits: Limits) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB, locked down before it sees any SQL: no files, URLs or
    databases (Arrow objects registered from Python are its only tables), no extensions, and
    a configuration no statement can change."""
    return duckdb.connect(
        ":memory:",
        config={
            "threads": limits.threads,
            "memory_limit": f"{int(limits.memory_mb)}MB",
            "enable_external_access": False,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "allow_community_extensions": False,
            # A table name must never resolve to a Python object of the server's frames.
            "python_enable_replacements": False,
            "lock_configuration": True,
        },
    )


def _time_out(entry: _Running) -> None:
    entry.timed_out = True
    entry.connection.interrupt()


def _interrupted(entry: _Running, limits: Limits) -> InvalidState | QuotaExceeded:
    if entry.timed_out and not entry.cancelled:
        return QueryTimedOut(
            f"The query ran longer than {limits.timeout_seconds:g} s, the limit "
            "(LAKEWORKS_DATA_QUERY_TIMEOUT_SECONDS), and was cancelled."
        )
    return QueryCancelled("The query was cancelled.")


def sql_error(exc: duckdb.Error, sources: list[TableSource] | None = None) -> InvalidInput:
    """DuckDB's message for people; a refused file access says what the explorer reads."""
    message = _message(exc)
    if isinstance(exc, duckdb.PermissionException):
        return InvalidInput(
            "The Data page reads only the project's tables listed beside the editor: files, "
            "URLs and databases named in SQL (read_csv('...'), COPY, ATTACH), extensions "
            f"and settings are refused. ({message})"
        )
    if isinstance(exc, duckdb.CatalogException) and sources is not None and "Table" in message:
        names = ", ".join(sorted(s.name for s in sources)[:20]) or "none yet"
        message += f" Tables of this project: {names}."
    return InvalidInput(f"SQL error: {message}")


def _message(exc: BaseException) -> str:
    return str(exc).strip()


def _csv_header(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _cells(values: list[Any]) -> list[Any]:
    return [_cell(v) for v in values]


def _cell(value: Any) -> Any:
    """A value the JSON encoder takes (and a person can read)."""
    if value is None or isinstance(value, bool | int | str):
        if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
            return value[:MAX_CELL_CHARS] + "…"
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, decimal.Decimal):
        return float(value) if value.is_finite() else str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return "base64:" + base64.b64encode(value[:MAX_CELL_CHARS]).decode()
    if isinstance(value, list | tuple):
        return [_cell(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _cell(v) for k, v in value.items()}
    return str(value)
