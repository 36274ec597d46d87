"""The Data page's SQL explorer as a service: a project's tables, running a read-only query
(one page of results at a time, or a CSV download), cancelling it, and each person's query
history. Reading a project's data needs read access (viewers included). Writing is asked for
(``run_write``): a contributor's ``CREATE TABLE ns.t AS SELECT …`` or ``INSERT INTO ns.t
SELECT …`` into the project's Iceberg tables, the SELECT run read-only as any query and its
rows written by the catalog's service (``data_catalog.write_rows``, audited)."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from typing import IO

import pyarrow as pa

from lakeworks.data import explorer
from lakeworks.data.explorer import Column, Limits, Page, QueryCancelled, QueryTimedOut
from lakeworks.data.sources import TableSource
from lakeworks.entities.datasets import QueryRecord, QueryStatus
from lakeworks.errors import InvalidInput, LakeworksError, NotFound, QuotaExceeded
from lakeworks.services import data_catalog
from lakeworks.services.permissions import Action, require
from lakeworks.services.platform import Platform, Principal

HISTORY_KEPT = 200  # per person and project
HISTORY_SQL_CHARS = 20_000


@dataclass(frozen=True)
class QueryAnswer:
    query_id: str
    page: Page
    record: QueryRecord | None  # the history entry (first pages only)


def limits(platform: Platform) -> Limits:
    s = platform.settings
    return Limits(
        timeout_seconds=s.data_query_timeout_seconds,
        memory_mb=s.data_query_memory_mb,
        threads=s.data_query_threads,
    )


def project_sources(platform: Platform, project_id: str) -> list[TableSource]:
    """Every table of the project, from every provider; a name taken by an earlier provider
    is not offered again."""
    seen: set[str] = set()
    out: list[TableSource] = []
    for provider in platform.table_providers:
        for source in provider.sources(project_id):
            if source.name.lower() not in seen:
                seen.add(source.name.lower())
                out.append(source)
    return out


def tables(platform: Platform, principal: Principal, project_id: str) -> list[TableSource]:
    return listing(platform, principal, project_id)[0]


def listing(
    platform: Platform, principal: Principal, project_id: str
) -> tuple[list[TableSource], str]:
    """The project's tables and a notice saying the list is cut short ("" when it is not)."""
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
    return project_sources(platform, project_id), platform.project_files.notice(project_id)


def columns(
    platform: Platform, principal: Principal, project_id: str, name: str
) -> tuple[TableSource, list[Column]]:
    for source in tables(platform, principal, project_id):
        if source.name.lower() == name.lower():
            return source, explorer.describe(source)
    raise NotFound(f"The project has no table {name!r}.")


def run_query(
    platform: Platform,
    principal: Principal,
    project_id: str,
    sql: str,
    *,
    offset: int = 0,
    limit: int | None = None,
    query_id: str | None = None,
    remember: bool = True,
) -> QueryAnswer:
    """One page of ``sql``'s results. The first page (``offset`` 0) goes into the caller's
    history, failed or not; a failure raises with DuckDB's message."""
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
    page_rows = platform.settings.data_query_page_rows
    limit = page_rows if limit is None else limit
    if not 1 <= limit <= page_rows:
        raise InvalidInput(f"A page holds 1 to {page_rows} rows.")
    if offset < 0:
        raise InvalidInput("The offset cannot be negative.")
    query_id = explorer.check_query_id(query_id) if query_id else explorer.new_query_id()
    started = time.monotonic()
    remember = remember and offset == 0
    try:
        statement = explorer.read_only_statement(sql)
        with explorer.run(
            statement,
            project_sources(platform, project_id),
            limits(platform),
            running=platform.running_queries,
            query_id=query_id,
            owner_id=principal.user.id,
            project_id=project_id,
        ) as query:
            page = query.page(offset, limit)
    except LakeworksError as exc:
        if remember:
            _remember(platform, principal, project_id, sql, started, exc=exc)
        raise
    page.elapsed_ms = _ms(started)
    record = (
        _remember(platform, principal, project_id, sql, started, rows=len(page.rows))
        if (remember)
        else None
    )
    return QueryAnswer(query_id=query_id, page=page, record=record)


WRITE_COLUMNS = [
    Column("table", "VARCHAR"),
    Column("rows_written", "BIGINT"),
    Column("snapshot_id", "BIGINT"),
]


