"""Jobs and job runs: definitions, triggers, pipelines, stops, and the run state machine.

Policy for a trigger while a run of the same job is still active (scheduled, starting,
running or stopping):

- a cron fire or a parent's success records a run with status ``skipped`` and a reason
  naming the active run, so the history shows the missed work;
- a person (UI) or a client (API) is refused with 409, saying which run is active.

Pipelines: when a run succeeds, every job whose parent is that job gets a run (trigger
``dependency``). A failed, stopped or timed-out run triggers nothing, and its children's
pages say the chain stopped there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from lakeworks import bounds
from lakeworks.entities.jobs import (
    DueFire,
    Job,
    JobKind,
    JobRun,
    Recipient,
    RunStatus,
    ScheduleKind,
    Trigger,
)
from lakeworks.entities.workloads import Resources, WorkloadKind, WorkloadStatus
from lakeworks.errors import Conflict, InvalidInput, InvalidState, NotFound
from lakeworks.services import cron, environment, files, notify, projects, workloads
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
            chain = " → ".join([*reversed(seen), current.name])
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
        job = _job(cmd.uow, project_id, job_id)
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
        job = _job(cmd.uow, project_id, job_id)
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
        return _job(uow, project_id, job_id)


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


def _job(uow: UnitOfWork, project_id: str, job_id: str) -> Job:
    job = uow.jobs.get(job_id)
    # A legacy experiment run's hidden job is not a job of the project (experiment_runs.py).
    if job is None or job.project_id != project_id or job.kind is not JobKind.JOB:
        raise NotFound(f"Job {job_id!r} not found in this project.")
    return job


# Runs -----------------------------------------------------------------------------------


def trigger(
    platform: Platform,
    principal: Principal,
    project_id: str,
    job_id: str,
    *,
    via: Trigger = Trigger.API,
    arguments: str | None = None,
    environment: Mapping[str, object] | None = None,
) -> JobRun:
    """Start a run now (people and API clients). Operators may run existing jobs."""
    with platform.command(principal, "job.run", target=job_id, project_id=project_id) as cmd:
        require(cmd.uow, principal, project_id, Action.RUN_WORKLOADS)
        job = _job(cmd.uow, project_id, job_id)
        active = cmd.uow.jobs.active_run(job_id)
        if active is not None:
            raise Conflict(
                f"Run {active.id} of job {job.name!r} is still {active.status.value}; "
                "stop it or wait for it to end."
            )
        env = projects.validate_env(environment or {})
        run = _add_run(
            cmd.uow,
            job,
            via,
            principal.user.id,
            arguments,
            {v.name: v.value for v in env},
            parent_run_id=None,
            scheduled_for=None,
        )
        cmd.target = run.id
        cmd.detail = {"job": job.name, "trigger": via.value}
    platform.nudge()
    return run


def _add_run(
    uow: UnitOfWork,
    job: Job,
    via: Trigger,
    user_id: int,
    arguments: str | None,
    environment: dict[str, str],
    *,
    parent_run_id: str | None,
    scheduled_for: datetime | None,
    status: RunStatus = RunStatus.SCHEDULED,
    reason: str = "",
) -> JobRun:
    now = utcnow()
    return uow.jobs.add_run(
        id=public_id(),
        job_id=job.id,
        project_id=job.project_id,
        status=status.value,
        trigger=via.value,
        user_id=user_id,
        arguments=job.arguments if arguments is None else arguments,
        environment=environment,
        parent_run_id=parent_run_id,
        scheduled_for=scheduled_for,
        cpu=job.cpu,
        memory_mb=job.memory_mb,
        created_at=now,
        reason=reason,
        finished_at=now if status.is_final else None,
    )


def _automatic_run(
    uow: UnitOfWork,
    job: Job,
    via: Trigger,
    *,
    parent_run_id: str | None,
    scheduled_for: datetime | None,
) -> JobRun:
    """A run the platform starts (cron, dependency): skipped while another is active."""
    active = uow.jobs.active_run(job.id)
    if active is not None:
        return _add_run(
            uow,
            job,
            via,
            job.creator_id,
            None,
            {},
            parent_run_id=parent_run_id,
            scheduled_for=scheduled_for,
            status=RunStatus.SKIPPED,
            reason=f"skipped: run {active.id} was still {active.status.value}",
        )
    return _add_run(
        uow,
        job,
        via,
        job.creator_id,
        None,
        {},
        parent_run_id=parent_run_id,
        scheduled_for=scheduled_for,
    )


def stop_run(
    platform: Platform, principal: Principal, project_id: str, job_id: str, run_id: str
) -> JobRun:
    with platform.command(principal, "job.stop", target=run_id, project_id=project_id) as cmd:
        require(cmd.uow, principal, project_id, Action.RUN_WORKLOADS)
        _job(cmd.uow, project_id, job_id)
        run = cmd.uow.jobs.get_run(run_id)
        if run is None or run.job_id != job_id:
            raise NotFound(f"Run {run_id!r} of job {job_id!r} not found.")
        if run.status.is_final:
            raise InvalidState(f"Run {run_id} already ended ({run.status.value}).")
        if run.status is RunStatus.STOPPING:
            raise InvalidState(f"Run {run_id} is already stopping.")
        if run.status is RunStatus.SCHEDULED:
            cmd.uow.jobs.move_run(
                run_id,
                RunStatus.SCHEDULED,
                RunStatus.STOPPED,
                finished_at=utcnow(),
                reason=f"stopped by {principal.user.username}",
            )
            workload_id = None
        else:
            cmd.uow.jobs.move_run(run_id, run.status, RunStatus.STOPPING)
            workload_id = run.workload_id
    if workload_id:
        workloads.request_stop(platform, workload_id, f"stopped by {principal.user.username}")
    return get_run(platform, principal, project_id, job_id, run_id)


def get_run(
    platform: Platform, principal: Principal, project_id: str, job_id: str, run_id: str
) -> JobRun:
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        run = uow.jobs.get_run(run_id)
        if run is None or run.job_id != job_id or run.project_id != project_id:
            raise NotFound(f"Run {run_id!r} of job {job_id!r} not found.")
        return run


def wait_started(platform: Platform, run_id: str, timeout: float) -> JobRun:
    """The run once it has an engine (its workload) or has ended, or as it is after
    ``timeout`` seconds (still waiting for the scheduler, a slot or quota)."""
    platform.nudge()
    deadline = time.monotonic() + timeout
    while True:
        with platform.read() as uow:
            run = uow.jobs.get_run(run_id)
        if run is None:
            raise NotFound(f"Run {run_id!r} not found.")
        if run.workload_id or run.status.is_final or time.monotonic() >= deadline:
            return run
        time.sleep(0.05)


def list_runs(
    platform: Platform,
    principal: Principal,
    project_id: str,
    job_id: str,
    *,
    offset: int = 0,
    limit: int = 100,
    newest_first: bool = False,
    status: RunStatus | None = None,
) -> list[JobRun]:
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        _job(uow, project_id, job_id)
        return list(
            uow.jobs.runs_of(
                job_id, offset=offset, limit=limit, newest_first=newest_first, status=status
            )
        )


def run_log(
    platform: Platform,
    principal: Principal,
    project_id: str,
    job_id: str,
    run_id: str,
    offset: int = 0,
) -> tuple[bytes, int, JobRun]:
    run = get_run(platform, principal, project_id, job_id, run_id)
    if not run.workload_id:
        return b"", offset, run
    data, next_offset = workloads.read_log(
        platform, workloads.get(platform, run.workload_id), offset
    )
    return data, next_offset, run


def chain(
    platform: Platform, principal: Principal, project_id: str, job_id: str
) -> tuple[list[Job], list[Job]]:
    """The job's ancestors (root first) and its direct children, for the pipeline view."""
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        job = _job(uow, project_id, job_id)
        ancestors: list[Job] = []
        current = job
        while current.parent_id and len(ancestors) < 100:
            parent = uow.jobs.get(current.parent_id)
            if parent is None:
                break
            ancestors.insert(0, parent)
            current = parent
        return ancestors, list(uow.jobs.children(job_id))


