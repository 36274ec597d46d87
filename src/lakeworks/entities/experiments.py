"""Experiments, their runs and registered models, as Lakeworks shows them (backed by MLflow)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Experiment:
    id: str  # MLflow's experiment id: the same id in API v2, MLflow and the UI
    project_id: str
    name: str
    artifact_location: str  # /home/cdsw/.experiments/<id>, as workloads see it
    lifecycle_stage: str  # "active" | "deleted"
    created_at: datetime | None
    updated_at: datetime | None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Metric:
    key: str
    value: float
    timestamp: int  # milliseconds since the epoch, as MLflow
    step: int


@dataclass(frozen=True)
class ExperimentRun:
    id: str
    name: str
    experiment_id: str
    user: str
    status: str  # MLflow's RunStatus: RUNNING, SCHEDULED, FINISHED, FAILED, KILLED
    start_time: int | None  # ms
    end_time: int | None  # ms
    artifact_uri: str
    lifecycle_stage: str
    metrics: list[Metric] = field(default_factory=list)  # the latest value of each key
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelVersion:
    id: str  # Lakeworks' registry version id (see tracking/registry.py)
    model_name: str
    number: str
    status: str
    run_id: str
    source: str
    description: str
    user: str
    created_at: datetime | None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RegisteredModel:
    id: str  # Lakeworks' model id (tag lakeworks.model_id)
    name: str
    description: str
    project_id: str
    created_at: datetime | None
    updated_at: datetime | None
    versions: list[ModelVersion] = field(default_factory=list)
