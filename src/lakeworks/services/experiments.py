"""Experiments, runs and the model registry for API v2 and the UI, backed by embedded MLflow.

The same rule as MLflow's REST gate (``tracking/access.py``): reading needs read access to the
project, writing contributor or above. Creating, renaming and deleting experiments and runs,
and registering models, are audited.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lakeworks import safe_paths
from lakeworks.entities.experiments import (
    Experiment,
    ExperimentRun,
    Metric,
    ModelVersion,
    RegisteredModel,
)
from lakeworks.entities.jobs import JobRun
from lakeworks.errors import Conflict, InvalidInput, LakeworksError, NotFound, PermissionDenied
from lakeworks.services.experiment_access import authorize, readable_projects
from lakeworks.services.platform import Platform, Principal
from lakeworks.tracking import convert
from lakeworks.tracking.embedded import Tracking, tracking_for
from lakeworks.tracking.paths import server_path
from lakeworks.tracking.registry import find_version, version_source_dir
from lakeworks.tracking.scope import JOB_RUN_TAG, MODEL_ID_TAG, PROJECT_TAG, VERSION_ID_TAG

log = logging.getLogger(__name__)

_PAGE = 1000
# cdsw.track_metric lines of one job run: far more than any job logs, small enough to parse.
_METRICS_MAX = 64 * 1024 * 1024
MAX_NAME = 500


def _mlflow_error(exc: Exception, what: str) -> Exception:
    code = getattr(exc, "error_code", "")
    message = getattr(exc, "message", str(exc))
    if code == "RESOURCE_ALREADY_EXISTS":
        return Conflict(f"{what} already exists (names are unique across Lakeworks).")
    if code == "RESOURCE_DOES_NOT_EXIST":
        return NotFound(f"{what} not found.")
    return InvalidInput(str(message))


def _name(value: str, what: str) -> str:
    name = (value or "").strip()
    if not name:
        raise InvalidInput(f"{what} needs a name.")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"{what} names are at most {MAX_NAME} characters.")
    return name


def _quote(value: str) -> str:
    if "'" in value and '"' in value:
        raise InvalidInput("Names cannot hold both ' and \" characters.")
    return f'"{value}"' if "'" in value else f"'{value}'"


# Experiments ---------------------------------------------------------------------------


def _experiment_in(
    platform: Platform, principal: Principal, project_id: str, experiment_id: str, write: bool
) -> tuple[Tracking, Any]:
    from mlflow.exceptions import MlflowException

    tracking = tracking_for(platform)
    what = f"Experiment {experiment_id!r}"
    if tracking.scope.experiment_project(experiment_id) != project_id:
        # Also when it exists elsewhere: ids of other projects' experiments do not leak.
        authorize(platform, principal, project_id, write=False, what="The project")
        raise NotFound(f"{what} not found in this project.")
    authorize(platform, principal, project_id, write=write, what=what)
    try:
        return tracking, tracking.store.get_experiment(experiment_id)
    except MlflowException as exc:
        raise _mlflow_error(exc, what) from exc


def _search_experiments(tracking: Tracking, filter_string: str) -> Iterator[Any]:
    from mlflow.entities import ViewType

    token = None
    while True:
        page = tracking.store.search_experiments(
            view_type=ViewType.ACTIVE_ONLY,
            max_results=_PAGE,
            filter_string=filter_string,
            order_by=["creation_time ASC"],
            page_token=token,
        )
        yield from page
        token = page.token
        if not token:
            return


def list_experiments(platform: Platform, principal: Principal, project_id: str) -> list[Experiment]:
    """The project's active experiments, oldest first."""
    authorize(platform, principal, project_id, write=False, what=f"Project {project_id!r}")
    tracking = tracking_for(platform)
    found = _search_experiments(tracking, f"tags.`{PROJECT_TAG}` = {_quote(project_id)}")
    return [convert.experiment(e) for e in found]


