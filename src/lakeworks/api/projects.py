"""/api/v2/projects: list, create (blank, template, git, archive upload), get, patch, delete;
collaborators."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Response, UploadFile

from lakeworks.amps import runner as amp_runner
from lakeworks.api import responses
from lakeworks.api.amps import setup_out
from lakeworks.api.deps import PlatformDep, PrincipalDep
from lakeworks.api.listing import ListParams, list_params, parse_filter, parse_page, parse_sort
from lakeworks.api.schemas import (
    CollaboratorPut,
    ProjectCreate,
    ProjectUpdate,
    collaborator_out,
    parse_environment,
    project_out,
)
from lakeworks.api.strict_json import StrictJSONRoute
from lakeworks.errors import InvalidInput
from lakeworks.services import projects
from lakeworks.services.platform import Platform, Principal
from lakeworks.services.projects import ProjectView

router = APIRouter(tags=["projects"], route_class=StrictJSONRoute)

DEFAULT_PROJECT_PAGE = 10  # CML documents 10 for list_projects


def _out(platform: Platform, principal: Principal, view: ProjectView) -> dict[str, Any]:
    return project_out(view, projects.get_env(platform, principal, view.project.id))


@router.get(
    "/projects", operation_id="list_projects", response_model=responses.ListProjectsResponse
)
def list_projects(
    platform: PlatformDep,
    principal: PrincipalDep,
    params: Annotated[ListParams, Depends(list_params)],
    include_public_projects: bool = Query(False),
    include_all_projects: bool = Query(False),
) -> dict[str, Any]:
    page = parse_page(params.page_size, params.page_token, DEFAULT_PROJECT_PAGE)
    views, more = projects.list_projects(
        platform,
        principal,
        filters=parse_filter(params.search_filter),
        sort=parse_sort(params.sort),
        offset=page.offset,
        limit=page.size,
        include_public=include_public_projects,
        include_all=include_all_projects,
    )
    return {
        "projects": [_out(platform, principal, v) for v in views],
        "next_page_token": page.next_token(more),
    }


@router.post(
    "/projects", operation_id="create_project", response_model=responses.Project, status_code=200
)
def create_project(
    body: ProjectCreate, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    if body.template.strip().lower() == "amp":
        # An AMP: the project is set up by its .project-metadata.yaml (api/amps.py shows how).
        setup = amp_runner.create_project(
            platform,
            principal,
            name=body.name,
            git_url=body.git_url,
            git_ref=body.git_ref,
            description=body.description,
            visibility=body.visibility,
            team_name=body.team_name,
            environment=body.environment,
            shared_memory_limit=body.shared_memory_limit,
        )
        view = projects.get(platform, principal, setup.project_id)
        return _out(platform, principal, view) | {"amp": setup_out(setup)}
    source = projects.parse_source(body.template, body.git_url)
    if body.git_ref:
        source = projects.ProjectSourceSpec(
            source.kind, git_url=source.git_url, git_ref=body.git_ref
        )
    view = projects.get(
        platform,
        principal,
        projects.create(
            platform,
            principal,
            name=body.name,
            description=body.description,
            visibility=body.visibility,
            source=source,
            team_name=body.team_name,
            environment=body.environment,
            shared_memory_limit=body.shared_memory_limit,
            default_engine_type=body.default_project_engine_type,
        ).id,
    )
    return _out(platform, principal, view)


@router.post(
    "/projects:upload", operation_id="create_project_from_archive", response_model=responses.Project
)
def create_project_from_archive(
    platform: PlatformDep,
    principal: PrincipalDep,
    file: UploadFile,
    name: Annotated[str, Form()],
    description: Annotated[str, Form()] = "",
    visibility: Annotated[str, Form()] = "private",
    team_name: Annotated[str, Form()] = "",
    environment: Annotated[str, Form()] = "",
    template: Annotated[str, Form()] = "",
) -> dict[str, Any]:
    """Lakeworks extension: create a project from an uploaded .zip, .tar or .tar.gz (with
    ``template=amp``, an AMP, set up as with ``POST /projects``)."""
    with tempfile.TemporaryDirectory(prefix="lakeworks-upload-") as tmp:
        archive = Path(tmp) / "upload"
        with archive.open("wb") as out:
            shutil.copyfileobj(file.file, out)
        if template.strip().lower() == "amp":
            setup = amp_runner.create_project(
                platform,
                principal,
                name=name,
                archive=archive,
                description=description,
                visibility=visibility,
                team_name=team_name,
                environment=parse_environment(environment) or {},
            )
            view = projects.get(platform, principal, setup.project_id)
            return _out(platform, principal, view) | {"amp": setup_out(setup)}
        project = projects.create(
            platform,
            principal,
            name=name,
            description=description,
            visibility=visibility,
            source=projects.parse_source("", "", archive=archive),
            team_name=team_name,
            environment=parse_environment(environment) or {},
        )
    return _out(platform, principal, projects.get(platform, principal, project.id))


@router.get("/projects/{project_id}", operation_id="get_project", response_model=responses.Project)
def get_project(project_id: str, platform: PlatformDep, principal: PrincipalDep) -> dict[str, Any]:
    return _out(platform, principal, projects.get(platform, principal, project_id))


@router.patch(
    "/projects/{project_id}", operation_id="update_project", response_model=responses.Project
)
def update_project(
    project_id: str, body: ProjectUpdate, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    view = projects.update(
        platform,
        principal,
        project_id,
        name=body.name,
        description=body.description,
        visibility=body.visibility,
        environment=body.environment,
        shared_memory_limit=body.shared_memory_limit,
        default_engine_type=body.default_project_engine_type or body.default_engine_type,
    )
    return _out(platform, principal, view)


@router.delete(
    "/projects/{project_id}", operation_id="delete_project", response_model=responses.Deleted
)
def delete_project(
    project_id: str, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    projects.delete(platform, principal, project_id)
    return {}


# Collaborators -----------------------------------------------------------------------


@router.get(
    "/projects/{project_id}/collaborators",
    operation_id="list_project_collaborators",
    response_model=responses.ListProjectCollaboratorsResponse,
)
def list_collaborators(
    project_id: str,
    platform: PlatformDep,
    principal: PrincipalDep,
    params: Annotated[ListParams, Depends(list_params)],
) -> dict[str, Any]:
    page = parse_page(params.page_size, params.page_token, 100)
    wanted = parse_filter(params.search_filter)
    unknown = set(wanted) - {"username", "permission"}
    if unknown:
        raise InvalidInput(
            f"Collaborators cannot be filtered by {sorted(unknown)}; use username, permission."
        )
    rows = [
        collaborator_out(c) for c in projects.list_collaborators(platform, principal, project_id)
    ]
    rows = [r for r in rows if all(str(r[k]) == v for k, v in wanted.items())]
    chunk = rows[page.offset : page.offset + page.size]
    return {
        "collaborators": chunk,
        "next_page_token": page.next_token(page.offset + page.size < len(rows)),
    }


@router.put(
    "/projects/{project_id}/collaborators/{username}",
    operation_id="add_project_collaborator",
    response_model=responses.ProjectCollaborator,
)
def put_collaborator(
    project_id: str,
    username: str,
    body: CollaboratorPut,
    platform: PlatformDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    return collaborator_out(
        projects.set_collaborator(platform, principal, project_id, username, body.permission)
    )


@router.delete(
    "/projects/{project_id}/collaborators/{username}",
    operation_id="delete_project_collaborator",
    status_code=204,
)
def delete_collaborator(
    project_id: str, username: str, platform: PlatformDep, principal: PrincipalDep
) -> Response:
    projects.remove_collaborator(platform, principal, project_id, username)
    return Response(status_code=204)
