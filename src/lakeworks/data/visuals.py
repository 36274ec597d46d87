"""SQL for datasets and visuals: a dataset's fields over its saved query, and a visual's
grouped, aggregated rows over those fields. Only names of the dataset's own fields reach the
SQL, always quoted as identifiers; the saved query itself is checked read-only on every run."""

from __future__ import annotations

from lakeworks.entities.datasets import (
    RECORD_COUNT,
    Aggregate,
    Dataset,
    DatasetField,
    FieldRole,
    FieldType,
    Visual,
    VisualKind,
)
from lakeworks.errors import InvalidInput

HISTOGRAM_BINS = 20
SCATTER_POINTS = 5_000

DUCKDB_TYPES = {
    FieldType.STRING: "VARCHAR",
    FieldType.INTEGER: "BIGINT",
    FieldType.REAL: "DOUBLE",
    FieldType.BOOLEAN: "BOOLEAN",
    FieldType.DATE: "DATE",
    FieldType.TIMESTAMP: "TIMESTAMP",
}
# Text that reads as yes or no counts as 1 or 0 when a field is made a number: the workshop
# clones "churn" (Yes/No) into an integer measure to sum it.
_TRUE = "'yes', 'true', 'y', 't'"
_FALSE = "'no', 'false', 'n', 'f'"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def field_type_of(duckdb_type: str) -> FieldType:
    """The dataset field type for a column DuckDB types ``duckdb_type``."""
    upper = duckdb_type.upper()
    if upper in {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"} or upper.startswith(
        ("UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT")
    ):
        return FieldType.INTEGER
    if upper in {"FLOAT", "DOUBLE", "REAL"} or upper.startswith("DECIMAL"):
        return FieldType.REAL
    if upper == "BOOLEAN":
        return FieldType.BOOLEAN
    if upper == "DATE":
        return FieldType.DATE
    if upper.startswith("TIMESTAMP"):
        return FieldType.TIMESTAMP
    return FieldType.STRING


def default_fields(columns: list[tuple[str, str]]) -> list[DatasetField]:
    """Numbers are measures, everything else dimensions (as Data Visualization guesses)."""
    out = []
    for name, duckdb_type in columns:
        kind = field_type_of(duckdb_type)
        role = (
            FieldRole.MEASURE
            if kind in (FieldType.INTEGER, FieldType.REAL)
            else FieldRole.DIMENSION
        )
        out.append(
            DatasetField(name=name, source=name, type=kind, role=role, source_type=duckdb_type)
        )
    return out


def field_expression(field: DatasetField) -> str:
    column = quote(field.source)
    target = DUCKDB_TYPES[field.type]
    if field.source_type.upper() == target:
        return column
    text_source = field.source_type.upper() in ("", "VARCHAR")
    if field.type in (FieldType.INTEGER, FieldType.REAL) and text_source:
        text = f"lower(trim(CAST({column} AS VARCHAR)))"
        return (
            f"CASE WHEN {text} IN ({_TRUE}) THEN CAST(1 AS {target}) "
            f"WHEN {text} IN ({_FALSE}) THEN CAST(0 AS {target}) "
            f"ELSE TRY_CAST({column} AS {target}) END"
        )
    return f"TRY_CAST({column} AS {target})"


def dataset_sql(dataset_query: str, fields: list[DatasetField]) -> str:
    """The dataset's rows as its fields (names, types), over its saved query."""
    if not fields:
        raise InvalidInput("The dataset has no fields.")
    columns = ", ".join(f"{field_expression(f)} AS {quote(f.name)}" for f in fields)
    return f"WITH lw_query AS ({dataset_query}) SELECT {columns} FROM lw_query"