def list_all_experiments(platform: Platform, principal: Principal) -> list[Experiment]:
    """Active experiments of every project the caller may read, oldest first."""
    tracking = tracking_for(platform)
    experiments = [convert.experiment(e) for e in _search_experiments(tracking, "")]
    allowed = readable_projects(platform, principal, {e.project_id for e in experiments})
    return [e for e in experiments if e.project_id and e.project_id in allowed]


def get_experiment(
    platform: Platform, principal: Principal, project_id: str, experiment_id: str
) -> Experiment:
    _, found = _experiment_in(platform, principal, project_id, experiment_id, write=False)
    return convert.experiment(found)


def create_experiment(
    platform: Platform, principal: Principal, project_id: str, name: str
) -> Experiment:
    from mlflow.exceptions import MlflowException

    name = _name(name, "An experiment")
    with platform.command(
        principal, "experiment.create", target=name, project_id=project_id
    ) as cmd:
        authorize(platform, principal, project_id, write=True, what=f"Project {project_id!r}")
        tracking = tracking_for(platform)
        try:
            experiment_id = tracking.store.create_experiment(
                name, tags=[_experiment_tag(PROJECT_TAG, project_id)]
            )
        except MlflowException as exc:
            raise _mlflow_error(exc, f"An experiment named {name!r}") from exc
        tracking.scope.remember_experiment(experiment_id, project_id)
        cmd.detail = {"experiment_id": experiment_id}
        return convert.experiment(tracking.store.get_experiment(experiment_id))


def _experiment_tag(key: str, value: str) -> Any:
    from mlflow.entities import ExperimentTag

    return ExperimentTag(key, value)


def rename_experiment(
    platform: Platform, principal: Principal, project_id: str, experiment_id: str, name: str
) -> Experiment:
    from mlflow.exceptions import MlflowException

    name = _name(name, "An experiment")
    with platform.command(
        principal, "experiment.update", target=experiment_id, project_id=project_id
    ) as cmd:
        tracking, _ = _experiment_in(platform, principal, project_id, experiment_id, write=True)
        # MLflow's rename reports a taken name as the database's integrity error (its SQL
        # text), not as RESOURCE_ALREADY_EXISTS: look first, so the caller gets a 409.
        taken = tracking.store.get_experiment_by_name(name)
        if taken is not None and str(taken.experiment_id) != str(experiment_id):
            raise Conflict(
                f"An experiment named {name!r} already exists (names are unique across Lakeworks)."
            )
        try:
            tracking.store.rename_experiment(experiment_id, name)
        except MlflowException as exc:
            raise _mlflow_error(exc, f"An experiment named {name!r}") from exc
        cmd.detail = {"name": name}
        return convert.experiment(tracking.store.get_experiment(experiment_id))


def delete_experiment(
    platform: Platform, principal: Principal, project_id: str, experiment_id: str
) -> None:
    with platform.command(
        principal, "experiment.delete", target=experiment_id, project_id=project_id
    ):
        tracking, _ = _experiment_in(platform, principal, project_id, experiment_id, write=True)
        tracking.store.delete_experiment(experiment_id)


# Runs ----------------------------------------------------------------------------------


def list_runs(
    platform: Platform, principal: Principal, project_id: str, experiment_id: str
) -> list[ExperimentRun]:
    """The experiment's active runs, oldest first (CML's order)."""
    from mlflow.entities import ViewType

    tracking, _ = _experiment_in(platform, principal, project_id, experiment_id, write=False)
    runs: list[ExperimentRun] = []
    token = None
    while True:
        page = tracking.store.search_runs(
            [experiment_id],
            filter_string="",
            run_view_type=ViewType.ACTIVE_ONLY,
            max_results=_PAGE,
            order_by=["attributes.start_time ASC"],
            page_token=token,
        )
        runs += [convert.run(r) for r in page]
        token = page.token
        if not token:
            return runs


def _run_in(
    platform: Platform,
    principal: Principal,
    project_id: str,
    experiment_id: str,
    run_id: str,
    write: bool,
) -> tuple[Tracking, Any]:
    from mlflow.exceptions import MlflowException

    tracking, _ = _experiment_in(platform, principal, project_id, experiment_id, write)
    try:
        if tracking.scope.run_experiment(run_id) != str(experiment_id):
            raise NotFound(f"Run {run_id!r} not found in experiment {experiment_id!r}.")
        return tracking, tracking.store.get_run(run_id)
    except MlflowException as exc:
        raise _mlflow_error(exc, f"Run {run_id!r}") from exc


