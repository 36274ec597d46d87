"""Job runs: triggers, pipelines, stops, the run state machine and the scheduler's steps
(fire cron jobs, claim and start runs, timeouts, orphans). Job definitions are
``services/jobs.py``.

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
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from lakeworks.entities.jobs import (
    DueFire,
    Job,
    JobKind,
    JobRun,
    RunStatus,
    Trigger,
)
from lakeworks.entities.projects import Project
from lakeworks.entities.users import User
from lakeworks.entities.workloads import Resources, Workload, WorkloadKind, WorkloadStatus
from lakeworks.errors import Conflict, InvalidState, LakeworksError, NotFound
from lakeworks.services import cron, environment, notify, projects, workloads
from lakeworks.services.ids import public_id
from lakeworks.services.jobs import require_job
from lakeworks.services.permissions import Action, require
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.tables import utcnow
from lakeworks.store.uow import UnitOfWork

log = logging.getLogger(__name__)


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
        job = require_job(cmd.uow, project_id, job_id)
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
        require_job(cmd.uow, project_id, job_id)
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
        require_job(uow, project_id, job_id)
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
        job = require_job(uow, project_id, job_id)
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
        root = ancestors[0] if ancestors else require_job(uow, project_id, job_id)
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
    wait, saying why. The caller then starts the claimed runs (``start_batch``, possibly in
    threads).

    One transaction for the whole batch: each user's quota and holding are read once, and
    the runs claimed earlier in the batch count against the quota of the ones after them.
    The claim is one conditional ``UPDATE … WHERE status = 'scheduled' RETURNING id``, so two
    schedulers never claim the same run; the refusals and the waiting reasons one statement
    each.
    """
    settings = platform.settings
    with platform.store.transaction() as uow:
        waiting = uow.jobs.runs_with_status(RunStatus.SCHEDULED, limit=limit)
        if not waiting:
            return []
        user_ids = sorted({run.user_id for run in waiting})
        held = uow.workloads.held_by_users(user_ids)
        quotas = {
            user_id: uow.workloads.quota(user_id) or (settings.quota_cpu, settings.quota_memory_mb)
            for user_id in user_ids
        }
        now = utcnow()
        refused: list[dict[str, object]] = []
        queued: list[dict[str, object]] = []
        fits: list[JobRun] = []
        for run in waiting:
            limit_cpu, limit_mem = quotas[run.user_id]
            if run.cpu > limit_cpu or run.memory_mb > limit_mem:
                reason = (
                    f"refused: it asks for {run.cpu:g} vCPU / {run.memory_mb} MiB, more "
                    f"than the user's quota of {limit_cpu:g} vCPU / {limit_mem} MiB"
                )
                refused.append({"id": run.id, "finished_at": now, "reason": reason})
                continue
            held_cpu, held_mem = held.get(run.user_id, (0.0, 0))
            if held_cpu + run.cpu > limit_cpu or held_mem + run.memory_mb > limit_mem:
                reason = (
                    f"waiting for quota: {held_cpu:g} of {limit_cpu:g} vCPU and {held_mem} "
                    f"of {limit_mem} MiB are in use"
                )
                queued.append({"id": run.id, "reason": reason})
                continue
            held[run.user_id] = (held_cpu + run.cpu, held_mem + run.memory_mb)
            fits.append(run)
        # A refusal another scheduler made first is the same refusal: which one moved it
        # does not matter, so the result is not read.
        uow.jobs.move_runs(RunStatus.SCHEDULED, RunStatus.FAILED, refused)
        uow.jobs.set_runs(queued)
        claimed = set(uow.jobs.claim_runs([run.id for run in fits], starting_at=now, reason=""))
    return [
        replace(run, status=RunStatus.STARTING, starting_at=now, reason="")
        for run in fits
        if run.id in claimed
    ]


def dispatch(platform: Platform, limit: int = 50) -> list[JobRun]:
    """Claim and start runs in this thread (tests and simple loops)."""
    return start_batch(platform, claim(platform, limit))


