"""Legacy API v1 endpoints still used by CML projects (HTTP Basic with the v1 key)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Response

from lakeworks.api.deps import PlatformDep, PrincipalDep
from lakeworks.api.schemas import EnvironmentIn, Lenient
from lakeworks.api.strict_json import StrictJSONRoute
from lakeworks.entities.jobs import Trigger
from lakeworks.entities.projects import EnvVar
from lakeworks.services import job_runs, projects

# How long ``jobs/<id>/start`` waits for the run's engine, to answer with its id as CML does.
START_WAIT_SECONDS = 10.0

router = APIRouter(tags=["api v1"], include_in_schema=False, route_class=StrictJSONRoute)


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
    env = [EnvVar(v.name, v.value, current.get(v.name, False)) for v in projects.validate_env(body)]
    projects.replace_env(platform, principal, view.project.id, env)
    return Response(status_code=204)


class StartIn(Lenient):
    environment: EnvironmentIn = None


@router.post("/projects/{owner}/{slug}/jobs/{job_id}/start")
def start_job(
    owner: str,
    slug: str,
    job_id: str,
    platform: PlatformDep,
    principal: PrincipalDep,
    body: StartIn | None = None,
) -> dict[str, str]:
    """Run a job now; ``{"engine_id"}`` once its engine started (CML's answer). A run still
    waiting for a slot or quota after a few seconds answers ``engine_id: ""`` with its status;
    its id leads to it in API v2."""
    view = projects.get_by_owner_slug(platform, principal, owner, slug)
    run = job_runs.trigger(
        platform,
        principal,
        view.project.id,
        job_id,
        via=Trigger.API,
        environment=body.environment if body else None,
    )
    run = job_runs.wait_started(platform, run.id, START_WAIT_SECONDS)
    return {"engine_id": run.workload_id or "", "id": run.id, "status": run.status.value}