def get_run(
    platform: Platform, principal: Principal, project_id: str, experiment_id: str, run_id: str
) -> ExperimentRun:
    _, found = _run_in(platform, principal, project_id, experiment_id, run_id, write=False)
    return convert.run(found)


def create_run(
    platform: Platform,
    principal: Principal,
    project_id: str,
    experiment_id: str,
    *,
    name: str = "",
    tags: dict[str, str] | None = None,
) -> ExperimentRun:
    import time

    from mlflow.entities import RunTag

    _refuse_reserved(tags or {})
    with platform.command(
        principal, "experiment_run.create", target=experiment_id, project_id=project_id
    ) as cmd:
        tracking, _ = _experiment_in(platform, principal, project_id, experiment_id, write=True)
        created = tracking.store.create_run(
            experiment_id=experiment_id,
            user_id=principal.user.username,
            start_time=int(time.time() * 1000),
            tags=[RunTag(k, str(v)) for k, v in (tags or {}).items()],
            run_name=name or None,
        )
        tracking.scope.remember_run(created.info.run_id, experiment_id)
        cmd.detail = {"run_id": created.info.run_id}
        return convert.run(created)


def delete_run(
    platform: Platform, principal: Principal, project_id: str, experiment_id: str, run_id: str
) -> None:
    with platform.command(principal, "experiment_run.delete", target=run_id, project_id=project_id):
        tracking, _ = _run_in(platform, principal, project_id, experiment_id, run_id, True)
        tracking.store.delete_run(run_id)


def update_run(
    platform: Platform,
    principal: Principal,
    project_id: str,
    experiment_id: str,
    run_id: str,
    *,
    name: str | None = None,
    status: str | None = None,
    end_time: int | None = None,
) -> ExperimentRun:
    """Rename a run, or set its status (``RUNNING``, ``FINISHED``, ``FAILED``, ``KILLED``,
    ``SCHEDULED``) and end time in ms (API v2 ``PATCH …/runs/{run_id}``); ``None`` keeps."""
    from mlflow.entities import RunStatus
    from mlflow.exceptions import MlflowException

    if name is not None:
        name = _name(name, "A run")
    code = None
    if status is not None:
        names = RunStatus.all_status()
        wanted = status.strip().upper()
        if wanted not in [RunStatus.to_string(c) for c in names]:
            allowed = ", ".join(RunStatus.to_string(c) for c in names)
            raise InvalidInput(f"Unknown run status {status!r}; use one of {allowed}.")
        code = RunStatus.from_string(wanted)
    if end_time is not None and end_time < 0:
        raise InvalidInput("end_time is milliseconds since the epoch, not negative.")
    with platform.command(
        principal, "experiment_run.update", target=run_id, project_id=project_id
    ) as cmd:
        tracking, found = _run_in(platform, principal, project_id, experiment_id, run_id, True)
        try:
            tracking.store.update_run_info(
                run_id,
                code if code is not None else RunStatus.from_string(found.info.status),
                end_time if end_time is not None else found.info.end_time,
                name if name is not None else found.info.run_name,
            )
        except MlflowException as exc:
            raise _mlflow_error(exc, f"Run {run_id!r}") from exc
        cmd.detail = {k: v for k, v in (("name", name), ("status", status)) if v is not None}
        return convert.run(tracking.store.get_run(run_id))


def delete_runs(
    platform: Platform,
    principal: Principal,
    project_id: str,
    experiment_id: str,
    run_ids: list[str],
) -> None:
    """Delete several runs of one experiment (API v2 ``:deletebatch``): all or none, as each
    must be found in the experiment before any is deleted."""
    with platform.command(
        principal, "experiment_run.delete_batch", target=experiment_id, project_id=project_id
    ) as cmd:
        tracking = None
        for run_id in run_ids:
            tracking, _ = _run_in(platform, principal, project_id, experiment_id, run_id, True)
        for run_id in run_ids:
            assert tracking is not None
            tracking.store.delete_run(run_id)
        cmd.detail = {"run_ids": list(run_ids)}