def start_batch(platform: Platform, runs: Sequence[JobRun]) -> list[JobRun]:
    """Start claimed (starting) runs together; each run as it is after, in order (a run
    deleted meanwhile, with its job, is left out).

    Two transactions for the whole batch when its runtimes are ready (issue 17: a start
    was 2 transactions and 9 ORM statements of its own):

    1. one reads the batch's jobs, projects and users (one query each) and records every
       run's workload as starting with its two API keys and their audit rows (one INSERT
       each). It commits before any process starts: a process's keys exist when its first
       line runs, and a crash after it leaves starting records (no process without one),
       which recovery ends (``workloads.recover``) and whose runs ``reconcile_orphans``
       fails, so nothing holds its user's quota for ever;
    2. the executor starts each process, then one records the processes and the runs
       running (``_record_running``).

    A run that cannot start (its job or project deleted, its script gone, its runtime's build
    failed, the executor's refusal) ends failed with its reason on its own: the others start.
    Runs whose runtime is still being built wait for it here, after the others started (this
    starter thread waits; those runs say so), then start as a batch of their own.
    """
    since = time.time()
    done: dict[str, JobRun] = {}
    with platform.launching(*[run.id for run in runs]):
        pending = list(runs)
        for attempt in range(2):
            batch = _reserve(platform, pending, since)
            done |= _launch_batch(platform, batch.reserved)
            for run_id, reason in batch.failed.items():
                _end_run(platform, run_id, RunStatus.FAILED, reason)
            pending = _await_runtimes(platform, batch, since, last=attempt == 1)
            if not pending:
                break
    missing = [run.id for run in runs if run.id not in done]
    if missing:
        done |= _reload_many(platform, missing)
    return [done[run.id] for run in runs if run.id in done]


@dataclass
class _Batch:
    """What the first transaction of ``start_batch`` made of its runs."""

    reserved: list[tuple[JobRun, workloads.Reservation]] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # run id → why it cannot start
    # Runs whose runtime is being built: its identifier → (the build to wait for, the runs).
    preparing: dict[str, tuple[environment.RuntimePreparing, list[JobRun]]] = field(
        default_factory=dict
    )


def _reserve(platform: Platform, runs: Sequence[JobRun], since: float) -> _Batch:
    """``_reserve_batch`` in a transaction of its own. When that transaction fails (a
    project deleted meanwhile breaks the INSERT of its workload), each run is tried in one of
    its own, so that only the run it concerns fails, with the reason."""
    try:
        with platform.store.transaction() as uow:
            return _reserve_batch(platform, uow, runs, since)
    except LakeworksError as exc:
        if len(runs) == 1:
            return _Batch(failed={runs[0].id: f"could not start: {exc.message}"})
        log.warning("recording a batch of %d job runs failed (%s); one at a time", len(runs), exc)
    batch = _Batch()
    for run in runs:
        alone = _reserve(platform, [run], since)
        batch.reserved += alone.reserved
        batch.failed |= alone.failed
        for identifier, (preparing, waiting) in alone.preparing.items():
            batch.preparing.setdefault(identifier, (preparing, []))[1].extend(waiting)
    return batch


def _reserve_batch(
    platform: Platform, uow: UnitOfWork, runs: Sequence[JobRun], since: float
) -> _Batch:
    """The runs' workloads recorded in ``uow``, those that wait for their runtime's build,
    and why the others cannot start."""
    batch = _Batch()
    jobs = uow.jobs.get_many({run.job_id for run in runs})
    projects_ = uow.projects.get_many({run.project_id for run in runs})
    users = uow.users.get_many({run.user_id for run in runs})
    runtimes: dict[str, environment.PreparedRuntime | environment.RuntimePreparing | str] = {}
    requests: list[tuple[JobRun, workloads.LaunchRequest]] = []
    for run in runs:
        job, project, user = (
            jobs.get(run.job_id),
            projects_.get(run.project_id),
            users.get(run.user_id),
        )
        if job is None or project is None or user is None:
            batch.failed[run.id] = "its job or project was deleted"
            continue
        identifier = job.runtime_identifier
        if identifier not in runtimes:
            runtimes[identifier] = _prepare(platform, identifier, since)
        runtime = runtimes[identifier]
        if isinstance(runtime, str):
            batch.failed[run.id] = runtime
        elif isinstance(runtime, environment.RuntimePreparing):
            uow.jobs.set_run(run.id, reason=runtime.message)
            batch.preparing.setdefault(identifier, (runtime, []))[1].append(run)
        else:
            requests.append((run, _launch_request(platform, run, job, project, user, runtime)))
    reservations = workloads.reserve_many(platform, uow, [request for _, request in requests])
    batch.reserved = [(run, r) for (run, _), r in zip(requests, reservations, strict=True)]
    return batch


def _prepare(
    platform: Platform, identifier: str, since: float
) -> environment.PreparedRuntime | environment.RuntimePreparing | str:
    """The runtime of ``identifier``; or its build to wait for first; or why it cannot be."""
    try:
        return environment.prepare(platform, identifier, since=since)
    except environment.RuntimePreparing as preparing:
        return preparing
    except environment.RuntimeFailed as exc:
        return exc.message


