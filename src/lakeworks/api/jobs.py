"""/api/v2/projects/{id}/jobs and their runs (CML shapes)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from lakeworks.api import responses
from lakeworks.api.deps import PlatformDep, PrincipalDep
from lakeworks.api.listing import ListParams, list_params, parse_filter, parse_page, parse_sort
from lakeworks.api.schemas import (
    Cpu,
    EnvironmentIn,
    JobTimeout,
    Lenient,
    MemoryGiB,
    Name,
    Text,
    rfc3339,
)
from lakeworks.api.strict_json import StrictJSONRoute
from lakeworks.entities.jobs import Job, JobRun, Recipient, RunStatus, Trigger
from lakeworks.errors import InvalidInput
from lakeworks.services import job_runs, jobs
from lakeworks.services.platform import Platform, Principal

router = APIRouter(tags=["jobs"], route_class=StrictJSONRoute)

DEFAULT_RUN_PAGE = 100  # scripts index [-1] of unpaged lists as "newest" (compat §6.4)


class RecipientIn(Lenient):
    email: Name
    notify_on_success: bool = False
    notify_on_failure: bool = True
    notify_on_timeout: bool = True
    notify_on_stop: bool = False

    def entity(self) -> Recipient:
        return Recipient(
            self.email.strip(),
            self.notify_on_success,
            self.notify_on_failure,
            self.notify_on_timeout,
            self.notify_on_stop,
        )


def _none_to_empty(value: Any) -> Any:
    return "" if value is None else value


class JobIn(Lenient):
    """CreateJobRequest and the PATCH body of update_job (unknown keys ignored)."""

    name: Name | None = None
    script: Text | None = None
    arguments: Text | None = None
    runtime_identifier: Name | None = None
    kernel: Name | None = None
    cpu: Cpu = None
    memory: MemoryGiB = None  # GB, as CML
    environment: EnvironmentIn = None
    timeout: JobTimeout = None
    kill_on_timeout: bool | None = None
    schedule: Name | None = None
    timezone: Name | None = None
    parent_id: Name | None = None
    parent_job_id: Name | None = None
    paused: bool | None = None
    recipients: list[RecipientIn] | None = None

    def changes(self) -> dict[str, Any]:
        """JobFields names → values for the fields this body sets."""
        out: dict[str, Any] = {}
        given = self.model_fields_set
        for name in (
            "name",
            "script",
            "arguments",
            "runtime_identifier",
            "schedule",
            "timezone",
            "paused",
            "kill_on_timeout",
            "cpu",
            "environment",
        ):
            value = getattr(self, name)
            if name in given and value is not None:
                out[name] = value
        if "memory" in given and self.memory is not None:
            out["memory_mb"] = round(self.memory * 1024)
        if "timeout" in given and self.timeout is not None:
            out["timeout_seconds"] = int(self.timeout)
        parent = self.parent_job_id if "parent_job_id" in given else self.parent_id
        if "parent_job_id" in given or "parent_id" in given:
            out["parent_id"] = parent or None  # "" means none
        if "recipients" in given and self.recipients is not None:
            out["recipients"] = [r.entity() for r in self.recipients]
        return out


class RunIn(Lenient):
    arguments: Text | None = None
    environment: EnvironmentIn = None


def job_out(job: Job, last: JobRun | None = None) -> dict[str, Any]:
    return {
        "id": job.id,
        "project_id": job.project_id,
        "name": job.name,
        "script": job.script,
        "arguments": job.arguments,
        "cpu": job.cpu,
        "memory": job.memory_mb / 1024,
        "nvidia_gpu": 0,
        "kernel": "python3",
        "runtime_identifier": job.runtime_identifier,
        "runtime_addon_identifiers": [],
        "engine_image_id": "",
        "environment": json.dumps(job.environment),
        "parent_id": job.parent_id or "",
        "type": job.schedule_kind.value,
        "schedule": job.schedule,
        "english_schedule": jobs.describe_schedule(job),
        "timezone": job.timezone,
        "paused": job.paused,
        "timeout": job.timeout_seconds,
        "kill_on_timeout": job.kill_on_timeout,
        "recipients": [
            {
                "email": r.email,
                "notify_on_success": r.on_success,
                "notify_on_failure": r.on_failure,
                "notify_on_timeout": r.on_timeout,
                "notify_on_stop": r.on_stop,
            }
            for r in job.recipients
        ],
        "creator": {"username": job.creator_username, "name": job.creator_username, "email": ""},
        "next_fire_at": rfc3339(job.next_fire_at),
        "created_at": rfc3339(job.created_at),
        "updated_at": rfc3339(job.updated_at),
        "latest": run_out(last) if last else None,
    }


def run_out(run: JobRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "job_id": run.job_id,
        "project_id": run.project_id,
        "status": run.status.engine_status,
        "trigger": run.trigger.value,
        "engine_id": run.workload_id or "",
        "created_at": rfc3339(run.created_at),
        "scheduling_at": rfc3339(run.created_at),
        "starting_at": rfc3339(run.starting_at),
        "running_at": rfc3339(run.running_at),
        "finished_at": rfc3339(run.finished_at),
        "scheduled_for": rfc3339(run.scheduled_for),
        "duration_seconds": run.duration_seconds,
        "exit_code": run.exit_code,
        "reason": run.reason,
        "cpu": run.cpu,
        "memory": run.memory_mb / 1024,
        "nvidia_gpu": 0,
        "kernel": "python3",
        "arguments": run.arguments,
        "environment": json.dumps(run.environment),
        "creator": {"username": run.username, "name": run.username, "email": ""},
        "parent_run_id": run.parent_run_id or "",
    }


def _fields(body: JobIn) -> jobs.JobFields:
    changes = body.changes()
    if not changes.get("name"):
        raise InvalidInput("A job needs a name.")
    if not changes.get("script"):
        raise InvalidInput("A job needs a script.")
    changes.setdefault("memory_mb", 1024)  # CML's default: 1 GB
    return jobs.JobFields(**changes)


@router.get("/jobs", operation_id="list_all_jobs", response_model=responses.ListJobsResponse)
def list_all_jobs(
    platform: PlatformDep,
    principal: PrincipalDep,
    params: Annotated[ListParams, Depends(list_params)],
) -> dict[str, Any]:
    """Jobs of every project the caller belongs to (CML's ``list_all_jobs``)."""
    return _job_page(platform, principal, jobs.list_all(platform, principal), params)


@router.get(
    "/projects/{project_id}/jobs",
    operation_id="list_jobs",
    response_model=responses.ListJobsResponse,
)
def list_jobs(
    project_id: str,
    platform: PlatformDep,
    principal: PrincipalDep,
    params: Annotated[ListParams, Depends(list_params)],
) -> dict[str, Any]:
    return _job_page(platform, principal, jobs.list_jobs(platform, principal, project_id), params)


def _job_page(
    platform: Platform, principal: Principal, all_jobs: list[Job], params: ListParams
) -> dict[str, Any]:
    page = parse_page(params.page_size, params.page_token, DEFAULT_RUN_PAGE)
    wanted = parse_filter(params.search_filter)
    unknown = set(wanted) - {"name", "script", "type", "paused"}
    if unknown:
        raise InvalidInput(
            f"Jobs cannot be filtered by {sorted(unknown)}; use name, script, type, paused."
        )
    for key, value in wanted.items():
        if key in ("name", "script"):
            all_jobs = [j for j in all_jobs if value.lower() in getattr(j, key).lower()]
        elif key == "type":
            all_jobs = [j for j in all_jobs if j.schedule_kind.value == value]
        else:
            all_jobs = [j for j in all_jobs if str(j.paused).lower() == value.lower()]
    for field, ascending in reversed(parse_sort(params.sort)):
        if field not in ("name", "created_at", "updated_at"):
            raise InvalidInput(
                f"Jobs cannot be sorted by {field!r}; use name, created_at, updated_at."
            )
        all_jobs.sort(key=lambda j: getattr(j, field), reverse=not ascending)
    chunk = all_jobs[page.offset : page.offset + page.size]
    last: dict[str, JobRun] = {}
    for project_id in {j.project_id for j in chunk}:
        last |= jobs.last_runs(
            platform, principal, project_id, [j for j in chunk if j.project_id == project_id]
        )
    return {
        "jobs": [job_out(j, last.get(j.id)) for j in chunk],
        "next_page_token": page.next_token(page.offset + page.size < len(all_jobs)),
    }


@router.post("/projects/{project_id}/jobs", operation_id="create_job", response_model=responses.Job)
def create_job(
    project_id: str, body: JobIn, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    return job_out(jobs.create(platform, principal, project_id, _fields(body)))


@router.get(
    "/projects/{project_id}/jobs/{job_id}", operation_id="get_job", response_model=responses.Job
)
def get_job(
    project_id: str, job_id: str, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    job = jobs.get(platform, principal, project_id, job_id)
    return job_out(job, jobs.last_runs(platform, principal, project_id, [job]).get(job.id))


@router.patch(
    "/projects/{project_id}/jobs/{job_id}", operation_id="update_job", response_model=responses.Job
)
def update_job(
    project_id: str, job_id: str, body: JobIn, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    return job_out(jobs.update(platform, principal, project_id, job_id, body.changes()))


@router.delete(
    "/projects/{project_id}/jobs/{job_id}",
    operation_id="delete_job",
    response_model=responses.Deleted,
)
def delete_job(
    project_id: str, job_id: str, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    jobs.delete(platform, principal, project_id, job_id)
    return {}


@router.get(
    "/projects/{project_id}/jobs/{job_id}/runs",
    operation_id="list_job_runs",
    response_model=responses.ListJobRunsResponse,
)
def list_runs(
    project_id: str,
    job_id: str,
    platform: PlatformDep,
    principal: PrincipalDep,
    params: Annotated[ListParams, Depends(list_params)],
) -> dict[str, Any]:
    page = parse_page(params.page_size, params.page_token, DEFAULT_RUN_PAGE)
    wanted = parse_filter(params.search_filter)
    if set(wanted) - {"status"}:
        raise InvalidInput("Job runs can be filtered by status only.")
    status = None
    if "status" in wanted:
        short = wanted["status"].lower().removeprefix("engine_").replace("scheduling", "scheduled")
        try:
            status = RunStatus(short)
        except ValueError:
            raise InvalidInput(f"{wanted['status']!r} is not a run status.") from None
    sort = parse_sort(params.sort)
    if any(field != "created_at" for field, _ in sort):
        raise InvalidInput("Job runs can be sorted by created_at only.")
    newest_first = bool(sort) and not sort[0][1]
    runs = job_runs.list_runs(
        platform,
        principal,
        project_id,
        job_id,
        offset=page.offset,
        limit=page.size + 1,
        newest_first=newest_first,
        status=status,
    )
    return {
        "job_runs": [run_out(r) for r in runs[: page.size]],
        "next_page_token": page.next_token(len(runs) > page.size),
    }


@router.post(
    "/projects/{project_id}/jobs/{job_id}/runs",
    operation_id="create_job_run",
    response_model=responses.JobRun,
)
def create_run(
    project_id: str,
    job_id: str,
    platform: PlatformDep,
    principal: PrincipalDep,
    body: RunIn | None = None,
) -> dict[str, Any]:
    body = body or RunIn()
    run = job_runs.trigger(
        platform,
        principal,
        project_id,
        job_id,
        via=Trigger.API,
        arguments=body.arguments,
        environment=body.environment,
    )
    return run_out(run)


@router.get(
    "/projects/{project_id}/jobs/{job_id}/runs/{run_id}",
    operation_id="get_job_run",
    response_model=responses.JobRun,
)
def get_run(
    project_id: str, job_id: str, run_id: str, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    run_id, _, verb = run_id.partition(":")
    if verb:
        raise InvalidInput(f":{verb} needs POST.")
    return run_out(job_runs.get_run(platform, principal, project_id, job_id, run_id))


@router.post(
    "/projects/{project_id}/jobs/{job_id}/runs/{run_id}",
    operation_id="stop_job_run",
    response_model=responses.JobRun,
)
def stop_run(
    project_id: str, job_id: str, run_id: str, platform: PlatformDep, principal: PrincipalDep
) -> dict[str, Any]:
    """``POST …/runs/{run_id}:stop`` (CML's custom verb)."""
    run_id, _, verb = run_id.partition(":")
    if verb != "stop":
        raise InvalidInput("Use POST …/runs/{run_id}:stop.")
    return run_out(job_runs.stop_run(platform, principal, project_id, job_id, run_id))


@router.get(
    "/projects/{project_id}/jobs/{job_id}/runs/{run_id}/logs",
    operation_id="get_job_run_logs",
    response_model=responses.JobRunLog,
)
def run_logs(
    project_id: str,
    job_id: str,
    run_id: str,
    platform: PlatformDep,
    principal: PrincipalDep,
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    """Lakeworks extension: log text from ``offset``; poll with ``next_offset`` while
    ``finished`` is false to follow a run live."""
    data, next_offset, run = job_runs.run_log(
        platform, principal, project_id, job_id, run_id, offset
    )
    return {
        "text": data.decode("utf-8", errors="replace"),
        "offset": offset,
        "next_offset": next_offset,
        "finished": run.status.is_final,
        "status": run.status.engine_status,
    }
