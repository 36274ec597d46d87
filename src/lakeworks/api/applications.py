"""/api/v2/projects/{id}/applications (CML shapes, compat §6 and §7)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from lakeworks.api import responses
from lakeworks.api.deps import PlatformDep, PrincipalDep
from lakeworks.api.listing import ListParams, list_params, parse_filter, parse_page, parse_sort
from lakeworks.api.schemas import (
    Cpu,
    EnvironmentIn,
    Gpus,
    Lenient,
    MemoryGiB,
    Name,
    Text,
    rfc3339,
)
from lakeworks.api.strict_json import StrictJSONRoute
from lakeworks.entities.applications import Application, AppStatus
from lakeworks.entities.users import User
from lakeworks.errors import InvalidInput
from lakeworks.services import applications
from lakeworks.services.platform import Platform

router = APIRouter(tags=["applications"], route_class=StrictJSONRoute)

DEFAULT_PAGE = 100  # nested lists: scripts index [-1] as "newest" (compat §6.4)
TEXT_FILTERS = ("name", "description", "script", "full_name")
EXACT_FILTERS = ("subdomain", "runtime_identifier", "kernel", "bypass_authentication")
CREATOR_FILTERS = ("creator.username", "creator.name", "creator.email")


class ApplicationIn(Lenient):
    """CreateApplicationRequest, and the PATCH body of update_application (a whole fetched
    Application may be sent back: its read-only fields are ignored)."""

    name: Name | None = None
    description: Text | None = None
    subdomain: Name | None = None
    script: Text | None = None
    runtime_identifier: Name | None = None
    kernel: Name | None = None
    cpu: Cpu = None
    memory: MemoryGiB = None  # GB, as CML
    nvidia_gpu: Gpus = None
    environment: EnvironmentIn = None
    bypass_authentication: bool | None = None

    def changes(self) -> dict[str, Any]:
        """AppFields names → values for the fields this body sets."""
        out: dict[str, Any] = {}
        given = self.model_fields_set
        for name in (
            "name",
            "description",
            "subdomain",
            "script",
            "runtime_identifier",
            "cpu",
            "environment",
            "bypass_authentication",
        ):
            value = getattr(self, name)
            if name in given and value is not None:
                out[name] = value
        if "memory" in given and self.memory is not None:
            out["memory_mb"] = round(self.memory * 1024)
        if "nvidia_gpu" in given and self.nvidia_gpu is not None:
            out["gpu"] = int(self.nvidia_gpu)
        return out


def application_out(
    platform: Platform, app: Application, creator: User | None = None
) -> dict[str, Any]:
    host_url, path_url = applications.address(platform, app)
    person = {
        "username": creator.username if creator else "",
        "name": creator.name if creator else "",
        "email": creator.email if creator else "",
    }
    return {
        "id": app.id,
        "project_id": app.project_id,
        "name": app.name,
        "description": app.description,
        "creator": person,
        "script": app.script,
        "subdomain": app.subdomain,
        "status": app.status.value,
        "status_message": app.reason,
        "created_at": rfc3339(app.created_at),
        "updated_at": rfc3339(app.updated_at),
        "starting_at": rfc3339(app.starting_at),
        "running_at": rfc3339(app.running_at),
        "stopped_at": rfc3339(app.stopped_at),
        "kernel": "python3",
        "cpu": app.cpu,
        "memory": app.memory_mb / 1024,
        "nvidia_gpu": app.gpu,
        "bypass_authentication": app.bypass_authentication,
        "environment": json.dumps(app.environment),
        "runtime_identifier": app.runtime_identifier,
        "runtime_addon_identifiers": [],
        "run_as": 0,
        "cdv_app": False,
        "resource_group_id": "",
        "resource_profile_id": "",
        "accelerator_label_id": "",
        "engine_id": app.workload_id or "",
        "url": host_url,
        "path_url": path_url,
        "restarts": len(app.restarts),
    }


def _out(platform: Platform, app: Application) -> dict[str, Any]:
    return application_out(
        platform, app, applications.creators(platform, [app]).get(app.creator_id)
    )


def _fields(body: ApplicationIn) -> applications.AppFields:
    changes = body.changes()
    for required in ("name", "subdomain", "script"):
        if not changes.get(required):
            raise InvalidInput(f"An application needs a {required}.")
    changes.setdefault("memory_mb", 1024)  # CML's default: 1 GB
    return applications.AppFields(**changes)


def _matches(app: Application, creator: User | None, key: str, value: str) -> bool:
    if key == "status":
        return app.status is AppStatus.parse(value)
    if key in TEXT_FILTERS:
        text = app.name if key == "full_name" else str(getattr(app, key))
        return value.lower() in text.lower()
    if key == "bypass_authentication":
        return str(app.bypass_authentication).lower() == value.lower()
    if key == "kernel":
        return value.lower() in ("python3", "python")
    if key in EXACT_FILTERS:
        return str(getattr(app, key)) == value
    field = key.removeprefix("creator.")
    text = str(getattr(creator, field, "")) if creator else ""
    return value.lower() in text.lower() if field != "username" else text == value


@router.get(
    "/projects/{project_id}/applications",
    operation_id="list_applications",
    response_model=responses.ListApplicationsResponse,
)
def list_applications(
    project_id: str,
    platform: PlatformDep,
    principal: PrincipalDep,
    params: Annotated[ListParams, Depends(list_params)],
) -> dict[str, Any]:
    page = parse_page(params.page_size, params.page_token, DEFAULT_PAGE)
    wanted = parse_filter(params.search_filter)
    allowed = {"status", *TEXT_FILTERS, *EXACT_FILTERS, *CREATOR_FILTERS}
    unknown = set(wanted) - allowed
    if unknown:
        raise InvalidInput(
            f"Applications cannot be filtered by {sorted(unknown)}; use {sorted(allowed)}."
        )
    if "status" in wanted and AppStatus.parse(wanted["status"]) is None:
        raise InvalidInput(
            f"{wanted['status']!r} is not an application status; use starting, running, "
            "stopping, stopped or failed."
        )
    apps = applications.list_applications(platform, principal, project_id)
    people = applications.creators(platform, apps)
    for key, value in wanted.items():
        apps = [a for a in apps if _matches(a, people.get(a.creator_id), key, value)]
    for field, ascending in reversed(parse_sort(params.sort)):
        if field not in ("name", "created_at", "updated_at", "subdomain", "status"):
            raise InvalidInput(
                f"Applications cannot be sorted by {field!r}; "
                "use name, subdomain, status, created_at, updated_at."
            )
        apps.sort(key=lambda a: str(getattr(a, field)), reverse=not ascending)
    chunk = apps[page.offset : page.offset + page.size]
    return {
        "applications": [application_out(platform, a, people.get(a.creator_id)) for a in chunk],
        "next_page_token": page.next_token(page.offset + page.size < len(apps)),
    }


@router.post(
    "/projects/{project_id}/applications",
    operation_id="create_application",
    response_model=responses.Application,
)
def create_application(
    project_id: str, body: ApplicationIn, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Create the application and start it (as CML's ``create_application`` does)."""
    return _out(platform, applications.create(platform, principal, project_id, _fields(body)))