def visual_sql(dataset: Dataset, visual: Visual, max_groups: int) -> str:
    """The rows a visual draws: one per group of its dimensions, one column per measure."""
    base = f"WITH lw_fields AS ({dataset_sql(dataset.sql, dataset.fields)})"
    dims = [quote(d) for d in visual.dimensions]
    if visual.kind is VisualKind.HISTOGRAM:
        value = quote(visual.measures[0].field)
        return (
            f"{base}, lw_v AS (SELECT CAST({value} AS DOUBLE) AS x FROM lw_fields "
            f"WHERE {value} IS NOT NULL), "
            "lw_b AS (SELECT min(x) AS lo, max(x) AS hi FROM lw_v), "
            f"lw_k AS (SELECT coalesce(least(CAST(floor((x - lo) / nullif(hi - lo, 0) * "
            f"{HISTOGRAM_BINS}) AS INTEGER), {HISTOGRAM_BINS - 1}), 0) AS k, lo, hi "
            "FROM lw_v, lw_b) "
            f"SELECT lo + (hi - lo) / {HISTOGRAM_BINS} * k AS {quote(visual.measures[0].field)}, "
            f"count(*) AS {quote(RECORD_COUNT)} FROM lw_k GROUP BY k, lo, hi ORDER BY k"
        )
    if visual.kind is VisualKind.SCATTER and not dims:
        x, y = (quote(m.field) for m in visual.measures[:2])
        return (
            f"{base} SELECT {x}, {y} FROM lw_fields WHERE {x} IS NOT NULL AND {y} IS NOT NULL "
            f"LIMIT {SCATTER_POINTS}"
        )
    measures = [_aggregate(m.field, m.aggregate) + f" AS {quote(m.label)}" for m in visual.measures]
    if not measures:
        listed = ", ".join(dims)
        return (
            f"{base} SELECT DISTINCT {listed} FROM lw_fields ORDER BY {listed} LIMIT {max_groups}"
        )
    if not dims:
        return f"{base} SELECT {', '.join(measures)} FROM lw_fields"
    listed = ", ".join(dims)
    return (
        f"{base} SELECT {listed}, {', '.join(measures)} FROM lw_fields "
        f"GROUP BY {listed} ORDER BY {listed} LIMIT {max_groups}"
    )


def _aggregate(field: str, aggregate: Aggregate) -> str:
    if field == RECORD_COUNT:
        return "count(*)"
    return f"{aggregate.value}({quote(field)})"


def check_visual(dataset: Dataset, visual: Visual) -> None:
    """Refuse a visual its dataset cannot draw, saying what is missing."""
    _check_shelves(dataset, visual)
    _check_kind(visual)


def _check_shelves(dataset: Dataset, visual: Visual) -> None:
    """Every field on a shelf is the dataset's, and none is there twice."""
    names = {f.name for f in dataset.fields}
    for name in visual.dimensions:
        if name not in names:
            raise InvalidInput(f"The dataset {dataset.name!r} has no field {name!r}.")
    for measure in visual.measures:
        if measure.field != RECORD_COUNT and measure.field not in names:
            raise InvalidInput(f"The dataset {dataset.name!r} has no field {measure.field!r}.")
    if len(set(visual.dimensions)) != len(visual.dimensions):
        raise InvalidInput("A field is on the dimensions shelf twice.")
    if len({m.label for m in visual.measures}) != len(visual.measures):
        raise InvalidInput("A measure is on the measures shelf twice.")


def _check_kind(visual: Visual) -> None:
    """The shelves hold what the visual's kind draws."""
    kind = visual.kind
    if kind is VisualKind.HISTOGRAM:
        if len(visual.measures) != 1 or visual.measures[0].field == RECORD_COUNT:
            raise InvalidInput("A histogram shows one measure field (not Record Count).")
    elif kind is VisualKind.SCATTER:
        if len(visual.measures) != 2:
            raise InvalidInput("A scatter plot needs two measures: x and y.")
        if not visual.dimensions and any(m.field == RECORD_COUNT for m in visual.measures):
            raise InvalidInput("A scatter plot without dimensions plots two fields' values.")
    elif kind is not VisualKind.TABLE:
        if len(visual.dimensions) != 1 or not visual.measures:
            raise InvalidInput(
                f"A {kind.value.replace('_', ' ')} chart needs one dimension and at least "
                "one measure."
            )
    elif not visual.dimensions and not visual.measures:
        raise InvalidInput("Put at least one field on a shelf.")
