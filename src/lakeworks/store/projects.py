"""Projects, collaborators and project environment variables."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from lakeworks.entities.projects import (
    Collaborator,
    CreationStatus,
    EnvVar,
    Owner,
    Project,
    ProjectSource,
    Role,
    Visibility,
)
from lakeworks.store.datasets import DashboardRow, VisualRow
from lakeworks.store.tables import (
    ProjectEnvRow,
    ProjectMemberRow,
    ProjectRow,
    TeamMemberRow,
    TeamRow,
    UserRow,
    utcnow,
)

_OwnerUser = aliased(UserRow, name="owner_user")
_OwnerTeam = aliased(TeamRow, name="owner_team")
_Creator = aliased(UserRow, name="creator")


def _owner(user: UserRow | None, team: TeamRow | None) -> Owner:
    if user is not None:
        return Owner(
            id=user.id, username=user.username, name=user.name, email=user.email, is_team=False
        )
    assert team is not None, "a project has exactly one owner (check constraint)"
    return Owner(id=team.id, username=team.name, name=team.name, email="", is_team=True)


def to_project(
    row: ProjectRow, owner_user: UserRow | None, owner_team: TeamRow | None, creator: UserRow
) -> Project:
    return Project(
        id=row.id,
        name=row.name,
        slug=row.slug,
        description=row.description,
        visibility=Visibility(row.visibility),
        owner=_owner(owner_user, owner_team),
        creator=_owner(creator, None),
        source=ProjectSource(row.source),
        git_url=row.git_url,
        creation_status=CreationStatus(row.creation_status),
        creation_message=row.creation_message,
        default_engine_type=row.default_engine_type,
        shared_memory_limit=row.shared_memory_limit,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


@dataclass(frozen=True)
class ProjectQuery:
    """What ``ProjectRepo.list`` should return; every field is optional."""

    visible_to_user: int | None = None  # None: every project (site admins)
    user_team_ids: Sequence[int] = ()
    include_visible: bool = False  # also public and team-visible projects, not only memberships
    only_project: str | None = None  # workload keys see their own project only
    substring: dict[str, str] | None = None  # field → case-insensitive substring
    exact: dict[str, str] | None = None  # field → exact value
    sort: Sequence[tuple[str, bool]] = ()  # (field, ascending)
    offset: int = 0
    limit: int = 10


class ProjectRepo:
    # Fields a list may filter or sort on, mapped to columns of the joined query.
    FILTER_COLUMNS: dict[str, Any] = {
        "name": ProjectRow.name,
        "description": ProjectRow.description,
        "slug": ProjectRow.slug,
        "visibility": ProjectRow.visibility,
        "owner.username": func.coalesce(_OwnerUser.username, _OwnerTeam.name),
        "owner.name": func.coalesce(_OwnerUser.name, _OwnerTeam.name),
        "owner.email": func.coalesce(_OwnerUser.email, ""),
        "creator.username": _Creator.username,
        "creator.name": _Creator.name,
        "creator.email": _Creator.email,
    }
    SORT_COLUMNS: dict[str, Any] = {
        "name": ProjectRow.name,
        "created_at": ProjectRow.created_at,
        "updated_at": ProjectRow.updated_at,
        "slug": ProjectRow.slug,
    }

    def __init__(self, session: Session) -> None:
        self.session = session

    def _joined(self) -> Select[Any]:
        return (
            select(ProjectRow, _OwnerUser, _OwnerTeam, _Creator)
            .outerjoin(_OwnerUser, _OwnerUser.id == ProjectRow.owner_user_id)
            .outerjoin(_OwnerTeam, _OwnerTeam.id == ProjectRow.owner_team_id)
            .join(_Creator, _Creator.id == ProjectRow.creator_id)
        )

    def add(
        self,
        *,
        project_id: str,
        name: str,
        slug: str,
        description: str,
        visibility: Visibility,
        owner_user_id: int | None,
        owner_team_id: int | None,
        creator_id: int,
        source: ProjectSource,
        git_url: str,
        shared_memory_limit: int,
        default_engine_type: str,
    ) -> Project:
        now = utcnow()
        self.session.add(
            ProjectRow(
                id=project_id,
                name=name,
                slug=slug,
                description=description,
                visibility=visibility.value,
                owner_user_id=owner_user_id,
                owner_team_id=owner_team_id,
                creator_id=creator_id,
                source=source.value,
                git_url=git_url,
                creation_status=CreationStatus.CREATING.value,
                creation_message="",
                shared_memory_limit=shared_memory_limit,
                default_engine_type=default_engine_type,
                created_at=now,
                updated_at=now,
            )
        )
        self.session.flush()
        project = self.get(project_id)
        assert project is not None
        return project

    def get(self, project_id: str) -> Project | None:
        row = self.session.execute(self._joined().where(ProjectRow.id == project_id)).first()
        return to_project(*row) if row else None

    def get_many(self, project_ids: Collection[str]) -> dict[str, Project]:
        """The projects of ``project_ids`` that exist, by id, in one query."""
        if not project_ids:
            return {}
        rows = self.session.execute(self._joined().where(ProjectRow.id.in_(list(project_ids))))
        return {row[0].id: to_project(*row) for row in rows}

    def by_owner_slug(self, owner_name: str, slug: str) -> Project | None:
        row = self.session.execute(
            self._joined().where(
                ProjectRow.slug == slug,
                func.coalesce(_OwnerUser.username, _OwnerTeam.name) == owner_name,
            )
        ).first()
        return to_project(*row) if row else None

    def slug_taken(
        self, *, owner_user_id: int | None, owner_team_id: int | None, slug: str
    ) -> bool:
        query = select(ProjectRow.id).where(ProjectRow.slug == slug)
        if owner_user_id is not None:
            query = query.where(ProjectRow.owner_user_id == owner_user_id)
        else:
            query = query.where(ProjectRow.owner_team_id == owner_team_id)
        return self.session.scalar(query.limit(1)) is not None

    def update(self, project_id: str, **values: Any) -> Project | None:
        values = {k: (v.value if hasattr(v, "value") else v) for k, v in values.items()}
        values["updated_at"] = utcnow()
        self.session.execute(update(ProjectRow).where(ProjectRow.id == project_id).values(**values))
        return self.get(project_id)

    def set_creation_status(self, project_id: str, status: CreationStatus, message: str) -> None:
        self.update(project_id, creation_status=status, creation_message=message)

    def delete(self, project_id: str) -> None:
        # A visual's dataset is RESTRICT (a dataset in use is not deleted alone), which
        # PostgreSQL checks row by row during the cascade: the project's visuals go first.
        dashboards = select(DashboardRow.id).where(DashboardRow.project_id == project_id)
        self.session.execute(delete(VisualRow).where(VisualRow.dashboard_id.in_(dashboards)))
        self.session.execute(delete(ProjectRow).where(ProjectRow.id == project_id))

    def count_owned_by_team(self, team_id: int) -> int:
        return (
            self.session.scalar(
                select(func.count())
                .select_from(ProjectRow)
                .where(ProjectRow.owner_team_id == team_id)
            )
            or 0
        )

    def query(self, q: ProjectQuery) -> tuple[list[Project], bool]:
        """Projects matching ``q``, and whether more follow after this page."""
        query = self._joined()
        if q.visible_to_user is not None:
            query = query.where(
                self._visible_clause(q.visible_to_user, q.user_team_ids, q.include_visible)
            )
        if q.only_project is not None:
            query = query.where(ProjectRow.id == q.only_project)
        for field, value in (q.substring or {}).items():
            query = query.where(
                func.lower(self.FILTER_COLUMNS[field]).contains(value.lower(), autoescape=True)
            )
        for field, value in (q.exact or {}).items():
            query = query.where(self.FILTER_COLUMNS[field] == value)
        order = [
            self.SORT_COLUMNS[field].asc() if ascending else self.SORT_COLUMNS[field].desc()
            for field, ascending in q.sort
        ]
        # Ties break on creation order, so pages never overlap.
        order += [ProjectRow.created_at.asc(), ProjectRow.id.asc()]
        rows = self.session.execute(
            query.order_by(*order).offset(q.offset).limit(q.limit + 1)
        ).all()
        projects = [to_project(*row) for row in rows[: q.limit]]
        return projects, len(rows) > q.limit

    def _visible_clause(
        self, user_id: int, team_ids: Sequence[int], include_visible: bool
    ) -> ColumnElement[bool]:
        """Projects the user belongs to; with ``include_visible`` also those they may read."""
        teams = list(team_ids)
        member_of = select(ProjectMemberRow.project_id).where(
            or_(ProjectMemberRow.user_id == user_id, ProjectMemberRow.team_id.in_(teams))
        )
        clauses: list[ColumnElement[bool]] = [
            ProjectRow.owner_user_id == user_id,
            ProjectRow.owner_team_id.in_(teams),
            ProjectRow.id.in_(member_of),
        ]
        if include_visible:
            teammates = select(TeamMemberRow.user_id).where(TeamMemberRow.team_id.in_(teams))
            clauses += [
                ProjectRow.visibility == Visibility.PUBLIC.value,
                and_(
                    ProjectRow.visibility == Visibility.TEAM.value,
                    ProjectRow.owner_user_id.in_(teammates),
                ),
            ]
        return or_(*clauses)

    def owner_shares_team_with(self, project: Project, team_ids: Sequence[int]) -> bool:
        if project.owner.is_team or not team_ids:
            return False
        return (
            self.session.scalar(
                select(TeamMemberRow.user_id)
                .where(
                    TeamMemberRow.user_id == project.owner.id,
                    TeamMemberRow.team_id.in_(list(team_ids)),
                )
                .limit(1)
            )
            is not None
        )

    def owners_sharing_team(self, owner_ids: Sequence[int], team_ids: Sequence[int]) -> set[int]:
        """Those of the (user) owners ``owner_ids`` who belong to one of ``team_ids``."""
        if not owner_ids or not team_ids:
            return set()
        return set(
            self.session.scalars(
                select(TeamMemberRow.user_id)
                .where(
                    TeamMemberRow.user_id.in_(list(owner_ids)),
                    TeamMemberRow.team_id.in_(list(team_ids)),
                )
                .distinct()
            )
        )

    # Collaborators ---------------------------------------------------------------

    def collaborators(self, project_id: str) -> list[Collaborator]:
        rows = self.session.execute(
            select(ProjectMemberRow, UserRow, TeamRow)
            .outerjoin(UserRow, UserRow.id == ProjectMemberRow.user_id)
            .outerjoin(TeamRow, TeamRow.id == ProjectMemberRow.team_id)
            .where(ProjectMemberRow.project_id == project_id)
            .order_by(ProjectMemberRow.created_at, ProjectMemberRow.id)
        ).all()
        result = []
        for member, user, team in rows:
            result.append(
                Collaborator(
                    project_id=project_id,
                    role=Role(member.role),
                    user_id=member.user_id,
                    team_id=member.team_id,
                    name=user.username if user else team.name,
                    display_name=user.name if user else team.name,
                    email=user.email if user else "",
                    created_at=member.created_at,
                )
            )
        return result

    def member_roles(self, project_id: str, user_id: int, team_ids: Sequence[int]) -> list[Role]:
        """Roles the user holds directly or through a team collaborator."""
        roles = self.session.scalars(
            select(ProjectMemberRow.role).where(
                ProjectMemberRow.project_id == project_id,
                or_(
                    ProjectMemberRow.user_id == user_id,
                    ProjectMemberRow.team_id.in_(list(team_ids)),
                ),
            )
        )
        return [Role(r) for r in roles]

    def member_roles_in(
        self, project_ids: Sequence[str], user_id: int, team_ids: Sequence[int]
    ) -> dict[str, list[Role]]:
        """``member_roles`` of several projects in one statement, by project id."""
        found: dict[str, list[Role]] = {pid: [] for pid in project_ids}
        if not project_ids:
            return found
        rows = self.session.execute(
            select(ProjectMemberRow.project_id, ProjectMemberRow.role).where(
                ProjectMemberRow.project_id.in_(list(project_ids)),
                or_(
                    ProjectMemberRow.user_id == user_id,
                    ProjectMemberRow.team_id.in_(list(team_ids)),
                ),
            )
        )
        for project_id, role in rows:
            found[project_id].append(Role(role))
        return found

    def set_member(
        self, project_id: str, *, user_id: int | None, team_id: int | None, role: Role
    ) -> None:
        column = ProjectMemberRow.user_id if user_id is not None else ProjectMemberRow.team_id
        key = user_id if user_id is not None else team_id
        existing = self.session.scalar(
            select(ProjectMemberRow).where(ProjectMemberRow.project_id == project_id, column == key)
        )
        if existing is not None:
            existing.role = role.value
        else:
            self.session.add(
                ProjectMemberRow(
                    project_id=project_id, user_id=user_id, team_id=team_id, role=role.value
                )
            )
        self.session.flush()

    def remove_member(self, project_id: str, *, user_id: int | None, team_id: int | None) -> bool:
        column = ProjectMemberRow.user_id if user_id is not None else ProjectMemberRow.team_id
        key = user_id if user_id is not None else team_id
        result = self.session.execute(
            delete(ProjectMemberRow).where(ProjectMemberRow.project_id == project_id, column == key)
        )
        return bool(result.rowcount)

    # Environment -----------------------------------------------------------------

    def env(self, project_id: str) -> list[EnvVar]:
        return self.env_of([project_id]).get(project_id, [])

    def env_of(self, project_ids: Collection[str]) -> dict[str, list[EnvVar]]:
        """Each project's variables, by name; projects without any are left out."""
        rows = self.session.execute(
            select(
                ProjectEnvRow.project_id,
                ProjectEnvRow.name,
                ProjectEnvRow.value,
                ProjectEnvRow.secret,
            )
            .where(ProjectEnvRow.project_id.in_(list(project_ids)))
            .order_by(ProjectEnvRow.project_id, ProjectEnvRow.name)
        )
        env: dict[str, list[EnvVar]] = {}
        for project_id, name, value, secret in rows:
            env.setdefault(project_id, []).append(EnvVar(name=name, value=value, secret=secret))
        return env

    def replace_env(self, project_id: str, env: Sequence[EnvVar], at: datetime) -> None:
        self.session.execute(delete(ProjectEnvRow).where(ProjectEnvRow.project_id == project_id))
        for var in env:
            self.session.add(
                ProjectEnvRow(
                    project_id=project_id, name=var.name, value=var.value, secret=var.secret
                )
            )
        self.session.execute(
            update(ProjectRow).where(ProjectRow.id == project_id).values(updated_at=at)
        )
        self.session.flush()
