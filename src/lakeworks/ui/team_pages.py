"""Site administration of teams: creation, members and their roles, deletion."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from lakeworks.entities.projects import COLLABORATOR_ROLES
from lakeworks.errors import LakeworksError, http_status
from lakeworks.services import users
from lakeworks.services.platform import Platform, Principal
from lakeworks.ui.deps import AdminDep, FormUserDep, PlatformDep
from lakeworks.ui.pages import flash, form_error, redirect, render

router = APIRouter()


def _teams_page(
    request: Request,
    platform: Platform,
    principal: Principal,
    *,
    form: dict[str, str] | None = None,
    status: int = 200,
    error: str = "",
) -> Response:
    return render(
        request,
        "admin/teams.html",
        {
            "nav": "admin",
            "tab": "teams",
            "teams": users.list_teams(platform, principal),
            "form": form or {},
        },
        status=status,
        error=error or None,
    )


@router.get("/admin/teams")
def team_list(request: Request, platform: PlatformDep, principal: AdminDep) -> Response:
    return _teams_page(request, platform, principal)


@router.post("/admin/teams")
def create_team(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
) -> Response:
    try:
        team = users.create_team(platform, principal, name, description)
    except LakeworksError as exc:
        form_error(request, exc)
        form = {"name": name, "description": description}
        return _teams_page(
            request, platform, principal, form=form, status=http_status(exc), error=exc.message
        )
    flash(request, f"Team {team.name} created; add its members below.")
    return redirect(f"/admin/teams/{team.name}")


def _team_page(
    request: Request,
    platform: Platform,
    principal: Principal,
    name: str,
    *,
    form: dict[str, str] | None = None,
    status: int = 200,
    error: str = "",
) -> Response:
    team, members = users.get_team(platform, principal, name)
    return render(
        request,
        "admin/team.html",
        {
            "nav": "admin",
            "tab": "teams",
            "team": team,
            "members": members,
            "roles": [r.value for r in COLLABORATOR_ROLES],
            "people": users.list_users(platform, principal),
            "form": form or {"role": "contributor"},
        },
        status=status,
        error=error or None,
    )


@router.get("/admin/teams/{name}")
def team_detail(
    request: Request, platform: PlatformDep, principal: AdminDep, name: str
) -> Response:
    return _team_page(request, platform, principal, name)


@router.post("/admin/teams/{name}/members")
def set_member(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    name: str,
    username: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "contributor",
) -> Response:
    try:
        users.set_team_member(platform, principal, name, username.strip(), role)
    except LakeworksError as exc:
        if http_status(exc) != 404:  # an unknown username belongs on the form
            form_error(request, exc)
        form = {"username": username, "role": role}
        return _team_page(
            request,
            platform,
            principal,
            name,
            form=form,
            status=http_status(exc),
            error=exc.message,
        )
    flash(request, f"{username.strip()} is a {role} of team {name}.")
    return redirect(f"/admin/teams/{name}")


@router.post("/admin/teams/{name}/members/remove")
def remove_member(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    name: str,
    username: Annotated[str, Form()] = "",
) -> Response:
    users.remove_team_member(platform, principal, name, username)
    flash(request, f"{username} left team {name}.")
    return redirect(f"/admin/teams/{name}")


@router.post("/admin/teams/{name}/delete")
def delete_team(
    request: Request, platform: PlatformDep, principal: FormUserDep, name: str
) -> Response:
    try:
        users.delete_team(platform, principal, name)
    except LakeworksError as exc:
        form_error(request, exc)
        return _team_page(
            request, platform, principal, name, status=http_status(exc), error=exc.message
        )
    flash(request, f"Team {name} deleted.")
    return redirect("/admin/teams")
