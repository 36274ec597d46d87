"""MLflow entities → Lakeworks entities (the only place that reads MLflow's entity classes)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lakeworks.entities.experiments import (
    Experiment,
    ExperimentRun,
    Metric,
    ModelVersion,
    RegisteredModel,
)
from lakeworks.tracking.scope import MODEL_ID_TAG, PROJECT_TAG, VERSION_ID_TAG


def _time(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, tz=UTC) if ms else None


def experiment(value: Any) -> Experiment:
    return Experiment(
        id=str(value.experiment_id),
        project_id=value.tags.get(PROJECT_TAG, ""),
        name=value.name,
        artifact_location=value.artifact_location,
        lifecycle_stage=value.lifecycle_stage,
        created_at=_time(value.creation_time),
        updated_at=_time(value.last_update_time),
        tags=dict(value.tags),
    )


def run(value: Any, metrics: list[Any] | None = None) -> ExperimentRun:
    info, data = value.info, value.data
    recorded = metrics if metrics is not None else data._metric_objs
    return ExperimentRun(
        id=info.run_id,
        name=info.run_name or "",
        experiment_id=str(info.experiment_id),
        user=info.user_id or data.tags.get("mlflow.user", ""),
        status=info.status,
        start_time=info.start_time,
        end_time=info.end_time,
        artifact_uri=info.artifact_uri,
        lifecycle_stage=info.lifecycle_stage,
        metrics=[
            Metric(key=m.key, value=m.value, timestamp=m.timestamp, step=m.step) for m in recorded
        ],
        params=dict(data.params),
        tags=dict(data.tags),
    )


def model_version(value: Any) -> ModelVersion:
    tags = dict(value.tags or {})
    return ModelVersion(
        id=tags.get(VERSION_ID_TAG, ""),
        model_name=value.name,
        number=str(value.version),
        status=value.status or "",
        run_id=value.run_id or "",
        source=value.source or "",
        description=value.description or "",
        user=value.user_id or "",
        created_at=_time(value.creation_timestamp),
        tags=tags,
    )


def registered_model(value: Any, versions: list[Any]) -> RegisteredModel:
    tags = dict(value.tags or {})
    return RegisteredModel(
        id=tags.get(MODEL_ID_TAG, ""),
        name=value.name,
        description=value.description or "",
        project_id=tags.get(PROJECT_TAG, ""),
        created_at=_time(value.creation_timestamp),
        updated_at=_time(value.last_updated_timestamp),
        versions=sorted((model_version(v) for v in versions), key=lambda v: int(v.number)),
    )
