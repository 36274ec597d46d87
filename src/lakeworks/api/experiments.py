"""/api/v2 experiments, experiment runs and the model registry (CML shapes, backed by MLflow).

Ids are MLflow's own: an experiment or run id read from ``mlflow`` works here and back. A
registered model's ``model_id`` and a version's ``model_version_id`` are Lakeworks ids kept as
MLflow tags (see ``tracking/registry.py``).
"""

from __future__ import annotations

import math
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import field_validator

from lakeworks.api import responses
from lakeworks.api.deps import PlatformDep, PrincipalDep
from lakeworks.api.listing import ListParams, list_params, parse_filter, parse_page, parse_sort
from lakeworks.api.schemas import EpochMillis, Lenient, rfc3339
from lakeworks.api.strict_json import StrictJSONRoute
from lakeworks.entities.experiments import (
    Experiment,
    ExperimentRun,
    Metric,
    ModelVersion,
    RegisteredModel,
)
from lakeworks.errors import InvalidInput
from lakeworks.services import experiments

router = APIRouter(tags=["experiments"], route_class=StrictJSONRoute)

DEFAULT_PAGE = 100  # nested lists: scripts index [-1] as "newest" (compat §6.4)


# Bodies ---------------------------------------------------------------------------------


class ExperimentIn(Lenient):
    name: str | None = None


class KeyValue(Lenient):
    key: str
    value: Any = ""


class MetricIn(Lenient):
    key: str
    value: float
    timestamp: int | None = None
    step: int = 0


def _pairs(value: Any) -> list[dict[str, Any]] | None:
    # CML sends lists of {key, value}; a plain object is accepted too.
    if isinstance(value, dict):
        return [{"key": k, "value": v} for k, v in value.items()]
    return value


class RunIn(Lenient):
    name: str | None = None
    tags: list[KeyValue] | None = None

    _tags = field_validator("tags", mode="before")(lambda cls, v: _pairs(v))


class RunUpdateIn(Lenient):
    name: str | None = None
    status: str | None = None
    end_time: EpochMillis = None


class DeleteBatchIn(Lenient):
    run_ids: list[str]


class RegisteredModelUpdate(Lenient):
    description: str | None = None


class LogBatchIn(Lenient):
    metrics: list[MetricIn] | None = None
    params: list[KeyValue] | None = None
    tags: list[KeyValue] | None = None

    _pairs = field_validator("params", "tags", mode="before")(lambda cls, v: _pairs(v))


class RegisteredModelIn(Lenient):
    project_id: str = ""
    experiment_id: str = ""
    run_id: str = ""
    model_name: str = ""
    model_path: str = ""
    description: str = ""

    @field_validator("experiment_id", "run_id", "project_id", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str:
        return "" if value is None else str(value)


# Responses ------------------------------------------------------------------------------


def _pairs_out(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in sorted(values.items())]


def experiment_out(e: Experiment) -> dict[str, Any]:
    return {
        "id": e.id,
        "project_id": e.project_id,
        "name": e.name,
        "artifact_location": e.artifact_location,
        "lifecycle_stage": e.lifecycle_stage,
        "created_at": rfc3339(e.created_at),
        "updated_at": rfc3339(e.updated_at),
        "tags": _pairs_out(e.tags),
        "user": {"username": e.tags.get("mlflow.user", ""), "name": "", "email": ""},
    }


def _double(value: float) -> float | str:
    # A workload's MLflow client may log NaN or Infinity (a diverged loss); JSON has no such
    # numbers, so they go out as protobuf's JSON mapping writes them: "NaN", "Infinity".
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def metric_out(m: Metric) -> dict[str, Any]:
    return {
        "key": m.key,
        "value": _double(m.value),
        "timestamp": str(m.timestamp),
        "step": str(m.step),
    }


def run_out(r: ExperimentRun) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "experiment_id": r.experiment_id,
        "user": {"username": r.user, "name": r.user, "email": ""},
        "status": r.status,
        "lifecycle_stage": r.lifecycle_stage,
        "start_time": str(r.start_time or 0),
        "end_time": str(r.end_time or 0),
        "artifact_uri": r.artifact_uri,
        "data": {
            "metrics": [metric_out(m) for m in r.metrics],
            "params": _pairs_out(r.params),
            "tags": _pairs_out(r.tags),
            "files": [],
            "registered_model_metadata": [],
        },
        "inputs": {"dataset_inputs": []},
    }


