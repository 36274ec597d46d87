"""Experiments (legacy): CDSW's "Run Experiment" page of a project, a table of its runs with
one column per tracked metric, and one run's page (log, metrics, tracked files, snapshot).
The rules are ``services/experiment_runs``'s; MLflow's experiments are ``experiment_pages``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response

from lakeworks import bounds
from lakeworks.entities.jobs import ACTIVE_RUN_STATUSES, RunStatus
from lakeworks.errors import InvalidInput, LakeworksError
from lakeworks.services import experiment_runs, projects
from lakeworks.services.permissions import Action
from lakeworks.services.projects import ProjectView
from lakeworks.ui.deps import FormUserDep, PlatformDep, UserDep
from lakeworks.ui.job_form_pages import project_scripts
from lakeworks.ui.job_pages import duration
from lakeworks.ui.pages import flash, form_error, redirect, render

router = APIRouter()


@dataclass
class RunForm:
    """What the Run Experiment form holds (kept as typed when it is refused)."""

    script: str = ""
    arguments: str = ""
    runtime_identifier: str = ""
    cpu: str = "1"
    memory_gib: str = "2"
    comment: str = ""

    def to_fields(self) -> experiment_runs.RunFields:
        try:
            cpu = float(self.cpu)
            memory_gib = float(self.memory_gib)
        except ValueError:
            raise InvalidInput("vCPU and memory must be numbers, e.g. 1 and 2.") from None
        return experiment_runs.RunFields(
            script=self.script,
            arguments=self.arguments,
            runtime_identifier=self.runtime_identifier,
            cpu=cpu,
            memory_mb=bounds.memory_mb(memory_gib),
            comment=self.comment,
        )


def _url(project_id: str, run_id: str = "") -> str:
    base = f"/projects/{project_id}/legacy_experiments"
    return f"{base}/{run_id}" if run_id else base


def _context(view: ProjectView) -> dict[str, Any]:
    return {
        "nav": "projects",
        "tab": "legacy_experiments",
        "view": view,
        "project": view.project,
        "can_launch": projects.allowed(view, Action.CREATE_WORKLOADS),
        "can_stop": projects.allowed(view, Action.RUN_WORKLOADS),
        "duration": duration,
        "metric_text": experiment_runs.metric_text,
    }


def _list_page(
    request: Request,
    platform: PlatformDep,
    principal: Any,
    project_id: str,
    form: RunForm,
    *,
    status: int = 200,
    error: str = "",
) -> Response:
    view = projects.get(platform, principal, project_id)
    runs = experiment_runs.list_runs(platform, principal, project_id)
    can_launch = projects.allowed(view, Action.CREATE_WORKLOADS)
    return render(
        request,
        "legacy_experiments/list.html",
        _context(view)
        | {
            "runs": runs,
            "keys": experiment_runs.metric_keys(runs),
            "form": form,
            "open_form": bool(error),
            "scripts": project_scripts(platform, principal, project_id) if can_launch else [],
        },
        status=status,
        error=error or None,
    )


@router.get("/projects/{project_id}/legacy_experiments")
def list_page(
    request: Request, platform: PlatformDep, principal: UserDep, project_id: str
) -> Response:
    return _list_page(request, platform, principal, project_id, RunForm())


@router.post("/projects/{project_id}/legacy_experiments")
def launch(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    script: Annotated[str, Form()] = "",
    arguments: Annotated[str, Form()] = "",
    runtime_identifier: Annotated[str, Form()] = "",
    cpu: Annotated[str, Form()] = "1",
    memory_gib: Annotated[str, Form()] = "2",
    comment: Annotated[str, Form()] = "",
) -> Response:
    form = RunForm(script, arguments, runtime_identifier, cpu, memory_gib, comment)
    try:
        found = experiment_runs.create(platform, principal, project_id, form.to_fields())
    except LakeworksError as exc:
        form_error(request, exc)
        return _list_page(
            request, platform, principal, project_id, form, status=400, error=exc.message
        )
    flash(request, f"Run {found.id} is scheduled; it runs from a snapshot of the files taken now.")
    return redirect(_url(project_id, found.id))


@router.get("/projects/{project_id}/legacy_experiments/{run_id}")
def run_page(
    request: Request, platform: PlatformDep, principal: UserDep, project_id: str, run_id: str
) -> Response:
    view = projects.get(platform, principal, project_id)
    data, next_offset, found = experiment_runs.read_log(platform, principal, project_id, run_id)
    return render(
        request,
        "legacy_experiments/run.html",
        _context(view)
        | {
            "found": found,
            "run": found.run,
            "log": data.decode("utf-8", errors="replace"),
            "next_offset": next_offset,
            "active": found.status in ACTIVE_RUN_STATUSES,
            "stoppable": found.status in ACTIVE_RUN_STATUSES
            and found.status is not RunStatus.STOPPING,
            "tracked": experiment_runs.tracked_files(platform, principal, project_id, run_id),
            "snapshot": experiment_runs.snapshot_files(platform, principal, project_id, run_id),
        },
    )


@router.post("/projects/{project_id}/legacy_experiments/{run_id}/stop")
def stop(
    request: Request, platform: PlatformDep, principal: FormUserDep, project_id: str, run_id: str
) -> Response:
    try:
        found = experiment_runs.stop(platform, principal, project_id, run_id)
    except LakeworksError as exc:
        form_error(request, exc)
        flash(request, exc.message, "error")
    else:
        stopped = found.status is RunStatus.STOPPED
        flash(request, f"Run {found.id} {'was stopped' if stopped else 'is stopping'}.")
    return redirect(_url(project_id, run_id))
