"""The Data page of a project: the SQL explorer, datasets (fields and their roles) and
dashboards of visuals. Queries, paging, cancel and charts run in the browser (``data.js``)
against API v2 with the session's cookie; saving goes through forms here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import StreamingResponse

from lakeworks.entities.datasets import RECORD_COUNT, Aggregate, FieldRole, FieldType, VisualKind
from lakeworks.errors import LakeworksError
from lakeworks.services import data_queries, datasets, projects
from lakeworks.services.datasets import VisualSpec
from lakeworks.services.permissions import Action
from lakeworks.ui.deps import FormUserDep, PlatformDep, UserDep
from lakeworks.ui.pages import flash, form_error, redirect, render

router = APIRouter()

KIND_LABELS = {
    VisualKind.BAR: "Bars",
    VisualKind.HORIZONTAL_BAR: "Horizontal bars",
    VisualKind.LINE: "Line",
    VisualKind.SCATTER: "Scatter",
    VisualKind.HISTOGRAM: "Histogram",
    VisualKind.TABLE: "Table",
}


MAX_PROJECTS = 200  # the all-projects Data page lists at most this many projects


@router.get("/data")
def all_data(request: Request, platform: PlatformDep, principal: UserDep) -> Response:
    """Every project's tables, datasets and dashboards, linking to each project's Data page."""
    rows, truncated = datasets.overviews(platform, principal, MAX_PROJECTS)
    return render(
        request,
        "data/all.html",
        {"nav": "data", "rows": rows, "truncated": truncated, "max_projects": MAX_PROJECTS},
    )


def _base(project_id: str) -> str:
    return f"/projects/{project_id}/data"


@router.get("/projects/{project_id}/data")
def explorer(
    request: Request,
    platform: PlatformDep,
    principal: UserDep,
    project_id: str,
    sql: str = "",
) -> Response:
    view = projects.get(platform, principal, project_id)
    tables, tables_notice = data_queries.listing(platform, principal, project_id)
    history = data_queries.history(platform, principal, project_id, limit=20)
    if not sql and tables:
        sql = f"SELECT * FROM {tables[0].name} LIMIT 100"
    return render(
        request,
        "data/explorer.html",
        {
            "nav": "projects",
            "tab": "data",
            "section": "sql",
            "view": view,
            "project": view.project,
            "tables": tables,
            "tables_notice": tables_notice,
            "history": history,
            "sql": sql,
            "page_rows": min(100, platform.settings.data_query_page_rows),
            "can_edit": projects.allowed(view, Action.EDIT_DATA),
            "can_write": projects.allowed(view, Action.WRITE_FILES),
        },
    )


@router.post("/projects/{project_id}/data/download")
def download(
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    sql: Annotated[str, Form()] = "",
) -> Response:
    sink, rows = data_queries.download_csv(platform, principal, project_id, sql)

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


# Datasets -----------------------------------------------------------------------------------


@router.get("/projects/{project_id}/data/datasets")
def dataset_list(
    request: Request, platform: PlatformDep, principal: UserDep, project_id: str
) -> Response:
    view = projects.get(platform, principal, project_id)
    return render(
        request,
        "data/datasets.html",
        {
            "nav": "projects",
            "tab": "data",
            "section": "datasets",
            "view": view,
            "project": view.project,
            "datasets": datasets.list_datasets(platform, principal, project_id),
            "can_edit": projects.allowed(view, Action.EDIT_DATA),
        },
    )


@router.post("/projects/{project_id}/data/datasets")
def dataset_create(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    name: Annotated[str, Form()] = "",
    sql: Annotated[str, Form()] = "",
) -> Response:
    try:
        dataset = datasets.create_dataset(platform, principal, project_id, name, sql)
    except LakeworksError as exc:
        form_error(request, exc)
        flash(request, f"The dataset was not saved: {exc.message}", "error")
        return redirect(_base(project_id), query={"sql": sql})
    flash(request, f"Saved the dataset {dataset.name!r}.")
    return redirect(f"{_base(project_id)}/datasets/{dataset.id}")


@router.get("/projects/{project_id}/data/datasets/{dataset_id}")
def dataset_page(
    request: Request, platform: PlatformDep, principal: UserDep, project_id: str, dataset_id: int
) -> Response:
    view = projects.get(platform, principal, project_id)
    dataset = datasets.get_dataset(platform, principal, project_id, dataset_id)
    preview = None
    preview_error = ""
    try:
        preview = datasets.preview_dataset(platform, principal, project_id, dataset_id, limit=10)
    except LakeworksError as exc:
        preview_error = exc.message
    return render(
        request,
        "data/dataset.html",
        {
            "nav": "projects",
            "tab": "data",
            "section": "datasets",
            "view": view,
            "project": view.project,
            "dataset": dataset,
            "preview": preview,
            "preview_error": preview_error,
            "types": [t.value for t in FieldType],
            "roles": [r.value for r in FieldRole],
            "can_edit": projects.allowed(view, Action.EDIT_DATA),
        },
    )


@router.post("/projects/{project_id}/data/datasets/{dataset_id}/fields")
def dataset_fields(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    dataset_id: int,
    name: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI copies defaults)
    source: Annotated[list[str], Form()] = [],  # noqa: B006
    type: Annotated[list[str], Form()] = [],  # noqa: B006
    role: Annotated[list[str], Form()] = [],  # noqa: B006
    clone: Annotated[str, Form()] = "",
) -> Response:
    fields = [
        {"name": n, "source": s, "type": t, "role": r}
        for n, s, t, r in zip(name, source, type, role, strict=False)
    ]
    try:
        if clone:
            datasets.clone_field(platform, principal, project_id, dataset_id, clone)
            flash(request, f"Added a copy of {clone!r} at the end of the fields.")
        else:
            datasets.update_dataset(platform, principal, project_id, dataset_id, fields=fields)
            flash(request, "Saved the fields.")
    except LakeworksError as exc:
        form_error(request, exc)
        flash(request, exc.message, "error")
    return redirect(f"{_base(project_id)}/datasets/{dataset_id}")


@router.post("/projects/{project_id}/data/datasets/{dataset_id}/delete")
def dataset_delete(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    dataset_id: int,
) -> Response:
    try:
        datasets.delete_dataset(platform, principal, project_id, dataset_id)
    except LakeworksError as exc:
        form_error(request, exc)
        flash(request, exc.message, "error")
        return redirect(f"{_base(project_id)}/datasets/{dataset_id}")
    flash(request, "Deleted the dataset.")
    return redirect(f"{_base(project_id)}/datasets")


# Dashboards ---------------------------------------------------------------------------------


@router.get("/projects/{project_id}/data/dashboards")
def dashboard_list(
    request: Request, platform: PlatformDep, principal: UserDep, project_id: str
) -> Response:
    view = projects.get(platform, principal, project_id)
    return render(
        request,
        "data/dashboards.html",
        {
            "nav": "projects",
            "tab": "data",
            "section": "dashboards",
            "view": view,
            "project": view.project,
            "dashboards": datasets.list_dashboards(platform, principal, project_id),
            "can_edit": projects.allowed(view, Action.EDIT_DATA),
        },
    )


@router.post("/projects/{project_id}/data/dashboards")
def dashboard_create(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    title: Annotated[str, Form()] = "",
    subtitle: Annotated[str, Form()] = "",
) -> Response:
    try:
        dashboard = datasets.create_dashboard(platform, principal, project_id, title, subtitle)
    except LakeworksError as exc:
        form_error(request, exc)
        flash(request, exc.message, "error")
        return redirect(f"{_base(project_id)}/dashboards")
    return redirect(f"{_base(project_id)}/dashboards/{dashboard.id}")


@router.get("/projects/{project_id}/data/dashboards/{dashboard_id}")
def dashboard_page(
    request: Request,
    platform: PlatformDep,
    principal: UserDep,
    project_id: str,
    dashboard_id: int,
    dataset: int | None = None,
) -> Response:
    view = projects.get(platform, principal, project_id)
    dashboard = datasets.get_dashboard(platform, principal, project_id, dashboard_id)
    can_edit = projects.allowed(view, Action.EDIT_DATA)
    all_datasets = datasets.list_datasets(platform, principal, project_id) if can_edit else []
    chosen = next((d for d in all_datasets if d.id == dataset), None) or (
        all_datasets[0] if all_datasets else None
    )
    return render(
        request,
        "data/dashboard.html",
        {
            "nav": "projects",
            "tab": "data",
            "section": "dashboards",
            "view": view,
            "project": view.project,
            "dashboard": dashboard,
            "datasets": all_datasets,
            "chosen": chosen,
            "kinds": KIND_LABELS,
            "aggregates": [a.value for a in Aggregate],
            "record_count": RECORD_COUNT,
            "can_edit": can_edit,
        },
    )


@router.post("/projects/{project_id}/data/dashboards/{dashboard_id}")
def dashboard_update(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    dashboard_id: int,
    title: Annotated[str, Form()] = "",
    subtitle: Annotated[str, Form()] = "",
) -> Response:
    try:
        datasets.update_dashboard(
            platform, principal, project_id, dashboard_id, title=title, subtitle=subtitle
        )
        flash(request, "Saved the title.")
    except LakeworksError as exc:
        form_error(request, exc)
        flash(request, exc.message, "error")
    return redirect(f"{_base(project_id)}/dashboards/{dashboard_id}")


@router.post("/projects/{project_id}/data/dashboards/{dashboard_id}/visuals")
def visual_add(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    dashboard_id: int,
    dataset_id: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "",
    title: Annotated[str, Form()] = "",
    dimension: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI copies defaults)
    measure: Annotated[list[str], Form()] = [],  # noqa: B006
    aggregate: Annotated[list[str], Form()] = [],  # noqa: B006
) -> Response:
    here = f"{_base(project_id)}/dashboards/{dashboard_id}"
    chosen = int(dataset_id) if dataset_id.isdigit() else 0
    spec = VisualSpec(
        dataset_id=chosen,
        kind=kind,
        title=title,
        dimensions=tuple(d for d in dimension if d),
        measures=tuple((f, a) for f, a in zip(measure, aggregate, strict=False) if f),
    )
    try:
        datasets.add_visual(platform, principal, project_id, dashboard_id, spec)
    except LakeworksError as exc:
        form_error(request, exc)
        flash(request, exc.message, "error")
    return redirect(here, query={"dataset": str(chosen)})


@router.post("/projects/{project_id}/data/dashboards/{dashboard_id}/visuals/{position}/delete")
def visual_remove(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    dashboard_id: int,
    position: int,
) -> Response:
    try:
        datasets.remove_visual(platform, principal, project_id, dashboard_id, position)
    except LakeworksError as exc:
        form_error(request, exc)
        flash(request, exc.message, "error")
    return redirect(f"{_base(project_id)}/dashboards/{dashboard_id}")


@router.post("/projects/{project_id}/data/dashboards/{dashboard_id}/delete")
def dashboard_delete(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    dashboard_id: int,
) -> Response:
    datasets.delete_dashboard(platform, principal, project_id, dashboard_id)
    flash(request, "Deleted the dashboard.")
    return redirect(f"{_base(project_id)}/dashboards")
