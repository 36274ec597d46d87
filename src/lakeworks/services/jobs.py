"""Jobs: their definitions (script, resources, schedule, parent, recipients), checked and
audited; who may see and change them. Runs, triggers, pipelines and the run state machine are
``services/job_runs.py``."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from lakeworks import bounds
from lakeworks.entities.jobs import (
    Job,
    JobKind,
    JobRun,
    Recipient,
    ScheduleKind,
)
from lakeworks.errors import InvalidInput, NotFound
from lakeworks.services import cron, files, projects, workloads
from lakeworks.services.ids import public_id
from lakeworks.services.permissions import Action, require
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.tables import utcnow
from lakeworks.store.uow import UnitOfWork
from lakeworks.workload import SCRIPT_SUFFIXES

log = logging.getLogger(__name__)

MAX_TIMEOUT_SECONDS = bounds.MAX_JOB_TIMEOUT_SECONDS


@dataclass(frozen=True)
class JobFields:
    """A job's editable fields, already parsed (API and UI both fill this)."""

    name: str
    script: str
    arguments: str = ""
    runtime_identifier: str = ""
    cpu: float = 1.0
    memory_mb: int = 2048
    environment: Mapping[str, object] | None = None
    timeout_seconds: int = 0
    kill_on_timeout: bool = True
    schedule: str = ""  # a cron expression makes it a cron job
    timezone: str = cron.DEFAULT_TIMEZONE
    parent_id: str | None = None  # makes it a dependent job
    paused: bool = False
    recipients: Sequence[Recipient] = ()


# Definitions ---------------------------------------------------------------------------


def _check(
    uow: UnitOfWork,
    platform: Platform,
    principal: Principal,
    project_id: str,
    fields: JobFields,
    job_id: str | None,
) -> dict[str, Any]:
    """Validate fields; return the column values to store."""
    name = bounds.check_name("A job name", fields.name.strip())
    if not name:
        raise InvalidInput("A job needs a name.")
    bounds.check_text("arguments", fields.arguments)
    script = files.clean_relative(fields.script).as_posix() if fields.script.strip() else ""
    if script in ("", "."):
        raise InvalidInput("A job needs a script: a .py, .ipynb or .sh file of the project.")
    if not script.endswith(SCRIPT_SUFFIXES):
        raise InvalidInput(f"{script!r} is not a script Lakeworks can run (.py, .ipynb, .sh).")
    location = files.resolve(files.project_root(platform, project_id), script)
    if not location.is_file():
        raise InvalidInput(f"Script {script!r} does not exist in the project.")
    bounds.check_resources(fields.cpu, fields.memory_mb)
    if not 0 <= fields.timeout_seconds <= MAX_TIMEOUT_SECONDS:
        raise InvalidInput(f"timeout must be between 0 (none) and {MAX_TIMEOUT_SECONDS} s.")
    parent_id = fields.parent_id or None
    schedule = fields.schedule.strip()
    if schedule and parent_id:
        raise InvalidInput("A job runs on a schedule or after a parent job, not both.")
    kind = ScheduleKind.MANUAL
    next_fire: datetime | None = None
    cron.zone(fields.timezone)
    if schedule:
        schedule = cron.validate(schedule)
        kind = ScheduleKind.CRON
        next_fire = cron.next_fire(schedule, fields.timezone, utcnow())
    if parent_id:
        kind = ScheduleKind.DEPENDENT
        parent = uow.jobs.get(parent_id)
        if parent is None or parent.project_id != project_id or parent.kind is not JobKind.JOB:
            raise InvalidInput(f"Parent job {parent_id!r} is not a job of this project.")
        _refuse_cycle(uow, parent, job_id)
    for recipient in fields.recipients:
        if "@" not in recipient.email or any(c.isspace() for c in recipient.email):
            raise InvalidInput(f"{recipient.email!r} is not an email address.")
    env = projects.validate_env(fields.environment or {})
    return {
        "name": name[:200],
        "script": script,
        "arguments": fields.arguments or "",
        "runtime_identifier": fields.runtime_identifier or "",
        "cpu": float(fields.cpu),
        "memory_mb": int(fields.memory_mb),
        "environment": {v.name: v.value for v in env},
        "timeout_seconds": int(fields.timeout_seconds),
        "kill_on_timeout": bool(fields.kill_on_timeout),
        "schedule_kind": kind.value,
        "schedule": schedule,
        "timezone": fields.timezone or "UTC",
        "parent_id": parent_id,
        "paused": bool(fields.paused),
        "recipients": [vars(r) for r in fields.recipients],
        "next_fire_at": next_fire,
    }


def _refuse_cycle(uow: UnitOfWork, parent: Job, job_id: str | None) -> None:
    seen: list[str] = []
    current: Job | None = parent
    while current is not None:
        if job_id is not None and current.id == job_id:
            # Top down, from this job (the highest ancestor found) to the would-be parent.
            chain = " → ".join([current.name, *reversed(seen)])
            raise InvalidInput(f"That parent would make a cycle: {chain} → back to this job.")
        if current.id in seen:
            break
        seen.append(current.name)
        current = uow.jobs.get(current.parent_id) if current.parent_id else None


