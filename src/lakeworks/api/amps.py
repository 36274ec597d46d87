"""/api/v2/projects/{id}/amp: an AMP setup's state, starting one on an existing project, and
retrying or skipping its failed task. (Creating a project from an AMP is ``POST /projects``
with ``template: "amp"``, in api/projects.py.)"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from lakeworks.amps import runner, tasks
from lakeworks.api import responses
from lakeworks.api.deps import PlatformDep, PrincipalDep
from lakeworks.api.schemas import EnvironmentIn, Lenient, rfc3339
from lakeworks.api.strict_json import StrictJSONRoute
from lakeworks.entities.amps import AmpSetup, AmpTask

router = APIRouter(tags=["amps"], route_class=StrictJSONRoute)


class AmpStart(Lenient):
    environment: EnvironmentIn = None


def task_out(task: AmpTask) -> dict[str, Any]:
    duration = task.duration_seconds
    return {
        "position": task.position,
        "type": task.type,
        "name": task.title,
        "line": task.line,
        "status": task.status.value,
        "reason": task.reason,
        "attempts": task.attempts,
        "entity_id": task.entity_id,
        "tracked_id": task.tracked_id,
        "started_at": rfc3339(task.started_at),
        "finished_at": rfc3339(task.finished_at),
        "duration_seconds": None if duration is None else round(duration, 3),
        "log_url": tasks.log_link(task),
    }


def setup_out(setup: AmpSetup) -> dict[str, Any]:
    return {
        "project_id": setup.project_id,
        "name": setup.name,
        "status": setup.status.value,
        "reason": setup.reason,
        "runtime_identifier": setup.runtime_identifier,
        "warnings": setup.warnings,
        "created_at": rfc3339(setup.created_at),
        "updated_at": rfc3339(setup.updated_at),
        "finished_at": rfc3339(setup.finished_at),
        "tasks": [task_out(t) for t in setup.tasks],
    }


@router.get(
    "/projects/{project_id}/amp", operation_id="get_amp_setup", response_model=responses.AmpSetup
)
def get_amp(project_id: str, platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    return setup_out(runner.get(platform, principal, project_id))


@router.post(
    "/projects/{project_id}/amp", operation_id="start_amp_setup", response_model=responses.AmpSetup
)
def start_amp(
    project_id: str, body: AmpStart, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Lakeworks extension: run the AMP of a project that already holds the file."""
    return setup_out(runner.start_from_project(platform, principal, project_id, body.environment))


@router.post(
    "/projects/{project_id}/amp:retry",
    operation_id="retry_amp_task",
    response_model=responses.AmpSetup,
)
def retry_amp(project_id: str, platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    return setup_out(runner.retry(platform, principal, project_id))


@router.post(
    "/projects/{project_id}/amp:skip",
    operation_id="skip_amp_task",
    response_model=responses.AmpSetup,
)
def skip_amp(project_id: str, platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    return setup_out(runner.skip(platform, principal, project_id))
