"""Models in the UI: every model, a project's models, the create form (file, function, example
input, replicas, resources), and one model's page: deployment and replicas with logs, builds,
a Test tab, sample code (curl, Python) with the real URL and key, key regeneration and the
authentication switch. Monitoring charts are on ``model_monitoring_pages``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from lakeworks import bounds
from lakeworks.entities.models import MODEL_SERVICE_HOST, BuildStatus, DeploymentStatus, Model
from lakeworks.errors import InvalidInput, LakeworksError
from lakeworks.services import experiments, model_builds, model_deployments, models, projects
from lakeworks.services.permissions import Action
from lakeworks.services.platform import Platform, Principal
from lakeworks.services.projects import ProjectView
from lakeworks.ui.deps import FormUserDep, PlatformDep, UserDep
from lakeworks.ui.pages import flash, form_error, redirect, render

router = APIRouter()

# Status -> badge class (app.css ``.badge-*``).
BADGES = {
    "built": "badge-ok",
    "deployed": "badge-ok",
    "ready": "badge-ok",
    "build failed": "badge-danger",
    "failed": "badge-danger",
    "pending": "badge-warn",
    "building": "badge-warn",
    "deploying": "badge-warn",
    "starting": "badge-warn",
    "stopping": "badge-muted",
    "stopped": "badge-muted",
    "draining": "badge-muted",
}
LOG_TAIL = 64 * 1024


def _context(platform: Platform, view: ProjectView) -> dict[str, Any]:
    return {
        "nav": "projects",
        "tab": "models",
        "view": view,
        "project": view.project,
        "can_run": projects.allowed(view, Action.RUN_WORKLOADS),
        "can_edit": projects.allowed(view, Action.CREATE_WORKLOADS),
        "badges": BADGES,
    }


def model_url(project_id: str, model_id: str) -> str:
    return f"/projects/{project_id}/models/{model_id}"


API_KEYS_PAGE = "/settings/api-keys"
API_KEY_PLACEHOLDER = "paste-an-API-key-here"


def endpoints(platform: Platform, origin: str = "") -> tuple[str, str]:
    """(the CML host form ``modelservice.<domain>/model``, which needs wildcard DNS; the same
    route on the address that works: the public URL when one is set, else the address the
    browser reached this page at, which works from the laptop the browser runs on)."""
    settings = platform.settings
    scheme = settings.base_url.split(":", 1)[0]
    return (
        f"{scheme}://{MODEL_SERVICE_HOST}.{settings.domain}/model",
        f"{_base(platform, origin)}/model",
    )


def _base(platform: Platform, origin: str) -> str:
    settings = platform.settings
    return (settings.public_url or origin or settings.base_url).rstrip("/")


def sample_code(
    platform: Platform, model: Model, key: str, example: Any, origin: str = ""
) -> dict[str, str]:
    """Samples that run as shown from the reader's machine. With authentication on they need
    an API key, which only workloads have in their environment: the samples say where to
    create one and where to paste it."""
    service_url, direct_url = endpoints(platform, origin)
    keys_page = f"{_base(platform, origin)}{API_KEYS_PAGE}"
    payload = json.dumps({"accessKey": key, "request": example})
    curl_key = (
        f'API_KEY="{API_KEY_PLACEHOLDER}"  # an API key; create one at {keys_page}\n'
        if model.auth_enabled
        else ""
    )
    auth = ' -H "Authorization: Bearer $API_KEY"' if model.auth_enabled else ""
    curl = (
        f"{curl_key}curl -s -X POST {direct_url} -H 'Content-Type: application/json'{auth} \\\n"
        f"  -d '{payload}'"
    )
    python_key = (
        f'API_KEY = "{API_KEY_PLACEHOLDER}"  # an API key; create one at {keys_page}\n\n'
        if model.auth_enabled
        else ""
    )
    python_auth = (
        '\n    headers={"Authorization": "Bearer " + API_KEY},' if model.auth_enabled else ""
    )
    python = (
        "import requests\n\n"
        f"{python_key}"
        "response = requests.post(\n"
        f'    "{direct_url}",\n'
        f'    json={{"accessKey": "{key}", "request": {json.dumps(example)}}},'
        f"{python_auth}\n)\n"
        "print(response.json())\n"
    )
    in_workload = (
        "import cdsw\n\n"
        f'result = cdsw.call_model("{key}", {json.dumps(example)})\n'
        'print(result["response"])\n'
    )
    return {
        "curl": curl,
        "python": python,
        "workload": in_workload,
        "service_url": service_url,
        "direct_url": direct_url,
        "keys_page": API_KEYS_PAGE,
    }


# Lists ------------------------------------------------------------------------------------


@router.get("/models")
def all_models(request: Request, platform: PlatformDep, principal: UserDep) -> Response:
    found = models.list_all(platform, principal)
    statuses = models.list_statuses(platform, found)
    views, _ = projects.listed_by_name(platform, principal)
    return render(
        request,
        "models/all.html",
        {
            "nav": "models",
            "models": found,
            "statuses": statuses,
            "badges": BADGES,
            "project_names": {v.project.id: v.project.name for v in views},
        },
    )


@router.get("/projects/{project_id}/models")
def project_models(
    request: Request, platform: PlatformDep, principal: UserDep, project_id: str
) -> Response:
    view = projects.get(platform, principal, project_id)
    found = models.list_models(platform, principal, project_id)
    return render(
        request,
        "models/list.html",
        _context(platform, view)
        | {"models": found, "statuses": models.list_statuses(platform, found)},
    )


# Create -----------------------------------------------------------------------------------


@dataclass
class ModelForm:
    name: str = ""
    description: str = ""
    file_path: str = ""
    function_name: str = "predict"
    example: str = '{\n  "x": 1\n}'
    runtime_identifier: str = ""
    replicas: str = "1"
    cpu: str = "1"
    memory_gb: str = "2"
    auth_enabled: bool = True
    env: list[tuple[str, str]] = field(default_factory=list)
    # Deploying a model registry version instead of a file's function.
    registered_model_version_id: str = ""
    registry_label: str = ""


def _number(value: str, what: str, kind: type = float) -> Any:
    try:
        return kind(value)
    except ValueError as exc:
        raise InvalidInput(f"{what} must be a number.") from exc


def _example(text: str) -> Any:
    if not text.strip():
        return None
    try:
        return bounds.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"The example input is not JSON: {exc.msg} (line {exc.lineno})."
        ) from exc


def _form_page(
    request: Request,
    platform: Platform,
    principal: Principal,
    project_id: str,
    form: ModelForm,
    error: str = "",
) -> Response:
    view = projects.get(platform, principal, project_id)
    return render(
        request,
        "models/form.html",
        _context(platform, view) | {"form": form},
        status=400 if error else 200,
        error=error or None,
    )


@router.get("/projects/{project_id}/models/new")
def new_model(
    request: Request,
    platform: PlatformDep,
    principal: UserDep,
    project_id: str,
    registered_model_version_id: str = "",
) -> Response:
    form = ModelForm()
    if registered_model_version_id:
        form = _registry_form(platform, principal, registered_model_version_id.strip())
    return _form_page(request, platform, principal, project_id, form)


def _registry_form(platform: Platform, principal: Principal, version_id: str) -> ModelForm:
    """The form for deploying a registry version: named after it, its example request (the
    ``input_example`` MLflow saved) pre-filled."""
    source = experiments.resolve_version(platform, principal, version_id)
    example = experiments.serving_example(source)
    return ModelForm(
        name=source.model_name,
        function_name="",
        example=json.dumps(example, indent=2) if example is not None else "",
        registered_model_version_id=version_id,
        registry_label=f"{source.model_name} version {source.version}",
    )


@router.post("/projects/{project_id}/models/new")
def create_model(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    file_path: Annotated[str, Form()] = "",
    function_name: Annotated[str, Form()] = "",
    example: Annotated[str, Form()] = "",
    runtime_identifier: Annotated[str, Form()] = "",
    replicas: Annotated[str, Form()] = "1",
    cpu: Annotated[str, Form()] = "1",
    memory_gb: Annotated[str, Form()] = "2",
    auth_enabled: Annotated[str, Form()] = "",
    env_name: Annotated[list[str] | None, Form()] = None,
    env_value: Annotated[list[str] | None, Form()] = None,
    registered_model_version_id: Annotated[str, Form()] = "",
    registry_label: Annotated[str, Form()] = "",
) -> Response:
    env = [
        (n.strip(), v) for n, v in zip(env_name or [], env_value or [], strict=False) if n.strip()
    ]
    form = ModelForm(
        name, description, file_path.strip(), function_name.strip(), example,
        runtime_identifier.strip(), replicas, cpu, memory_gb, auth_enabled == "on", env,
        registered_model_version_id.strip(), registry_label[:300],
    )  # fmt: skip
    try:
        request_example = _example(example)
        deploy = {
            "replicas": _number(replicas, "Replicas", int),
            "cpu": _number(cpu, "vCPU"),
            "memory_mb": bounds.memory_mb(_number(memory_gb, "Memory")),
            "environment": dict(env),
        }
        model_deployments.check(  # refuse bad resources before anything is created
            model_deployments.DeploymentFields(
                cpu=deploy["cpu"], memory_mb=deploy["memory_mb"], replicas=deploy["replicas"]
            )
        )
        model = models.create(
            platform,
            principal,
            project_id,
            models.ModelFields(
                name=name,
                description=description,
                auth_enabled=form.auth_enabled,
                default_cpu=deploy["cpu"],
                default_memory_mb=deploy["memory_mb"],
                default_replicas=deploy["replicas"],
            ),
        )
    except LakeworksError as exc:
        form_error(request, exc)
        return _form_page(request, platform, principal, project_id, form, exc.message)
    try:
        model_builds.create(
            platform,
            principal,
            project_id,
            model.id,
            model_builds.BuildFields(
                file_path=form.file_path,
                function_name=form.function_name,
                registered_model_version_id=form.registered_model_version_id,
                runtime_identifier=form.runtime_identifier,
                comment="first build",
                examples=[{"request": request_example}] if request_example is not None else [],
                auto_deploy=deploy,
            ),
        )
    except LakeworksError as exc:
        # The model exists; say why its build did not start and let the person fix it there.
        flash(
            request,
            f"Model {model.name!r} was created, but its build failed: {exc.message}",
            "error",
        )
        return redirect(model_url(project_id, model.id))
    flash(request, f"Model {model.name!r} is building; it deploys when the build succeeds.")
    return redirect(model_url(project_id, model.id))


# One model --------------------------------------------------------------------------------


@router.get("/projects/{project_id}/models/{model_id}")
def model_page(
    request: Request,
    platform: PlatformDep,
    principal: UserDep,
    project_id: str,
    model_id: str,
) -> Response:
    view = projects.get(platform, principal, project_id)
    model = models.get(platform, principal, project_id, model_id)
    builds = model_builds.list_builds(platform, principal, project_id, model_id)
    deployments = model_deployments.list_deployments(platform, principal, project_id, model_id)
    current = next(
        (
            d
            for d in reversed(deployments)
            if d.status.is_active or d.status is DeploymentStatus.STOPPING
        ),
        deployments[-1] if deployments else None,
    )
    replicas = (
        model_deployments.replicas(platform, principal, project_id, model_id, current.id)
        if current
        else []
    )
    example: Any = {"x": 1}
    for build in reversed(builds):
        if build.examples:
            example = build.examples[0].get("request", example)
            break
    key = models.access_key(platform, model)
    return render(
        request,
        "models/detail.html",
        _context(platform, view)
        | {
            "model": model,
            "builds": list(reversed(builds)),
            "deployments": list(reversed(deployments)),
            "current": current,
            "replicas": replicas,
            "key": key,
            "example": json.dumps(example, indent=2),
            "samples": sample_code(
                platform, model, key, example, str(request.base_url).rstrip("/")
            ),
            "building": any(not b.status.is_final for b in builds),
            "built": [b for b in builds if b.status is BuildStatus.BUILT],
            "monitoring_url": model_url(project_id, model_id) + "/monitoring",
        },
    )


@router.post("/projects/{project_id}/models/{model_id}/test")
async def test_model(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    model_id: str,
    request_json: Annotated[str, Form()] = "",
) -> JSONResponse:
    models.get(platform, principal, project_id, model_id)
    try:
        value = bounds.loads(request_json)
    except json.JSONDecodeError as exc:
        return JSONResponse(
            {
                "success": False,
                "errors": {"message": f"Not JSON: {exc}", "code": "request.invalid"},
            },
            status_code=400,
        )
    writer = getattr(request.app.state, "metrics", None)
    status, envelope = await models.test_call(
        platform, principal, project_id, model_id, value, writer
    )
    return JSONResponse(envelope, status_code=status)


@router.post("/projects/{project_id}/models/{model_id}/builds/new")
def new_build(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    model_id: str,
    file_path: Annotated[str, Form()] = "",
    function_name: Annotated[str, Form()] = "",
    example: Annotated[str, Form()] = "",
    deploy: Annotated[str, Form()] = "",
    registered_model_version_id: Annotated[str, Form()] = "",
) -> Response:
    model = models.get(platform, principal, project_id, model_id)
    try:
        value = _example(example)
        auto = {}
        if deploy == "on":
            auto = {
                "cpu": model.default_cpu,
                "memory_mb": model.default_memory_mb,
                "replicas": model.default_replicas,
            }
        model_builds.create(
            platform,
            principal,
            project_id,
            model_id,
            model_builds.BuildFields(
                file_path=file_path,
                function_name=function_name,
                registered_model_version_id=registered_model_version_id,
                examples=[{"request": value}] if value is not None else [],
                auto_deploy=auto,
            ),
        )
        flash(request, "A new build started.")
    except LakeworksError as exc:
        form_error(request, exc)
        flash(request, exc.message, "error")
    return redirect(model_url(project_id, model_id))


@router.post("/projects/{project_id}/models/{model_id}/builds/{build_id}/deploy")
def deploy_build(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    model_id: str,
    build_id: str,
    replicas: Annotated[str, Form()] = "1",
    cpu: Annotated[str, Form()] = "1",
    memory_gb: Annotated[str, Form()] = "2",
) -> Response:
    try:
        model_deployments.create(
            platform,
            principal,
            project_id,
            model_id,
            build_id,
            model_deployments.DeploymentFields(
                cpu=_number(cpu, "vCPU"),
                memory_mb=bounds.memory_mb(_number(memory_gb, "Memory")),
                replicas=_number(replicas, "Replicas", int),
            ),
        )
        flash(request, "Deploying the build; the current deployment serves until it is ready.")
    except LakeworksError as exc:
        form_error(request, exc)
        flash(request, exc.message, "error")
    return redirect(model_url(project_id, model_id))


@router.post("/projects/{project_id}/models/{model_id}/deployments/{deployment_id}/{verb}")
def deployment_action(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    model_id: str,
    deployment_id: str,
    verb: str,
) -> Response:
    actions = {"stop": model_deployments.stop, "restart": model_deployments.restart}
    action = actions.get(verb)
    if action is None:
        raise InvalidInput(f"Deployments cannot {verb!r}.")
    try:
        action(platform, principal, project_id, model_id, deployment_id)
        flash(
            request,
            "Stopping the deployment." if verb == "stop" else "Restarting replica by replica.",
        )
    except LakeworksError as exc:
        form_error(request, exc)
        flash(request, exc.message, "error")
    return redirect(model_url(project_id, model_id))


@router.post("/projects/{project_id}/models/{model_id}/regenerate-key")
def regenerate_key(
    request: Request, platform: PlatformDep, principal: FormUserDep, project_id: str, model_id: str
) -> Response:
    models.regenerate_key(platform, principal, project_id, model_id)
    flash(request, "A new access key is active; the old one no longer works.")
    return redirect(model_url(project_id, model_id))


@router.post("/projects/{project_id}/models/{model_id}/auth")
def switch_auth(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    model_id: str,
    auth_enabled: Annotated[str, Form()] = "",
) -> Response:
    on = auth_enabled == "on"
    models.update(platform, principal, project_id, model_id, {"auth_enabled": on})
    flash(request, "Calls now need an API key." if on else "Calls no longer need an API key.")
    return redirect(model_url(project_id, model_id))


@router.post("/projects/{project_id}/models/{model_id}/delete")
def delete_model(
    request: Request, platform: PlatformDep, principal: FormUserDep, project_id: str, model_id: str
) -> Response:
    model = models.get(platform, principal, project_id, model_id)
    models.delete(platform, principal, project_id, model_id)
    flash(request, f"Model {model.name!r} was deleted.")
    return redirect(f"/projects/{project_id}/models")


@router.get("/projects/{project_id}/models/{model_id}/builds/{build_id}/log")
def build_log(
    platform: PlatformDep, principal: UserDep, project_id: str, model_id: str, build_id: str
) -> PlainTextResponse:
    text = model_builds.build_log(platform, principal, project_id, model_id, build_id)
    return PlainTextResponse(text or "No output yet.")


@router.get("/projects/{project_id}/models/{model_id}/replicas/{workload_id}/log")
def replica_log(
    platform: PlatformDep, principal: UserDep, project_id: str, model_id: str, workload_id: str
) -> PlainTextResponse:
    text, _ = model_deployments.replica_log(platform, principal, project_id, model_id, workload_id)
    return PlainTextResponse(text[-LOG_TAIL:] or "No output yet.")