def version_out(
    v: ModelVersion, project_id: str, experiment_id: str, base_url: str
) -> dict[str, Any]:
    return {
        "model_version_id": v.id,
        "version_name": f"{v.model_name}/{v.number}",
        "number": int(v.number),
        "notes": v.description,
        "user": {"username": v.user, "name": v.user, "email": ""},
        "status": v.status,
        "tags": _pairs_out({k: t for k, t in v.tags.items() if not k.startswith("lakeworks.")}),
        "error_message": "",
        "created_at": rfc3339(v.created_at),
        "model_version_metadata": {
            "mlops_type": "MLFLOW",
            "workspace_url": base_url,
            "project_id": project_id,
            "owner": v.user,
            "mlflow_metadata": {
                "experiment_id": experiment_id,
                "run_id": v.run_id,
                "source": v.source,
                "metrics": [],
                "params": [],
                "tags": [],
            },
        },
    }


def model_out(m: RegisteredModel, platform: Any) -> dict[str, Any]:
    base = platform.settings.base_url
    return {
        "model_id": m.id,
        "name": m.name,
        "description": m.description,
        "owner": {"username": "", "name": "", "email": ""},
        "permission": "",
        "visibility": "PRIVATE",
        "project_id": m.project_id,
        "created_at": rfc3339(m.created_at),
        "updated_at": rfc3339(m.updated_at),
        "model_versions": [
            version_out(v, m.project_id, experiments.experiment_of_run(platform, v.run_id), base)
            for v in m.versions
        ],
    }


def _listing(
    items: list[Any], params: ListParams, key: str, out: Any, fields: dict[str, Any]
) -> dict[str, Any]:
    """Filter (substring for names, exact otherwise), sort, page."""
    page = parse_page(params.page_size, params.page_token, DEFAULT_PAGE)
    for name, wanted in parse_filter(params.search_filter).items():
        if name not in fields:
            raise InvalidInput(f"Cannot filter by {name!r}; use one of {sorted(fields)}.")
        get, substring = fields[name]
        if substring:
            items = [i for i in items if wanted.lower() in str(get(i)).lower()]
        else:
            items = [i for i in items if str(get(i)) == wanted]
    for name, ascending in reversed(parse_sort(params.sort)):
        if name not in fields:
            raise InvalidInput(f"Cannot sort by {name!r}; use one of {sorted(fields)}.")
        items = sorted(items, key=lambda i: str(fields[name][0](i)), reverse=not ascending)
    chunk = items[page.offset : page.offset + page.size]
    return {
        key: [out(i) for i in chunk],
        "next_page_token": page.next_token(page.offset + page.size < len(items)),
    }


_EXPERIMENT_FIELDS = {
    "name": (lambda e: e.name, True),
    "status": (lambda e: e.lifecycle_stage, False),
    "created_at": (lambda e: rfc3339(e.created_at), False),
    "updated_at": (lambda e: rfc3339(e.updated_at), False),
    "creator.username": (lambda e: e.tags.get("mlflow.user", ""), False),
    "project_id": (lambda e: e.project_id, False),
}
_RUN_FIELDS = {
    "name": (lambda r: r.name, True),
    "status": (lambda r: r.status, False),
    "start_time": (lambda r: f"{r.start_time or 0:020d}", False),
    "created_at": (lambda r: f"{r.start_time or 0:020d}", False),
}


# Experiments ----------------------------------------------------------------------------


@router.get(
    "/experiments",
    operation_id="list_all_experiments",
    response_model=responses.ListExperimentsResponse,
)
def list_all_experiments(
    platform: PlatformDep,
    principal: PrincipalDep,
    params: Annotated[ListParams, Depends(list_params)],
) -> dict[str, Any]:
    found = experiments.list_all_experiments(platform, principal)
    return _listing(found, params, "experiments", experiment_out, _EXPERIMENT_FIELDS)


@router.get(
    "/projects/{project_id}/experiments",
    operation_id="list_experiments",
    response_model=responses.ListExperimentsResponse,
)
def list_experiments(
    project_id: str,
    platform: PlatformDep,
    principal: PrincipalDep,
    params: Annotated[ListParams, Depends(list_params)],
) -> dict[str, Any]:
    found = experiments.list_experiments(platform, principal, project_id)
    return _listing(found, params, "experiments", experiment_out, _EXPERIMENT_FIELDS)


