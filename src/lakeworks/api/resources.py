"""Resource profiles and user quotas (site administrators change them)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from lakeworks.api.deps import PlatformDep, PrincipalDep
from lakeworks.api.schemas import Lenient
from lakeworks.entities.jobs import ResourceProfile
from lakeworks.services import resources

router = APIRouter(tags=["resources"])


class ProfileIn(Lenient):
    name: str
    cpu: float
    memory: float  # GiB, as CML
    nvidia_gpu: int = 0


class QuotaIn(Lenient):
    cpu: float
    memory: float  # GiB


def profile_out(p: ResourceProfile) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "cpu": p.cpu,
        "memory": p.memory_mb / 1024,
        "nvidia_gpu": p.gpu,
    }


@router.get("/resource_profiles", operation_id="list_resource_profiles")
def list_profiles(platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    return {"resource_profiles": [profile_out(p) for p in resources.profiles(platform, principal)]}


@router.post("/resource_profiles", operation_id="create_resource_profile")
def create_profile(
    body: ProfileIn, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    return profile_out(
        resources.add_profile(
            platform, principal, body.name, body.cpu, round(body.memory * 1024), body.nvidia_gpu
        )
    )


@router.delete("/resource_profiles/{profile_id}", operation_id="delete_resource_profile")
def delete_profile(profile_id: int, platform: PlatformDep, principal: PrincipalDep) -> Response:
    resources.delete_profile(platform, principal, profile_id)
    return Response(status_code=204)


@router.get("/users/{username}/quota", operation_id="get_user_quota")
def get_quota(username: str, platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    cpu, memory_mb, own = resources.quota(platform, principal, username)
    return {"username": username, "cpu": cpu, "memory": memory_mb / 1024, "is_default": not own}


@router.put("/users/{username}/quota", operation_id="set_user_quota")
def put_quota(
    username: str, body: QuotaIn, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    resources.set_quota(platform, principal, username, body.cpu, round(body.memory * 1024))
    return get_quota(username, platform, principal)
