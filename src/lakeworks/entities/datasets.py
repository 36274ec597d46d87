"""The Data page's saved things: query history, datasets (a saved query with typed fields),
dashboards and the visuals on them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class QueryStatus(enum.StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


@dataclass(frozen=True)
class QueryRecord:
    """One query a person ran on the Data page (their history, newest first)."""

    id: int
    project_id: str
    user_id: int
    sql: str
    status: QueryStatus
    rows: int  # rows shown on the first page
    elapsed_ms: int
    error: str
    created_at: datetime


class FieldRole(enum.StrEnum):
    DIMENSION = "dimension"  # groups rows (a category, a date)
    MEASURE = "measure"  # is aggregated (sum, average...)


class FieldType(enum.StrEnum):
    STRING = "string"
    INTEGER = "integer"
    REAL = "real"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"


@dataclass(frozen=True)
class DatasetField:
    """A field of a dataset: ``source`` is the query's column it reads (a cloned field
    reads the same column as its original), cast to ``type``; ``source_type`` is that
    column's DuckDB type when the query was saved ("" if unknown)."""

    name: str
    source: str
    type: FieldType
    role: FieldRole
    source_type: str = ""


@dataclass(frozen=True)
class Dataset:
    id: int
    project_id: str
    name: str
    sql: str
    fields: list[DatasetField]
    creator_id: int
    created_at: datetime
    updated_at: datetime

    def field(self, name: str) -> DatasetField | None:
        return next((f for f in self.fields if f.name == name), None)


class VisualKind(enum.StrEnum):
    BAR = "bar"
    HORIZONTAL_BAR = "horizontal_bar"
    LINE = "line"
    SCATTER = "scatter"
    HISTOGRAM = "histogram"
    TABLE = "table"


class Aggregate(enum.StrEnum):
    SUM = "sum"
    AVG = "avg"
    COUNT = "count"
    MIN = "min"
    MAX = "max"


# The measure that counts rows, as Cloudera Data Visualization's "Record Count".
RECORD_COUNT = "Record Count"


@dataclass(frozen=True)
class Measure:
    field: str  # a dataset field, or RECORD_COUNT
    aggregate: Aggregate = Aggregate.SUM

    @property
    def label(self) -> str:
        if self.field == RECORD_COUNT:
            return RECORD_COUNT
        return f"{self.aggregate.value}({self.field})"


@dataclass(frozen=True)
class Visual:
    """A chart (or table) of a dataset on a dashboard: the dimensions shelf groups its rows,
    the measures shelf aggregates them."""

    id: int
    dashboard_id: int
    position: int
    dataset_id: int
    title: str
    kind: VisualKind
    dimensions: list[str]
    measures: list[Measure]


@dataclass(frozen=True)
class Dashboard:
    id: int
    project_id: str
    title: str
    subtitle: str
    creator_id: int
    created_at: datetime
    updated_at: datetime
    visuals: list[Visual] = field(default_factory=list)
