"""Datasets (a saved query with typed fields, each a dimension or a measure), dashboards and
their visuals. Project members with read access see them all; contributors and above create,
change and delete them (``Action.EDIT_DATA``). Every change is audited."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from lakeworks import bounds
from lakeworks.data import explorer, visuals
from lakeworks.data.explorer import Page
from lakeworks.entities.datasets import (
    RECORD_COUNT,
    Aggregate,
    Dashboard,
    Dataset,
    DatasetField,
    FieldRole,
    FieldType,
    Measure,
    Visual,
    VisualKind,
)
from lakeworks.errors import Conflict, InvalidInput, NotFound
from lakeworks.services import data_queries, projects
from lakeworks.services.permissions import Action, require
from lakeworks.services.platform import Platform, Principal
from lakeworks.services.projects import ProjectView
from lakeworks.store.uow import UnitOfWork

MAX_FIELDS = 500
MAX_VISUALS = 24
MAX_SHELF = 8


@dataclass(frozen=True)
class VisualSpec:
    """What a visual is made of, as given (checked against its dataset when saved)."""

    dataset_id: int
    kind: str
    title: str = ""
    dimensions: tuple[str, ...] = ()
    measures: tuple[tuple[str, str], ...] = ()  # (field or RECORD_COUNT, aggregate)


@dataclass(frozen=True)
class DataOverview:
    """What a project's Data page holds, for the all-projects Data page: its Iceberg tables
    (``namespace.table``; the project's Parquet/CSV files are left out, they need a walk of
    its files) and its datasets and dashboards."""

    tables: list[str]
    datasets: list[Dataset]
    dashboards: list[Dashboard]


def overviews(
    platform: Platform, principal: Principal, limit: int
) -> tuple[list[tuple[ProjectView, DataOverview]], bool]:
    """The caller's projects by name (at most ``limit``, and whether there were more), each
    with its Data overview, in a fixed number of statements whatever the number of projects,
    tables, datasets and dashboards (the main navigation's Data page)."""
    views, truncated = projects.listed_by_name(platform, principal, limit)
    ids = [view.project.id for view in views]
    with platform.read() as uow:
        tables = uow.iceberg.tables_of(ids)
        found_datasets = uow.data.datasets_of(ids)
        found_dashboards = uow.data.dashboards_of(ids)
    rows = [
        (view, DataOverview(tables[pid], found_datasets[pid], found_dashboards[pid]))
        for view, pid in zip(views, ids, strict=True)
    ]
    return rows, truncated


# Datasets ---------------------------------------------------------------------------------


def list_datasets(platform: Platform, principal: Principal, project_id: str) -> list[Dataset]:
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        return uow.data.datasets(project_id)


def get_dataset(
    platform: Platform, principal: Principal, project_id: str, dataset_id: int
) -> Dataset:
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        return _dataset(uow, project_id, dataset_id)


def create_dataset(
    platform: Platform, principal: Principal, project_id: str, name: str, sql: str
) -> Dataset:
    """Save ``sql`` as a dataset; its fields are the query's columns (numbers as measures)."""
    name = _name(name)
    with platform.read() as uow:
        require(uow, principal, project_id, Action.EDIT_DATA)
    statement, columns = _probe(platform, principal, project_id, sql)
    with platform.command(
        principal, "data.dataset.create", target=name, project_id=project_id
    ) as cmd:
        require(cmd.uow, principal, project_id, Action.EDIT_DATA)
        if cmd.uow.data.dataset_named(project_id, name) is not None:
            raise Conflict(f"The project already has a dataset named {name!r}.")
        dataset = cmd.uow.data.add_dataset(
            project_id=project_id,
            name=name,
            sql=statement,
            fields=visuals.default_fields(columns),
            creator_id=principal.user.id,
        )
        cmd.target = str(dataset.id)
        cmd.detail = {"name": name, "fields": len(dataset.fields)}
        return dataset


def update_dataset(
    platform: Platform,
    principal: Principal,
    project_id: str,
    dataset_id: int,
    *,
    name: str | None = None,
    sql: str | None = None,
    fields: list[dict[str, Any]] | None = None,
) -> Dataset:
    """Rename, change the query, or replace the fields (each ``name``, ``source`` column,
    ``type``, ``role``). A new query keeps the fields whose columns it still has."""
    with platform.read() as uow:
        require(uow, principal, project_id, Action.EDIT_DATA)
        current = _dataset(uow, project_id, dataset_id)
    new_name = _name(name) if name is not None else current.name
    statement = current.sql
    columns: list[tuple[str, str]] | None = None
    new_fields = current.fields
    if sql is not None:
        statement, columns = _probe(platform, principal, project_id, sql)
        types = dict(columns)
        kept = [
            dataclasses.replace(f, source_type=types[f.source])
            for f in current.fields
            if f.source in types
        ]
        have = {f.source for f in kept}
        new_fields = kept + [f for f in visuals.default_fields(columns) if f.source not in have]
    if fields is not None:
        if columns is None:
            columns = _probe(platform, principal, project_id, statement)[1]
        new_fields = _fields(fields, dict(columns))
    with platform.command(
        principal, "data.dataset.update", target=str(dataset_id), project_id=project_id
    ) as cmd:
        require(cmd.uow, principal, project_id, Action.EDIT_DATA)
        _dataset(cmd.uow, project_id, dataset_id)
        other = cmd.uow.data.dataset_named(project_id, new_name)
        if other is not None and other.id != dataset_id:
            raise Conflict(f"The project already has a dataset named {new_name!r}.")
        _check_dashboards_still_draw(cmd.uow, project_id, dataset_id, new_fields)
        dataset = cmd.uow.data.update_dataset(
            dataset_id, name=new_name, sql=statement, fields=new_fields
        )
        cmd.detail = {"name": new_name, "fields": len(new_fields), "sql_changed": sql is not None}
        return dataset


def clone_field(
    platform: Platform, principal: Principal, project_id: str, dataset_id: int, field: str
) -> Dataset:
    """Add a copy of ``field`` ("Copy of churn"), reading the same column; change its type or
    role afterwards (the workshop turns the churn dimension into an integer measure)."""
    with platform.command(
        principal, "data.dataset.clone_field", target=str(dataset_id), project_id=project_id
    ) as cmd:
        require(cmd.uow, principal, project_id, Action.EDIT_DATA)
        dataset = _dataset(cmd.uow, project_id, dataset_id)
        original = dataset.field(field)
        if original is None:
            raise InvalidInput(f"The dataset {dataset.name!r} has no field {field!r}.")
        if len(dataset.fields) >= MAX_FIELDS:
            raise InvalidInput(f"A dataset holds at most {MAX_FIELDS} fields.")
        taken = {f.name for f in dataset.fields}
        name = f"Copy of {field}"
        number = 2
        while name in taken:
            name = f"Copy of {field} ({number})"
            number += 1
        copy = dataclasses.replace(original, name=name)
        updated = cmd.uow.data.update_dataset(
            dataset_id, name=dataset.name, sql=dataset.sql, fields=[*dataset.fields, copy]
        )
        cmd.detail = {"field": field, "copy": name}
        return updated


def delete_dataset(
    platform: Platform, principal: Principal, project_id: str, dataset_id: int
) -> None:
    with platform.command(
        principal, "data.dataset.delete", target=str(dataset_id), project_id=project_id
    ) as cmd:
        require(cmd.uow, principal, project_id, Action.EDIT_DATA)
        dataset = _dataset(cmd.uow, project_id, dataset_id)
        users = cmd.uow.data.dashboards_using(dataset_id)
        if users:
            raise Conflict(
                f"The dataset {dataset.name!r} is used by the dashboards "
                f"{', '.join(repr(u) for u in users)}; remove those visuals first."
            )
        cmd.uow.data.delete_dataset(dataset_id)
        cmd.detail = {"name": dataset.name}


def preview_dataset(
    platform: Platform,
    principal: Principal,
    project_id: str,
    dataset_id: int,
    *,
    offset: int = 0,
    limit: int = 100,
) -> Page:
    """The dataset's rows as its fields (named and typed as the fields say)."""
    dataset = get_dataset(platform, principal, project_id, dataset_id)
    sql = visuals.dataset_sql(dataset.sql, dataset.fields)
    return data_queries.run_query(
        platform, principal, project_id, sql, offset=offset, limit=limit, remember=False
    ).page


# Dashboards -------------------------------------------------------------------------------


def list_dashboards(platform: Platform, principal: Principal, project_id: str) -> list[Dashboard]:
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        return uow.data.dashboards(project_id)


def get_dashboard(
    platform: Platform, principal: Principal, project_id: str, dashboard_id: int
) -> Dashboard:
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        return _dashboard(uow, project_id, dashboard_id)


def create_dashboard(
    platform: Platform,
    principal: Principal,
    project_id: str,
    title: str,
    subtitle: str = "",
    visual_specs: list[VisualSpec] | None = None,
) -> Dashboard:
    title = _title(title)
    subtitle = bounds.check_text("The subtitle", subtitle.strip(), 1000)
    with platform.command(
        principal, "data.dashboard.create", target=title, project_id=project_id
    ) as cmd:
        require(cmd.uow, principal, project_id, Action.EDIT_DATA)
        rows = _visual_rows(cmd.uow, project_id, visual_specs or [])
        dashboard = cmd.uow.data.add_dashboard(
            project_id=project_id, title=title, subtitle=subtitle, creator_id=principal.user.id
        )
        if rows:
            dashboard = cmd.uow.data.update_dashboard(
                dashboard.id, title=title, subtitle=subtitle, visuals=rows
            )
        cmd.target = str(dashboard.id)
        cmd.detail = {"title": title, "visuals": len(rows)}
        return dashboard


def update_dashboard(
    platform: Platform,
    principal: Principal,
    project_id: str,
    dashboard_id: int,
    *,
    title: str | None = None,
    subtitle: str | None = None,
    visual_specs: list[VisualSpec] | None = None,
) -> Dashboard:
    """Change the title or subtitle; ``visual_specs`` (when given) replaces the visuals."""
    with platform.command(
        principal, "data.dashboard.update", target=str(dashboard_id), project_id=project_id
    ) as cmd:
        require(cmd.uow, principal, project_id, Action.EDIT_DATA)
        current = _dashboard(cmd.uow, project_id, dashboard_id)
        new_title = _title(title) if title is not None else current.title
        new_subtitle = (
            bounds.check_text("The subtitle", subtitle.strip(), 1000)
            if subtitle is not None
            else current.subtitle
        )
        rows = None if visual_specs is None else _visual_rows(cmd.uow, project_id, visual_specs)
        dashboard = cmd.uow.data.update_dashboard(
            dashboard_id, title=new_title, subtitle=new_subtitle, visuals=rows
        )
        cmd.detail = {"title": new_title, "visuals": len(dashboard.visuals)}
        return dashboard


def add_visual(
    platform: Platform, principal: Principal, project_id: str, dashboard_id: int, spec: VisualSpec
) -> Dashboard:
    current = get_dashboard(platform, principal, project_id, dashboard_id)
    return update_dashboard(
        platform,
        principal,
        project_id,
        dashboard_id,
        visual_specs=[*(spec_of(v) for v in current.visuals), spec],
    )


def remove_visual(
    platform: Platform, principal: Principal, project_id: str, dashboard_id: int, position: int
) -> Dashboard:
    current = get_dashboard(platform, principal, project_id, dashboard_id)
    if not any(v.position == position for v in current.visuals):
        raise NotFound(f"The dashboard has no visual {position}.")
    return update_dashboard(
        platform,
        principal,
        project_id,
        dashboard_id,
        visual_specs=[spec_of(v) for v in current.visuals if v.position != position],
    )


def delete_dashboard(
    platform: Platform, principal: Principal, project_id: str, dashboard_id: int
) -> None:
    with platform.command(
        principal, "data.dashboard.delete", target=str(dashboard_id), project_id=project_id
    ) as cmd:
        require(cmd.uow, principal, project_id, Action.EDIT_DATA)
        dashboard = _dashboard(cmd.uow, project_id, dashboard_id)
        cmd.uow.data.delete_dashboard(dashboard_id)
        cmd.detail = {"title": dashboard.title}


def visual_data(
    platform: Platform, principal: Principal, project_id: str, dashboard_id: int, position: int
) -> tuple[Visual, Page]:
    """The rows a visual draws (at most ``data_query_page_rows`` groups)."""
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        dashboard = _dashboard(uow, project_id, dashboard_id)
        visual = next((v for v in dashboard.visuals if v.position == position), None)
        if visual is None:
            raise NotFound(f"The dashboard has no visual {position}.")
        dataset = _dataset(uow, project_id, visual.dataset_id)
    max_groups = platform.settings.data_query_page_rows
    sql = visuals.visual_sql(dataset, visual, max_groups)
    page = data_queries.run_query(
        platform, principal, project_id, sql, limit=max_groups, remember=False
    ).page
    return visual, page


def spec_of(visual: Visual) -> VisualSpec:
    return VisualSpec(
        dataset_id=visual.dataset_id,
        kind=visual.kind.value,
        title=visual.title,
        dimensions=tuple(visual.dimensions),
        measures=tuple((m.field, m.aggregate.value) for m in visual.measures),
    )


# Helpers ----------------------------------------------------------------------------------


def _probe(
    platform: Platform, principal: Principal, project_id: str, sql: str
) -> tuple[str, list[tuple[str, str]]]:
    """The saved form of ``sql`` and its columns; runs it (one row) so an error shows now."""
    statement = explorer.read_only_statement(sql)
    answer = data_queries.run_query(
        platform, principal, project_id, statement, limit=1, remember=False
    )
    columns = [(c.name, c.type) for c in answer.page.columns]
    names = [c for c, _t in columns]
    if len(set(names)) != len(names):
        raise InvalidInput(
            "The query's columns must have distinct names to be a dataset (use AS to rename)."
        )
    return statement, columns


def _fields(given: list[dict[str, Any]], columns: dict[str, str]) -> list[DatasetField]:
    """Fields as given, checked; ``columns`` maps the query's columns to their types."""
    if not given:
        raise InvalidInput("A dataset needs at least one field.")
    if len(given) > MAX_FIELDS:
        raise InvalidInput(f"A dataset holds at most {MAX_FIELDS} fields.")
    out: list[DatasetField] = []
    seen: set[str] = set()
    for item in given:
        if not isinstance(item, dict):
            raise InvalidInput("Each field is an object with name, source, type and role.")
        name = str(item.get("name") or "").strip()
        source = str(item.get("source") or name)
        if not name:
            raise InvalidInput("Every field needs a name.")
        bounds.check_name("A field name", name)
        if name == RECORD_COUNT:
            raise InvalidInput(f"{RECORD_COUNT!r} is the built-in row count; pick another name.")
        if name in seen:
            raise InvalidInput(f"Two fields are named {name!r}.")
        seen.add(name)
        if source not in columns:
            raise InvalidInput(f"The field {name!r} reads {source!r}, which the query lacks.")
        try:
            kind = FieldType(str(item.get("type", "")).lower())
        except ValueError:
            raise InvalidInput(
                f"The field {name!r} has type {item.get('type')!r}; use one of "
                f"{', '.join(t.value for t in FieldType)}."
            ) from None
        try:
            role = FieldRole(str(item.get("role", "")).lower())
        except ValueError:
            raise InvalidInput(
                f"The field {name!r} has role {item.get('role')!r}; use dimension or measure."
            ) from None
        out.append(
            DatasetField(
                name=name, source=source, type=kind, role=role, source_type=columns[source]
            )
        )
    return out


def _visual_rows(uow: UnitOfWork, project_id: str, specs: list[VisualSpec]) -> list[dict[str, Any]]:
    if len(specs) > MAX_VISUALS:
        raise InvalidInput(f"A dashboard holds at most {MAX_VISUALS} visuals.")
    rows: list[dict[str, Any]] = []
    for number, spec in enumerate(specs, start=1):
        dataset = uow.data.dataset(project_id, spec.dataset_id)
        if dataset is None:
            raise InvalidInput(f"Visual {number}: the project has no dataset {spec.dataset_id}.")
        try:
            kind = VisualKind(spec.kind)
        except ValueError:
            raise InvalidInput(
                f"Visual {number}: {spec.kind!r} is not a visual type; use one of "
                f"{', '.join(k.value for k in VisualKind)}."
            ) from None
        if len(spec.dimensions) > MAX_SHELF or len(spec.measures) > MAX_SHELF:
            raise InvalidInput(f"Visual {number}: a shelf holds at most {MAX_SHELF} fields.")
        measures = []
        for field, aggregate in spec.measures:
            try:
                measures.append(Measure(field, Aggregate(aggregate or "sum")))
            except ValueError:
                raise InvalidInput(
                    f"Visual {number}: {aggregate!r} is not an aggregate; use one of "
                    f"{', '.join(a.value for a in Aggregate)}."
                ) from None
        title = bounds.check_name("A visual's title", spec.title.strip())
        visual = Visual(
            id=number,
            dashboard_id=0,
            position=number,
            dataset_id=dataset.id,
            title=title,
            kind=kind,
            dimensions=list(spec.dimensions),
            measures=measures,
        )
        try:
            visuals.check_visual(dataset, visual)
        except InvalidInput as exc:
            raise InvalidInput(f"Visual {number}: {exc.message}") from None
        rows.append(
            {
                "dataset_id": dataset.id,
                "title": title,
                "kind": kind.value,
                "dimensions": list(spec.dimensions),
                "measures": [{"field": m.field, "aggregate": m.aggregate.value} for m in measures],
            }
        )
    return rows


def _check_dashboards_still_draw(
    uow: UnitOfWork, project_id: str, dataset_id: int, fields: list[DatasetField]
) -> None:
    """A field a dashboard's visual uses cannot be renamed away or deleted."""
    names = {f.name for f in fields}
    for dashboard in uow.data.dashboards(project_id):
        for visual in dashboard.visuals:
            if visual.dataset_id != dataset_id:
                continue
            used = set(visual.dimensions) | {
                m.field for m in visual.measures if m.field != RECORD_COUNT
            }
            missing = sorted(used - names)
            if missing:
                raise Conflict(
                    f"The dashboard {dashboard.title!r} uses the fields "
                    f"{', '.join(repr(m) for m in missing)}; keep them or change that visual."
                )


def _dataset(uow: UnitOfWork, project_id: str, dataset_id: int) -> Dataset:
    dataset = uow.data.dataset(project_id, dataset_id)
    if dataset is None:
        raise NotFound(f"The project has no dataset {dataset_id}.")
    return dataset


def _dashboard(uow: UnitOfWork, project_id: str, dashboard_id: int) -> Dashboard:
    dashboard = uow.data.dashboard(project_id, dashboard_id)
    if dashboard is None:
        raise NotFound(f"The project has no dashboard {dashboard_id}.")
    return dashboard


def _name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise InvalidInput("Give the dataset a name.")
    return bounds.check_name("A dataset name", name)


def _title(title: str) -> str:
    title = (title or "").strip()
    if not title:
        raise InvalidInput("Give the dashboard a title.")
    return bounds.check_name("A dashboard title", title)