def create(platform: Platform, principal: Principal, project_id: str, fields: JobFields) -> Job:
    with platform.command(
        principal, "job.create", target=fields.name, project_id=project_id
    ) as cmd:
        require(cmd.uow, principal, project_id, Action.CREATE_WORKLOADS)
        values = _check(cmd.uow, platform, principal, project_id, fields, None)
        now = utcnow()
        job = cmd.uow.jobs.add(
            id=public_id(),
            project_id=project_id,
            creator_id=principal.user.id,
            created_at=now,
            updated_at=now,
            **values,
        )
        cmd.target = job.id
        cmd.detail = {"name": job.name, "schedule": job.schedule, "parent_id": job.parent_id}
        return job


def update(
    platform: Platform,
    principal: Principal,
    project_id: str,
    job_id: str,
    changes: Mapping[str, Any],
) -> Job:
    """PATCH: ``changes`` holds JobFields names to change; absent ones stay."""
    with platform.command(principal, "job.update", target=job_id, project_id=project_id) as cmd:
        require(cmd.uow, principal, project_id, Action.CREATE_WORKLOADS)
        job = require_job(cmd.uow, project_id, job_id)
        current = JobFields(
            name=job.name,
            script=job.script,
            arguments=job.arguments,
            runtime_identifier=job.runtime_identifier,
            cpu=job.cpu,
            memory_mb=job.memory_mb,
            environment=job.environment,
            timeout_seconds=job.timeout_seconds,
            kill_on_timeout=job.kill_on_timeout,
            schedule=job.schedule,
            timezone=job.timezone,
            parent_id=job.parent_id,
            paused=job.paused,
            recipients=job.recipients,
        )
        unknown = set(changes) - set(JobFields.__dataclass_fields__)
        if unknown:
            raise InvalidInput(f"Jobs have no field(s) {sorted(unknown)}.")
        updated = replace(current, **changes)
        if "schedule" in changes and changes["schedule"] and "parent_id" not in changes:
            updated = replace(updated, parent_id=None)
        if "parent_id" in changes and changes["parent_id"] and "schedule" not in changes:
            updated = replace(updated, schedule="")
        values = _check(cmd.uow, platform, principal, project_id, updated, job_id)
        if (
            job.schedule == values["schedule"]
            and job.timezone == values["timezone"]
            and job.next_fire_at is not None
        ):
            values["next_fire_at"] = job.next_fire_at  # keep the pending fire
        cmd.uow.jobs.update(job_id, updated_at=utcnow(), **values)
        cmd.detail = {k: str(v) for k, v in changes.items() if k != "environment"}
        result = cmd.uow.jobs.get(job_id)
        assert result is not None
        return result


def delete(platform: Platform, principal: Principal, project_id: str, job_id: str) -> None:
    """Delete a job; an active run is stopped first and its workload record is kept."""
    with platform.command(principal, "job.delete", target=job_id, project_id=project_id) as cmd:
        require(cmd.uow, principal, project_id, Action.CREATE_WORKLOADS)
        job = require_job(cmd.uow, project_id, job_id)
        active = cmd.uow.jobs.active_run(job_id)
        cmd.detail = {"name": job.name}
        for child in cmd.uow.jobs.children(job_id):
            cmd.uow.jobs.update(child.id, parent_id=None, schedule_kind=ScheduleKind.MANUAL.value)
        cmd.uow.jobs.delete(job_id)
    if active is not None and active.workload_id:
        workloads.request_stop(platform, active.workload_id, "its job was deleted")


def get(platform: Platform, principal: Principal, project_id: str, job_id: str) -> Job:
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        return require_job(uow, project_id, job_id)


def list_jobs(platform: Platform, principal: Principal, project_id: str) -> list[Job]:
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        return list(uow.jobs.of_project(project_id))


def list_all(platform: Platform, principal: Principal) -> list[Job]:
    """Every job of the caller's projects, oldest first (API v2 ``GET /jobs``)."""
    from lakeworks.services import projects

    project_ids: list[str] = []
    more = True
    while more:
        views, more = projects.list_projects(
            platform, principal, offset=len(project_ids), limit=500
        )
        project_ids += [v.project.id for v in views]
        more = more and bool(views)
    with platform.read() as uow:
        found = [job for pid in project_ids for job in uow.jobs.of_project(pid)]
    return sorted(found, key=lambda j: (j.created_at, j.id))


def last_runs(
    platform: Platform, principal: Principal, project_id: str, jobs: Sequence[Job]
) -> dict[str, JobRun]:
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        return uow.jobs.last_runs([j.id for j in jobs])


def require_job(uow: UnitOfWork, project_id: str, job_id: str) -> Job:
    job = uow.jobs.get(job_id)
    # A legacy experiment run's hidden job is not a job of the project (experiment_runs.py).
    if job is None or job.project_id != project_id or job.kind is not JobKind.JOB:
        raise NotFound(f"Job {job_id!r} not found in this project.")
    return job


def describe_schedule(job: Job) -> str:
    if job.schedule_kind is ScheduleKind.CRON:
        return cron.describe(job.schedule)
    if job.schedule_kind is ScheduleKind.DEPENDENT:
        return "After its parent job succeeds"
    return "Manual"
