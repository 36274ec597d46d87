"""/api/v2/projects/{id}/data/...: the Data page through API v2 (Lakeworks extension).

Running a read-only SQL query over the project's tables (a page at a time, or as CSV),
cancelling it, the caller's query history; datasets (a saved query with typed dimension and
measure fields) and dashboards of visuals. The rules live in ``services.data_queries`` and
``services.datasets``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from lakeworks.api.deps import PlatformDep, PrincipalDep
from lakeworks.api.schemas import Lenient, Name, rfc3339
from lakeworks.api.strict_json import StrictJSONRoute
from lakeworks.data.explorer import Column, Page
from lakeworks.entities.datasets import Dashboard, Dataset, QueryRecord, Visual
from lakeworks.services import data_queries, datasets
from lakeworks.services.datasets import VisualSpec

router = APIRouter(tags=["data"], route_class=StrictJSONRoute)

SqlText = Annotated[str, Field(max_length=100_000, description="One SELECT statement (DuckDB).")]
Offset = Annotated[int, Field(ge=0, description="Rows to skip (paging).")]


# Bodies ----------------------------------------------------------------------------------


class QueryIn(Lenient):
    sql: SqlText
    offset: Offset = 0
    limit: int | None = Field(
        default=None, ge=1, description="Rows per page; at most the server's page size."
    )
    query_id: str | None = Field(
        default=None,
        max_length=64,
        description="An id of the caller's choosing, to cancel the query while it runs.",
    )
    write: bool = Field(
        default=False,
        description="Write instead of read (contributors): `CREATE TABLE ns.t AS SELECT …` "
        "or `INSERT INTO ns.t SELECT …` into the project's Iceberg tables; the answer is one "
        "row with the table, the rows written and the new snapshot.",
    )


class CsvIn(Lenient):
    sql: SqlText


class DatasetIn(Lenient):
    name: Name
    sql: SqlText


class FieldIn(Lenient):
    name: Name
    source: Name | None = Field(default=None, description="The query's column (default: name).")
    type: str = Field(description="string, integer, real, boolean, date or timestamp.")
    role: str = Field(description="dimension or measure.")


class DatasetPatch(Lenient):
    name: Name | None = None
    sql: SqlText | None = None
    fields: list[FieldIn] | None = Field(default=None, max_length=500)


class CloneFieldIn(Lenient):
    field: Name


class MeasureIn(Lenient):
    field: Name = Field(description='A dataset field, or "Record Count".')
    aggregate: str = Field(default="sum", description="sum, avg, count, min or max.")


class VisualIn(Lenient):
    dataset_id: int
    kind: str = Field(
        description="bar, horizontal_bar, line, scatter, histogram or table.",
    )
    title: Name = ""
    dimensions: list[Name] = Field(default_factory=list, max_length=8)
    measures: list[MeasureIn] = Field(default_factory=list, max_length=8)

    def spec(self) -> VisualSpec:
        return VisualSpec(
            dataset_id=self.dataset_id,
            kind=self.kind,
            title=self.title,
            dimensions=tuple(self.dimensions),
            measures=tuple((m.field, m.aggregate) for m in self.measures),
        )


class DashboardIn(Lenient):
    title: Name
    subtitle: Annotated[str, Field(max_length=1000)] = ""
    visuals: list[VisualIn] = Field(default_factory=list, max_length=24)


class DashboardPatch(Lenient):
    title: Name | None = None
    subtitle: Annotated[str | None, Field(max_length=1000)] = None
    visuals: list[VisualIn] | None = Field(
        default=None, max_length=24, description="When given, replaces every visual."
    )


# Answers ---------------------------------------------------------------------------------


class ColumnOut(BaseModel):
    name: str
    type: str


class ResultOut(BaseModel):
    columns: list[ColumnOut]
    rows: list[list[Any]]
    offset: int
    has_more: bool = Field(description="More rows follow this page (ask with a larger offset).")


class QueryOut(ResultOut):
    query_id: str
    elapsed_ms: int


class TableOut(BaseModel):
    name: str = Field(description="The name SQL uses for the table.")
    kind: str = Field(description='"file" (a Parquet or CSV file of the project), ...')
    description: str = Field(description="For a file, its path in the project.")
    columns: list[ColumnOut] | None = None


class TablesOut(BaseModel):
    tables: list[TableOut]
    notice: str = Field(
        default="",
        description="Set when the project has more data files than are listed (the limit "
        "`LAKEWORKS_DATA_MAX_SOURCES`, or a tree too large to walk): which ones are left out.",
    )


class QueryRecordOut(BaseModel):
    id: int
    sql: str
    status: str = Field(description="succeeded, failed, cancelled or timed_out.")
    rows: int
    elapsed_ms: int
    error: str
    created_at: str


class HistoryOut(BaseModel):
    queries: list[QueryRecordOut]


class FieldOut(BaseModel):
    name: str
    source: str
    type: str
    role: str
    source_type: str = Field(description="The source column's DuckDB type.")


class DatasetOut(BaseModel):
    id: int
    project_id: str
    name: str
    sql: str
    fields: list[FieldOut]
    created_at: str
    updated_at: str


class DatasetsOut(BaseModel):
    datasets: list[DatasetOut]


class MeasureOut(BaseModel):
    field: str
    aggregate: str
    label: str


class VisualOut(BaseModel):
    position: int
    dataset_id: int
    title: str
    kind: str
    dimensions: list[str]
    measures: list[MeasureOut]


class DashboardOut(BaseModel):
    id: int
    project_id: str
    title: str
    subtitle: str
    visuals: list[VisualOut]
    created_at: str
    updated_at: str


class DashboardsOut(BaseModel):
    dashboards: list[DashboardOut]


class VisualDataOut(ResultOut):
    visual: VisualOut


class Empty(BaseModel):
    """An empty object (a deletion, a cancel)."""

    model_config = ConfigDict(extra="forbid")


def columns_out(columns: list[Column]) -> list[ColumnOut]:
    return [ColumnOut(name=c.name, type=c.type) for c in columns]


def result_out(page: Page) -> dict[str, Any]:
    return {
        "columns": columns_out(page.columns),
        "rows": page.rows,
        "offset": page.offset,
        "has_more": page.has_more,
    }


def record_out(record: QueryRecord) -> QueryRecordOut:
    return QueryRecordOut(
        id=record.id,
        sql=record.sql,
        status=record.status.value,
        rows=record.rows,
        elapsed_ms=record.elapsed_ms,
        error=record.error,
        created_at=rfc3339(record.created_at),
    )


def dataset_out(dataset: Dataset) -> DatasetOut:
    return DatasetOut(
        id=dataset.id,
        project_id=dataset.project_id,
        name=dataset.name,
        sql=dataset.sql,
        fields=[
            FieldOut(
                name=f.name,
                source=f.source,
                type=f.type.value,
                role=f.role.value,
                source_type=f.source_type,
            )
            for f in dataset.fields
        ],
        created_at=rfc3339(dataset.created_at),
        updated_at=rfc3339(dataset.updated_at),
    )


def visual_out(visual: Visual) -> VisualOut:
    return VisualOut(
        position=visual.position,
        dataset_id=visual.dataset_id,
        title=visual.title,
        kind=visual.kind.value,
        dimensions=visual.dimensions,
        measures=[
            MeasureOut(field=m.field, aggregate=m.aggregate.value, label=m.label)
            for m in visual.measures
        ],
    )


def dashboard_out(dashboard: Dashboard) -> DashboardOut:
    return DashboardOut(
        id=dashboard.id,
        project_id=dashboard.project_id,
        title=dashboard.title,
        subtitle=dashboard.subtitle,
        visuals=[visual_out(v) for v in dashboard.visuals],
        created_at=rfc3339(dashboard.created_at),
        updated_at=rfc3339(dashboard.updated_at),
    )


# Queries ---------------------------------------------------------------------------------


@router.get("/projects/{project_id}/data/sources", operation_id="list_data_sources")
def list_sources(project_id: str, platform: PlatformDep, principal: PrincipalDep) -> TablesOut:
    """The tables SQL can name: the project's Parquet and CSV files (links left out) and what
    other providers add (``/data/tables`` lists the Iceberg catalog's own tables)."""
    found, notice = data_queries.listing(platform, principal, project_id)
    return TablesOut(
        tables=[TableOut(name=t.name, kind=t.kind, description=t.description) for t in found],
        notice=notice,
    )


@router.get("/projects/{project_id}/data/sources/{name}", operation_id="get_data_source")
def get_source(
    project_id: str, name: str, platform: PlatformDep, principal: PrincipalDep
) -> TableOut:
    source, columns = data_queries.columns(platform, principal, project_id, name)
    return TableOut(
        name=source.name,
        kind=source.kind,
        description=source.description,
        columns=columns_out(columns),
    )


@router.post("/projects/{project_id}/data/query", operation_id="run_data_query")
def run_query(
    project_id: str, body: QueryIn, platform: PlatformDep, principal: PrincipalDep
) -> QueryOut:
    """Run one read-only SELECT over the project's tables; one page of rows comes back.
    Writes, files named in SQL, settings and extensions are refused (400); a query past the
    time limit is cancelled (429); a cancelled one answers 409. With `write`, a contributor's
    CREATE TABLE … AS / INSERT INTO … SELECT into an Iceberg table (403 for viewers)."""
    if body.write:
        written = data_queries.run_write(
            platform, principal, project_id, body.sql, query_id=body.query_id
        )
        return QueryOut(
            query_id=written.query_id,
            elapsed_ms=written.page.elapsed_ms,
            **result_out(written.page),
        )
    answer = data_queries.run_query(
        platform,
        principal,
        project_id,
        body.sql,
        offset=body.offset,
        limit=body.limit,
        query_id=body.query_id,
    )
    return QueryOut(
        query_id=answer.query_id, elapsed_ms=answer.page.elapsed_ms, **result_out(answer.page)
    )


@router.post(
    "/projects/{project_id}/data/query/csv",
    operation_id="download_data_query",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "Every row, as CSV.",
        }
    },
)
def download_query(
    project_id: str, body: CsvIn, platform: PlatformDep, principal: PrincipalDep
) -> StreamingResponse:
    """Every row of the query (up to the server's download limit) as CSV."""
    sink, rows = data_queries.download_csv(platform, principal, project_id, body.sql)

    def chunks() -> Iterator[bytes]:
        with sink:
            while chunk := sink.read(256 * 1024):
                yield chunk

    return StreamingResponse(
        chunks(),
        media_type="text/csv",
        headers={
            "Content-Disposition": 'attachment; filename="query.csv"',
            "X-Lakeworks-Rows": str(rows),
        },
    )