MAX_PIPELINE_JOBS = 500


def pipeline(
    platform: Platform, principal: Principal, project_id: str, job_id: str
) -> list[list[Job]]:
    """The whole pipeline the job belongs to, stage by stage: its root job first, then the
    jobs that run after each stage (the same drawing on every job of the pipeline)."""
    ancestors, _ = chain(platform, principal, project_id, job_id)
    with platform.read() as uow:
        root = ancestors[0] if ancestors else _job(uow, project_id, job_id)
        stages = [[root]]
        seen = {root.id}
        while len(seen) < MAX_PIPELINE_JOBS:
            following = [
                child
                for job in stages[-1]
                for child in uow.jobs.children(job.id)
                if child.id not in seen
            ][: MAX_PIPELINE_JOBS - len(seen)]
            if not following:
                break
            seen.update(child.id for child in following)
            stages.append(following)
    return stages


# Scheduler steps (idempotent; safe to run in several server processes) -----------------


def fire_due(platform: Platform, now: datetime, limit: int = 500) -> list[str]:
    """Create runs for cron jobs whose fire time has come; returns the new run ids.

    Missed fires (server down across several fire times) coalesce into ONE run, marked with
    the oldest missed time; the next fire is computed from now. A job's fire time only moves
    by a conditional update (``… WHERE next_fire_at = :seen RETURNING id``), so two
    schedulers never fire the same time twice. Jobs sharing a schedule are claimed in one
    statement and their runs inserted in one, so a burst of thousands fires in well under a
    second.
    """
    created: list[str] = []
    with platform.store.transaction() as uow:
        groups: dict[tuple[str, str, datetime | None], list[DueFire]] = {}
        for job in uow.jobs.due(now, limit):
            groups.setdefault((job.schedule, job.timezone, job.next_fire_at), []).append(job)
        claimed: list[tuple[DueFire, datetime | None]] = []
        for (schedule, timezone, seen), group in groups.items():
            upcoming = cron.next_fire(schedule, timezone, now)
            moved = set(uow.jobs.advance_fires([j.id for j in group], seen, upcoming))
            claimed += [(job, seen) for job in group if job.id in moved]
        active = uow.jobs.with_active_runs([job.id for job, _ in claimed])
        stamp = utcnow()
        rows = []
        for job, seen in claimed:
            run_id = public_id()
            busy = active.get(job.id)
            rows.append(
                {
                    "id": run_id,
                    "job_id": job.id,
                    "project_id": job.project_id,
                    "status": (RunStatus.SKIPPED if busy else RunStatus.SCHEDULED).value,
                    "trigger": Trigger.SCHEDULE.value,
                    "user_id": job.creator_id,
                    "arguments": job.arguments,
                    "environment": {},
                    "parent_run_id": None,
                    "scheduled_for": seen,
                    "cpu": job.cpu,
                    "memory_mb": job.memory_mb,
                    "created_at": stamp,
                    "finished_at": stamp if busy else None,
                    "reason": f"skipped: run {busy[0]} was still {busy[1]}" if busy else "",
                }
            )
            created.append(run_id)
        uow.jobs.add_runs(rows)
    return created


