"""Users, teams and API keys."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.orm import Session

from lakeworks.entities.users import ApiKey, ApiKeyKind, Team, TeamMember, User
from lakeworks.store.bulk import as_row
from lakeworks.store.tables import ApiKeyRow, TeamMemberRow, TeamRow, UserRow, utcnow

_API_KEYS = cast(Table, ApiKeyRow.__table__)


def to_user(row: UserRow) -> User:
    return User(
        id=row.id,
        username=row.username,
        name=row.name,
        email=row.email,
        is_admin=row.is_admin,
        is_active=row.is_active,
        created_at=row.created_at,
        session_generation=row.session_generation,
    )


def to_team(row: TeamRow) -> Team:
    return Team(id=row.id, name=row.name, description=row.description, created_at=row.created_at)


def to_api_key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        id=row.id,
        user_id=row.user_id,
        kind=ApiKeyKind(row.kind),
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
        project_id=row.project_id,
    )


class UserRepo:
    def __init__(self, session: Session) -> None:
        self.session = session

    # Users ---------------------------------------------------------------------

    def add(
        self, *, username: str, name: str, email: str, password_hash: str | None, is_admin: bool
    ) -> User:
        row = UserRow(
            username=username,
            name=name,
            email=email,
            password_hash=password_hash,
            is_admin=is_admin,
            is_active=True,
        )
        self.session.add(row)
        self.session.flush()
        return to_user(row)

    def get(self, user_id: int) -> User | None:
        row = self.session.get(UserRow, user_id)
        return to_user(row) if row else None

    def get_many(self, user_ids: Collection[int]) -> dict[int, User]:
        """The users of ``user_ids`` that exist, by id, in one query."""
        if not user_ids:
            return {}
        rows = self.session.scalars(select(UserRow).where(UserRow.id.in_(list(user_ids))))
        return {row.id: to_user(row) for row in rows}

    def by_username(self, username: str) -> User | None:
        row = self.session.scalar(select(UserRow).where(UserRow.username == username))
        return to_user(row) if row else None

    def password_hash(self, user_id: int) -> str | None:
        return self.session.scalar(select(UserRow.password_hash).where(UserRow.id == user_id))

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        self.session.execute(
            update(UserRow).where(UserRow.id == user_id).values(password_hash=password_hash)
        )

    def end_sessions(self, user_id: int) -> None:
        """Invalidate every browser session cookie issued to the user so far."""
        self.session.execute(
            update(UserRow)
            .where(UserRow.id == user_id)
            .values(session_generation=UserRow.session_generation + 1)
        )

    def update(self, user_id: int, **values: object) -> User | None:
        self.session.execute(update(UserRow).where(UserRow.id == user_id).values(**values))
        return self.get(user_id)

    def search(self, *, search: str = "") -> list[User]:
        query = select(UserRow).order_by(UserRow.username)
        if search:
            pattern = f"%{search.lower()}%"
            query = query.where(
                func.lower(UserRow.username).like(pattern) | func.lower(UserRow.name).like(pattern)
            )
        return [to_user(row) for row in self.session.scalars(query)]

    def count_admins(self) -> int:
        return (
            self.session.scalar(
                select(func.count()).select_from(UserRow).where(UserRow.is_admin, UserRow.is_active)
            )
            or 0
        )

    # Teams ---------------------------------------------------------------------

    def add_team(self, *, name: str, description: str) -> Team:
        row = TeamRow(name=name, description=description)
        self.session.add(row)
        self.session.flush()
        return to_team(row)

    def team_by_name(self, name: str) -> Team | None:
        row = self.session.scalar(select(TeamRow).where(TeamRow.name == name))
        return to_team(row) if row else None

    def get_team(self, team_id: int) -> Team | None:
        row = self.session.get(TeamRow, team_id)
        return to_team(row) if row else None

    def list_teams(self) -> list[Team]:
        return [to_team(r) for r in self.session.scalars(select(TeamRow).order_by(TeamRow.name))]

    def delete_team(self, team_id: int) -> None:
        self.session.execute(delete(TeamRow).where(TeamRow.id == team_id))

    def set_team_member(self, team_id: int, user_id: int, role: str) -> None:
        row = self.session.get(TeamMemberRow, (team_id, user_id))
        if row is None:
            self.session.add(TeamMemberRow(team_id=team_id, user_id=user_id, role=role))
        else:
            row.role = role
        self.session.flush()

    def remove_team_member(self, team_id: int, user_id: int) -> bool:
        result = self.session.execute(
            delete(TeamMemberRow).where(
                TeamMemberRow.team_id == team_id, TeamMemberRow.user_id == user_id
            )
        )
        return bool(result.rowcount)

    def team_members(self, team_id: int) -> list[TeamMember]:
        rows = self.session.execute(
            select(UserRow, TeamMemberRow.role)
            .join(TeamMemberRow, TeamMemberRow.user_id == UserRow.id)
            .where(TeamMemberRow.team_id == team_id)
            .order_by(UserRow.username)
        ).all()
        return [TeamMember(team_id=team_id, user=to_user(row), role=role) for row, role in rows]

    def team_role(self, team_id: int, user_id: int) -> str | None:
        row = self.session.get(TeamMemberRow, (team_id, user_id))
        return row.role if row else None

    def team_roles_of(self, user_id: int) -> dict[int, str]:
        """The user's role in each team they belong to, by team id."""
        rows = self.session.execute(
            select(TeamMemberRow.team_id, TeamMemberRow.role).where(
                TeamMemberRow.user_id == user_id
            )
        )
        return {team_id: role for team_id, role in rows}

    def team_ids_of(self, user_id: int) -> set[int]:
        return set(
            self.session.scalars(
                select(TeamMemberRow.team_id).where(TeamMemberRow.user_id == user_id)
            )
        )

    # API keys ------------------------------------------------------------------

    def add_api_key(
        self,
        *,
        user_id: int,
        kind: ApiKeyKind,
        name: str,
        prefix: str,
        key_hash: str,
        expires_at: datetime | None,
        project_id: str | None = None,
    ) -> ApiKey:
        row = ApiKeyRow(
            user_id=user_id,
            kind=kind.value,
            name=name,
            prefix=prefix,
            key_hash=key_hash,
            expires_at=expires_at,
            project_id=project_id,
        )
        self.session.add(row)
        self.session.flush()
        return to_api_key(row)

    def add_api_keys(self, keys: list[dict[str, Any]]) -> list[ApiKey]:
        """Several keys (``add_api_key``'s fields each, the same ones in every key) in one
        INSERT, in order (a dispatcher's batch adds two for each of its workloads)."""
        if not keys:
            return []
        now = utcnow()
        rows = [
            {"created_at": now, "revoked_at": None, "last_used_at": None}
            | key
            | {"kind": key["kind"].value}
            for key in keys
        ]
        ids = self.session.scalars(
            insert(_API_KEYS).returning(_API_KEYS.c.id, sort_by_parameter_order=True), rows
        ).all()
        return [
            to_api_key(as_row(ApiKeyRow, row | {"id": key_id}))
            for row, key_id in zip(rows, ids, strict=True)
        ]

    def api_key_by_hash(self, key_hash: str) -> ApiKey | None:
        row = self.session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_hash == key_hash))
        return to_api_key(row) if row else None

    def get_api_key(self, key_id: int) -> ApiKey | None:
        row = self.session.get(ApiKeyRow, key_id)
        return to_api_key(row) if row else None

    def api_keys_of(self, user_id: int, kind: ApiKeyKind | None = None) -> list[ApiKey]:
        query = select(ApiKeyRow).where(
            ApiKeyRow.user_id == user_id, ApiKeyRow.project_id.is_(None)
        )
        if kind is not None:
            query = query.where(ApiKeyRow.kind == kind.value)
        return [to_api_key(r) for r in self.session.scalars(query.order_by(ApiKeyRow.id))]

    def revoke_api_key(self, key_id: int, at: datetime) -> None:
        self.session.execute(
            update(ApiKeyRow)
            .where(ApiKeyRow.id == key_id, ApiKeyRow.revoked_at.is_(None))
            .values(revoked_at=at)
        )

    def revoke_api_keys_of(self, user_id: int, kind: ApiKeyKind, at: datetime) -> None:
        self.session.execute(
            update(ApiKeyRow)
            .where(
                ApiKeyRow.user_id == user_id,
                ApiKeyRow.kind == kind.value,
                ApiKeyRow.project_id.is_(None),
                ApiKeyRow.revoked_at.is_(None),
            )
            .values(revoked_at=at)
        )

    def touch_api_key(self, key_id: int, at: datetime) -> None:
        self.session.execute(
            update(ApiKeyRow).where(ApiKeyRow.id == key_id).values(last_used_at=at)
        )