@router.post(
    "/projects/{project_id}/data/queries/{query_id}/cancel", operation_id="cancel_data_query"
)
def cancel_query(
    project_id: str, query_id: str, platform: PlatformDep, principal: PrincipalDep
) -> Empty:
    data_queries.cancel(platform, principal, project_id, query_id)
    return Empty()


@router.get("/projects/{project_id}/data/history", operation_id="list_data_query_history")
def history(
    project_id: str,
    platform: PlatformDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> HistoryOut:
    """The caller's own queries in this project, newest first."""
    records = data_queries.history(platform, principal, project_id, limit)
    return HistoryOut(queries=[record_out(r) for r in records])


# Datasets --------------------------------------------------------------------------------


@router.get("/projects/{project_id}/data/datasets", operation_id="list_datasets")
def list_datasets(project_id: str, platform: PlatformDep, principal: PrincipalDep) -> DatasetsOut:
    found = datasets.list_datasets(platform, principal, project_id)
    return DatasetsOut(datasets=[dataset_out(d) for d in found])


@router.post("/projects/{project_id}/data/datasets", operation_id="create_dataset")
def create_dataset(
    project_id: str, body: DatasetIn, platform: PlatformDep, principal: PrincipalDep
) -> DatasetOut:
    """Save a query as a dataset; numeric columns become measures, the rest dimensions."""
    return dataset_out(
        datasets.create_dataset(platform, principal, project_id, body.name, body.sql)
    )


@router.get("/projects/{project_id}/data/datasets/{dataset_id}", operation_id="get_dataset")
def get_dataset(
    project_id: str, dataset_id: int, platform: PlatformDep, principal: PrincipalDep
) -> DatasetOut:
    return dataset_out(datasets.get_dataset(platform, principal, project_id, dataset_id))


@router.patch("/projects/{project_id}/data/datasets/{dataset_id}", operation_id="update_dataset")
def update_dataset(
    project_id: str,
    dataset_id: int,
    body: DatasetPatch,
    platform: PlatformDep,
    principal: PrincipalDep,
) -> DatasetOut:
    """Rename, change the query, or replace the fields (their names, types and roles)."""
    fields = None if body.fields is None else [f.model_dump() for f in body.fields]
    return dataset_out(
        datasets.update_dataset(
            platform, principal, project_id, dataset_id, name=body.name, sql=body.sql, fields=fields
        )
    )


@router.delete("/projects/{project_id}/data/datasets/{dataset_id}", operation_id="delete_dataset")
def delete_dataset(
    project_id: str, dataset_id: int, platform: PlatformDep, principal: PrincipalDep
) -> Empty:
    datasets.delete_dataset(platform, principal, project_id, dataset_id)
    return Empty()


@router.post(
    "/projects/{project_id}/data/datasets/{dataset_id}/clone_field",
    operation_id="clone_dataset_field",
)
def clone_field(
    project_id: str,
    dataset_id: int,
    body: CloneFieldIn,
    platform: PlatformDep,
    principal: PrincipalDep,
) -> DatasetOut:
    """Add "Copy of <field>", reading the same column; change its type or role after."""
    return dataset_out(
        datasets.clone_field(platform, principal, project_id, dataset_id, body.field)
    )


@router.get(
    "/projects/{project_id}/data/datasets/{dataset_id}/rows", operation_id="preview_dataset"
)
def preview_dataset(
    project_id: str,
    dataset_id: int,
    platform: PlatformDep,
    principal: PrincipalDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1)] = 100,
) -> ResultOut:
    """The dataset's rows as its fields say (names and types)."""
    page = datasets.preview_dataset(
        platform, principal, project_id, dataset_id, offset=offset, limit=limit
    )
    return ResultOut(**result_out(page))


