"""Applications: cards of every app of the caller's projects and of one project (as in CML),
the create/edit form, and one app's page with its log and actions."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response

from lakeworks import bounds
from lakeworks.entities.applications import Application, AppStatus
from lakeworks.entities.projects import EnvVar
from lakeworks.errors import InvalidInput, LakeworksError
from lakeworks.services import applications, projects
from lakeworks.services.permissions import Action
from lakeworks.services.platform import Platform, Principal
from lakeworks.services.projects import ProjectView
from lakeworks.ui.deps import FormUserDep, PlatformDep, UserDep
from lakeworks.ui.pages import flash, form_error, redirect, render
from lakeworks.ui.settings_pages import checked_env, parse_env_rows

router = APIRouter()

StrList = Annotated[list[str], Form(default_factory=list)]
MAX_PROJECTS = 200
LOG_TAIL_BYTES = 64 * 1024
BADGES = {
    AppStatus.STARTING: "info",
    AppStatus.RUNNING: "ok",
    AppStatus.STOPPING: "warn",
    AppStatus.STOPPED: "muted",
    AppStatus.FAILED: "danger",
    AppStatus.UNKNOWN: "warn",
}


@dataclass
class AppForm:
    name: str = ""
    subdomain: str = ""
    description: str = ""
    script: str = ""
    runtime_identifier: str = ""
    cpu: str = "1"
    memory_gb: str = "1"
    bypass_authentication: bool = False
    env: list[EnvVar] = field(default_factory=list)

    @classmethod
    def of(cls, app: Application) -> AppForm:
        return cls(
            name=app.name,
            subdomain=app.subdomain,
            description=app.description,
            script=app.script,
            runtime_identifier=app.runtime_identifier,
            cpu=f"{app.cpu:g}",
            memory_gb=f"{app.memory_mb / 1024:g}",
            bypass_authentication=app.bypass_authentication,
            env=[EnvVar(name=k, value=v, secret=False) for k, v in app.environment.items()],
        )

    def fields(self) -> applications.AppFields:
        try:
            cpu = float(self.cpu)
            memory_mb = bounds.memory_mb(float(self.memory_gb))
        except ValueError as exc:
            raise InvalidInput("CPU and memory must be numbers.") from exc
        env = checked_env(self.env)
        return applications.AppFields(
            name=self.name,
            subdomain=self.subdomain,
            script=self.script,
            description=self.description,
            runtime_identifier=self.runtime_identifier,
            cpu=cpu,
            memory_mb=memory_mb,
            environment={v.name: v.value for v in env},
            bypass_authentication=self.bypass_authentication,
        )


def _context(platform: Platform, view: ProjectView) -> dict[str, Any]:
    return {
        "nav": "applications",
        "tab": "applications",
        "view": view,
        "project": view.project,
        "can_run": projects.allowed(view, Action.RUN_WORKLOADS),
        "can_edit": projects.allowed(view, Action.CREATE_WORKLOADS),
        "badges": BADGES,
        "address": lambda app: applications.address(platform, app),
    }


def app_url(project_id: str, application_id: str) -> str:
    return f"/projects/{project_id}/applications/{application_id}"


@router.get("/applications")
def all_applications(request: Request, platform: PlatformDep, principal: UserDep) -> Response:
    views, _ = projects.listed_by_name(platform, principal, MAX_PROJECTS)
    groups = []
    for view in views:
        apps = applications.list_applications(platform, principal, view.project.id)
        if apps:
            groups.append((view, apps))
    return render(
        request,
        "applications/all.html",
        {
            "nav": "applications",
            "groups": groups,
            "badges": BADGES,
            "address": lambda app: applications.address(platform, app),
        },
    )


@router.get("/projects/{project_id}/applications")
def project_applications(
    request: Request, platform: PlatformDep, principal: UserDep, project_id: str
) -> Response:
    view = projects.get(platform, principal, project_id)
    apps = applications.list_applications(platform, principal, project_id)
    return render(
        request, "applications/list.html", _context(platform, view) | {"applications": apps}
    )


def _form_page(
    request: Request,
    platform: Platform,
    principal: Principal,
    project_id: str,
    form: AppForm,
    app: Application | None,
    error: str = "",
) -> Response:
    view = projects.get(platform, principal, project_id)
    return render(
        request,
        "applications/form.html",
        _context(platform, view) | {"form": form, "app": app, "domain": platform.settings.domain},
        status=400 if error else 200,
        error=error or None,
    )


@router.get("/projects/{project_id}/applications/new")
def new_application(
    request: Request, platform: PlatformDep, principal: UserDep, project_id: str
) -> Response:
    return _form_page(request, platform, principal, project_id, AppForm(), None)


def _posted(
    name: str,
    subdomain: str,
    description: str,
    script: str,
    runtime_identifier: str,
    cpu: str,
    memory_gb: str,
    bypass_authentication: str,
    env_name: list[str],
    env_value: list[str],
    env_remove: list[str],
) -> AppForm:
    return AppForm(
        name=name,
        subdomain=subdomain.strip(),
        description=description,
        script=script.strip(),
        runtime_identifier=runtime_identifier,
        cpu=cpu or "1",
        memory_gb=memory_gb or "1",
        bypass_authentication=bypass_authentication == "on",
        env=parse_env_rows(env_name, env_value, [], env_remove),
    )


@router.post("/projects/{project_id}/applications/new")
def create_application(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    name: Annotated[str, Form()] = "",
    subdomain: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    script: Annotated[str, Form()] = "",
    runtime_identifier: Annotated[str, Form()] = "",
    cpu: Annotated[str, Form()] = "1",
    memory_gb: Annotated[str, Form()] = "1",
    bypass_authentication: Annotated[str, Form()] = "",
    env_name: StrList = [],  # noqa: B006 (FastAPI form default)
    env_value: StrList = [],  # noqa: B006
    env_remove: StrList = [],  # noqa: B006
) -> Response:
    form = _posted(
        name, subdomain, description, script, runtime_identifier, cpu, memory_gb,
        bypass_authentication, env_name, env_value, env_remove,
    )  # fmt: skip
    try:
        app = applications.create(platform, principal, project_id, form.fields())
    except LakeworksError as exc:
        form_error(request, exc)
        return _form_page(request, platform, principal, project_id, form, None, exc.message)
    flash(request, f"Application {app.name!r} is starting.")
    return redirect(app_url(project_id, app.id))


@router.get("/projects/{project_id}/applications/{application_id}")
def application_page(
    request: Request,
    platform: PlatformDep,
    principal: UserDep,
    project_id: str,
    application_id: str,
) -> Response:
    view = projects.get(platform, principal, project_id)
    app = applications.get(platform, principal, project_id, application_id)
    engine = applications.engine(platform, app)
    log = b""
    if engine is not None:
        size = _log_size(engine.log_path)
        log, _ = applications.logs(
            platform, principal, project_id, application_id, max(size - LOG_TAIL_BYTES, 0)
        )
    creator = applications.creators(platform, [app]).get(app.creator_id)
    return render(
        request,
        "applications/detail.html",
        _context(platform, view)
        | {
            "app": app,
            "engine": engine,
            "log": log.decode("utf-8", errors="replace"),
            "creator": creator,
        },
    )


def _log_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


@router.get("/projects/{project_id}/applications/{application_id}/edit")
def edit_application(
    request: Request,
    platform: PlatformDep,
    principal: UserDep,
    project_id: str,
    application_id: str,
) -> Response:
    app = applications.get(platform, principal, project_id, application_id)
    return _form_page(request, platform, principal, project_id, AppForm.of(app), app)


@router.post("/projects/{project_id}/applications/{application_id}/edit")
def update_application(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    application_id: str,
    name: Annotated[str, Form()] = "",
    subdomain: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    script: Annotated[str, Form()] = "",
    runtime_identifier: Annotated[str, Form()] = "",
    cpu: Annotated[str, Form()] = "1",
    memory_gb: Annotated[str, Form()] = "1",
    bypass_authentication: Annotated[str, Form()] = "",
    env_name: StrList = [],  # noqa: B006
    env_value: StrList = [],  # noqa: B006
    env_remove: StrList = [],  # noqa: B006
) -> Response:
    app = applications.get(platform, principal, project_id, application_id)
    form = _posted(
        name, subdomain, description, script, runtime_identifier, cpu, memory_gb,
        bypass_authentication, env_name, env_value, env_remove,
    )  # fmt: skip
    try:
        changes = vars(form.fields())
        app = applications.update(platform, principal, project_id, application_id, changes)
    except LakeworksError as exc:
        form_error(request, exc)
        return _form_page(request, platform, principal, project_id, form, app, exc.message)
    flash(request, "Saved. Restart the application to apply script, runtime or resources.")
    return redirect(app_url(project_id, application_id))


@router.post("/projects/{project_id}/applications/{application_id}/{verb}")
def application_action(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    application_id: str,
    verb: str,
) -> Response:
    here = app_url(project_id, application_id)
    if verb == "delete":
        app = applications.get(platform, principal, project_id, application_id)
        applications.delete(platform, principal, project_id, application_id)
        flash(request, f"Application {app.name!r} was deleted.")
        return redirect(f"/projects/{project_id}/applications")
    actions = {
        "start": (applications.start, "is starting"),
        "stop": (applications.stop, "is stopping"),
        "restart": (applications.restart, "is restarting on a new engine"),
    }
    if verb not in actions:
        raise InvalidInput(f"Applications cannot {verb!r}.")
    action, said = actions[verb]
    try:
        app = action(platform, principal, project_id, application_id)
    except LakeworksError as exc:
        form_error(request, exc)
        flash(request, exc.message, "error")
        return redirect(here)
    flash(request, f"Application {app.name!r} {said}.")
    return redirect(here)