@router.get(
    "/projects/{project_id}/applications/{application_id}",
    operation_id="get_application",
    response_model=responses.Application,
)
def get_application(
    project_id: str, application_id: str, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    application_id, _, verb = application_id.partition(":")
    if verb:
        raise InvalidInput(f":{verb} needs POST.")
    return _out(platform, applications.get(platform, principal, project_id, application_id))


@router.patch(
    "/projects/{project_id}/applications/{application_id}",
    operation_id="update_application",
    response_model=responses.Application,
)
def update_application(
    project_id: str,
    application_id: str,
    body: ApplicationIn,
    platform: PlatformDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    app = applications.update(platform, principal, project_id, application_id, body.changes())
    return _out(platform, app)


@router.delete(
    "/projects/{project_id}/applications/{application_id}",
    operation_id="delete_application",
    response_model=responses.Deleted,
)
def delete_application(
    project_id: str, application_id: str, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    applications.delete(platform, principal, project_id, application_id)
    return {}


@router.post(
    "/projects/{project_id}/applications/{application_id}",
    operation_id="restart_application",
    response_model=responses.Application,
)
def application_verb(
    project_id: str, application_id: str, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    """``POST …/{application_id}:restart`` and ``:stop`` (CML's custom verbs); Lakeworks also
    takes ``:start``. Each returns the Application."""
    application_id, _, verb = application_id.partition(":")
    actions = {
        "restart": applications.restart,
        "stop": applications.stop,
        "start": applications.start,
    }
    if verb not in actions:
        raise InvalidInput("Use POST …/applications/{id}:restart, :stop or :start.")
    return _out(platform, actions[verb](platform, principal, project_id, application_id))


@router.get(
    "/projects/{project_id}/applications/{application_id}/logs",
    operation_id="get_application_logs",
    response_model=responses.ApplicationLog,
)
def application_logs(
    project_id: str,
    application_id: str,
    platform: PlatformDep,
    principal: PrincipalDep,
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    """Lakeworks extension: the current engine's log from ``offset`` (poll ``next_offset``)."""
    data, next_offset = applications.logs(platform, principal, project_id, application_id, offset)
    app = applications.get(platform, principal, project_id, application_id)
    return {
        "text": data.decode("utf-8", errors="replace"),
        "offset": offset,
        "next_offset": next_offset,
        "status": app.status.value,
        "engine_id": app.workload_id or "",
    }