def run_write(
    platform: Platform,
    principal: Principal,
    project_id: str,
    sql: str,
    *,
    query_id: str | None = None,
) -> QueryAnswer:
    """Run a write (see the module's doc) and answer one row: the table, the rows written
    and the new snapshot. Contributors only; in the caller's history like any query. A
    SELECT returning more than ``data_write_max_rows`` rows is refused and nothing is
    written."""
    with platform.read() as uow:
        require(uow, principal, project_id, data_catalog.WRITE)
    query_id = explorer.check_query_id(query_id) if query_id else explorer.new_query_id()
    started = time.monotonic()
    try:
        statement = explorer.write_statement(sql)
        rows = _result_rows(platform, principal, project_id, statement.query, query_id)
        written = data_catalog.write_rows(
            platform,
            principal,
            project_id,
            (statement.namespace, statement.table),
            rows,
            create=statement.kind == "create",
        )
    except LakeworksError as exc:
        _remember(platform, principal, project_id, sql, started, exc=exc)
        raise
    page = Page(
        columns=WRITE_COLUMNS,
        rows=[[written.table, written.rows, written.snapshot_id]],
        offset=0,
        has_more=False,
        elapsed_ms=_ms(started),
    )
    record = _remember(platform, principal, project_id, sql, started, rows=written.rows)
    return QueryAnswer(query_id=query_id, page=page, record=record)


def _result_rows(
    platform: Platform, principal: Principal, project_id: str, sql: str, query_id: str
) -> pa.Table:
    """Every row of the read-only ``sql``, at most ``data_write_max_rows`` of them."""
    most = platform.settings.data_write_max_rows
    with explorer.run(
        sql,
        project_sources(platform, project_id),
        limits(platform),
        running=platform.running_queries,
        query_id=query_id,
        owner_id=principal.user.id,
        project_id=project_id,
    ) as query:
        batches: list[pa.RecordBatch] = []
        count = 0
        for batch in query.batches():
            count += batch.num_rows
            if count > most:
                raise QuotaExceeded(
                    f"The query returns more than {most} rows, the most one write takes "
                    "(LAKEWORKS_DATA_WRITE_MAX_ROWS); nothing was written."
                )
            batches.append(batch)
        schema = query.schema()
    return pa.Table.from_batches(batches, schema=schema)


def download_csv(
    platform: Platform, principal: Principal, project_id: str, sql: str
) -> tuple[IO[bytes], int]:
    """Every row of ``sql`` (up to ``data_download_max_rows``) as CSV in a temporary file,
    rewound, with the number of rows."""
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
    statement = explorer.read_only_statement(sql)
    sink = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 (returned)
    try:
        with explorer.run(
            statement,
            project_sources(platform, project_id),
            limits(platform),
            running=platform.running_queries,
            query_id=explorer.new_query_id(),
            owner_id=principal.user.id,
            project_id=project_id,
        ) as query:
            rows = query.write_csv(sink, platform.settings.data_download_max_rows)
    except BaseException:
        sink.close()
        raise
    sink.seek(0)
    return sink, rows


def cancel(platform: Platform, principal: Principal, project_id: str, query_id: str) -> None:
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
    platform.running_queries.cancel(
        query_id, project_id=project_id, user_id=principal.user.id, is_admin=principal.is_admin
    )


def history(
    platform: Platform, principal: Principal, project_id: str, limit: int = 50
) -> list[QueryRecord]:
    """The caller's own queries in the project, newest first."""
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        return uow.data.queries(project_id, principal.user.id, max(1, min(limit, HISTORY_KEPT)))


def _remember(
    platform: Platform,
    principal: Principal,
    project_id: str,
    sql: str,
    started: float,
    *,
    rows: int = 0,
    exc: LakeworksError | None = None,
) -> QueryRecord:
    if exc is None:
        status = QueryStatus.SUCCEEDED
    elif isinstance(exc, QueryTimedOut):
        status = QueryStatus.TIMED_OUT
    elif isinstance(exc, QueryCancelled):
        status = QueryStatus.CANCELLED
    else:
        status = QueryStatus.FAILED
    with platform.store.transaction() as uow:
        return uow.data.add_query(
            project_id=project_id,
            user_id=principal.user.id,
            sql=sql[:HISTORY_SQL_CHARS].replace("\x00", ""),
            status=status,
            rows=rows,
            elapsed_ms=_ms(started),
            error=(exc.message[:2000].replace("\x00", "") if exc else ""),
            keep=HISTORY_KEPT,
        )


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
