"""Jobs (a script to run, manually, on a cron schedule, or after a parent job) and their runs."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class ScheduleKind(enum.StrEnum):
    MANUAL = "manual"
    CRON = "cron"
    DEPENDENT = "dependent"  # runs when the parent job's run succeeds


class JobKind(enum.StrEnum):
    JOB = "job"
    # The hidden job of one legacy experiment run (CML compat §3.4): never listed with jobs.
    EXPERIMENT = "experiment"


class Trigger(enum.StrEnum):
    MANUAL = "manual"  # a person in the UI
    API = "api"  # API v2 / v1
    SCHEDULE = "schedule"  # a cron fire
    DEPENDENCY = "dependency"  # the parent job succeeded


class RunStatus(enum.StrEnum):
    SCHEDULED = "scheduled"  # created, waiting to start (or for quota)
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMEDOUT = "timedout"
    STOPPED = "stopped"
    SKIPPED = "skipped"  # not run: another run of the job was active (see services/job_runs.py)

    @property
    def is_final(self) -> bool:
        return self in FINAL_RUN_STATUSES

    @property
    def engine_status(self) -> str:
        """CML's EngineStatus name for API v2."""
        return "ENGINE_" + {"scheduled": "SCHEDULING"}.get(self.value, self.value.upper())


FINAL_RUN_STATUSES = frozenset(
    {
        RunStatus.SUCCEEDED,
        RunStatus.FAILED,
        RunStatus.TIMEDOUT,
        RunStatus.STOPPED,
        RunStatus.SKIPPED,
    }
)

_ENDINGS = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMEDOUT, RunStatus.STOPPED})

RUN_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.SCHEDULED: frozenset(
        {RunStatus.STARTING, RunStatus.STOPPED, RunStatus.FAILED, RunStatus.SKIPPED}
    ),
    RunStatus.STARTING: frozenset({RunStatus.RUNNING, RunStatus.STOPPING} | _ENDINGS),
    RunStatus.RUNNING: frozenset({RunStatus.STOPPING} | _ENDINGS),
    RunStatus.STOPPING: _ENDINGS,
}

ACTIVE_RUN_STATUSES = frozenset(
    {RunStatus.SCHEDULED, RunStatus.STARTING, RunStatus.RUNNING, RunStatus.STOPPING}
)


def can_move(current: RunStatus, target: RunStatus) -> bool:
    return target in RUN_TRANSITIONS.get(current, frozenset())


@dataclass(frozen=True)
class Recipient:
    email: str
    on_success: bool = False
    on_failure: bool = True
    on_timeout: bool = True
    on_stop: bool = False

    def wants(self, status: RunStatus) -> bool:
        return {
            RunStatus.SUCCEEDED: self.on_success,
            RunStatus.FAILED: self.on_failure,
            RunStatus.TIMEDOUT: self.on_timeout,
            RunStatus.STOPPED: self.on_stop,
        }.get(status, False)


@dataclass(frozen=True, slots=True)
class DueFire:
    """What firing a cron job needs of it (the scheduler reads thousands at once)."""

    id: str
    project_id: str
    schedule: str
    timezone: str
    next_fire_at: datetime | None
    creator_id: int
    arguments: str
    cpu: float
    memory_mb: int


@dataclass(frozen=True)
class Job:
    id: str
    project_id: str
    name: str
    script: str
    arguments: str
    runtime_identifier: str
    cpu: float
    memory_mb: int
    environment: dict[str, str]
    timeout_seconds: int  # 0: no limit
    kill_on_timeout: bool
    schedule_kind: ScheduleKind
    schedule: str  # cron expression when schedule_kind is CRON
    timezone: str
    parent_id: str | None
    paused: bool
    recipients: list[Recipient] = field(default_factory=list)
    creator_id: int = 0
    creator_username: str = ""
    next_fire_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    kind: JobKind = JobKind.JOB


@dataclass(frozen=True)
class JobRun:
    id: str
    job_id: str
    project_id: str
    status: RunStatus
    trigger: Trigger
    user_id: int
    username: str
    arguments: str
    environment: dict[str, str]
    workload_id: str | None
    parent_run_id: str | None
    scheduled_for: datetime | None
    created_at: datetime
    starting_at: datetime | None
    running_at: datetime | None
    finished_at: datetime | None
    exit_code: int | None
    reason: str
    cpu: float
    memory_mb: int

    @property
    def duration_seconds(self) -> float | None:
        start = self.running_at or self.starting_at
        if start is None:
            return None
        end = self.finished_at
        if end is None:
            return None
        return max((end - start).total_seconds(), 0.0)


@dataclass(frozen=True)
class ResourceProfile:
    id: int
    name: str
    cpu: float
    memory_mb: int
    gpu: int
