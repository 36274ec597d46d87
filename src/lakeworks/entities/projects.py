"""Projects, their collaborators and environment variables."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class Visibility(enum.StrEnum):
    PRIVATE = "private"  # collaborators only
    TEAM = "team"  # also every member of a team the owner belongs to (API v2 "organization")
    PUBLIC = "public"  # every signed-in user may read


class Role(enum.StrEnum):
    """Project roles, lowest first. The owner is not stored as a role (see ``owner`` fields)."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    CONTRIBUTOR = "contributor"
    ADMIN = "admin"
    OWNER = "owner"

    @property
    def rank(self) -> int:
        return _ROLE_ORDER.index(self)


_ROLE_ORDER = [Role.VIEWER, Role.OPERATOR, Role.CONTRIBUTOR, Role.ADMIN, Role.OWNER]

# Roles a collaborator can be given; ownership moves only by transfer.
COLLABORATOR_ROLES = (Role.VIEWER, Role.OPERATOR, Role.CONTRIBUTOR, Role.ADMIN)


class CreationStatus(enum.StrEnum):
    CREATING = "creating"
    SUCCESS = "success"
    FAILURE = "failure"


class ProjectSource(enum.StrEnum):
    BLANK = "blank"
    GIT = "git"
    ARCHIVE = "archive"
    TEMPLATE = "template"
    LOCAL = "local"  # a directory on the server (the AMPs shipped with Lakeworks, catalogs)


@dataclass(frozen=True)
class Owner:
    """A project's owner: a user or a team (then ``is_team`` and no email)."""

    id: int
    username: str
    name: str
    email: str
    is_team: bool


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str
    secret: bool


@dataclass(frozen=True)
class Project:
    id: str  # xxxx-xxxx-xxxx-xxxx, lowercase base-36 (CML's public identifier)
    name: str
    slug: str
    description: str
    visibility: Visibility
    owner: Owner
    creator: Owner
    source: ProjectSource
    git_url: str
    creation_status: CreationStatus
    creation_message: str
    default_engine_type: str
    shared_memory_limit: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Collaborator:
    """A user or a team with a role on a project."""

    project_id: str
    role: Role
    user_id: int | None
    team_id: int | None
    name: str  # username or team name
    display_name: str
    email: str
    created_at: datetime

    @property
    def is_team(self) -> bool:
        return self.team_id is not None
