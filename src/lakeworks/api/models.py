"""/api/v2 models, builds and deployments (CML compat §6.6, §6.7, §7)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from lakeworks import bounds
from lakeworks.api import responses
from lakeworks.api.deps import PlatformDep, PrincipalDep
from lakeworks.api.listing import ListParams, list_params, parse_filter, parse_page
from lakeworks.api.schemas import (
    Cpu,
    EnvironmentIn,
    Lenient,
    MemoryGiB,
    Name,
    Replicas,
    RequestTimeout,
    Text,
    parse_environment,
    rfc3339,
)
from lakeworks.api.strict_json import StrictJSONRoute
from lakeworks.entities.models import Model, ModelBuild, ModelDeployment
from lakeworks.errors import InvalidInput, NotFound
from lakeworks.services import model_builds, model_deployments, model_drift, models
from lakeworks.services.platform import Platform

router = APIRouter(tags=["models"], route_class=StrictJSONRoute)

DEFAULT_PAGE = 100


class ModelIn(Lenient):
    """CreateModelRequest and the PATCH body of update_model."""

    name: Name | None = None
    description: Text | None = None
    disable_authentication: bool | None = None
    auth_enabled: bool | None = None
    registered_model_id: Name | None = None
    cpu: Cpu = None
    memory: MemoryGiB = None
    replicas: Replicas = None

    def auth(self) -> bool | None:
        if self.auth_enabled is not None and "auth_enabled" in self.model_fields_set:
            return self.auth_enabled
        if self.disable_authentication is not None:
            return not self.disable_authentication
        return None


class BuildIn(Lenient):
    """CreateModelBuildRequest (file-based or ``registered_model_version_id``)."""

    comment: Text | None = None
    file_path: Text | None = None
    function_name: Name | None = None
    kernel: Name | None = None
    runtime_identifier: Name | None = None
    registered_model_version_id: Name | None = None
    build_script_path: Text | None = None
    model_root_dir: Text | None = None
    examples: list[Any] | None = None
    example_input: Any = None
    auto_deploy_model: bool | None = None
    auto_deployment_config: dict[str, Any] | None = None


class DeploymentIn(Lenient):
    """CreateModelDeploymentRequest: cpu (vCPU), memory (GB), replicas, environment."""

    cpu: Cpu = None
    memory: MemoryGiB = None
    replicas: Replicas = None
    environment: EnvironmentIn = None
    timeout: RequestTimeout = None


def _user(name: str) -> dict[str, str]:
    return {"username": name, "name": name, "email": ""}


def model_out(platform: Platform, model: Model) -> dict[str, Any]:
    return {
        "id": model.id,
        "name": model.name,
        "description": model.description,
        "creator": _user(model.creator_username),
        "crn": model.crn,
        "access_key": models.access_key(platform, model),
        "auth_enabled": model.auth_enabled,
        "deletion_status": "",
        "project": {"public_identifier": model.project_id},
        "project_id": model.project_id,
        "registered_model_id": model.registered_model_id,
        "visibility": "private",
        "default_resources": {
            "cpu_millicores": int(model.default_cpu * 1000),
            "memory_mb": model.default_memory_mb,
            "nvidia_gpus": 0,
        },
        "default_replication_policy": {"type": "fixed", "num_replicas": model.default_replicas},
        "run_as": 0,
        "created_at": rfc3339(model.created_at),
        "updated_at": rfc3339(model.updated_at),
    }


def build_out(build: ModelBuild) -> dict[str, Any]:
    return {
        "id": build.id,
        "model_id": build.model_id,
        "project_id": build.project_id,
        "crn": build.crn,
        "creator": _user(build.creator_username),
        "comment": build.comment,
        "file_path": build.file_path,
        "function_name": build.function_name,
        "engine_image": "",
        "kernel": "python3",
        "runtime_identifier": build.runtime_identifier,
        "runtime_addon_identifiers": [],
        "registered_model_version_id": build.registered_model_version_id,
        "model_root_dir": "",
        "build_script_path": build.build_script_path,
        "status": build.status.value,
        "failure_reason": build.reason,
        "built_at": rfc3339(build.built_at),
        "deletion_status": "",
        "examples": build.examples,
        "created_at": rfc3339(build.created_at),
        "updated_at": rfc3339(build.updated_at),
    }


def deployment_out(deployment: ModelDeployment) -> dict[str, Any]:
    return {
        "id": deployment.id,
        "crn": deployment.crn,
        "project_id": deployment.project_id,
        "model_id": deployment.model_id,
        "build_id": deployment.build_id,
        "cpu": deployment.cpu,
        "memory": deployment.memory_mb / 1024,
        "nvidia_gpu": 0,
        "replicas": deployment.replicas,
        "environment": json.dumps(deployment.environment),
        "status": deployment.status.value,
        "failure_reason": deployment.reason,
        "deployer": _user(deployment.deployer_username),
        "timeout": deployment.timeout_seconds,
        "created_at": rfc3339(deployment.created_at),
        "updated_at": rfc3339(deployment.updated_at),
        "stopped_at": rfc3339(deployment.stopped_at),
    }


def _page(items: list[Any], params: ListParams, key: str, out: Any) -> dict[str, Any]:
    page = parse_page(params.page_size, params.page_token, DEFAULT_PAGE)
    chunk = items[page.offset : page.offset + page.size]
    return {
        key: [out(i) for i in chunk],
        "next_page_token": page.next_token(page.offset + page.size < len(items)),
    }


def _filtered(items: list[Model], params: ListParams) -> list[Model]:
    for key, value in parse_filter(params.search_filter).items():
        if key not in ("name", "description", "id", "crn", "access_key"):
            raise InvalidInput(f"Models cannot be filtered by {key!r}.")
        if key == "name":
            items = [m for m in items if value.lower() in m.name.lower()]
        elif key == "description":
            items = [m for m in items if value.lower() in m.description.lower()]
        elif key == "id":
            items = [m for m in items if m.id == value]
        elif key == "crn":
            items = [m for m in items if m.crn == value]
        else:
            items = [m for m in items if m.access_key_hash == models.hash_access_key(value)]
    return items


@router.get("/models", operation_id="list_all_models", response_model=responses.ListModelsResponse)
def list_all_models(
    platform: PlatformDep,
    principal: PrincipalDep,
    params: Annotated[ListParams, Depends(list_params)],
) -> dict[str, Any]:
    items = _filtered(models.list_all(platform, principal), params)
    return _page(items, params, "models", lambda m: model_out(platform, m))


@router.get(
    "/projects/{project_id}/models",
    operation_id="list_models",
    response_model=responses.ListModelsResponse,
)
def list_models(
    project_id: str,
    platform: PlatformDep,
    principal: PrincipalDep,
    params: Annotated[ListParams, Depends(list_params)],
) -> dict[str, Any]:
    items = _filtered(models.list_models(platform, principal, project_id), params)
    return _page(items, params, "models", lambda m: model_out(platform, m))


@router.post(
    "/projects/{project_id}/models", operation_id="create_model", response_model=responses.Model
)
def create_model(
    project_id: str, body: ModelIn, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    auth = body.auth()
    fields = models.ModelFields(
        name=body.name or "",
        description=body.description or "",
        auth_enabled=True if auth is None else auth,
        registered_model_id=body.registered_model_id or "",
        default_cpu=body.cpu or 1.0,
        default_memory_mb=round((body.memory or 2) * 1024),
        default_replicas=body.replicas or 1,
    )
    return model_out(platform, models.create(platform, principal, project_id, fields))


@router.get(
    "/projects/{project_id}/models/{model_id}",
    operation_id="get_model",
    response_model=responses.Model,
)
def get_model(
    project_id: str, model_id: str, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    return model_out(platform, models.get(platform, principal, project_id, model_id))


@router.get(
    "/projects/{project_id}/models/{model_id}/drift",
    operation_id="get_model_drift",
    response_model=responses.ModelDrift,
)
def get_model_drift(
    project_id: str,
    model_id: str,
    platform: PlatformDep,
    principal: PrincipalDep,
    threshold: Annotated[
        float, Query(gt=0, le=10, description="PSI above which a feature has drifted.")
    ] = 0.2,
    recent: Annotated[
        int, Query(ge=1, le=model_drift.MAX_RECENT, description="Newest predictions compared.")
    ] = model_drift.DEFAULT_RECENT,
) -> dict[str, Any]:
    """Lakeworks: PSI and KS per numeric feature, the serving build's training sample
    (``training_sample.json``) against the newest predictions' ``input_data``."""
    return model_drift.model_drift(
        platform, principal, project_id, model_id, threshold=threshold, recent=recent
    ).as_json()


