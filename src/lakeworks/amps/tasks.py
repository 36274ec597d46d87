"""What each AMP task type does, through the ordinary services, acting as the setup's creator.

``begin`` starts a task and says what it made; ``poll`` looks at what a running task waits on
and answers ``None`` (still going), ``""`` (done) or the reason it failed. Both are safe to
call again after a crash: ``begin`` runs again only for a task that recorded nothing.

``run_session`` runs its script once as a manual job named after the task ("AMP session:
..."), in a fresh engine of the project's runtime, which is what CML's non-interactive session
does; the job stays in the project as the task's record and log. ``run_experiment`` launches a
legacy experiment run (``services/experiment_runs.py``: a snapshot of the project, engine type
``experiment``), shown on the project's Experiments (legacy) page.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lakeworks.entities.amps import AmpSetup, AmpTask
from lakeworks.entities.applications import AppStatus
from lakeworks.entities.jobs import RunStatus, Trigger
from lakeworks.entities.models import BuildStatus, DeploymentStatus
from lakeworks.entities.projects import EnvVar
from lakeworks.errors import InvalidInput, NotFound
from lakeworks.services import (
    applications,
    experiment_runs,
    job_runs,
    jobs,
    model_builds,
    model_deployments,
    models,
)
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.tables import utcnow
from lakeworks.store.uow import UnitOfWork

DEFAULT_MEMORY_GB = 1.0


@dataclass(frozen=True)
class Started:
    entity_id: str = ""
    tracked_id: str = ""
    done: bool = False


def _cpu(task: AmpTask, default: float = 1.0) -> float:
    return float(task.fields.get("cpu", default))


def _memory_mb(task: AmpTask, default_gb: float = DEFAULT_MEMORY_GB) -> int:
    return max(1, round(float(task.fields.get("memory", default_gb)) * 1024))


def _env(value: Any) -> dict[str, str]:
    return {str(k): "" if v is None else str(v) for k, v in (value or {}).items()}


def _labelled(setup: AmpSetup, kind: str, label: str) -> str:
    """The id made by the earlier create task with ``label`` (validation made sure it exists)."""
    for task in setup.tasks:
        if task.type == kind and task.fields.get("entity_label") == label:
            if not task.entity_id:
                raise InvalidInput(
                    f"The {kind} task labelled {label!r} (task {task.position + 1}) made "
                    "nothing (it was skipped or failed); retry it first."
                )
            return task.entity_id
    raise NotFound(f"No {kind} task has entity_label {label!r}.")


def begin(platform: Platform, who: Principal, setup: AmpSetup, task: AmpTask) -> Started:
    project_id = setup.project_id
    f = task.fields
    if task.type == "run_experiment":
        # A legacy experiment run (compat §3.4), from a snapshot taken now.
        legacy = experiment_runs.create(
            platform,
            who,
            project_id,
            experiment_runs.RunFields(
                script=f["script"],
                arguments=f.get("arguments", ""),
                cpu=_cpu(task),
                memory_mb=_memory_mb(task),
                runtime_identifier=setup.runtime_identifier,
                comment=f"AMP experiment: {task.title}"[:200],
            ),
            via=Trigger.API,
        )
        return Started(entity_id=legacy.job.id, tracked_id=legacy.id)
    if task.type == "run_session":
        job = jobs.create(
            platform,
            who,
            project_id,
            jobs.JobFields(
                name=f"AMP session: {task.title}"[:200],
                script=f["script"],
                arguments=f.get("arguments", ""),
                cpu=_cpu(task),
                memory_mb=_memory_mb(task),
                runtime_identifier=setup.runtime_identifier,
            ),
        )
        run = job_runs.trigger(platform, who, project_id, job.id, via=Trigger.API)
        return Started(entity_id=job.id, tracked_id=run.id)
    if task.type == "create_job":
        job = jobs.create(
            platform,
            who,
            project_id,
            jobs.JobFields(
                name=str(f.get("name") or f["entity_label"])[:200],
                script=f["script"],
                arguments=f.get("arguments", ""),
                cpu=_cpu(task),
                memory_mb=_memory_mb(task),
                environment=_env(f.get("environment")),
                timeout_seconds=int(float(f.get("timeout", 0)) * 60),
                runtime_identifier=setup.runtime_identifier,
            ),
        )
        return Started(entity_id=job.id, done=True)
    if task.type == "run_job":
        job_id = _labelled(setup, "create_job", f["entity_label"])
        run = job_runs.trigger(platform, who, project_id, job_id, via=Trigger.API)
        return Started(entity_id=job_id, tracked_id=run.id)
    if task.type == "create_model":
        return _create_model(platform, who, project_id, task)
    if task.type == "build_model":
        model_id = _labelled(setup, "create_model", f["entity_label"])
        build = model_builds.create(
            platform,
            who,
            project_id,
            model_id,
            model_builds.BuildFields(
                file_path=f["target_file_path"],
                function_name=f["target_function_name"],
                comment=f.get("comment", ""),
                build_script_path=f.get("build_script_path") or "cdsw-build.sh",
                examples=list(f.get("examples") or []),
                runtime_identifier=setup.runtime_identifier,
            ),
        )
        return Started(entity_id=model_id, tracked_id=build.id)
    if task.type == "deploy_model":
        return _deploy_model(platform, who, setup, task)
    if task.type == "start_application":
        return _start_application(platform, who, setup, task)
    raise InvalidInput(f"Task type {task.type!r} cannot be run.")


def _create_model(platform: Platform, who: Principal, project_id: str, task: AmpTask) -> Started:
    f = task.fields
    resources = f.get("default_resources") or {}
    replication = f.get("default_replication_policy") or {}
    model = models.create(
        platform,
        who,
        project_id,
        models.ModelFields(
            name=str(f.get("name") or f["entity_label"]),
            description=f.get("description", ""),
            auth_enabled=not f.get("disable_authentication", False),
            default_cpu=float(resources.get("cpu", 1)),
            default_memory_mb=max(1, round(float(resources.get("memory", 2)) * 1024)),
            default_replicas=int(replication.get("num_replicas", 1)),
        ),
    )
    variable = f.get("access_key_environment_variable")
    if variable:
        set_project_env(platform, who, project_id, {variable: models.access_key(platform, model)})
    return Started(entity_id=model.id, done=True)


def _deploy_model(platform: Platform, who: Principal, setup: AmpSetup, task: AmpTask) -> Started:
    f = task.fields
    model_id = _labelled(setup, "create_model", f["entity_label"])
    model = models.get(platform, who, setup.project_id, model_id)
    built = [
        b
        for b in model_builds.list_builds(platform, who, setup.project_id, model_id)
        if b.status is BuildStatus.BUILT
    ]
    if not built:
        raise InvalidInput(f"Model {model.name!r} has no successful build to deploy.")
    latest = max(built, key=lambda b: b.created_at or utcnow())
    deployment = model_deployments.create(
        platform,
        who,
        setup.project_id,
        model_id,
        latest.id,
        model_deployments.DeploymentFields(
            cpu=_cpu(task, model.default_cpu),
            memory_mb=_memory_mb(task, model.default_memory_mb / 1024),
            replicas=int(f.get("replicas", model.default_replicas)),
            environment=_env(f.get("environment")),
        ),
    )
    return Started(entity_id=model_id, tracked_id=deployment.id)


def _start_application(
    platform: Platform, who: Principal, setup: AmpSetup, task: AmpTask
) -> Started:
    f = task.fields
    subdomain = applications.check_subdomain(str(f["subdomain"]).lower())
    with platform.read() as uow:
        taken = uow.applications.by_subdomain(subdomain) is not None
    if taken:
        if f.get("static_subdomain"):
            raise InvalidInput(f"The subdomain {subdomain!r} is taken by another application.")
        # CML's rule: a taken subdomain gets a random suffix unless it must stay as written.
        suffix = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(4))
        subdomain = f"{subdomain[:58]}-{suffix}"
    app = applications.create(
        platform,
        who,
        setup.project_id,
        applications.AppFields(
            name=str(f.get("name") or subdomain)[:200],
            subdomain=subdomain,
            script=f["script"],
            cpu=_cpu(task),
            memory_mb=_memory_mb(task),
            gpu=int(float(f.get("gpu", 0))),
            environment=_env(f.get("environment_variables")),
            bypass_authentication=bool(f.get("bypass_authentication", False)),
            runtime_identifier=setup.runtime_identifier,
        ),
    )
    return Started(entity_id=app.id)


def poll(platform: Platform, task: AmpTask) -> str | None:
    """``None`` while the task's work goes on, ``""`` when it succeeded, else why it failed."""
    poller = _POLLERS.get(task.type)
    if poller is None:
        return ""  # a task that finished when it began
    with platform.read() as uow:
        return poller(uow, task)


