"""Experiments: every experiment of the caller's projects, a project's experiments and
registered models, one experiment's runs (params and metrics), and a comparison of chosen runs
with a chart. Details (artifacts, metric history) link into the embedded MLflow UI."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response

from lakeworks.entities.experiments import ExperimentRun
from lakeworks.errors import InvalidInput, LakeworksError
from lakeworks.services import experiments, projects
from lakeworks.services.permissions import Action
from lakeworks.services.projects import ProjectView
from lakeworks.tracking import MOUNT_PATH
from lakeworks.ui.deps import FormUserDep, PlatformDep, UserDep
from lakeworks.ui.pages import flash, form_error, redirect, render

router = APIRouter()

MAX_COMPARE = 10


def _context(view: ProjectView) -> dict[str, Any]:
    return {
        "nav": "projects",
        "tab": "experiments",
        "view": view,
        "project": view.project,
        "can_edit": projects.allowed(view, Action.WRITE_FILES),
        "can_deploy": projects.allowed(view, Action.CREATE_WORKLOADS),
        "mlflow": MOUNT_PATH,
    }


def run_time(ms: int | None) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _columns(runs: list[ExperimentRun]) -> tuple[list[str], list[str]]:
    params = sorted({k for r in runs for k in r.params})
    metrics = sorted({m.key for r in runs for m in r.metrics})
    return params, metrics


def _metric(run: ExperimentRun, key: str) -> float | None:
    return next((m.value for m in run.metrics if m.key == key), None)


@router.get("/experiments")
def all_experiments(request: Request, platform: PlatformDep, principal: UserDep) -> Response:
    found = experiments.list_all_experiments(platform, principal)
    names = {}
    for project_id in {e.project_id for e in found}:
        names[project_id] = projects.get(platform, principal, project_id).project.name
    models = experiments.list_registered_models(platform, principal)
    return render(
        request,
        "experiments/all.html",
        {
            "nav": "experiments",
            "experiments": found,
            "names": names,
            "models": models,
            "mlflow": MOUNT_PATH,
            "run_time": run_time,
        },
    )


@router.get("/projects/{project_id}/experiments")
def project_experiments(
    request: Request, platform: PlatformDep, principal: UserDep, project_id: str
) -> Response:
    view = projects.get(platform, principal, project_id)
    found = experiments.list_experiments(platform, principal, project_id)
    models = [
        m
        for m in experiments.list_registered_models(platform, principal)
        if m.project_id == project_id
    ]
    runs_of = {
        run_id: experiments.experiment_of_run(platform, run_id)
        for m in models
        for run_id in {v.run_id for v in m.versions}
        if run_id
    }
    return render(
        request,
        "experiments/list.html",
        _context(view) | {"experiments": found, "models": models, "runs_of": runs_of},
    )


@router.post("/projects/{project_id}/experiments")
def create_experiment(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    name: Annotated[str, Form()] = "",
) -> Response:
    try:
        created = experiments.create_experiment(platform, principal, project_id, name)
    except LakeworksError as exc:
        form_error(request, exc)
        view = projects.get(platform, principal, project_id)
        found = experiments.list_experiments(platform, principal, project_id)
        return render(
            request,
            "experiments/list.html",
            _context(view) | {"experiments": found, "models": [], "runs_of": {}, "name": name},
            status=400,
            error=exc.message,
        )
    flash(request, f"Experiment {created.name!r} created.")
    return redirect(f"/projects/{project_id}/experiments/{created.id}")


@router.get("/projects/{project_id}/experiments/{experiment_id}")
def experiment_page(
    request: Request, platform: PlatformDep, principal: UserDep, project_id: str, experiment_id: str
) -> Response:
    view = projects.get(platform, principal, project_id)
    experiment = experiments.get_experiment(platform, principal, project_id, experiment_id)
    runs = experiments.list_runs(platform, principal, project_id, experiment_id)
    params, metrics = _columns(runs)
    return render(
        request,
        "experiments/experiment.html",
        _context(view)
        | {
            "experiment": experiment,
            "runs": runs,
            "params": params,
            "metrics": metrics,
            "metric": _metric,
            "run_time": run_time,
        },
    )


@router.get("/projects/{project_id}/experiments/{experiment_id}/compare")
def compare_runs(
    request: Request,
    platform: PlatformDep,
    principal: UserDep,
    project_id: str,
    experiment_id: str,
    run: Annotated[list[str] | None, Query()] = None,
) -> Response:
    view = projects.get(platform, principal, project_id)
    experiment = experiments.get_experiment(platform, principal, project_id, experiment_id)
    wanted = list(dict.fromkeys(run or []))
    if not wanted:
        raise InvalidInput("Choose at least one run to compare.")
    if len(wanted) > MAX_COMPARE:
        raise InvalidInput(f"Compare at most {MAX_COMPARE} runs at a time.")
    runs = [experiments.get_run(platform, principal, project_id, experiment_id, r) for r in wanted]
    params, metrics = _columns(runs)
    labels = [r.name or r.id[:8] for r in runs]
    chart = {
        "categories": labels,
        "series": [{"name": key, "values": [_metric(r, key) for r in runs]} for key in metrics],
        "yLabel": "value",
        "empty": "These runs have no metrics",
    }
    return render(
        request,
        "experiments/compare.html",
        _context(view)
        | {
            "experiment": experiment,
            "runs": runs,
            "params": params,
            "metrics": metrics,
            "metric": _metric,
            "chart": chart,
        },
    )