@router.patch(
    "/projects/{project_id}/models/{model_id}",
    operation_id="update_model",
    response_model=responses.Model,
)
def update_model(
    project_id: str, model_id: str, body: ModelIn, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if "name" in body.model_fields_set and body.name:
        changes["name"] = body.name
    if "description" in body.model_fields_set and body.description is not None:
        changes["description"] = body.description
    if body.auth() is not None:
        changes["auth_enabled"] = body.auth()
    return model_out(platform, models.update(platform, principal, project_id, model_id, changes))


@router.delete(
    "/projects/{project_id}/models/{model_id}",
    operation_id="delete_model",
    response_model=responses.Deleted,
)
def delete_model(
    project_id: str, model_id: str, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    models.delete(platform, principal, project_id, model_id)
    return {}


@router.post(
    "/projects/{project_id}/models/{model_id}:regenerateAccessKey",
    operation_id="regenerate_model_access_key",
    response_model=responses.Model,
)
def regenerate_key(
    project_id: str, model_id: str, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    return model_out(platform, models.regenerate_key(platform, principal, project_id, model_id))


# Builds -----------------------------------------------------------------------------------


@router.get(
    "/projects/{project_id}/models/{model_id}/builds",
    operation_id="list_model_builds",
    response_model=responses.ListModelBuildsResponse,
)
def list_builds(
    project_id: str,
    model_id: str,
    platform: PlatformDep,
    principal: PrincipalDep,
    params: Annotated[ListParams, Depends(list_params)],
) -> dict[str, Any]:
    items = model_builds.list_builds(platform, principal, project_id, model_id)
    return _page(items, params, "model_builds", build_out)


def _examples(body: BuildIn) -> list[dict[str, Any]]:
    out = []
    for example in body.examples or []:
        out.append(
            example if isinstance(example, dict) and "request" in example else {"request": example}
        )
    if body.example_input is not None:
        value = body.example_input
        if isinstance(value, str) and value.strip():
            try:
                value = bounds.loads(value)
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"The example input is not JSON: {exc}") from exc
        if value != "":
            out.insert(0, {"request": value})
    return out


def _auto_deploy(body: BuildIn) -> dict[str, Any]:
    if not body.auto_deploy_model:
        return {}
    config = body.auto_deployment_config or {}
    try:
        fields = model_deployments.DeploymentFields(
            cpu=float(config.get("cpu") or 1),
            memory_mb=bounds.memory_mb(float(config.get("memory") or 2)),
            replicas=int(config.get("replicas") or 1),
            environment={
                str(k): str(v)
                for k, v in (parse_environment(config.get("environment")) or {}).items()
            },
        )
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInput(f"auto_deployment_config is not valid: {exc}") from exc
    model_deployments.check(fields)
    return {
        "cpu": fields.cpu,
        "memory_mb": fields.memory_mb,
        "replicas": fields.replicas,
        "environment": dict(fields.environment),
    }


@router.post(
    "/projects/{project_id}/models/{model_id}/builds",
    operation_id="create_model_build",
    response_model=responses.ModelBuild,
)
def create_build(
    project_id: str, model_id: str, body: BuildIn, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    fields = model_builds.BuildFields(
        file_path=body.file_path or "",
        function_name=body.function_name or "",
        runtime_identifier=body.runtime_identifier or "",
        comment=body.comment or "",
        registered_model_version_id=body.registered_model_version_id or "",
        build_script_path=body.build_script_path or "cdsw-build.sh",
        examples=_examples(body),
        auto_deploy=_auto_deploy(body),
    )
    return build_out(model_builds.create(platform, principal, project_id, model_id, fields))


@router.get(
    "/projects/{project_id}/models/{model_id}/builds/{build_id}",
    operation_id="get_model_build",
    response_model=responses.ModelBuild,
)
def get_build(
    project_id: str, model_id: str, build_id: str, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    return build_out(model_builds.get(platform, principal, project_id, model_id, build_id))


@router.get(
    "/projects/{project_id}/models/{model_id}/builds/{build_id}/logs",
    operation_id="get_model_build_logs",
    response_model=responses.ModelBuildLog,
)
def build_logs(
    project_id: str, model_id: str, build_id: str, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    return {"logs": model_builds.build_log(platform, principal, project_id, model_id, build_id)}


# Deployments ------------------------------------------------------------------------------


@router.get(
    "/projects/{project_id}/models/{model_id}/builds/{build_id}/deployments",
    operation_id="list_model_deployments",
    response_model=responses.ListModelDeploymentsResponse,
)
def list_deployments(
    project_id: str,
    model_id: str,
    build_id: str,
    platform: PlatformDep,
    principal: PrincipalDep,
    params: Annotated[ListParams, Depends(list_params)],
) -> dict[str, Any]:
    items = model_deployments.list_deployments(platform, principal, project_id, model_id, build_id)
    return _page(items, params, "model_deployments", deployment_out)


@router.post(
    "/projects/{project_id}/models/{model_id}/builds/{build_id}/deployments",
    operation_id="create_model_deployment",
    response_model=responses.ModelDeployment,
)
def create_deployment(
    project_id: str,
    model_id: str,
    build_id: str,
    body: DeploymentIn,
    platform: PlatformDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    fields = model_deployments.DeploymentFields(
        cpu=body.cpu if body.cpu is not None else 1.0,
        memory_mb=round((body.memory if body.memory is not None else 2) * 1024),
        replicas=body.replicas if body.replicas is not None else 1,
        environment={k: str(v) for k, v in (body.environment or {}).items()},
        timeout_seconds=body.timeout or 0.0,
    )
    deployment = model_deployments.create(
        platform, principal, project_id, model_id, build_id, fields
    )
    return deployment_out(deployment)


def _deployment_path(verb: str = "") -> str:
    return (
        "/projects/{project_id}/models/{model_id}/builds/{build_id}/deployments/{deployment_id}"
        + verb
    )


@dataclass(frozen=True)
class DeploymentRef:
    """A deployment named by its path, checked to exist under that build and be readable."""

    project_id: str
    model_id: str
    deployment: ModelDeployment


def deployment_ref(
    project_id: str,
    model_id: str,
    build_id: str,
    deployment_id: str,
    platform: PlatformDep,
    principal: PrincipalDep,
) -> DeploymentRef:
    deployment = model_deployments.get(platform, principal, project_id, model_id, deployment_id)
    if deployment.build_id != build_id:
        raise NotFound(f"Deployment {deployment.id!r} not found.")
    return DeploymentRef(project_id, model_id, deployment)


DeploymentDep = Annotated[DeploymentRef, Depends(deployment_ref)]


@router.get(
    _deployment_path(),
    operation_id="get_model_deployment",
    response_model=responses.ModelDeployment,
)
def get_deployment(ref: DeploymentDep) -> dict[str, Any]:
    return deployment_out(ref.deployment)


@router.post(
    _deployment_path(":stop"),
    operation_id="stop_model_deployment",
    response_model=responses.ModelDeployment,
)
def stop_deployment(
    ref: DeploymentDep, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    return deployment_out(
        model_deployments.stop(platform, principal, ref.project_id, ref.model_id, ref.deployment.id)
    )


@router.post(
    _deployment_path(":restart"),
    operation_id="restart_model_deployment",
    response_model=responses.ModelDeployment,
)
def restart_deployment(
    ref: DeploymentDep, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    return deployment_out(
        model_deployments.restart(
            platform, principal, ref.project_id, ref.model_id, ref.deployment.id
        )
    )


@router.get(
    _deployment_path("/replicas"),
    operation_id="list_model_replicas",
    response_model=responses.ListModelReplicasResponse,
)
def list_replicas(
    ref: DeploymentDep, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    views = model_deployments.replicas(
        platform, principal, ref.project_id, ref.model_id, ref.deployment.id
    )
    return {
        "replicas": [
            {
                "id": v.replica.workload_id,
                "slot": v.replica.slot,
                "state": v.state,
                "ready": v.replica.ready,
                "restarts": v.replica.restarts,
                "created_at": rfc3339(v.replica.created_at),
            }
            for v in views
        ]
    }
