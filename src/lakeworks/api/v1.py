"""Legacy API v1 endpoints still used by CML projects (HTTP Basic with the v1 key)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Response

from lakeworks.api.deps import PlatformDep, PrincipalDep
from lakeworks.services import projects

router = APIRouter(tags=["api v1"], include_in_schema=False)


@router.get("/projects/{owner}/{slug}/environment")
def get_environment(
    owner: str, slug: str, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, str]:
    view = projects.get_by_owner_slug(platform, principal, owner, slug)
    return {v.name: v.value for v in projects.get_env(platform, principal, view.project.id)}


@router.put("/projects/{owner}/{slug}/environment", status_code=204)
def put_environment(
    owner: str,
    slug: str,
    platform: PlatformDep,
    principal: PrincipalDep,
    body: dict[str, Any] = Body(...),
) -> Response:
    """Replace the whole environment (clients GET, merge, PUT); 204 with an empty body."""
    view = projects.get_by_owner_slug(platform, principal, owner, slug)
    current = {v.name: v.secret for v in projects.get_env(platform, principal, view.project.id)}
    env = [
        projects.EnvVar(v.name, v.value, current.get(v.name, False))
        for v in projects.validate_env(body)
    ]
    projects.replace_env(platform, principal, view.project.id, env)
    return Response(status_code=204)