def log_batch(
    platform: Platform,
    principal: Principal,
    project_id: str,
    experiment_id: str,
    run_id: str,
    *,
    metrics: list[Metric],
    params: dict[str, str],
    tags: dict[str, str],
) -> ExperimentRun:
    """Record metrics, params and tags on a run (API v2 ``:logbatch``); not audited per value,
    as MLflow's own logging calls are not."""
    from mlflow.entities import Metric as MlflowMetric
    from mlflow.entities import Param, RunTag
    from mlflow.exceptions import MlflowException

    _refuse_reserved(tags)
    tracking, _ = _run_in(platform, principal, project_id, experiment_id, run_id, write=True)
    try:
        tracking.store.log_batch(
            run_id,
            metrics=[MlflowMetric(m.key, m.value, m.timestamp, m.step) for m in metrics],
            params=[Param(k, str(v)) for k, v in params.items()],
            tags=[RunTag(k, str(v)) for k, v in tags.items()],
        )
    except MlflowException as exc:
        raise _mlflow_error(exc, f"Run {run_id!r}") from exc
    return convert.run(tracking.store.get_run(run_id))


def metric_history(
    platform: Platform,
    principal: Principal,
    project_id: str,
    experiment_id: str,
    run_id: str,
    key: str,
) -> list[Metric]:
    tracking, _ = _run_in(platform, principal, project_id, experiment_id, run_id, write=False)
    return [
        Metric(key=m.key, value=m.value, timestamp=m.timestamp, step=m.step)
        for m in tracking.store.get_metric_history(run_id, key)
    ]


def _refuse_reserved(tags: dict[str, str]) -> None:
    for key in tags:
        if key.startswith("lakeworks."):
            raise PermissionDenied("Tags named lakeworks.* are set by Lakeworks only.")


# Registry ------------------------------------------------------------------------------


def _versions_of(tracking: Tracking, name: str) -> list[Any]:
    return list(tracking.registry.search_model_versions(filter_string=f"name = {_quote(name)}"))


def _all_models(tracking: Tracking) -> Iterator[Any]:
    token = None
    while True:
        page = tracking.registry.search_registered_models(max_results=_PAGE, page_token=token)
        yield from page
        token = page.token
        if not token:
            return


def _model(tracking: Tracking, value: Any) -> RegisteredModel:
    return convert.registered_model(value, _versions_of(tracking, value.name))


def create_registered_model(
    platform: Platform,
    principal: Principal,
    *,
    project_id: str,
    experiment_id: str,
    run_id: str,
    model_name: str,
    model_path: str,
    description: str = "",
) -> tuple[RegisteredModel, ModelVersion]:
    """Register ``model_path`` of a run (CML ``create_registered_model``): a new model, or a
    new version when the name exists in this project. Returns the model and the new version."""
    from mlflow.entities.model_registry import ModelVersionTag, RegisteredModelTag
    from mlflow.exceptions import MlflowException

    from lakeworks.services.ids import public_id

    model_name = _name(model_name, "A registered model")
    relative = (model_path or "").strip().strip("/")
    if not relative:
        raise InvalidInput("model_path must name the model's folder in the run's artifacts.")
    with platform.command(
        principal, "registered_model.create", target=model_name, project_id=project_id
    ) as cmd:
        tracking, run = _run_in(platform, principal, project_id, experiment_id, run_id, True)
        directory = server_path(platform.settings, project_id, run.info.artifact_uri, relative)
        if not (directory / "MLmodel").is_file():
            raise InvalidInput(
                f"There is no MLflow model at {relative!r} in run {run_id!r} "
                f"(no MLmodel under {run.info.artifact_uri}/{relative})."
            )
        try:
            existing = tracking.registry.get_registered_model(model_name)
        except MlflowException:
            existing = None
        if existing is None:
            try:
                existing = tracking.registry.create_registered_model(
                    model_name,
                    tags=[
                        RegisteredModelTag(PROJECT_TAG, project_id),
                        RegisteredModelTag(MODEL_ID_TAG, public_id()),
                    ],
                    description=description or None,
                )
            except MlflowException as exc:
                raise _mlflow_error(exc, f"A registered model named {model_name!r}") from exc
        elif existing.tags.get(PROJECT_TAG, "") != project_id:
            raise Conflict(
                f"A registered model named {model_name!r} already exists in another project "
                "(names are unique across Lakeworks)."
            )
        version = tracking.registry.create_model_version(
            model_name,
            source=f"{run.info.artifact_uri}/{relative}",
            run_id=run_id,
            tags=[ModelVersionTag(VERSION_ID_TAG, public_id())],
            description=description or None,
        )
        cmd.detail = {"version": str(version.version), "run_id": run_id}
        model = _model(tracking, tracking.registry.get_registered_model(model_name))
        created = next(v for v in model.versions if v.number == str(version.version))
        return model, created


