"""People and their credentials."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class User:
    id: int
    username: str
    name: str
    email: str
    is_admin: bool
    is_active: bool
    created_at: datetime
    # Browser session cookies name the generation they were issued in (services.auth).
    session_generation: int = 0


@dataclass(frozen=True)
class Team:
    id: int
    name: str
    description: str
    created_at: datetime


@dataclass(frozen=True)
class TeamMember:
    team_id: int
    user: User
    role: str  # a project Role value: what members get on projects the team owns


class ApiKeyKind(enum.StrEnum):
    """``v2`` keys are Bearer tokens (API v2, MLflow); ``v1`` is the legacy HTTP Basic key."""

    V2 = "v2"
    V1 = "v1"


@dataclass(frozen=True)
class ApiKey:
    id: int
    user_id: int
    kind: ApiKeyKind
    name: str
    prefix: str  # first characters of the key, shown so people can tell keys apart
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    project_id: str | None  # set for workload keys: the key only reaches this project

    def is_usable(self, now: datetime) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > now