def claim(platform: Platform, limit: int = 50) -> list[JobRun]:
    """Claim scheduled runs that fit their user's quota (scheduled → starting); the rest
    wait, saying why. The caller then ``start``s each claimed run (possibly in a thread).

    One transaction for the whole batch (it was two per run): each user's quota and holding
    are read once, and the runs claimed earlier in the batch count against the quota of the
    ones after them. Each move is still conditional (``… WHERE status = 'scheduled'``), so
    two schedulers never claim the same run.
    """
    settings = platform.settings
    claimed: list[JobRun] = []
    with platform.store.transaction() as uow:
        waiting = uow.jobs.runs_with_status(RunStatus.SCHEDULED, limit=limit)
        if not waiting:
            return claimed
        user_ids = sorted({run.user_id for run in waiting})
        held = uow.workloads.held_by_users(user_ids)
        quotas = {
            user_id: uow.workloads.quota(user_id) or (settings.quota_cpu, settings.quota_memory_mb)
            for user_id in user_ids
        }
        now = utcnow()
        for run in waiting:
            limit_cpu, limit_mem = quotas[run.user_id]
            if run.cpu > limit_cpu or run.memory_mb > limit_mem:
                uow.jobs.move_run(
                    run.id,
                    RunStatus.SCHEDULED,
                    RunStatus.FAILED,
                    finished_at=now,
                    reason=f"refused: it asks for {run.cpu:g} vCPU / {run.memory_mb} MiB, more "
                    f"than the user's quota of {limit_cpu:g} vCPU / {limit_mem} MiB",
                )
                continue
            held_cpu, held_mem = held.get(run.user_id, (0.0, 0))
            if held_cpu + run.cpu > limit_cpu or held_mem + run.memory_mb > limit_mem:
                uow.jobs.set_run(
                    run.id,
                    reason=f"waiting for quota: {held_cpu:g} of {limit_cpu:g} vCPU and {held_mem} "
                    f"of {limit_mem} MiB are in use",
                )
                continue
            if uow.jobs.move_run(
                run.id, RunStatus.SCHEDULED, RunStatus.STARTING, starting_at=now, reason=""
            ):
                held[run.user_id] = (held_cpu + run.cpu, held_mem + run.memory_mb)
                claimed.append(run)
    return claimed


