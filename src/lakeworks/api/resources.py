"""Resource profiles and user quotas (site administrators change them)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import Field

from lakeworks import bounds
from lakeworks.api import responses
from lakeworks.api.deps import PlatformDep, PrincipalDep
from lakeworks.api.schemas import Lenient, Name
from lakeworks.api.strict_json import StrictJSONRoute
from lakeworks.entities.jobs import ResourceProfile
from lakeworks.services import resources

router = APIRouter(tags=["resources"], route_class=StrictJSONRoute)


class ProfileIn(Lenient):
    name: Name
    cpu: Annotated[float, Field(gt=0, le=bounds.MAX_CPU, description="vCPU")]
    memory: Annotated[float, Field(gt=0, le=bounds.MAX_MEMORY_MB / 1024, description="GiB")]
    nvidia_gpu: Annotated[int, Field(ge=0, le=bounds.MAX_GPU)] = 0


class QuotaIn(Lenient):
    cpu: Annotated[float, Field(gt=0, le=bounds.MAX_CPU, description="vCPU")]
    memory: Annotated[float, Field(gt=0, le=bounds.MAX_MEMORY_MB / 1024, description="GiB")]


def profile_out(p: ResourceProfile) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "cpu": p.cpu,
        "memory": p.memory_mb / 1024,
        "nvidia_gpu": p.gpu,
    }


@router.get(
    "/resource_profiles",
    operation_id="list_resource_profiles",
    response_model=responses.ListResourceProfilesResponse,
)
def list_profiles(platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    return {"resource_profiles": [profile_out(p) for p in resources.profiles(platform, principal)]}


@router.post(
    "/resource_profiles",
    operation_id="create_resource_profile",
    response_model=responses.ResourceProfile,
)
def create_profile(
    body: ProfileIn, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    return profile_out(
        resources.add_profile(
            platform, principal, body.name, body.cpu, bounds.memory_mb(body.memory), body.nvidia_gpu
        )
    )


@router.delete(
    "/resource_profiles/{profile_id}", operation_id="delete_resource_profile", status_code=204
)
def delete_profile(profile_id: int, platform: PlatformDep, principal: PrincipalDep) -> Response:
    resources.delete_profile(platform, principal, profile_id)
    return Response(status_code=204)


@router.get(
    "/users/{username}/quota", operation_id="get_user_quota", response_model=responses.Quota
)
def get_quota(username: str, platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    cpu, memory_mb, own = resources.quota(platform, principal, username)
    return {"username": username, "cpu": cpu, "memory": memory_mb / 1024, "is_default": not own}


@router.put(
    "/users/{username}/quota", operation_id="set_user_quota", response_model=responses.Quota
)
def put_quota(
    username: str, body: QuotaIn, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    resources.set_quota(platform, principal, username, body.cpu, bounds.memory_mb(body.memory))
    return get_quota(username, platform, principal)
