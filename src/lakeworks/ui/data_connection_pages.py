"""Data connections in the UI: site-wide ones on an admin page, a project's own on its
settings page (a table and a form; the rules are ``services.data_connections``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response

from lakeworks import bounds
from lakeworks.errors import InvalidInput, LakeworksError
from lakeworks.services import data_connections
from lakeworks.ui.deps import AdminDep, FormUserDep, PlatformDep
from lakeworks.ui.pages import flash, form_error, redirect, render

router = APIRouter()


def _options(text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        value = bounds.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"Options must be a JSON object: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidInput('Options must be a JSON object, e.g. {"host": "db"}.')
    return value


@router.get("/admin/data-connections")
def site_connections(request: Request, platform: PlatformDep, principal: AdminDep) -> Response:
    return render(
        request,
        "admin/data_connections.html",
        {
            "nav": "admin",
            "tab": "data-connections",
            "connections": data_connections.list_site(platform, principal),
        },
    )


def _create(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str | None,
    fields: dict[str, str],
) -> None:
    try:
        made = data_connections.create(
            platform,
            principal,
            project_id,
            name=fields["name"],
            type=fields["type"],
            options=_options(fields["options"]),
            secret=fields["secret"],
            description=fields["description"],
        )
    except LakeworksError as exc:
        form_error(request, exc)  # 401/403/404 raise
        flash(request, exc.message, "error")
        return
    flash(request, f"Data connection {made.name} added.")


@router.post("/admin/data-connections")
def add_site_connection(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    name: Annotated[str, Form()] = "",
    type: Annotated[str, Form()] = "",
    options: Annotated[str, Form()] = "",
    secret: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
) -> Response:
    fields = {"name": name, "type": type, "options": options, "secret": secret}
    _create(request, platform, principal, None, fields | {"description": description})
    return redirect("/admin/data-connections")


@router.post("/admin/data-connections/{name}/delete")
def delete_site_connection(
    request: Request, platform: PlatformDep, principal: FormUserDep, name: str
) -> Response:
    try:
        data_connections.delete(platform, principal, None, name)
        flash(request, f"Data connection {name} deleted.")
    except LakeworksError as exc:
        form_error(request, exc)
        flash(request, exc.message, "error")
    return redirect("/admin/data-connections")


@router.post("/projects/{project_id}/settings/connections")
def add_project_connection(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    name: Annotated[str, Form()] = "",
    type: Annotated[str, Form()] = "",
    options: Annotated[str, Form()] = "",
    secret: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
) -> Response:
    fields = {"name": name, "type": type, "options": options, "secret": secret}
    _create(request, platform, principal, project_id, fields | {"description": description})
    return redirect(f"/projects/{project_id}/settings#data-connections")


@router.post("/projects/{project_id}/settings/connections/{name}/delete")
def delete_project_connection(
    request: Request, platform: PlatformDep, principal: FormUserDep, project_id: str, name: str
) -> Response:
    try:
        data_connections.delete(platform, principal, project_id, name)
        flash(request, f"Data connection {name} deleted.")
    except LakeworksError as exc:
        form_error(request, exc)
        flash(request, exc.message, "error")
    return redirect(f"/projects/{project_id}/settings#data-connections")