def list_registered_models(platform: Platform, principal: Principal) -> list[RegisteredModel]:
    tracking = tracking_for(platform)
    models = list(_all_models(tracking))
    projects = {m.tags.get(PROJECT_TAG, "") for m in models}
    allowed = readable_projects(platform, principal, projects)
    readable = [m for m in models if m.tags.get(PROJECT_TAG, "") in allowed]
    result = [_model(tracking, m) for m in readable]
    return sorted(result, key=lambda m: m.created_at.timestamp() if m.created_at else 0.0)


def _model_by_id(platform: Platform, principal: Principal, model_id: str) -> tuple[Tracking, Any]:
    tracking = tracking_for(platform)
    for model in _all_models(tracking):
        if model.tags.get(MODEL_ID_TAG) == model_id:
            project_id = model.tags.get(PROJECT_TAG, "")
            authorize(
                platform, principal, project_id, write=False, what=f"Registered model {model_id!r}"
            )
            return tracking, model
    raise NotFound(f"Registered model {model_id!r} not found.")


def get_registered_model(
    platform: Platform, principal: Principal, model_id: str
) -> RegisteredModel:
    tracking, model = _model_by_id(platform, principal, model_id)
    return _model(tracking, model)


def delete_registered_model(platform: Platform, principal: Principal, model_id: str) -> None:
    with platform.command(principal, "registered_model.delete", target=model_id) as cmd:
        tracking, model = _model_by_id(platform, principal, model_id)
        project_id = model.tags.get(PROJECT_TAG, "")
        cmd.project_id = project_id
        authorize(
            platform, principal, project_id, write=True, what=f"Registered model {model_id!r}"
        )
        tracking.registry.delete_registered_model(model.name)
        tracking.scope.forget_model(model.name)


def update_registered_model(
    platform: Platform, principal: Principal, model_id: str, *, description: str
) -> RegisteredModel:
    """Change a registered model's description (API v2 ``PATCH /registry/models/{id}``)."""
    with platform.command(principal, "registered_model.update", target=model_id) as cmd:
        tracking, model = _model_by_id(platform, principal, model_id)
        project_id = model.tags.get(PROJECT_TAG, "")
        cmd.project_id = project_id
        authorize(
            platform, principal, project_id, write=True, what=f"Registered model {model_id!r}"
        )
        tracking.registry.update_registered_model(model.name, description=description)
        return _model(tracking, tracking.registry.get_registered_model(model.name))


def delete_model_version(
    platform: Platform, principal: Principal, model_id: str, version_id: str
) -> None:
    """Delete one version of a registered model (its other versions stay)."""
    with platform.command(principal, "registered_model.delete_version", target=version_id) as cmd:
        tracking, model = _model_by_id(platform, principal, model_id)
        project_id = model.tags.get(PROJECT_TAG, "")
        cmd.project_id = project_id
        authorize(
            platform, principal, project_id, write=True, what=f"Registered model {model_id!r}"
        )
        version = find_version(tracking, version_id)
        if version.name != model.name:
            raise NotFound(f"Model version {version_id!r} not found in model {model_id!r}.")
        tracking.registry.delete_model_version(model.name, version.version)