def _launch_request(
    platform: Platform,
    run: JobRun,
    job: Job,
    project: Project,
    user: User,
    runtime: environment.PreparedRuntime,
) -> workloads.LaunchRequest:
    request = workloads.LaunchRequest(
        kind=WorkloadKind.JOB_RUN,
        project=project,
        user=user,
        resources=Resources(cpu=run.cpu, memory_mb=run.memory_mb),
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
    return request


def _launch_batch(
    platform: Platform, reserved: Sequence[tuple[JobRun, workloads.Reservation]]
) -> dict[str, JobRun]:
    """Start the reserved runs' processes and record them running; each run after, by id."""
    if not reserved:
        return {}
    run_of = {reservation.workload_id: run for run, reservation in reserved}
    running: dict[str, datetime] = {}  # run id → when its process started

    def record(uow: UnitOfWork, started: list[workloads.Started]) -> None:
        running.update(_record_running(uow, run_of, started))

    launched = workloads.start_many(platform, [r for _, r in reserved], then=record)
    done: dict[str, JobRun] = {}
    for (run, _), workload in zip(reserved, launched, strict=True):
        if workload.status is WorkloadStatus.FAILED:  # its process did not start
            _fail_unstarted(platform, run, workload)
        elif run.id in running:
            done[run.id] = replace(
                run,
                status=RunStatus.RUNNING,
                running_at=running[run.id],
                workload_id=workload.id,
                reason="",
            )
    return done


def _record_running(
    uow: UnitOfWork, run_of: Mapping[str, JobRun], started: Sequence[workloads.Started]
) -> dict[str, datetime]:
    """In the transaction that records the processes, so that a reader that sees a run's
    engine id (API v1 ``start``) also sees the run running: the runs whose process started
    move to running, as of then (one statement); those stopped meanwhile get their engine
    id only. The runs moved, with when."""
    at = {
        run_of[s.workload.id].id: s
        for s in started
        if s.workload.status is not WorkloadStatus.FAILED
    }
    moved = uow.jobs.move_runs(
        RunStatus.STARTING,
        RunStatus.RUNNING,
        [
            {"id": run_id, "running_at": s.at, "workload_id": s.workload.id, "reason": ""}
            for run_id, s in at.items()
        ],
    )
    for s in started:
        run_id = run_of[s.workload.id].id
        if run_id not in moved:
            uow.jobs.set_run(run_id, workload_id=s.workload.id)
    return {run_id: s.at for run_id, s in at.items() if run_id in moved}


def _fail_unstarted(platform: Platform, run: JobRun, workload: Workload) -> None:
    """A run whose workload failed to start: its engine recorded all the same, then its end."""
    with platform.store.transaction() as uow:
        uow.jobs.set_run(run.id, workload_id=workload.id)
    _end_run(platform, run.id, RunStatus.FAILED, workload.reason)


def _await_runtimes(platform: Platform, batch: _Batch, since: float, *, last: bool) -> list[JobRun]:
    """Wait for the builds the batch's runs need; the runs to start now that their runtime is
    ready. The rest end failed: their build failed, or (``last``) it was still preparing
    after the build this thread waited for."""
    ready: list[JobRun] = []
    for preparing, runs in batch.preparing.values():
        reason = f"could not start: {preparing.message} (still preparing after its build)"
        if not last:
            try:
                environment.wait_prepared(platform, preparing, since=since)
                ready += runs
                continue
            except environment.RuntimeFailed as exc:
                reason = exc.message
        for run in runs:
            _end_run(platform, run.id, RunStatus.FAILED, reason)
    return ready


def _reload_many(platform: Platform, run_ids: Sequence[str]) -> dict[str, JobRun]:
    with platform.read() as uow:
        found = {run_id: uow.jobs.get_run(run_id) for run_id in run_ids}
    return {run_id: run for run_id, run in found.items() if run is not None}


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
    platform: Platform,
    run_id: str,
    status: RunStatus,
    reason: str,
    exit_code: int | None = None,
    *,
    unless_started: bool = False,
) -> bool:
    """Record a run's end once, then notify and start dependent jobs. ``unless_started``:
    not if the run has a workload by now (its start finished since the caller looked)."""
    with platform.store.transaction() as uow:
        run = uow.jobs.get_run(run_id)
        if run is None or run.status.is_final or (unless_started and run.workload_id):
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
            # Read again in the ending transaction: a start that finished after the read
            # above (and left ``launching``) has given the run its workload by now.
            _end_run(
                platform,
                run.id,
                RunStatus.FAILED,
                "lost: the server stopped while the run was starting",
                unless_started=True,
            )
        else:
            status = RUN_STATUS_FOR.get(workload.status, RunStatus.FAILED)
            _end_run(platform, run.id, status, workload.reason, workload.exit_code)
