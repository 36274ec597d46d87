"""Models: a named endpoint of a project, selected by its access key (CML compat §5, §7).

Access keys: 32 lowercase alphanumerics, generated at create time, stable until regenerated.
The gateway looks keys up by their SHA-256 (``access_key_hash``, indexed and unique). The UI
and API v2 show the key (CML does: ``Model.access_key``, and the sample code embeds it), so the
key is also kept *sealed* with the server's secret key (``services.sealing``): a copy of the
database alone does not reveal keys.
"""

from __future__ import annotations

import hashlib
import secrets
import string
import uuid
from dataclasses import dataclass
from typing import Any

from lakeworks import bounds
from lakeworks.entities.models import DeploymentStatus, Model
from lakeworks.errors import Conflict, InvalidInput, InvalidState, NotFound
from lakeworks.services import sealing, workloads
from lakeworks.services.permissions import Action, require
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.uow import UnitOfWork

_KEY_ALPHABET = string.ascii_lowercase + string.digits
NAME_MAX = bounds.MAX_NAME


def new_access_key() -> str:
    return "".join(secrets.choice(_KEY_ALPHABET) for _ in range(32))


def hash_access_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


ACCESS_KEY_PURPOSE = "model-access-key"


def seal(platform: Platform, key: str) -> str:
    return sealing.seal(platform.settings, ACCESS_KEY_PURPOSE, key)


def unseal(platform: Platform, sealed: str) -> str:
    return sealing.unseal(platform.settings, ACCESS_KEY_PURPOSE, sealed)


def access_key(platform: Platform, model: Model) -> str:
    """The model's access key in clear (for API v2 ``access_key`` and the sample code)."""
    try:
        key = unseal(platform, model.access_key_sealed)
    except sealing.Unsealable:
        return ""
    # A changed server secret key cannot unseal: say nothing rather than show garbage.
    return key if hash_access_key(key) == model.access_key_hash else ""


@dataclass(frozen=True)
class ModelFields:
    name: str
    description: str = ""
    auth_enabled: bool = True
    registered_model_id: str = ""
    default_cpu: float = 1.0
    default_memory_mb: int = 2048
    default_replicas: int = 1


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise InvalidInput("A model needs a name.")
    if len(name) > NAME_MAX:
        raise InvalidInput(f"A model name has at most {NAME_MAX} characters.")
    return name


def model_of(uow: UnitOfWork, project_id: str, model_id: str) -> Model:
    model = uow.models.get(model_id)
    if model is None or model.project_id != project_id:
        raise NotFound(f"Model {model_id!r} not found.")
    return model


def create(platform: Platform, principal: Principal, project_id: str, fields: ModelFields) -> Model:
    """Create a model; its access key is generated now (``access_key(platform, model)``)."""
    name = _check_name(fields.name)
    bounds.check_text("description", fields.description or "")
    bounds.check_resources(fields.default_cpu, fields.default_memory_mb)
    bounds.check_range("replicas", fields.default_replicas, 1, bounds.MAX_REPLICAS)
    with platform.command(principal, "model.create", target=name, project_id=project_id) as cmd:
        require(cmd.uow, principal, project_id, Action.CREATE_WORKLOADS)
        if cmd.uow.models.by_name(project_id, name) is not None:
            raise Conflict(f"The project already has a model named {name!r}.")
        key = new_access_key()
        model = cmd.uow.models.add(
            id=str(uuid.uuid4()),
            project_id=project_id,
            name=name,
            description=fields.description or "",
            auth_enabled=fields.auth_enabled,
            access_key_hash=hash_access_key(key),
            access_key_sealed=seal(platform, key),
            creator_id=principal.user.id,
            registered_model_id=fields.registered_model_id or "",
            default_cpu=fields.default_cpu,
            default_memory_mb=fields.default_memory_mb,
            default_replicas=fields.default_replicas,
        )
        cmd.target = model.id
        cmd.detail = {"name": name, "auth_enabled": fields.auth_enabled}
    return get(platform, principal, project_id, model.id)


def get(platform: Platform, principal: Principal, project_id: str, model_id: str) -> Model:
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        return model_of(uow, project_id, model_id)


def list_models(platform: Platform, principal: Principal, project_id: str) -> list[Model]:
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        return uow.models.of_project(project_id)