def _poll_run(uow: UnitOfWork, task: AmpTask) -> str | None:
    run = uow.jobs.get_run(task.tracked_id)
    if run is None:
        return "The job run disappeared."
    if not run.status.is_final:
        return None
    if run.status is RunStatus.SUCCEEDED:
        return ""
    return f"The job run ended {run.status.value}: {run.reason or 'no reason given'}"


def _poll_build(uow: UnitOfWork, task: AmpTask) -> str | None:
    build = uow.models.get_build(task.tracked_id)
    if build is None:
        return "The model build disappeared."
    if not build.status.is_final:
        return None
    if build.status is BuildStatus.BUILT:
        return ""
    return f"The model build ended {build.status.value}: {build.reason or 'see its log'}"


def _poll_deployment(uow: UnitOfWork, task: AmpTask) -> str | None:
    deployment = uow.models.get_deployment(task.tracked_id)
    if deployment is None:
        return "The model deployment disappeared."
    if deployment.status is DeploymentStatus.DEPLOYED:
        return ""
    if deployment.status in (DeploymentStatus.PENDING, DeploymentStatus.DEPLOYING):
        return None
    return f"The model deployment is {deployment.status.value}; see its replicas' logs."


def _poll_application(uow: UnitOfWork, task: AmpTask) -> str | None:
    app = uow.applications.get(task.entity_id)
    if app is None:
        return "The application disappeared."
    if app.status is AppStatus.RUNNING:
        return ""
    if app.status in (AppStatus.STARTING, AppStatus.UNKNOWN):
        return None
    return f"The application is {app.status.value}: {app.reason or 'see its log'}"


