"""Project settings: name, description, visibility, environment variables, deletion."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from lakeworks.entities.projects import EnvVar, Visibility
from lakeworks.errors import InvalidInput, LakeworksError, http_status
from lakeworks.services import data_connections, projects
from lakeworks.services.permissions import Action
from lakeworks.services.platform import Platform, Principal
from lakeworks.ui.deps import FormUserDep, PlatformDep, UserDep
from lakeworks.ui.pages import flash, form_error, redirect, render

router = APIRouter()

StrList = Annotated[list[str], Form(default_factory=list)]


def _page(
    request: Request,
    platform: Platform,
    principal: Principal,
    project_id: str,
    *,
    general: dict[str, str] | None = None,
    env: list[EnvVar] | None = None,
    status: int = 200,
    error: str = "",
) -> Response:
    view = projects.get(platform, principal, project_id)
    project = view.project
    return render(
        request,
        "projects/settings.html",
        {
            "nav": "projects",
            "tab": "settings",
            "view": view,
            "project": project,
            "general": general
            or {
                "name": project.name,
                "description": project.description,
                "visibility": project.visibility.value,
            },
            "visibilities": [v.value for v in Visibility],
            "env": env if env is not None else projects.get_env(platform, principal, project_id),
            "can_change": projects.allowed(view, Action.CHANGE_SETTINGS),
            "can_delete": projects.allowed(view, Action.DELETE_PROJECT),
            "secret_mask": projects.SECRET_MASK,
            "connections": data_connections.list_own(platform, principal, project_id),
        },
        status=status,
        error=error or None,
    )


@router.get("/projects/{project_id}/settings")
def settings(
    request: Request, platform: PlatformDep, principal: UserDep, project_id: str
) -> Response:
    return _page(request, platform, principal, project_id)


@router.post("/projects/{project_id}/settings")
def update_settings(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    visibility: Annotated[str, Form()] = "private",
) -> Response:
    try:
        projects.update(
            platform,
            principal,
            project_id,
            name=name,
            description=description,
            visibility=visibility,
        )
    except LakeworksError as exc:
        form_error(request, exc)
        general = {"name": name, "description": description, "visibility": visibility}
        return _page(
            request,
            platform,
            principal,
            project_id,
            general=general,
            status=http_status(exc),
            error=exc.message,
        )
    flash(request, "Project settings saved.")
    return redirect(f"/projects/{project_id}/settings")


def parse_env_rows(
    names: list[str], values: list[str], secret: list[str], remove: list[str]
) -> list[EnvVar]:
    """The variables form: parallel name/value lists; checkboxes send the row numbers ticked.

    Rows with an empty name are blank rows left unused; rows ticked for removal are dropped.
    """
    ticked, dropped = set(secret), set(remove)
    return [
        EnvVar(name=name.strip(), value=value, secret=str(index) in ticked)
        for index, (name, value) in enumerate(zip(names, values, strict=False))
        if name.strip() and str(index) not in dropped
    ]


def checked_env(rows: list[EnvVar]) -> list[EnvVar]:
    seen: set[str] = set()
    for row in rows:
        if row.name in seen:
            raise InvalidInput(f"The variable {row.name!r} is listed twice.")
        seen.add(row.name)
    # validate_env checks the names, as the API's checks them.
    return projects.validate_env({v.name: {"value": v.value, "secret": v.secret} for v in rows})


@router.post("/projects/{project_id}/settings/env")
def update_env(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    env_name: StrList,
    env_value: StrList,
    env_secret: StrList,
    env_remove: StrList,
) -> Response:
    rows = parse_env_rows(env_name, env_value, env_secret, env_remove)
    try:
        projects.replace_env(platform, principal, project_id, checked_env(rows))
    except LakeworksError as exc:
        form_error(request, exc)
        return _page(
            request,
            platform,
            principal,
            project_id,
            env=rows,
            status=http_status(exc),
            error=exc.message,
        )
    flash(request, "Environment variables saved.")
    return redirect(f"/projects/{project_id}/settings#environment")


@router.post("/projects/{project_id}/delete")
def delete_project(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    confirm_name: Annotated[str, Form()] = "",
) -> Response:
    view = projects.get(platform, principal, project_id)
    if confirm_name.strip() != view.project.name:
        return _page(
            request,
            platform,
            principal,
            project_id,
            status=400,
            error="Type the project's name exactly to confirm deleting it.",
        )
    projects.delete(platform, principal, project_id)
    flash(request, f"Project {view.project.name!r} and its files were deleted.")
    return redirect("/projects")
