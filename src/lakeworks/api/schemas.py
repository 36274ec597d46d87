"""API v2 request and response bodies (CML shapes). Requests are lenient: unknown keys are
ignored, numbers may come as strings, ``environment`` may be an object or a JSON string."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from lakeworks import bounds
from lakeworks.entities.audit import AuditEvent
from lakeworks.entities.projects import Collaborator, EnvVar, Owner, Visibility
from lakeworks.entities.users import ApiKey, Team, TeamMember, User
from lakeworks.errors import InvalidInput
from lakeworks.services.files import FileEntry
from lakeworks.services.permissions import permissions_of
from lakeworks.services.projects import ROLE_TO_PERMISSION, ProjectView


def rfc3339(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_environment(value: Any) -> dict[str, Any] | None:
    """An env map from a JSON object or a JSON-encoded string (``""`` means empty)."""
    if value is None:
        return None
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            value = bounds.loads(value)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"environment is not a JSON object: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidInput("environment must be a JSON object of name → value.")
    return value


def _blank_to_none(value: Any) -> Any:
    return None if value == "" else value


# Body fields as CML's clients send them: an environment as a JSON object or a JSON string, and
# numbers where "" means "not given". Numbers and texts are bounded by ``lakeworks.bounds`` (so
# the OpenAPI document states the bounds); the services check the same bounds for the UI.
EnvironmentIn = Annotated[dict[str, Any] | None, BeforeValidator(parse_environment)]
Cpu = Annotated[
    Annotated[float, Field(ge=0, le=bounds.MAX_CPU, description="vCPU")] | None,
    BeforeValidator(_blank_to_none),
]
MemoryGiB = Annotated[
    Annotated[float, Field(ge=0, le=bounds.MAX_MEMORY_MB / 1024, description="GiB")] | None,
    BeforeValidator(_blank_to_none),
]
Gpus = Annotated[
    Annotated[int, Field(ge=0, le=bounds.MAX_GPU)] | None, BeforeValidator(_blank_to_none)
]
Replicas = Annotated[
    Annotated[int, Field(ge=0, le=bounds.MAX_REPLICAS)] | None, BeforeValidator(_blank_to_none)
]
JobTimeout = Annotated[
    Annotated[int, Field(ge=0, le=bounds.MAX_JOB_TIMEOUT_SECONDS, description="seconds")] | None,
    BeforeValidator(_blank_to_none),
]
RequestTimeout = Annotated[
    Annotated[float, Field(ge=0, le=bounds.MAX_REQUEST_TIMEOUT_SECONDS, description="seconds")]
    | None,
    BeforeValidator(_blank_to_none),
]
EpochMillis = Annotated[
    Annotated[int, Field(ge=0, le=2**63 - 1, description="milliseconds since 1970")] | None,
    BeforeValidator(_blank_to_none),
]
Name = Annotated[str, Field(max_length=bounds.MAX_NAME)]
Text = Annotated[str, Field(max_length=bounds.MAX_TEXT)]


class Lenient(BaseModel):
    # NaN and Infinity are no number a workload, quota or metric can have (and no JSON).
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False, allow_inf_nan=False)


# Requests ----------------------------------------------------------------------------


class ProjectCreate(Lenient):
    name: Name
    description: Text = ""
    template: Name = ""
    git_url: Text = ""
    git_ref: Name = ""
    visibility: Name = "private"
    team_name: Name = ""
    environment: EnvironmentIn = None
    shared_memory_limit: Annotated[int, Field(ge=0, le=bounds.MAX_SHARED_MEMORY_MB)] = 64
    default_project_engine_type: str = "ml_runtime"

    @field_validator("shared_memory_limit", mode="before")
    @classmethod
    def _shm(cls, value: Any) -> Any:
        return 64 if value in (None, "", 0, "0") else value

    @field_validator(
        "template", "git_url", "git_ref", "team_name", "visibility", "description", mode="before"
    )
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value


class ProjectUpdate(Lenient):
    """PATCH body: absent or null fields stay unchanged; read-only fields are ignored."""

    name: Name | None = None
    description: Text | None = None
    visibility: Name | None = None
    environment: EnvironmentIn = None
    shared_memory_limit: Annotated[int, Field(ge=0, le=bounds.MAX_SHARED_MEMORY_MB)] | None = None
    default_project_engine_type: str | None = Field(
        None, validation_alias="default_project_engine_type"
    )
    default_engine_type: str | None = None

    @field_validator("shared_memory_limit", mode="before")
    @classmethod
    def _shm(cls, value: Any) -> Any:
        return None if value in ("", 0, "0") else value


class CollaboratorPut(Lenient):
    permission: str = "read"


class ApiKeyCreate(Lenient):
    name: Name = ""
    expiry: datetime | None = None

    @field_validator("expiry", mode="before")
    @classmethod
    def _empty(cls, value: Any) -> Any:
        return None if value in ("", None) else value

    @field_validator("expiry")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class FileMove(Lenient):
    path: str


class UserCreate(Lenient):
    username: Name
    password: Text | None = None
    name: Name = ""
    email: Name = ""
    is_admin: bool = False


class UserUpdate(Lenient):
    name: Name | None = None
    email: Name | None = None
    is_admin: bool | None = None
    is_active: bool | None = None
    password: Text | None = None


class TeamCreate(Lenient):
    name: Name
    description: Text = ""


class TeamMemberPut(Lenient):
    role: str = "contributor"


class ValidateKey(Lenient):
    key: str = ""


# Responses ---------------------------------------------------------------------------


def user_ref(user: User | Owner) -> dict[str, str]:
    return {"username": user.username, "name": user.name, "email": user.email}


def environment_string(env: list[EnvVar]) -> str:
    return json.dumps({v.name: v.value for v in env}) if env else "{}"


def project_out(view: ProjectView, env: list[EnvVar]) -> dict[str, Any]:
    p = view.project
    return {
        "id": p.id,
        "name": p.name,
        "slug": p.slug,
        "owner": user_ref(p.owner) | {"type": "team" if p.owner.is_team else "user"},
        "creator": user_ref(p.creator),
        "description": p.description,
        # API v2 calls team visibility "organization".
        "visibility": "organization" if p.visibility is Visibility.TEAM else p.visibility.value,
        "default_engine_type": p.default_engine_type,
        "created_at": rfc3339(p.created_at),
        "updated_at": rfc3339(p.updated_at),
        "creation_status": p.creation_status.value,
        "creation_message": p.creation_message,
        "git_url": p.git_url,
        "permissions": permissions_of(view.role),
        "role": view.role.value,
        "shared_memory_limit": p.shared_memory_limit,
        "environment": environment_string(env),
        "secret_environment_names": sorted(v.name for v in env if v.secret),
        "ephemeral_storage_request": 0,
        "ephemeral_storage_limit": 0,
    }


def collaborator_out(c: Collaborator) -> dict[str, Any]:
    return {
        "username": c.name,
        "permission": ROLE_TO_PERMISSION.get(c.role, c.role.value),
        "role": c.role.value,
        "type": "team" if c.is_team else "user",
        "user": {"username": c.name, "name": c.display_name, "email": c.email},
        "created_at": rfc3339(c.created_at),
    }


def file_out(entry: FileEntry) -> dict[str, Any]:
    return {
        "path": entry.path,
        "name": entry.name,
        "is_dir": entry.is_dir,
        "file_size": str(entry.size),
        "last_modified": rfc3339(entry.modified_at),
    }


def api_key_out(key: ApiKey) -> dict[str, Any]:
    return {
        "key_id": str(key.id),
        "name": key.name,
        "prefix": key.prefix,
        "kind": key.kind.value,
        "created_at": rfc3339(key.created_at),
        "expiry": rfc3339(key.expires_at),
        "revoked_at": rfc3339(key.revoked_at),
        "last_used_at": rfc3339(key.last_used_at),
    }


def user_out(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "email": user.email,
        "is_admin": user.is_admin,
        "is_active": user.is_active,
        "created_at": rfc3339(user.created_at),
    }


def team_out(team: Team, members: list[TeamMember] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": team.id,
        "name": team.name,
        "username": team.name,
        "description": team.description,
        "created_at": rfc3339(team.created_at),
    }
    if members is not None:
        out["members"] = [
            {"username": m.user.username, "name": m.user.name, "role": m.role} for m in members
        ]
    return out


def audit_out(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": rfc3339(event.at),
        "actor": event.actor,
        "action": event.action,
        "target": event.target,
        "project_id": event.project_id or "",
        "outcome": event.outcome.value,
        "detail": event.detail,
    }
