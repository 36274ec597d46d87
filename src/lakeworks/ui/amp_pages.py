"""The AMP setup page of a project: its tasks with state, duration and log link; retry or skip
the failed task."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from lakeworks.amps import runner, tasks
from lakeworks.entities.amps import SetupStatus
from lakeworks.services import projects
from lakeworks.services.permissions import Action
from lakeworks.ui.deps import FormUserDep, PlatformDep, UserDep
from lakeworks.ui.pages import flash, redirect, render

router = APIRouter()

STATUS_BADGES = {
    "pending": "badge-muted",
    "running": "badge-info",
    "succeeded": "badge-ok",
    "failed": "badge-danger",
    "skipped": "badge-warn",
}


@router.get("/projects/{project_id}/amp")
def amp_setup(
    request: Request, platform: PlatformDep, principal: UserDep, project_id: str
) -> Response:
    view = projects.get(platform, principal, project_id)
    setup = runner.get(platform, principal, project_id)
    return render(
        request,
        "projects/amp.html",
        {
            "nav": "projects",
            "tab": "overview",
            "view": view,
            "project": view.project,
            "setup": setup,
            "links": {t.position: tasks.log_link(t) for t in setup.tasks},
            "badges": STATUS_BADGES,
            "can_resume": setup.status is SetupStatus.FAILED
            and projects.allowed(view, Action.CHANGE_SETTINGS),
            # A running setup refreshes itself, as CML's progress view does.
            "refresh": setup.status is SetupStatus.RUNNING,
        },
    )


@router.post("/projects/{project_id}/amp/{verb}")
def amp_action(
    request: Request, platform: PlatformDep, principal: FormUserDep, project_id: str, verb: str
) -> Response:
    here = f"/projects/{project_id}/amp"
    if verb == "retry":
        runner.retry(platform, principal, project_id)
        flash(request, "The failed task runs again; the setup goes on from it.")
    elif verb == "skip":
        runner.skip(platform, principal, project_id)
        flash(request, "The failed task was skipped; the setup goes on with the next one.")
    else:
        flash(request, f"There is no AMP action {verb!r}.", "error")
    return redirect(here)