@router.post(
    "/projects/{project_id}/experiments",
    operation_id="create_experiment",
    response_model=responses.Experiment,
)
def create_experiment(
    project_id: str, body: ExperimentIn, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    created = experiments.create_experiment(platform, principal, project_id, body.name or "")
    return experiment_out(created)


@router.get(
    "/projects/{project_id}/experiments/{experiment_id}",
    operation_id="get_experiment",
    response_model=responses.Experiment,
)
def get_experiment(
    project_id: str, experiment_id: str, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    return experiment_out(
        experiments.get_experiment(platform, principal, project_id, experiment_id)
    )


@router.patch(
    "/projects/{project_id}/experiments/{experiment_id}",
    operation_id="update_experiment",
    response_model=responses.Experiment,
)
def update_experiment(
    project_id: str,
    experiment_id: str,
    body: ExperimentIn,
    platform: PlatformDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    if not body.name:
        return get_experiment(project_id, experiment_id, platform, principal)
    renamed = experiments.rename_experiment(
        platform, principal, project_id, experiment_id, body.name
    )
    return experiment_out(renamed)


@router.delete(
    "/projects/{project_id}/experiments/{experiment_id}",
    operation_id="delete_experiment",
    response_model=responses.Deleted,
)
def delete_experiment(
    project_id: str, experiment_id: str, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    experiments.delete_experiment(platform, principal, project_id, experiment_id)
    return {}


# Runs -----------------------------------------------------------------------------------


@router.get(
    "/projects/{project_id}/experiments/{experiment_id}/runs",
    operation_id="list_experiment_runs",
    response_model=responses.ListExperimentRunsResponse,
)
def list_experiment_runs(
    project_id: str,
    experiment_id: str,
    platform: PlatformDep,
    principal: PrincipalDep,
    params: Annotated[ListParams, Depends(list_params)],
) -> dict[str, Any]:
    found = experiments.list_runs(platform, principal, project_id, experiment_id)
    return _listing(found, params, "experiment_runs", run_out, _RUN_FIELDS)


@router.post(
    "/projects/{project_id}/experiments/{experiment_id}/runs",
    operation_id="create_experiment_run",
    response_model=responses.ExperimentRun,
)
def create_experiment_run(
    project_id: str,
    experiment_id: str,
    body: RunIn,
    platform: PlatformDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    tags = {t.key: str(t.value) for t in body.tags or []}
    created = experiments.create_run(
        platform, principal, project_id, experiment_id, name=body.name or "", tags=tags
    )
    return run_out(created)


@router.get(
    "/projects/{project_id}/experiments/{experiment_id}/runs/{run_id}",
    operation_id="get_experiment_run",
    response_model=responses.ExperimentRun,
)
def get_experiment_run(
    project_id: str, experiment_id: str, run_id: str, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    return run_out(experiments.get_run(platform, principal, project_id, experiment_id, run_id))


@router.delete(
    "/projects/{project_id}/experiments/{experiment_id}/runs/{run_id}",
    operation_id="delete_experiment_run",
    response_model=responses.Deleted,
)
def delete_experiment_run(
    project_id: str, experiment_id: str, run_id: str, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    experiments.delete_run(platform, principal, project_id, experiment_id, run_id)
    return {}


@router.patch(
    "/projects/{project_id}/experiments/{experiment_id}/runs/{run_id}",
    operation_id="update_experiment_run",
    response_model=responses.ExperimentRun,
)
def update_experiment_run(
    project_id: str,
    experiment_id: str,
    run_id: str,
    body: RunUpdateIn,
    platform: PlatformDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """Rename a run, or end it (``status``, ``end_time`` in ms); absent fields are kept."""
    run = experiments.update_run(
        platform,
        principal,
        project_id,
        experiment_id,
        run_id,
        name=body.name,
        status=body.status or None,
        end_time=body.end_time,
    )
    return run_out(run)


@router.post(
    "/projects/{project_id}/experiments/{experiment_id}/runs:deletebatch",
    operation_id="delete_experiment_run_batch",
    response_model=responses.Deleted,
)
def delete_experiment_run_batch(
    project_id: str,
    experiment_id: str,
    body: DeleteBatchIn,
    platform: PlatformDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    if not body.run_ids:
        raise InvalidInput("run_ids names no run.")
    experiments.delete_runs(platform, principal, project_id, experiment_id, body.run_ids)
    return {}


@router.post(
    "/projects/{project_id}/experiments/{experiment_id}/runs/{run_id}:logbatch",
    operation_id="log_experiment_run_batch",
    response_model=responses.ExperimentRun,
)
def log_experiment_run_batch(
    project_id: str,
    experiment_id: str,
    run_id: str,
    body: LogBatchIn,
    platform: PlatformDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    now = int(time.time() * 1000)
    run = experiments.log_batch(
        platform,
        principal,
        project_id,
        experiment_id,
        run_id,
        metrics=[
            Metric(key=m.key, value=m.value, timestamp=m.timestamp or now, step=m.step)
            for m in body.metrics or []
        ],
        params={p.key: str(p.value) for p in body.params or []},
        tags={t.key: str(t.value) for t in body.tags or []},
    )
    return run_out(run)


@router.get(
    "/projects/{project_id}/experiments/{experiment_id}/runs/{run_id}/metrics/{metric_key}",
    operation_id="get_experiment_run_metrics",
    response_model=responses.GetExperimentRunMetricsResponse,
)
def get_experiment_run_metrics(
    project_id: str,
    experiment_id: str,
    run_id: str,
    metric_key: str,
    platform: PlatformDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    history = experiments.metric_history(
        platform, principal, project_id, experiment_id, run_id, metric_key
    )
    return {"metrics": [metric_out(m) for m in history]}


# Registry -------------------------------------------------------------------------------


@router.post(
    "/registry/models",
    operation_id="create_registered_model",
    response_model=responses.RegisteredModel,
)
def create_registered_model(
    body: RegisteredModelIn, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    missing = [
        name
        for name in ("project_id", "experiment_id", "run_id", "model_name", "model_path")
        if not getattr(body, name)
    ]
    if missing:
        raise InvalidInput(f"create_registered_model needs {', '.join(missing)}.")
    model, version = experiments.create_registered_model(
        platform,
        principal,
        project_id=body.project_id,
        experiment_id=body.experiment_id,
        run_id=body.run_id,
        model_name=body.model_name,
        model_path=body.model_path,
        description=body.description,
    )
    out = model_out(model, platform)
    # Callers read model_versions[0] as "the version just created" (compat §6.5).
    out["model_versions"] = [
        version_out(version, model.project_id, body.experiment_id, platform.settings.base_url)
    ] + [v for v in out["model_versions"] if v["model_version_id"] != version.id]
    return out


_MODEL_FIELDS = {
    "model_name": (lambda m: m.name, True),
    "name": (lambda m: m.name, True),
    "project_id": (lambda m: m.project_id, False),
    "created_at": (lambda m: rfc3339(m.created_at), False),
    "updated_at": (lambda m: rfc3339(m.updated_at), False),
    "creator_id": (lambda m: m.versions[0].user if m.versions else "", False),
    "version_number": (lambda m: m.versions[-1].number if m.versions else "", False),
}


@router.get(
    "/registry/models",
    operation_id="list_registered_models",
    response_model=responses.ListRegisteredModelsResponse,
)
def list_registered_models(
    platform: PlatformDep,
    principal: PrincipalDep,
    params: Annotated[ListParams, Depends(list_params)],
) -> dict[str, Any]:
    found = experiments.list_registered_models(platform, principal)
    return _listing(found, params, "models", lambda m: model_out(m, platform), _MODEL_FIELDS)


@router.get(
    "/registry/models/{model_id}",
    operation_id="get_registered_model",
    response_model=responses.RegisteredModel,
)
def get_registered_model(
    model_id: str, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    return model_out(experiments.get_registered_model(platform, principal, model_id), platform)


@router.delete(
    "/registry/models/{model_id}",
    operation_id="delete_registered_model",
    response_model=responses.Deleted,
)
def delete_registered_model(
    model_id: str, platform: PlatformDep, principal: PrincipalDep
) -> Response:
    experiments.delete_registered_model(platform, principal, model_id)
    return Response(status_code=200, content="{}", media_type="application/json")


@router.patch(
    "/registry/models/{model_id}",
    operation_id="update_registered_model",
    response_model=responses.RegisteredModel,
)
def update_registered_model(
    model_id: str, body: RegisteredModelUpdate, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Only the description changes (a model's name is its identity in MLflow's registry)."""
    if body.description is None:
        model = experiments.get_registered_model(platform, principal, model_id)
    else:
        model = experiments.update_registered_model(
            platform, principal, model_id, description=body.description
        )
    return model_out(model, platform)


@router.delete(
    "/registry/models/{model_id}/versions/{version_id}",
    operation_id="delete_registered_model_version",
    response_model=responses.Deleted,
)
def delete_registered_model_version(
    model_id: str, version_id: str, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    experiments.delete_model_version(platform, principal, model_id, version_id)
    return {}


@router.get(
    "/registry/models/{model_id}/versions/{version_id}",
    operation_id="get_registered_model_version",
    response_model=responses.RegisteredModelVersion,
)
def get_registered_model_version(
    model_id: str, version_id: str, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    model = experiments.get_registered_model(platform, principal, model_id)
    version = experiments.get_model_version(platform, principal, model_id, version_id)
    return version_out(
        version,
        model.project_id,
        experiments.experiment_of_run(platform, version.run_id),
        platform.settings.base_url,
    )