# Dashboards ------------------------------------------------------------------------------


@router.get("/projects/{project_id}/data/dashboards", operation_id="list_dashboards")
def list_dashboards(
    project_id: str, platform: PlatformDep, principal: PrincipalDep
) -> DashboardsOut:
    found = datasets.list_dashboards(platform, principal, project_id)
    return DashboardsOut(dashboards=[dashboard_out(d) for d in found])


@router.post("/projects/{project_id}/data/dashboards", operation_id="create_dashboard")
def create_dashboard(
    project_id: str, body: DashboardIn, platform: PlatformDep, principal: PrincipalDep
) -> DashboardOut:
    return dashboard_out(
        datasets.create_dashboard(
            platform,
            principal,
            project_id,
            body.title,
            body.subtitle,
            [v.spec() for v in body.visuals],
        )
    )


@router.get("/projects/{project_id}/data/dashboards/{dashboard_id}", operation_id="get_dashboard")
def get_dashboard(
    project_id: str, dashboard_id: int, platform: PlatformDep, principal: PrincipalDep
) -> DashboardOut:
    return dashboard_out(datasets.get_dashboard(platform, principal, project_id, dashboard_id))


@router.patch(
    "/projects/{project_id}/data/dashboards/{dashboard_id}", operation_id="update_dashboard"
)
def update_dashboard(
    project_id: str,
    dashboard_id: int,
    body: DashboardPatch,
    platform: PlatformDep,
    principal: PrincipalDep,
) -> DashboardOut:
    specs = None if body.visuals is None else [v.spec() for v in body.visuals]
    return dashboard_out(
        datasets.update_dashboard(
            platform,
            principal,
            project_id,
            dashboard_id,
            title=body.title,
            subtitle=body.subtitle,
            visual_specs=specs,
        )
    )


@router.delete(
    "/projects/{project_id}/data/dashboards/{dashboard_id}", operation_id="delete_dashboard"
)
def delete_dashboard(
    project_id: str, dashboard_id: int, platform: PlatformDep, principal: PrincipalDep
) -> Empty:
    datasets.delete_dashboard(platform, principal, project_id, dashboard_id)
    return Empty()


@router.get(
    "/projects/{project_id}/data/dashboards/{dashboard_id}/visuals/{position}/data",
    operation_id="get_visual_data",
)
def visual_data(
    project_id: str,
    dashboard_id: int,
    position: int,
    platform: PlatformDep,
    principal: PrincipalDep,
) -> VisualDataOut:
    """The rows a visual draws: one per group of its dimensions, a column per measure."""
    visual, page = datasets.visual_data(platform, principal, project_id, dashboard_id, position)
    return VisualDataOut(visual=visual_out(visual), **result_out(page))