# Tasks whose work goes on after they began, and how to see how it went.
_POLLERS: dict[str, Callable[[UnitOfWork, AmpTask], str | None]] = {
    "run_session": _poll_run,
    "run_experiment": _poll_run,
    "run_job": _poll_run,
    "build_model": _poll_build,
    "deploy_model": _poll_deployment,
    "start_application": _poll_application,
}


def set_project_env(
    platform: Platform, who: Principal | None, project_id: str, values: dict[str, str]
) -> None:
    """Set (or replace) some of the project's variables, keeping the others."""
    with platform.command(who, "project.env", project_id=project_id) as cmd:
        current = {v.name: v for v in cmd.uow.projects.env(project_id)}
        for name, value in values.items():
            old = current.get(name)
            current[name] = EnvVar(name, value, old.secret if old else False)
        cmd.uow.projects.replace_env(project_id, list(current.values()), utcnow())
        cmd.detail = {"names": sorted(values), "by": "amp"}


def log_link(task: AmpTask) -> str:
    """Where the task's work and log are shown in the UI ("" before it made anything)."""
    base = f"/projects/{task.project_id}"
    if task.type == "run_experiment" and task.tracked_id:
        return f"{base}/legacy_experiments/{task.tracked_id}"
    if task.type in ("run_session", "run_job") and task.tracked_id:
        return f"{base}/jobs/{task.entity_id}/runs/{task.tracked_id}"
    if task.type == "create_job" and task.entity_id:
        return f"{base}/jobs/{task.entity_id}"
    if task.type == "build_model" and task.tracked_id:
        return f"{base}/models/{task.entity_id}/builds/{task.tracked_id}/log"
    if task.type in ("create_model", "deploy_model") and task.entity_id:
        return f"{base}/models/{task.entity_id}"
    if task.type == "start_application" and task.entity_id:
        return f"{base}/applications/{task.entity_id}"
    return ""
