"""Rows for the store tests, written through the repositories themselves.

Each factory takes the unit of work and the ids it needs and fills every other column with a
plain value; keyword arguments override any column. Times default to a fixed base plus an
offset, so orderings are deterministic on every backend.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from lakeworks.entities.applications import Application, AppStatus
from lakeworks.entities.jobs import Job, JobKind, JobRun, RunStatus, ScheduleKind, Trigger
from lakeworks.entities.models import (
    BuildStatus,
    DeploymentStatus,
    Model,
    ModelBuild,
    ModelDeployment,
)
from lakeworks.entities.sessions import Editor, Session, SessionStatus
from lakeworks.entities.workloads import Resources, Workload, WorkloadKind
from lakeworks.store.uow import UnitOfWork

BASE = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    """``BASE`` plus ``minutes``."""
    return BASE + timedelta(minutes=minutes)


def add_job(uow: UnitOfWork, job_id: str, project_id: str, creator_id: int, **values: Any) -> Job:
    columns: dict[str, Any] = {
        "id": job_id,
        "project_id": project_id,
        "name": job_id,
        "script": "train.py",
        "schedule_kind": ScheduleKind.MANUAL.value,
        "creator_id": creator_id,
        "kind": JobKind.JOB.value,
    }
    return uow.jobs.add(**{**columns, **values})


def add_run(
    uow: UnitOfWork, run_id: str, job_id: str, project_id: str, user_id: int, **values: Any
) -> JobRun:
    columns: dict[str, Any] = {
        "id": run_id,
        "job_id": job_id,
        "project_id": project_id,
        "user_id": user_id,
        "status": RunStatus.SCHEDULED.value,
        "trigger": Trigger.API.value,
    }
    return uow.jobs.add_run(**{**columns, **values})


def add_workload(
    uow: UnitOfWork,
    workload_id: str,
    project_id: str,
    user_id: int,
    kind: WorkloadKind = WorkloadKind.JOB_RUN,
    **values: Any,
) -> Workload:
    columns: dict[str, Any] = {
        "executor": "local",
        "log_path": "",
        "resources": Resources(cpu=1.0, memory_mb=512),
    }
    return uow.workloads.add(
        workload_id=workload_id,
        kind=kind,
        project_id=project_id,
        user_id=user_id,
        **{**columns, **values},
    )


def add_session(
    uow: UnitOfWork, session_id: str, project_id: str, user_id: int, **values: Any
) -> Session:
    columns: dict[str, Any] = {
        "id": session_id,
        "project_id": project_id,
        "user_id": user_id,
        "name": session_id,
        "editor": Editor.JUPYTERLAB.value,
        "status": SessionStatus.STARTING.value,
    }
    return uow.sessions.add(**{**columns, **values})


def add_application(
    uow: UnitOfWork, app_id: str, project_id: str, creator_id: int, **values: Any
) -> Application:
    columns: dict[str, Any] = {
        "id": app_id,
        "project_id": project_id,
        "name": app_id,
        "subdomain": app_id,
        "script": "app.py",
        "status": AppStatus.STARTING.value,
        "creator_id": creator_id,
    }
    return uow.applications.add(**{**columns, **values})


def add_model(
    uow: UnitOfWork, model_id: str, project_id: str, creator_id: int, **values: Any
) -> Model:
    columns: dict[str, Any] = {
        "id": model_id,
        "project_id": project_id,
        "name": model_id,
        "access_key_hash": f"hash-{model_id}",
        "creator_id": creator_id,
    }
    return uow.models.add(**{**columns, **values})


def add_build(
    uow: UnitOfWork, build_id: str, model_id: str, project_id: str, creator_id: int, **values: Any
) -> ModelBuild:
    columns: dict[str, Any] = {
        "id": build_id,
        "model_id": model_id,
        "project_id": project_id,
        "creator_id": creator_id,
        "file_path": "predict.py",
        "function_name": "predict",
        "status": BuildStatus.PENDING.value,
    }
    return uow.models.add_build(**{**columns, **values})


def add_deployment(
    uow: UnitOfWork,
    deployment_id: str,
    build: ModelBuild,
    deployer_id: int,
    **values: Any,
) -> ModelDeployment:
    columns: dict[str, Any] = {
        "id": deployment_id,
        "model_id": build.model_id,
        "build_id": build.id,
        "project_id": build.project_id,
        "deployer_id": deployer_id,
        "status": DeploymentStatus.PENDING.value,
    }
    return uow.models.add_deployment(**{**columns, **values})


def backdate(uow: UnitOfWork, table: type[Any], row_id: str, when: datetime) -> None:
    """Set a row's ``created_at`` and ``updated_at`` (the model repos stamp both on insert)."""
    uow.session.execute(
        update(table).where(table.id == row_id).values(created_at=when, updated_at=when)
    )