def dispatch(platform: Platform, limit: int = 50) -> list[JobRun]:
    """Claim and start runs in this thread (tests and simple loops)."""
    return [start(platform, run) for run in claim(platform, limit)]


def start(platform: Platform, run: JobRun) -> JobRun:
    """Start a claimed (starting) run: resolve its runtime, launch its workload."""
    with platform.launching(run.id):
        return _start(platform, run)


def _start(platform: Platform, run: JobRun) -> JobRun:
    with platform.read() as uow:
        job = uow.jobs.get(run.job_id)
        project = uow.projects.get(run.project_id)
        user = uow.users.get(run.user_id)
    if job is None or project is None or user is None:
        _end_run(platform, run.id, RunStatus.FAILED, "its job or project was deleted")
        return _reload(platform, run.id)
    resources = Resources(cpu=run.cpu, memory_mb=run.memory_mb)

    def preparing(message: str) -> None:
        with platform.store.transaction() as uow:
            uow.jobs.set_run(run.id, reason=message)

    try:
        # A first use builds the runtime (minutes): this starter thread waits, the run says so.
        runtime = environment.await_runtime(
            platform, job.runtime_identifier, since=time.time(), waiting=preparing
        )
    except environment.RuntimeFailed as exc:
        _end_run(platform, run.id, RunStatus.FAILED, exc.message)
        return _reload(platform, run.id)

    request = workloads.LaunchRequest(
        kind=WorkloadKind.JOB_RUN,
        project=project,
        user=user,
        resources=resources,
        runtime=runtime,
        script=job.script,
        arguments=run.arguments,
        layers=[job.environment, run.environment],
        identity={"CDSW_JOB_ID": job.id, "CDSW_JOB_RUN_ID": run.id},
        platform_env=lambda ctx: {
            "LAKEWORKS_OUTPUT_DIR": f"{ctx.project_home}/.lakeworks/runs/{run.id}"
        },
        key_lifetime=timedelta(seconds=job.timeout_seconds or 7 * 86400) + timedelta(hours=1),
    )
    if job.kind is JobKind.EXPERIMENT:
        from lakeworks.services import experiment_runs  # it builds on this module

        request = experiment_runs.launch_request(platform, request, run)
    workload = workloads.launch(platform, request)
    # One transaction: a reader that sees the engine (API v1 ``start``) sees the run running.
    with platform.store.transaction() as uow:
        # One step: a reader that sees the engine id also sees the run running.
        running = workload.status is not WorkloadStatus.FAILED and uow.jobs.move_run(
            run.id,
            RunStatus.STARTING,
            RunStatus.RUNNING,
            running_at=utcnow(),
            workload_id=workload.id,
            reason="",
        )
        if not running:
            uow.jobs.set_run(run.id, workload_id=workload.id)
    if workload.status is WorkloadStatus.FAILED:
        _end_run(platform, run.id, RunStatus.FAILED, workload.reason)
    return _reload(platform, run.id)


def _reload(platform: Platform, run_id: str) -> JobRun:
    with platform.read() as uow:
        run = uow.jobs.get_run(run_id)
    assert run is not None
    return run


RUN_STATUS_FOR = {
    WorkloadStatus.SUCCEEDED: RunStatus.SUCCEEDED,
    WorkloadStatus.FAILED: RunStatus.FAILED,
    WorkloadStatus.OOM: RunStatus.FAILED,
    WorkloadStatus.LOST: RunStatus.FAILED,
    WorkloadStatus.TIMEDOUT: RunStatus.TIMEDOUT,
    WorkloadStatus.STOPPED: RunStatus.STOPPED,
}


