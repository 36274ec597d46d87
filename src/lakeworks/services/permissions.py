"""The project permission table, written once, and the role a principal holds on a project.

Services call ``require``; routes and templates never decide permissions themselves
(templates may ask ``allowed`` only to hide buttons that would be refused anyway).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from lakeworks.entities.projects import Project, Role, Visibility
from lakeworks.errors import NotFound, PermissionDenied
from lakeworks.services.platform import Principal
from lakeworks.store.uow import UnitOfWork


class Action(enum.StrEnum):
    READ = "read"  # see the project, its files, settings and (masked) env vars
    WRITE_FILES = "write_files"  # create, edit, upload, move, delete files
    RUN_WORKLOADS = "run_workloads"  # start and stop existing jobs, sessions, apps
    CREATE_WORKLOADS = "create_workloads"  # create jobs, models, applications; start sessions
    EDIT_DATA = "edit_data"  # Data page: datasets, visuals and dashboards
    MANAGE_COLLABORATORS = "manage_collaborators"
    CHANGE_SETTINGS = "change_settings"  # name, description, visibility, env vars
    # Secret values are write-only for everyone (settings, API and workload logs show ****);
    # workloads receive them. Setting them is a settings change.
    SET_SECRETS = "set_secrets"
    DELETE_PROJECT = "delete_project"


# The lowest role allowed each action (CML: viewer < operator < contributor < admin < owner).
MINIMUM_ROLE: dict[Action, Role] = {
    Action.READ: Role.VIEWER,
    Action.RUN_WORKLOADS: Role.OPERATOR,
    Action.WRITE_FILES: Role.CONTRIBUTOR,
    Action.CREATE_WORKLOADS: Role.CONTRIBUTOR,
    Action.EDIT_DATA: Role.CONTRIBUTOR,
    Action.SET_SECRETS: Role.ADMIN,
    Action.MANAGE_COLLABORATORS: Role.ADMIN,
    Action.CHANGE_SETTINGS: Role.ADMIN,
    Action.DELETE_PROJECT: Role.ADMIN,
}

# What each action means to people, for the UI's permission help and the docs.
DESCRIPTIONS: dict[Action, str] = {
    Action.READ: "view code, data, results and settings",
    Action.RUN_WORKLOADS: "start and stop existing jobs, sessions and applications",
    Action.WRITE_FILES: "create, edit, upload, move and delete files",
    Action.CREATE_WORKLOADS: "create jobs, models and applications; start sessions",
    Action.EDIT_DATA: "save datasets and edit visuals and dashboards on the Data page",
    Action.SET_SECRETS: "set secret environment variables (never shown again, masked in logs)",
    Action.MANAGE_COLLABORATORS: "add, change and remove collaborators",
    Action.CHANGE_SETTINGS: "change name, description, visibility and environment variables",
    Action.DELETE_PROJECT: "delete the project and its files",
}


def role_allows(role: Role | None, action: Action) -> bool:
    return role is not None and role.rank >= MINIMUM_ROLE[action].rank


def effective_role(uow: UnitOfWork, principal: Principal, project: Project) -> Role | None:
    """The highest role the principal holds on the project, or None for no access.

    Sources: ownership (user owner, or the owning team's member role), collaborator rows
    for the user or any of their teams, and read access from the project's visibility.
    Site admins act as owners everywhere.
    """
    return effective_roles(uow, principal, [project])[project.id]


def effective_roles(
    uow: UnitOfWork, principal: Principal, projects: Sequence[Project]
) -> dict[str, Role | None]:
    """``effective_role`` of each project, by id, in a fixed number of statements whatever
    the number of projects (pages that list many; ``require`` asks for one). The one place
    the rule is written."""
    if principal.is_admin:
        return {
            p.id: None if principal.confined_to not in (None, p.id) else Role.OWNER
            for p in projects
        }
    user = principal.user
    team_roles = uow.users.team_roles_of(user.id)
    team_ids = sorted(team_roles)
    members = uow.projects.member_roles_in([p.id for p in projects], user.id, team_ids)
    # Only team-visible projects of user owners need to know whom their owner shares a team
    # with (no statement for the usual private project).
    sharing = uow.projects.owners_sharing_team(
        sorted(
            {
                p.owner.id
                for p in projects
                if p.visibility is Visibility.TEAM and not p.owner.is_team
            }
        ),
        team_ids,
    )
    found: dict[str, Role | None] = {}
    for project in projects:
        if principal.confined_to is not None and principal.confined_to != project.id:
            found[project.id] = None
            continue
        roles = list(members[project.id])
        if project.owner.is_team:
            if project.owner.id in team_roles:
                roles.append(Role(team_roles[project.owner.id]))
        elif project.owner.id == user.id:
            roles.append(Role.OWNER)
        if not roles and (
            project.visibility is Visibility.PUBLIC
            or (project.visibility is Visibility.TEAM and project.owner.id in sharing)
        ):
            roles.append(Role.VIEWER)
        found[project.id] = max(roles, key=lambda r: r.rank) if roles else None
    return found


def require(uow: UnitOfWork, principal: Principal, project_id: str, action: Action) -> Project:
    """Load the project and check ``action`` is allowed; raise NotFound or PermissionDenied.

    A project the principal cannot read is reported as not found, so ids of private projects
    do not leak.
    """
    project = uow.projects.get(project_id)
    if project is None:
        raise NotFound(f"Project {project_id!r} not found.")
    role = effective_role(uow, principal, project)
    if role is None:
        raise NotFound(f"Project {project_id!r} not found.")
    if not role_allows(role, action):
        raise PermissionDenied(
            f"Your role on project {project.name!r} is {role.value}; "
            f"you need {MINIMUM_ROLE[action].value} or above to {DESCRIPTIONS[action]}."
        )
    return project


def permissions_of(role: Role | None) -> dict[str, bool]:
    """CML's ``Project.permissions`` object for a role."""
    rank = role.rank if role else -1
    return {
        "business_user": role is not None,
        "read": rank >= Role.VIEWER.rank,
        "operator": rank >= Role.OPERATOR.rank,
        "write": rank >= Role.CONTRIBUTOR.rank,
        "admin": rank >= Role.ADMIN.rank,
        "owner": rank >= Role.OWNER.rank,
    }
