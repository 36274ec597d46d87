"""A project's collaborators: who has which role, adding, changing and removing them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from lakeworks.entities.projects import COLLABORATOR_ROLES
from lakeworks.errors import LakeworksError, http_status
from lakeworks.services import projects, users
from lakeworks.services.permissions import DESCRIPTIONS, MINIMUM_ROLE, Action
from lakeworks.services.platform import Platform, Principal
from lakeworks.ui.deps import FormUserDep, PlatformDep, UserDep
from lakeworks.ui.pages import flash, form_error, redirect, render

router = APIRouter()


def _page(
    request: Request,
    platform: Platform,
    principal: Principal,
    project_id: str,
    *,
    form: dict[str, str] | None = None,
    status: int = 200,
    error: str = "",
) -> Response:
    view = projects.get(platform, principal, project_id)
    collaborators = projects.list_collaborators(platform, principal, project_id)
    can_manage = projects.allowed(view, Action.MANAGE_COLLABORATORS)
    # What each role may do, for the help table: a role allows every action at or below it.
    role_help = [
        (role, [DESCRIPTIONS[a] for a in Action if MINIMUM_ROLE[a].rank <= role.rank])
        for role in COLLABORATOR_ROLES
    ]
    return render(
        request,
        "projects/collaborators.html",
        {
            "nav": "projects",
            "tab": "collaborators",
            "view": view,
            "project": view.project,
            "collaborators": collaborators,
            "can_manage": can_manage,
            "roles": [r.value for r in COLLABORATOR_ROLES],
            "role_help": role_help,
            "people": users.list_users(platform, principal) if can_manage else [],
            "form": form or {"role": "viewer"},
        },
        status=status,
        error=error or None,
    )


@router.get("/projects/{project_id}/collaborators")
def collaborators(
    request: Request, platform: PlatformDep, principal: UserDep, project_id: str
) -> Response:
    return _page(request, platform, principal, project_id)


@router.post("/projects/{project_id}/collaborators")
def set_collaborator(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "viewer",
) -> Response:
    try:
        added = projects.set_collaborator(platform, principal, project_id, name.strip(), role)
    except LakeworksError as exc:
        if http_status(exc) != 404:  # "no such user" belongs on the form
            form_error(request, exc)
        return _page(
            request,
            platform,
            principal,
            project_id,
            form={"name": name, "role": role},
            status=http_status(exc),
            error=exc.message,
        )
    flash(request, f"{added.name} is now {added.role.value} on this project.")
    return redirect(f"/projects/{project_id}/collaborators")


@router.post("/projects/{project_id}/collaborators/remove")
def remove_collaborator(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    name: Annotated[str, Form()] = "",
) -> Response:
    projects.remove_collaborator(platform, principal, project_id, name)
    if name == principal.user.username:
        flash(request, "You left the project.")
        return redirect("/projects")
    flash(request, f"{name} is no longer a collaborator.")
    return redirect(f"/projects/{project_id}/collaborators")