def _end_run(
    platform: Platform, run_id: str, status: RunStatus, reason: str, exit_code: int | None = None
) -> bool:
    """Record a run's end once, then notify and start dependent jobs."""
    with platform.store.transaction() as uow:
        run = uow.jobs.get_run(run_id)
        if run is None or run.status.is_final:
            return False
        job = uow.jobs.get(run.job_id)
        children = uow.jobs.children(job.id) if job is not None else []
        if status is not RunStatus.SUCCEEDED and children:
            # Say where the pipeline stopped, on the run people will look at.
            names = ", ".join(repr(c.name) for c in children)
            reason = f"{reason}; the pipeline stops here: {names} not run".lstrip("; ")
        if not uow.jobs.move_run(
            run_id, run.status, status, finished_at=utcnow(), reason=reason, exit_code=exit_code
        ):
            return False
        if status is RunStatus.SUCCEEDED:
            for child in children:
                if not child.paused:
                    _automatic_run(
                        uow, child, Trigger.DEPENDENCY, parent_run_id=run_id, scheduled_for=None
                    )
    ended = _reload(platform, run_id)
    if status is RunStatus.SUCCEEDED and children:
        platform.nudge()  # start the next stage of the pipeline now, not at the next tick
    if job is not None:
        notify.run_finished(platform, job, ended)
    return True


def on_workloads_ended(platform: Platform, ended: Sequence[workloads.Ended]) -> None:
    for item in ended:
        if item.workload.kind is not WorkloadKind.JOB_RUN:
            continue
        with platform.read() as uow:
            run = uow.jobs.run_for_workload(item.workload.id)
        if run is None:
            continue
        status = RUN_STATUS_FOR[item.status]
        reason = item.reason
        if item.status is WorkloadStatus.OOM:
            reason = f"out of memory: {item.reason}" if "memory" not in reason else reason
        if _end_run(platform, run.id, status, reason, item.workload.exit_code):
            _record_legacy_metrics(platform, run.id)


def _record_legacy_metrics(platform: Platform, run_id: str) -> None:
    """cdsw.track_metric/track_file of the run, onto an MLflow run tied to it (compat §3.4)."""
    from lakeworks.errors import LakeworksError
    from lakeworks.services import experiments

    with platform.read() as uow:
        run = uow.jobs.get_run(run_id)
    if run is None:
        return
    try:
        experiments.record_job_run(platform, run)
    except LakeworksError as exc:  # e.g. experiments database not migrated: the run still ends
        log.warning("job run %s: metrics not recorded as an experiment run: %s", run_id, exc)


def enforce_timeouts(platform: Platform, now: datetime) -> list[str]:
    """Stop runs past their job's timeout (when kill_on_timeout); returns their ids."""
    stopped = []
    with platform.read() as uow:
        running = uow.jobs.runs_with_status(RunStatus.RUNNING)
        jobs = {run.job_id: uow.jobs.get(run.job_id) for run in running}
    for run in running:
        job = jobs.get(run.job_id)
        if job is None or not job.timeout_seconds or not job.kill_on_timeout:
            continue
        started = run.running_at or run.starting_at
        if started is None or now - started < timedelta(seconds=job.timeout_seconds):
            continue
        if run.workload_id and workloads.request_stop(
            platform, run.workload_id, workloads.TIMEOUT_REASON
        ):
            with platform.store.transaction() as uow:
                uow.jobs.move_run(run.id, RunStatus.RUNNING, RunStatus.STOPPING)
            stopped.append(run.id)
    return stopped


def reconcile_orphans(platform: Platform) -> None:
    """Runs left starting with no workload (the server died mid-start) are failed, not stuck."""
    with platform.read() as uow:
        starting = uow.jobs.runs_with_status(
            RunStatus.STARTING, RunStatus.RUNNING, RunStatus.STOPPING
        )
        orphans = []
        for run in starting:
            workload = uow.workloads.get(run.workload_id) if run.workload_id else None
            if workload is None or workload.status.is_final:
                orphans.append((run, workload))
    for run, workload in orphans:
        if workload is None:
            if platform.is_launching(run.id):
                continue  # being started here (perhaps waiting for its runtime's build)
            if run.starting_at and utcnow() - run.starting_at < timedelta(minutes=2):
                continue  # still being started by a dispatcher (of another server process)
            _end_run(
                platform,
                run.id,
                RunStatus.FAILED,
                "lost: the server stopped while the run was starting",
            )
        else:
            status = RUN_STATUS_FOR.get(workload.status, RunStatus.FAILED)
            _end_run(platform, run.id, status, workload.reason, workload.exit_code)


def describe_schedule(job: Job) -> str:
    if job.schedule_kind is ScheduleKind.CRON:
        return cron.describe(job.schedule)
    if job.schedule_kind is ScheduleKind.DEPENDENT:
        return "After its parent job succeeds"
    return "Manual"