def list_all(platform: Platform, principal: Principal) -> list[Model]:
    """Every model the principal can read (API v2 ``GET /models``)."""
    from lakeworks.services.permissions import effective_role

    with platform.read() as uow:
        out = []
        readable: dict[str, bool] = {}
        for model in uow.models.of_project(None):
            if model.project_id not in readable:
                project = uow.projects.get(model.project_id)
                readable[model.project_id] = project is not None and (
                    effective_role(uow, principal, project) is not None
                )
            if readable[model.project_id]:
                out.append(model)
        return out


def update(
    platform: Platform,
    principal: Principal,
    project_id: str,
    model_id: str,
    changes: dict[str, Any],
) -> Model:
    """PATCH: ``name``, ``description``, ``auth_enabled``; other keys are ignored."""
    with platform.command(principal, "model.update", target=model_id, project_id=project_id) as cmd:
        require(cmd.uow, principal, project_id, Action.CREATE_WORKLOADS)
        model = model_of(cmd.uow, project_id, model_id)
        values: dict[str, Any] = {}
        if changes.get("name") is not None:
            name = _check_name(changes["name"])
            other = cmd.uow.models.by_name(project_id, name)
            if other is not None and other.id != model.id:
                raise Conflict(f"The project already has a model named {name!r}.")
            values["name"] = name
        if changes.get("description") is not None:
            values["description"] = str(changes["description"])
        if changes.get("auth_enabled") is not None:
            values["auth_enabled"] = bool(changes["auth_enabled"])
        if values:
            cmd.uow.models.update(model_id, **values)
        cmd.detail = {k: str(v) for k, v in values.items()}
    platform.models_changed()
    return get(platform, principal, project_id, model_id)


def regenerate_key(
    platform: Platform, principal: Principal, project_id: str, model_id: str
) -> Model:
    """A new access key; the old one stops working at once (in this process; others within
    the route cache's lifetime)."""
    with platform.command(
        principal, "model.regenerate_key", target=model_id, project_id=project_id
    ) as cmd:
        require(cmd.uow, principal, project_id, Action.CREATE_WORKLOADS)
        model_of(cmd.uow, project_id, model_id)
        key = new_access_key()
        cmd.uow.models.update(
            model_id, access_key_hash=hash_access_key(key), access_key_sealed=seal(platform, key)
        )
    platform.models_changed()
    return get(platform, principal, project_id, model_id)


def delete(platform: Platform, principal: Principal, project_id: str, model_id: str) -> None:
    """Delete a model with its builds and deployments; running replicas are stopped."""
    with platform.command(principal, "model.delete", target=model_id, project_id=project_id) as cmd:
        require(cmd.uow, principal, project_id, Action.CREATE_WORKLOADS)
        model = model_of(cmd.uow, project_id, model_id)
        cmd.detail = {"name": model.name}
        to_stop = []
        for deployment in cmd.uow.models.deployments_of(model_id):
            to_stop += [r.workload_id for r in cmd.uow.models.replicas_of(deployment.id)]
        builds = [b.workload_id for b in cmd.uow.models.builds_of(model_id) if b.workload_id]
        cmd.uow.models.delete(model_id)
        # Its predictions and request samples go with it (they hold no foreign key, so
        # the metrics writer's inserts stay cheap).
        cmd.uow.model_metrics.delete_model([model_id])
    platform.models_changed()
    for workload_id in to_stop + builds:
        workloads.request_stop(platform, workload_id, "its model was deleted")


def list_statuses(platform: Platform, found: list[Model]) -> dict[str, str]:
    """What a list of models shows for each (models the caller already may read): its newest
    deployment's status, else its newest build's, else "no build"; one read for all."""
    out = {}
    with platform.read() as uow:
        for model in found:
            deployments = uow.models.deployments_of(model.id)
            builds = [] if deployments else uow.models.builds_of(model.id)
            if deployments:
                out[model.id] = deployments[-1].status.value
            elif builds:
                out[model.id] = builds[-1].status.value
            else:
                out[model.id] = "no build"
    return out


def serving_deployment_status(uow: UnitOfWork, model_id: str) -> DeploymentStatus | None:
    """The status of the model's newest deployment (for lists), or None."""
    deployments = uow.models.deployments_of(model_id)
    return deployments[-1].status if deployments else None


async def test_call(
    platform: Platform,
    principal: Principal,
    project_id: str,
    model_id: str,
    request: Any,
    writer: Any = None,
) -> tuple[int, dict[str, Any]]:
    """Call a model as its Test tab does, for someone who may read its project: (status,
    envelope), counted in monitoring like any other call."""
    model = get(platform, principal, project_id, model_id)
    if platform.model_caller is None:
        raise InvalidState("The model gateway does not run in this process.")
    return await platform.model_caller.test_call(model.access_key_hash, request, writer)