def get_model_version(
    platform: Platform, principal: Principal, model_id: str, version_id: str
) -> ModelVersion:
    tracking, model = _model_by_id(platform, principal, model_id)
    version = find_version(tracking, version_id)
    if version.name != model.name:
        raise NotFound(f"Model version {version_id!r} not found in model {model_id!r}.")
    return convert.model_version(version)


def experiment_of_run(platform: Platform, run_id: str) -> str:
    """The experiment id of a run (for version metadata); "" when the run is gone."""
    try:
        return tracking_for(platform).scope.run_experiment(run_id) if run_id else ""
    except NotFound:
        return ""


# Legacy experiments: cdsw.track_metric / track_file in job runs (CML compat §3.4) --------

JOB_RUNS_EXPERIMENT = "Job runs ({project_id})"


# MLflow metrics are numbers; CML's track_metric also takes strings, dicts and lists, shown
# as they are: those become run tags (the last value of a key), within MLflow's tag limit.
_TEXT_METRIC_MAX = 5000
_RESERVED_TAG_PREFIXES = ("mlflow.", "lakeworks.")


def _legacy_metrics(raw: bytes, run_id: str) -> tuple[list[Any], dict[str, str]]:
    """The numeric metrics (MLflow ``Metric``s) and the other values (as text, by key) of a
    run's ``metrics.jsonl``; lines it cannot read are skipped with a warning."""
    import json

    from mlflow.entities import Metric as MlflowMetric

    metrics: list[Any] = []
    texts: dict[str, str] = {}
    for line in raw.decode(errors="replace").splitlines():
        try:
            record = json.loads(line)
            key, value = str(record["key"]), record["value"]
            timestamp = int(record["timestamp_ms"])
        except (ValueError, KeyError, TypeError):
            log.warning("job run %s: skipped a metrics line it cannot read", run_id)
            continue
        if isinstance(value, int | float):  # bools too, as 0 and 1
            metrics.append(MlflowMetric(key, float(value), timestamp, 0))
        elif key.startswith(_RESERVED_TAG_PREFIXES):
            log.warning("job run %s: metric %r left out (a reserved name)", run_id, key)
        else:
            text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
            texts[key] = text[:_TEXT_METRIC_MAX]
    return metrics, texts


