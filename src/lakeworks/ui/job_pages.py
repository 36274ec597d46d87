"""Jobs: every job of the caller's projects, a project's jobs, one job with its pipeline and
run history, and one run with its live log. The create and edit forms are in
``job_form_pages``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request, Response

from lakeworks.entities.jobs import ACTIVE_RUN_STATUSES, Job, JobRun, RunStatus, Trigger
from lakeworks.errors import InvalidInput, LakeworksError, NotFound
from lakeworks.services import cron, job_runs, jobs, projects
from lakeworks.services.permissions import Action
from lakeworks.services.platform import Platform, Principal
from lakeworks.services.projects import ProjectView
from lakeworks.ui.deps import FormUserDep, PlatformDep, UserDep
from lakeworks.ui.pages import flash, form_error, redirect, render, safe_next

router = APIRouter()

RUNS_PAGE_SIZE = 50
MAX_PROJECTS = 200  # the all-jobs page lists the jobs of at most this many projects
TRIGGERS = {
    Trigger.MANUAL: "Run by hand",
    Trigger.API: "API call",
    Trigger.SCHEDULE: "Schedule",
    Trigger.DEPENDENCY: "Parent job succeeded",
}


def span(seconds: float) -> str:
    """A duration as people read it: "42 s", "3 min 05 s", "2 h 04 min", "3 d 2 h"."""
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def duration(run: JobRun, now: datetime | None = None) -> str:
    """How long a run ran, or has been running so far; empty before it starts."""
    if run.duration_seconds is not None:
        return span(run.duration_seconds)
    start = run.running_at or run.starting_at
    if start is None or run.finished_at is not None:
        return ""
    return span(max(((now or datetime.now(UTC)) - start).total_seconds(), 0))


def local_time(value: datetime | None, timezone: str) -> str:
    """A time in the job's own time zone, as its schedule is written in it."""
    if value is None:
        return ""
    try:
        zone = cron.zone(timezone)
    except InvalidInput:
        zone = ZoneInfo("UTC")
    return value.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")


def render_jobs(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    error: str = "",
) -> Response:
    """``render`` with the helpers every jobs template uses."""
    helpers = {
        "describe": jobs.describe_schedule,
        "duration": duration,
        "span": span,
        "local_time": local_time,
        "triggers": TRIGGERS,
    }
    return render(request, template, helpers | context, status=status, error=error or None)


def project_context(view: ProjectView) -> dict[str, Any]:
    return {
        "nav": "projects",
        "tab": "jobs",
        "view": view,
        "project": view.project,
        "can_run": projects.allowed(view, Action.RUN_WORKLOADS),
        "can_edit": projects.allowed(view, Action.CREATE_WORKLOADS),
    }


def job_url(project_id: str, job_id: str) -> str:
    return f"/projects/{project_id}/jobs/{job_id}"


# Lists ----------------------------------------------------------------------------------


@router.get("/jobs")
def all_jobs(request: Request, platform: PlatformDep, principal: UserDep) -> Response:
    views, truncated = projects.listed_by_name(platform, principal, MAX_PROJECTS)
    groups = []
    for view in views:
        project_jobs = jobs.list_jobs(platform, principal, view.project.id)
        if project_jobs:
            last = jobs.last_runs(platform, principal, view.project.id, project_jobs)
            names = {j.id: j.name for j in project_jobs}
            groups.append((view, project_jobs, last, names))
    return render_jobs(
        request,
        "jobs/all.html",
        {
            "nav": "jobs",
            "groups": groups,
            "project_count": len(views),
            "truncated": truncated,
            "max_projects": MAX_PROJECTS,
        },
    )


@router.get("/projects/{project_id}/jobs")
def project_jobs(
    request: Request, platform: PlatformDep, principal: UserDep, project_id: str
) -> Response:
    view = projects.get(platform, principal, project_id)
    project_jobs = jobs.list_jobs(platform, principal, project_id)
    return render_jobs(
        request,
        "jobs/list.html",
        project_context(view)
        | {
            "jobs": project_jobs,
            "names": {j.id: j.name for j in project_jobs},
            "last": jobs.last_runs(platform, principal, project_id, project_jobs),
        },
    )


# One job --------------------------------------------------------------------------------


def _stopped_at(parent: Job | None, last: dict[str, JobRun]) -> JobRun | None:
    """The parent's last run when it ended without success: the pipeline stopped there."""
    run = last.get(parent.id) if parent else None
    if run is not None and run.status.is_final and run.status is not RunStatus.SUCCEEDED:
        return run
    return None


