"""The question a scheduler tick asks first: what is in flight?

One statement answers it: which kinds of work (job runs, workloads, model builds, model
deployments, applications, sessions, AMP setups) have a row in a state some step of the tick
acts on, and when the next cron fire is due. When nothing is, and no fire is due, the tick has
nothing to do and skips its steps (about a dozen queries); otherwise it runs the steps of the
kinds in flight only (a deployed model's replicas do not make the tick read job runs, sessions
or applications each second). Each kind's statuses here are a superset of what its steps
select, so a skipped step would have done nothing; ``tests/services/test_idle_tick.py`` checks
every kind wakes its steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from lakeworks.entities.amps import SetupStatus
from lakeworks.entities.applications import AppStatus
from lakeworks.entities.jobs import RunStatus, ScheduleKind
from lakeworks.entities.models import BuildStatus, DeploymentStatus
from lakeworks.entities.sessions import SessionStatus
from lakeworks.entities.workloads import WorkloadStatus
from lakeworks.store.amps import AmpSetupRow
from lakeworks.store.tables import (
    ApplicationRow,
    JobRow,
    JobRunRow,
    ModelBuildRow,
    ModelDeploymentRow,
    SessionRow,
    WorkloadRow,
)


class Work(StrEnum):
    """A kind of work a tick's steps act on (named after its table)."""

    RUNS = "job_runs"
    WORKLOADS = "workloads"
    BUILDS = "model_builds"
    DEPLOYMENTS = "model_deployments"
    APPLICATIONS = "applications"
    SESSIONS = "sessions"
    AMP_SETUPS = "amp_setups"


# Kind of work -> (its table, the statuses in which a row is in flight for some step).
IN_FLIGHT: dict[Work, tuple[Any, list[str]]] = {
    Work.RUNS: (JobRunRow, [s.value for s in RunStatus if not s.is_final]),
    Work.WORKLOADS: (WorkloadRow, [s.value for s in WorkloadStatus if not s.is_final]),
    Work.BUILDS: (ModelBuildRow, [s.value for s in BuildStatus if not s.is_final]),
    Work.DEPLOYMENTS: (
        ModelDeploymentRow,
        [s.value for s in DeploymentStatus if s.is_active or s is DeploymentStatus.STOPPING],
    ),
    Work.APPLICATIONS: (ApplicationRow, [s.value for s in AppStatus if s.is_active]),
    Work.SESSIONS: (SessionRow, [s.value for s in SessionStatus if not s.is_final]),
    Work.AMP_SETUPS: (AmpSetupRow, [SetupStatus.RUNNING.value]),
}

# Built once (a statement is immutable): building it anew cost about a millisecond a tick.
_NOW = select(
    *(
        exists().where(row.status.in_(statuses)).label(work.value)
        for work, (row, statuses) in IN_FLIGHT.items()
    ),
    select(func.min(JobRow.next_fire_at))
    .where(JobRow.schedule_kind == ScheduleKind.CRON.value, JobRow.paused.is_(False))
    .scalar_subquery()
    .label("earliest_fire"),
)


@dataclass(frozen=True)
class Activity:
    in_flight: frozenset[Work]  # the kinds of work some step of a tick acts on
    earliest_fire: datetime | None  # the next cron fire of an unpaused job

    def due(self, now: datetime) -> bool:
        """Whether a cron fire is due at ``now``."""
        return self.earliest_fire is not None and self.earliest_fire <= now


class ActivityRepo:
    def __init__(self, session: Session) -> None:
        self.session = session

    def now(self) -> Activity:
        row = self.session.execute(_NOW).one()._mapping
        return Activity(
            in_flight=frozenset(work for work in Work if row[work.value]),
            earliest_fire=row["earliest_fire"],
        )