def record_job_run(platform: Platform, run: JobRun) -> str | None:
    """Copy what a finished job run recorded with ``cdsw.track_metric``/``track_file``
    (``.lakeworks/runs/<run>/`` in the project) onto an MLflow run tied to the job run (tag
    ``lakeworks.job_run_id``) in the project's "Job runs" experiment: numbers as metrics,
    strings (and dicts, lists) as tags of the same name. Returns the MLflow run id,
    or None when the job run recorded nothing. Never raises for a bad record: a job's end must
    not fail because of its metrics file."""
    # The job wrote this folder: read it without following its links (STYLE §11).
    root = platform.settings.projects_dir / run.project_id
    output = f".lakeworks/runs/{run.id}"
    raw = b""
    try:
        raw = safe_paths.read_bytes(root, f"{output}/metrics.jsonl", max_bytes=_METRICS_MAX)
    except FileNotFoundError:
        pass
    except (LakeworksError, OSError) as exc:
        log.warning("job run %s: its metrics file is refused: %s", run.id, exc)
    has_files = safe_paths.is_dir(root, f"{output}/files")
    if not raw and not has_files:
        return None
    # Only now: the scheduler's thread ends runs, and importing MLflow for the first time
    # takes it 5-25 s on a busy machine, during which no run was claimed (the 22-28 s wait
    # of the first run after a warm-up in bench/job_start.py, whose runs record nothing).
    from mlflow.entities import RunStatus as MlflowRunStatus
    from mlflow.entities import RunTag
    from mlflow.exceptions import MlflowException

    metrics, texts = _legacy_metrics(raw, run.id)
    tracking = tracking_for(platform)
    name = JOB_RUNS_EXPERIMENT.format(project_id=run.project_id)
    try:
        experiment = tracking.store.get_experiment_by_name(name)
        experiment_id = (
            experiment.experiment_id
            if experiment is not None
            else tracking.store.create_experiment(
                name, tags=[_experiment_tag(PROJECT_TAG, run.project_id)]
            )
        )
        start = int(run.starting_at.timestamp() * 1000) if run.starting_at else None
        created = tracking.store.create_run(
            experiment_id=experiment_id,
            user_id=run.username,
            start_time=start,
            tags=[
                RunTag(JOB_RUN_TAG, run.id),
                RunTag("lakeworks.job_id", run.job_id),
                *(RunTag(key, value) for key, value in texts.items()),
            ],
            run_name=f"job run {run.id}",
        )
        run_id = created.info.run_id
        for start_at in range(0, len(metrics), 1000):
            tracking.store.log_batch(
                run_id, metrics=metrics[start_at : start_at + 1000], params=[], tags=[]
            )
        if has_files:
            target = server_path(platform.settings, run.project_id, created.info.artifact_uri)
            copied = safe_paths.copy_tree(
                root,
                f"{output}/files",
                root,
                target.relative_to(root.resolve()).as_posix(),
                max_bytes=platform.settings.max_archive_bytes,
                max_files=platform.settings.max_archive_members,
            )
            for skipped in copied.skipped:
                log.warning("job run %s: output file left out: %s", run.id, skipped)
        end = int(run.finished_at.timestamp() * 1000) if run.finished_at else None
        status = "FINISHED" if run.status.value == "succeeded" else "FAILED"
        tracking.store.update_run_info(run_id, MlflowRunStatus.from_string(status), end, None)
    except (MlflowException, OSError, LakeworksError) as exc:
        log.warning("job run %s: could not record its metrics and files: %s", run.id, exc)
        return None
    return str(run_id)


@dataclass(frozen=True)
class ModelVersionSource:
    """Where a registry version's model lives."""

    project_id: str
    model_name: str
    version: str
    run_id: str | None
    artifact_dir: Path  # the model directory on the server's disk, containing ``MLmodel``


SERVING_EXAMPLE = "serving_input_example.json"  # MLflow writes it from ``input_example``
MAX_EXAMPLE_BYTES = 64 * 1024


def serving_example(source: ModelVersionSource) -> Any | None:
    """The request MLflow saved with the model (``log_model(..., input_example=...)``), e.g.
    ``{"dataframe_split": {"columns": [...], "data": [[...]]}}``, or None. The run wrote the
    file: it is read without following links, bounded, and anything odd is no example."""
    try:
        data = safe_paths.read_bytes(
            source.artifact_dir, SERVING_EXAMPLE, max_bytes=MAX_EXAMPLE_BYTES
        )
        example = json.loads(data)
    except (OSError, LakeworksError, ValueError):
        return None
    return example if isinstance(example, dict) else None


def resolve_version(
    platform: Platform, principal: Principal, version_id: str
) -> ModelVersionSource:
    """The model of registry version ``version_id``, if ``principal`` may read its project.

    Raises ``NotFound`` (unknown id, a project the caller cannot read, or files missing on
    disk) or ``PermissionDenied``.
    """
    tracking = tracking_for(platform)
    version = find_version(tracking, version_id)
    project_id = tracking.scope.model_project(version.name)
    authorize(platform, principal, project_id, write=False, what=f"Model version {version_id!r}")
    directory = version_source_dir(platform.settings, tracking, project_id, version)
    if not (directory / "MLmodel").is_file():
        raise NotFound(
            f"Model version {version_id!r} ({version.name} v{version.version}) has no MLmodel "
            f"file at {version.source}; were the run's artifacts deleted?"
        )
    return ModelVersionSource(
        project_id=project_id,
        model_name=str(version.name),
        version=str(version.version),
        run_id=version.run_id or None,
        artifact_dir=directory,
    )
