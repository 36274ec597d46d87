"""The job create and edit form: script picker, resources, schedule builder, environment and
report recipients; and the cron reading the schedule builder asks for as you type."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import JSONResponse

from lakeworks import bounds
from lakeworks.entities.jobs import Job, Recipient, ResourceProfile, ScheduleKind
from lakeworks.entities.projects import EnvVar
from lakeworks.errors import InvalidInput, LakeworksError, PermissionDenied, http_status
from lakeworks.services import cron, files, jobs, projects, resources
from lakeworks.services.permissions import Action
from lakeworks.services.platform import Platform, Principal
from lakeworks.services.projects import ProjectView
from lakeworks.ui.deps import FormUserDep, PlatformDep, UserDep
from lakeworks.ui.job_pages import job_url, local_time, project_context, render_jobs
from lakeworks.ui.pages import flash, form_error, redirect
from lakeworks.ui.settings_pages import checked_env, parse_env_rows
from lakeworks.workload import SCRIPT_SUFFIXES

router = APIRouter()

StrList = Annotated[list[str], Form(default_factory=list)]

CUSTOM = "custom"
SKIPPED_FOLDERS = frozenset({"__pycache__", "node_modules", "venv"})
MAX_FOLDERS = 200  # the script picker walks at most this many folders
MAX_SCRIPTS = 500
TIMEZONES = (
    "UTC",
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Madrid",
    "Europe/Paris",
    "Europe/Berlin",
    "Africa/Johannesburg",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Sydney",
)
WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


def number(value: float) -> str:
    return f"{value:g}"


@dataclass
class JobForm:
    """The form as typed: strings and rows, kept as they are to show again after an error."""

    name: str = ""
    script: str = ""
    arguments: str = ""
    runtime_identifier: str = ""
    profile: str = CUSTOM
    cpu: str = "1"
    memory_gib: str = "2"
    timeout_minutes: str = "0"
    kill_on_timeout: bool = True
    kind: str = ScheduleKind.MANUAL.value
    schedule: str = ""
    timezone: str = cron.DEFAULT_TIMEZONE
    parent_id: str = ""
    paused: bool = False
    env: list[EnvVar] = field(default_factory=list)
    recipients: list[Recipient] = field(default_factory=list)

    @classmethod
    def of_job(cls, job: Job, profiles: list[ResourceProfile]) -> JobForm:
        return cls(
            name=job.name,
            script=job.script,
            arguments=job.arguments,
            runtime_identifier=job.runtime_identifier,
            profile=profile_of(job.cpu, job.memory_mb, profiles),
            cpu=number(job.cpu),
            memory_gib=number(job.memory_mb / 1024),
            timeout_minutes=number(job.timeout_seconds / 60),
            kill_on_timeout=job.kill_on_timeout,
            kind=job.schedule_kind.value,
            schedule=job.schedule,
            timezone=job.timezone,
            parent_id=job.parent_id or "",
            paused=job.paused,
            env=[EnvVar(name, value, secret=False) for name, value in job.environment.items()],
            recipients=list(job.recipients),
        )

    def to_fields(self, profiles: list[ResourceProfile]) -> jobs.JobFields:
        """The job the form describes; InvalidInput says what to correct."""
        chosen = next((p for p in profiles if p.name == self.profile), None)
        if chosen is not None:
            cpu, memory_mb = chosen.cpu, chosen.memory_mb
        elif self.profile == CUSTOM:
            cpu = _parse(self.cpu, "CPU must be a number of vCPUs, such as 1 or 0.5.")
            gib = _parse(self.memory_gib, "Memory must be a number of GiB, such as 2 or 0.5.")
            memory_mb = bounds.memory_mb(gib)
        else:
            raise InvalidInput(f"There is no resource profile {self.profile!r}.")
        if not self.script.strip():
            # The service reads an empty path as the project folder; say what is missing.
            raise InvalidInput("A job needs a script: a .py, .ipynb or .sh file of the project.")
        minutes = _parse(self.timeout_minutes or "0", "The timeout is a number of minutes.")
        schedule, parent_id = "", None
        if self.kind == ScheduleKind.CRON:
            schedule = self.schedule.strip()
            if not schedule:
                raise InvalidInput("Give a cron schedule, or build one with the schedule builder.")
        elif self.kind == ScheduleKind.DEPENDENT:
            parent_id = self.parent_id or None
            if parent_id is None:
                raise InvalidInput("Choose the parent job this job runs after.")
        env = checked_env(self.env)
        return jobs.JobFields(
            name=self.name,
            script=self.script.strip(),
            arguments=self.arguments,
            runtime_identifier=self.runtime_identifier.strip(),
            cpu=cpu,
            memory_mb=memory_mb,
            environment={v.name: v.value for v in env},
            timeout_seconds=round(minutes * 60),
            kill_on_timeout=self.kill_on_timeout,
            schedule=schedule,
            timezone=self.timezone.strip(),
            parent_id=parent_id,
            paused=self.paused,
            recipients=self.recipients,
        )


def _parse(value: str, message: str) -> float:
    try:
        parsed = float(value.strip())
    except ValueError:
        parsed = math.nan
    if not math.isfinite(parsed):
        raise InvalidInput(f"{message} {value!r} is not a number.")
    return parsed


def profile_of(cpu: float, memory_mb: int, profiles: list[ResourceProfile]) -> str:
    match = next((p for p in profiles if p.cpu == cpu and p.memory_mb == memory_mb), None)
    return match.name if match else CUSTOM


def recipient_rows(
    emails: list[str], success: list[str], failure: list[str], timeout: list[str], stop: list[str]
) -> list[Recipient]:
    """Recipient rows: checkboxes send the numbers of the rows ticked; blank rows are unused."""
    return [
        Recipient(
            email.strip(),
            on_success=str(i) in success,
            on_failure=str(i) in failure,
            on_timeout=str(i) in timeout,
            on_stop=str(i) in stop,
        )
        for i, email in enumerate(emails)
        if email.strip()
    ]


def job_profiles(platform: Platform, principal: Principal) -> list[ResourceProfile]:
    # For the picker only: the job keeps the cpu and memory, not the profile.
    return [p for p in resources.profiles(platform, principal) if not p.gpu]


def project_scripts(platform: Platform, principal: Principal, project_id: str) -> list[str]:
    """Scripts a job can run, breadth first, skipping hidden and generated folders."""
    scripts: list[str] = []
    folders, visited = deque([""]), 0
    while folders and visited < MAX_FOLDERS and len(scripts) < MAX_SCRIPTS:
        folder = folders.popleft()
        visited += 1
        for entry in files.list_dir(platform, principal, project_id, folder):
            if entry.name.startswith("."):
                continue
            if entry.is_dir:
                if entry.name not in SKIPPED_FOLDERS:
                    folders.append(entry.path)
            elif entry.name.endswith(SCRIPT_SUFFIXES):
                scripts.append(entry.path)
    return sorted(scripts[:MAX_SCRIPTS], key=lambda p: (p.count("/"), p.lower()))


def _editable(platform: Platform, principal: Principal, project_id: str) -> ProjectView:
    view = projects.get(platform, principal, project_id)
    if not projects.allowed(view, Action.CREATE_WORKLOADS):
        # Only hides a form its service would refuse; the service checks again on save.
        raise PermissionDenied(
            f"Your role on project {view.project.name!r} is {view.role.value}; "
            "you need contributor or above to create or change jobs."
        )
    return view


def _form_page(
    request: Request,
    platform: Platform,
    principal: Principal,
    view: ProjectView,
    form: JobForm,
    *,
    job: Job | None = None,
    status: int = 200,
    error: str = "",
) -> Response:
    project_id = view.project.id
    others = [
        j for j in jobs.list_jobs(platform, principal, project_id) if not job or j.id != job.id
    ]
    return render_jobs(
        request,
        "jobs/form.html",
        project_context(view)
        | {
            "job": job,
            "form": form,
            "reading": cron.describe(form.schedule) if form.schedule.strip() else "",
            "scripts": project_scripts(platform, principal, project_id),
            "parents": others,
            "profiles": job_profiles(platform, principal),
            "timezones": TIMEZONES,
            "weekdays": WEEKDAYS,
        },
        status=status,
        error=error,
    )


def posted_form(
    env_name: StrList,
    env_value: StrList,
    env_remove: StrList,
    rcpt_email: StrList,
    rcpt_success: StrList,
    rcpt_failure: StrList,
    rcpt_timeout: StrList,
    rcpt_stop: StrList,
    name: Annotated[str, Form()] = "",
    script: Annotated[str, Form()] = "",
    arguments: Annotated[str, Form()] = "",
    runtime_identifier: Annotated[str, Form()] = "",
    profile: Annotated[str, Form()] = CUSTOM,
    cpu: Annotated[str, Form()] = "1",
    memory_gib: Annotated[str, Form()] = "2",
    timeout_minutes: Annotated[str, Form()] = "0",
    kill_on_timeout: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = ScheduleKind.MANUAL.value,
    schedule: Annotated[str, Form()] = "",
    timezone: Annotated[str, Form()] = cron.DEFAULT_TIMEZONE,
    parent_id: Annotated[str, Form()] = "",
    paused: Annotated[str, Form()] = "",
) -> JobForm:
    """The posted form; unticked checkboxes are simply absent."""
    return JobForm(
        name=name,
        script=script,
        arguments=arguments,
        runtime_identifier=runtime_identifier,
        profile=profile,
        cpu=cpu,
        memory_gib=memory_gib,
        timeout_minutes=timeout_minutes,
        kill_on_timeout=bool(kill_on_timeout),
        kind=kind,
        schedule=schedule,
        timezone=timezone,
        parent_id=parent_id,
        paused=bool(paused),
        env=parse_env_rows(env_name, env_value, [], env_remove),
        recipients=recipient_rows(rcpt_email, rcpt_success, rcpt_failure, rcpt_timeout, rcpt_stop),
    )


PostedForm = Annotated[JobForm, Depends(posted_form)]


def _changes(values: jobs.JobFields) -> dict[str, Any]:
    # Every field: the form shows them all, so what it posts is the whole job.
    return {f.name: getattr(values, f.name) for f in fields(values)}


@router.get("/projects/{project_id}/jobs/new")
def new_job(
    request: Request,
    platform: PlatformDep,
    principal: UserDep,
    project_id: str,
    parent: str = "",
) -> Response:
    view = _editable(platform, principal, project_id)
    profiles = job_profiles(platform, principal)
    defaults = jobs.JobFields(name="", script="")
    form = JobForm(
        profile=profile_of(defaults.cpu, defaults.memory_mb, profiles),
        cpu=number(defaults.cpu),
        memory_gib=number(defaults.memory_mb / 1024),
    )
    if parent:
        form.kind, form.parent_id = ScheduleKind.DEPENDENT.value, parent
    return _form_page(request, platform, principal, view, form)


@router.post("/projects/{project_id}/jobs/new")
def create_job(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    form: PostedForm,
) -> Response:
    view = projects.get(platform, principal, project_id)
    try:
        job = jobs.create(
            platform, principal, project_id, form.to_fields(job_profiles(platform, principal))
        )
    except LakeworksError as exc:
        form_error(request, exc)
        return _form_page(
            request, platform, principal, view, form, status=http_status(exc), error=exc.message
        )
    flash(request, f"Job {job.name!r} created.")
    return redirect(job_url(project_id, job.id))


@router.get("/projects/{project_id}/jobs/{job_id}/edit")
def edit_job(
    request: Request, platform: PlatformDep, principal: UserDep, project_id: str, job_id: str
) -> Response:
    view = _editable(platform, principal, project_id)
    job = jobs.get(platform, principal, project_id, job_id)
    form = JobForm.of_job(job, job_profiles(platform, principal))
    return _form_page(request, platform, principal, view, form, job=job)


@router.post("/projects/{project_id}/jobs/{job_id}/edit")
def update_job(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    job_id: str,
    form: PostedForm,
) -> Response:
    view = projects.get(platform, principal, project_id)
    job = jobs.get(platform, principal, project_id, job_id)
    try:
        values = form.to_fields(job_profiles(platform, principal))
        job = jobs.update(platform, principal, project_id, job_id, _changes(values))
    except LakeworksError as exc:
        form_error(request, exc)
        return _form_page(
            request,
            platform,
            principal,
            view,
            form,
            job=job,
            status=http_status(exc),
            error=exc.message,
        )
    flash(request, f"Job {job.name!r} saved.")
    return redirect(job_url(project_id, job_id))


@router.get("/projects/{project_id}/jobs:describe")
def describe_cron(
    platform: PlatformDep,
    principal: UserDep,
    project_id: str,
    expression: Annotated[str, Query(alias="cron")] = "",
    timezone: str = "",
) -> JSONResponse:
    """The schedule builder's live reading: {text, valid, error, next}."""
    projects.get(platform, principal, project_id)  # only for people who can see the project
    try:
        normal = cron.validate(expression)
    except InvalidInput as exc:
        return JSONResponse({"text": "", "valid": False, "error": exc.message, "next": ""})
    try:
        upcoming = cron.next_fire(normal, timezone or cron.DEFAULT_TIMEZONE, datetime.now(UTC))
        next_text = local_time(upcoming, timezone or cron.DEFAULT_TIMEZONE)
    except InvalidInput:
        next_text = ""  # the form says what is wrong with the time zone when it is saved
    body = {"text": cron.describe(normal), "valid": True, "error": None, "next": next_text}
    return JSONResponse(body)
