"""The question a scheduler tick asks first: is anything in flight?

One statement answers it: whether any job run, workload, model build or deployment,
application, session or AMP setup is in a state some step of the tick acts on, and when the
next cron fire is due. When nothing is, and no fire is due, the tick has nothing to do and
skips its steps (about a dozen queries). Each predicate here is a superset of what its steps
select, so a skipped tick would have done nothing; ``tests/services/test_idle_tick.py``
checks every kind of work wakes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, or_, select
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

# Table -> the statuses in which a row is work in flight for some step of the tick.
IN_FLIGHT: dict[Any, list[str]] = {
    JobRunRow: [s.value for s in RunStatus if not s.is_final],
    WorkloadRow: [s.value for s in WorkloadStatus if not s.is_final],
    ModelBuildRow: [s.value for s in BuildStatus if not s.is_final],
    ModelDeploymentRow: [
        s.value for s in DeploymentStatus if s.is_active or s is DeploymentStatus.STOPPING
    ],
    ApplicationRow: [s.value for s in AppStatus if s.is_active],
    SessionRow: [s.value for s in SessionStatus if not s.is_final],
    AmpSetupRow: [SetupStatus.RUNNING.value],
}


@dataclass(frozen=True)
class Activity:
    in_flight: bool  # something a tick's steps act on exists
    earliest_fire: datetime | None  # the next cron fire of an unpaused job


class ActivityRepo:
    def __init__(self, session: Session) -> None:
        self.session = session

    def now(self) -> Activity:
        in_flight = or_(
            *(exists().where(row.status.in_(statuses)) for row, statuses in IN_FLIGHT.items())
        )
        earliest = (
            select(func.min(JobRow.next_fire_at))
            .where(JobRow.schedule_kind == ScheduleKind.CRON.value, JobRow.paused.is_(False))
            .scalar_subquery()
        )
        row = self.session.execute(select(in_flight, earliest)).one()
        return Activity(in_flight=bool(row[0]), earliest_fire=row[1])
