"""Users, their API keys, teams, and the audit log (admins)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from lakeworks.api import responses
from lakeworks.api.deps import PlatformDep, PrincipalDep
from lakeworks.api.listing import ListParams, list_params, parse_filter, parse_page
from lakeworks.api.schemas import (
    ApiKeyCreate,
    TeamCreate,
    TeamMemberPut,
    UserCreate,
    UserUpdate,
    ValidateKey,
    api_key_out,
    audit_out,
    team_out,
    user_out,
)
from lakeworks.api.strict_json import StrictJSONRoute
from lakeworks.entities.users import ApiKeyKind
from lakeworks.errors import InvalidInput, LakeworksError
from lakeworks.services import audit, auth, users

router = APIRouter(tags=["users"], route_class=StrictJSONRoute)


@router.get("/users/me", operation_id="get_current_user", response_model=responses.UserOut)
def whoami(principal: PrincipalDep) -> dict[str, Any]:
    return user_out(principal.user)


@router.get("/users", operation_id="list_users", response_model=responses.ListUsersResponse)
def list_users(
    platform: PlatformDep, principal: PrincipalDep, search: str = Query("")
) -> dict[str, Any]:
    return {"users": [user_out(u) for u in users.list_users(platform, principal, search)]}


@router.post("/users", operation_id="create_user", response_model=responses.UserOut)
def create_user(body: UserCreate, platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    return user_out(
        users.create_user(
            platform,
            principal,
            username=body.username,
            password=body.password,
            name=body.name,
            email=body.email,
            is_admin=body.is_admin,
        )
    )


@router.get("/users/{username}", operation_id="get_user", response_model=responses.UserOut)
def get_user(username: str, platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    return user_out(users.get_user(platform, principal, username))


@router.patch("/users/{username}", operation_id="update_user", response_model=responses.UserOut)
def update_user(
    username: str, body: UserUpdate, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    return user_out(
        users.update_user(
            platform,
            principal,
            username,
            name=body.name,
            email=body.email,
            is_admin=body.is_admin,
            is_active=body.is_active,
            password=body.password,
        )
    )


# API keys ----------------------------------------------------------------------------


@router.get(
    "/users/{username}/v2_keys",
    operation_id="list_v2_keys",
    response_model=responses.ListV2KeysResponse,
)
def list_keys(username: str, platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    keys = auth.list_api_keys(platform, principal, username)
    return {"api_keys": [api_key_out(k) for k in keys if k.kind is ApiKeyKind.V2]}


@router.post(
    "/users/{username}/v2_keys",
    operation_id="create_v2_key",
    response_model=responses.CreateV2KeyResponse,
)
def create_key(
    username: str, body: ApiKeyCreate, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    """The key itself is in ``api_key.key``, shown this once; only its hash is kept."""
    new = auth.create_api_key(platform, principal, username, name=body.name, expires_at=body.expiry)
    return {"api_key": api_key_out(new.key) | {"key": new.secret}, "key": new.secret}


@router.delete("/users/{username}/v2_keys/{key_id}", operation_id="delete_v2_key", status_code=204)
def revoke_key(
    username: str, key_id: str, platform: PlatformDep, principal: PrincipalDep
) -> Response:
    try:
        numeric = int(key_id)
    except ValueError:
        raise InvalidInput(f"{key_id!r} is not an API key id.") from None
    auth.revoke_api_key(platform, principal, username, numeric)
    return Response(status_code=204)


@router.delete("/users/{username}/v2_keys", operation_id="delete_v2_keys", status_code=204)
def revoke_all_keys(username: str, platform: PlatformDep, principal: PrincipalDep) -> Response:
    auth.revoke_all_api_keys(platform, principal, username)
    return Response(status_code=204)


@router.delete(
    "/users/{username}/sessions",
    operation_id="end_user_sessions",
    status_code=204,
    responses={204: {"description": "Every browser session of the user was ended."}},
)
def end_sessions(username: str, platform: PlatformDep, principal: PrincipalDep) -> Response:
    """Sign the user out of every browser (site admins, or yourself). API keys stay valid."""
    auth.end_sessions(platform, principal, username)
    return Response(status_code=204)


@router.post(
    "/users/{username}/v1_key",
    operation_id="create_v1_key",
    response_model=responses.CreateV2KeyResponse,
)
def create_v1_key(username: str, platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    """The legacy (API v1, HTTP Basic) key; a new one replaces the previous one."""
    new = auth.create_api_key(platform, principal, username, kind=ApiKeyKind.V1)
    return {"api_key": api_key_out(new.key) | {"key": new.secret}, "key": new.secret}


@router.post(
    "/auth/validate_key", operation_id="validate_key", response_model=responses.ValidateKeyResponse
)
def validate_key(body: ValidateKey, platform: PlatformDep) -> dict[str, Any]:
    try:
        principal = auth.authenticate_key(platform, body.key, ApiKeyKind.V2)
    except LakeworksError as exc:
        return {"valid": False, "message": exc.message}
    return {"valid": True, "username": principal.user.username}


# Teams -------------------------------------------------------------------------------


@router.get("/teams", operation_id="list_teams", response_model=responses.ListTeamsResponse)
def list_teams(platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    return {"teams": [team_out(t) for t in users.list_teams(platform, principal)]}


@router.post("/teams", operation_id="create_team", response_model=responses.TeamOut)
def create_team(body: TeamCreate, platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    return team_out(users.create_team(platform, principal, body.name, body.description), [])


@router.get("/teams/{team_name}", operation_id="get_team", response_model=responses.TeamOut)
def get_team(team_name: str, platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    team, members = users.get_team(platform, principal, team_name)
    return team_out(team, members)


@router.delete("/teams/{team_name}", operation_id="delete_team", status_code=204)
def delete_team(team_name: str, platform: PlatformDep, principal: PrincipalDep) -> Response:
    users.delete_team(platform, principal, team_name)
    return Response(status_code=204)


@router.put(
    "/teams/{team_name}/members/{username}",
    operation_id="put_team_member",
    response_model=responses.TeamOut,
)
def put_team_member(
    team_name: str,
    username: str,
    body: TeamMemberPut,
    platform: PlatformDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    users.set_team_member(platform, principal, team_name, username, body.role)
    team, members = users.get_team(platform, principal, team_name)
    return team_out(team, members)


@router.delete(
    "/teams/{team_name}/members/{username}", operation_id="delete_team_member", status_code=204
)
def delete_team_member(
    team_name: str, username: str, platform: PlatformDep, principal: PrincipalDep
) -> Response:
    users.remove_team_member(platform, principal, team_name, username)
    return Response(status_code=204)


# Audit -------------------------------------------------------------------------------


@router.get(
    "/audit_events",
    operation_id="list_audit_events",
    response_model=responses.ListAuditEventsResponse,
)
def list_audit_events(
    platform: PlatformDep,
    principal: PrincipalDep,
    params: Annotated[ListParams, Depends(list_params)],
) -> dict[str, Any]:
    page = parse_page(params.page_size, params.page_token, 100)
    wanted = parse_filter(params.search_filter)
    unknown = set(wanted) - {"project_id", "actor", "action"}
    if unknown:
        raise InvalidInput(
            f"Audit events cannot be filtered by {sorted(unknown)}; use project_id, actor, action."
        )
    events, total = audit.list_audit(
        platform,
        principal,
        project_id=wanted.get("project_id"),
        actor=wanted.get("actor"),
        action_prefix=wanted.get("action"),
        offset=page.offset,
        limit=page.size,
    )
    return {
        "audit_events": [audit_out(e) for e in events],
        "next_page_token": page.next_token(page.offset + page.size < total),
        "total": total,
    }