@router.get("/projects/{project_id}/jobs/{job_id}")
def job_page(
    request: Request,
    platform: PlatformDep,
    principal: UserDep,
    project_id: str,
    job_id: str,
    page: int = 1,
) -> Response:
    view = projects.get(platform, principal, project_id)
    job = jobs.get(platform, principal, project_id, job_id)
    ancestors, children = job_runs.chain(platform, principal, project_id, job_id)
    stages = job_runs.pipeline(platform, principal, project_id, job_id)
    names = {item.id: item.name for stage in stages for item in stage}
    last = jobs.last_runs(platform, principal, project_id, [j for stage in stages for j in stage])
    page = max(page, 1)
    runs = job_runs.list_runs(
        platform,
        principal,
        project_id,
        job_id,
        offset=(page - 1) * RUNS_PAGE_SIZE,
        limit=RUNS_PAGE_SIZE + 1,
        newest_first=True,
    )
    parent = ancestors[-1] if ancestors else None
    return render_jobs(
        request,
        "jobs/job.html",
        project_context(view)
        | {
            "job": job,
            "ancestors": ancestors,
            "children": children,
            "stages": stages,
            "names": names,
            "parent": parent,
            "last": last,
            "stopped_at": _stopped_at(parent, last),
            "runs": runs[:RUNS_PAGE_SIZE],
            "page": page,
            "more": len(runs) > RUNS_PAGE_SIZE,
        },
    )


@router.post("/projects/{project_id}/jobs/{job_id}/run")
def run_job(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    job_id: str,
    next: Annotated[str, Form()] = "",
) -> Response:
    back = safe_next(next, job_url(project_id, job_id))
    try:
        run = job_runs.trigger(platform, principal, project_id, job_id, via=Trigger.MANUAL)
    except LakeworksError as exc:
        form_error(request, exc)
        flash(request, exc.message, "error")
        return redirect(back)
    flash(request, f"Run {run.id} is scheduled; it starts as soon as there is room.")
    return redirect(f"{job_url(project_id, job_id)}/runs/{run.id}")


@router.post("/projects/{project_id}/jobs/{job_id}/delete")
def delete_job(
    request: Request, platform: PlatformDep, principal: FormUserDep, project_id: str, job_id: str
) -> Response:
    job = jobs.get(platform, principal, project_id, job_id)
    jobs.delete(platform, principal, project_id, job_id)
    flash(request, f"Job {job.name!r} was deleted.")
    return redirect(f"/projects/{project_id}/jobs")


# One run --------------------------------------------------------------------------------


def _parent_run(
    platform: Platform, principal: Principal, job: Job, run: JobRun
) -> tuple[str, JobRun] | None:
    """The parent job's run that started this one, while that job is still the parent."""
    if not run.parent_run_id or not job.parent_id:
        return None
    try:
        parent_run = job_runs.get_run(
            platform, principal, job.project_id, job.parent_id, run.parent_run_id
        )
    except NotFound:
        return None
    return job.parent_id, parent_run


@router.get("/projects/{project_id}/jobs/{job_id}/runs/{run_id}")
def run_page(
    request: Request,
    platform: PlatformDep,
    principal: UserDep,
    project_id: str,
    job_id: str,
    run_id: str,
) -> Response:
    view = projects.get(platform, principal, project_id)
    job = jobs.get(platform, principal, project_id, job_id)
    data, next_offset, run = job_runs.run_log(platform, principal, project_id, job_id, run_id)
    return render_jobs(
        request,
        "jobs/run.html",
        project_context(view)
        | {
            "job": job,
            "run": run,
            "parent_run": _parent_run(platform, principal, job, run),
            "log": data.decode("utf-8", errors="replace"),
            "next_offset": next_offset,
            "active": run.status in ACTIVE_RUN_STATUSES,
            "can_stop": run.status in ACTIVE_RUN_STATUSES and run.status is not RunStatus.STOPPING,
        },
    )


@router.post("/projects/{project_id}/jobs/{job_id}/runs/{run_id}/stop")
def stop_run(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    job_id: str,
    run_id: str,
) -> Response:
    try:
        run = job_runs.stop_run(platform, principal, project_id, job_id, run_id)
    except LakeworksError as exc:
        form_error(request, exc)
        flash(request, exc.message, "error")
    else:
        if run.status is RunStatus.STOPPED:
            flash(request, f"Run {run.id} was stopped before it started.")
        else:
            flash(request, f"Run {run.id} is stopping.")
    return redirect(f"{job_url(project_id, job_id)}/runs/{run_id}")
