"""Jobs and job runs."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.orm import Session

from lakeworks.entities.jobs import (
    ACTIVE_RUN_STATUSES,
    RUN_TRANSITIONS,
    DueFire,
    Job,
    JobKind,
    JobRun,
    Recipient,
    RunStatus,
    ScheduleKind,
    Trigger,
)
from lakeworks.entities.status import check_move
from lakeworks.store.bulk import move_each, set_each
from lakeworks.store.tables import JobRow, JobRunRow, UserRow

_RUNS = cast(Table, JobRunRow.__table__)


def to_job(row: JobRow, creator: str = "") -> Job:
    return Job(
        id=row.id,
        project_id=row.project_id,
        name=row.name,
        script=row.script,
        arguments=row.arguments,
        runtime_identifier=row.runtime_identifier,
        cpu=row.cpu,
        memory_mb=row.memory_mb,
        environment=dict(row.environment or {}),
        timeout_seconds=row.timeout_seconds,
        kill_on_timeout=row.kill_on_timeout,
        schedule_kind=ScheduleKind(row.schedule_kind),
        schedule=row.schedule,
        timezone=row.timezone,
        parent_id=row.parent_id,
        paused=row.paused,
        recipients=[Recipient(**r) for r in (row.recipients or [])],
        creator_id=row.creator_id,
        creator_username=creator,
        next_fire_at=row.next_fire_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        kind=JobKind(row.kind or JobKind.JOB),
    )


def to_run(row: JobRunRow, username: str = "") -> JobRun:
    return JobRun(
        id=row.id,
        job_id=row.job_id,
        project_id=row.project_id,
        status=RunStatus(row.status),
        trigger=Trigger(row.trigger),
        user_id=row.user_id,
        username=username,
        arguments=row.arguments,
        environment=dict(row.environment or {}),
        workload_id=row.workload_id,
        parent_run_id=row.parent_run_id,
        scheduled_for=row.scheduled_for,
        created_at=row.created_at,
        starting_at=row.starting_at,
        running_at=row.running_at,
        finished_at=row.finished_at,
        exit_code=row.exit_code,
        reason=row.reason,
        cpu=row.cpu,
        memory_mb=row.memory_mb,
    )


class JobRepo:
    def __init__(self, session: Session) -> None:
        self.session = session

    # Jobs ------------------------------------------------------------------------------

    def add(self, **values: Any) -> Job:
        row = JobRow(**values)
        self.session.add(row)
        self.session.flush()
        job = self.get(row.id)
        assert job is not None
        return job

    def get(self, job_id: str) -> Job | None:
        found = self.session.execute(
            select(JobRow, UserRow.username)
            .join(UserRow, UserRow.id == JobRow.creator_id)
            .where(JobRow.id == job_id)
        ).first()
        return to_job(*found) if found else None

    def get_many(self, job_ids: Collection[str]) -> dict[str, Job]:
        """The jobs of ``job_ids`` that exist, by id, in one query (a dispatcher's batch)."""
        if not job_ids:
            return {}
        rows = self.session.execute(
            select(JobRow, UserRow.username)
            .join(UserRow, UserRow.id == JobRow.creator_id)
            .where(JobRow.id.in_(list(job_ids)))
        ).all()
        return {row.id: to_job(row, name) for row, name in rows}

    def update(self, job_id: str, **values: Any) -> None:
        self.session.execute(update(JobRow).where(JobRow.id == job_id).values(**values))

    def delete(self, job_id: str) -> None:
        self.session.execute(delete(JobRow).where(JobRow.id == job_id))

    def of_project(self, project_id: str, kind: JobKind = JobKind.JOB) -> list[Job]:
        rows = self.session.execute(
            select(JobRow, UserRow.username)
            .join(UserRow, UserRow.id == JobRow.creator_id)
            .where(JobRow.project_id == project_id, JobRow.kind == kind.value)
            .order_by(JobRow.created_at, JobRow.id)
        ).all()
        return [to_job(row, name) for row, name in rows]

    def children(self, job_id: str) -> list[Job]:
        rows = self.session.execute(
            select(JobRow, UserRow.username)
            .join(UserRow, UserRow.id == JobRow.creator_id)
            .where(JobRow.parent_id == job_id)
            .order_by(JobRow.created_at, JobRow.id)
        ).all()
        return [to_job(row, name) for row, name in rows]

    def due(self, now: datetime, limit: int) -> list[DueFire]:
        """Unpaused cron jobs whose fire time has come, oldest first: only the columns a fire
        needs (loading whole jobs was most of a burst's time)."""
        rows = self.session.execute(
            select(
                JobRow.id,
                JobRow.project_id,
                JobRow.schedule,
                JobRow.timezone,
                JobRow.next_fire_at,
                JobRow.creator_id,
                JobRow.arguments,
                JobRow.cpu,
                JobRow.memory_mb,
            )
            .where(
                JobRow.schedule_kind == ScheduleKind.CRON.value,
                JobRow.paused.is_(False),
                JobRow.next_fire_at.is_not(None),
                JobRow.next_fire_at <= now,
            )
            .order_by(JobRow.next_fire_at)
            .limit(limit)
        ).all()
        return [DueFire(*row) for row in rows]

    def advance_fire(self, job_id: str, expected: datetime | None, new: datetime | None) -> bool:
        """Move a job's next fire time; False if another scheduler already moved it."""
        result = self.session.execute(
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.next_fire_at == expected)
            .values(next_fire_at=new)
        )
        return bool(result.rowcount)

    def earliest_fire(self) -> datetime | None:
        return self.session.scalar(
            select(func.min(JobRow.next_fire_at)).where(
                JobRow.schedule_kind == ScheduleKind.CRON.value, JobRow.paused.is_(False)
            )
        )

    def advance_fires(
        self, job_ids: list[str], expected: datetime | None, new: datetime | None
    ) -> list[str]:
        """``advance_fire`` for many jobs at once; returns the ids this caller moved."""
        if not job_ids:
            return []
        result = self.session.execute(
            update(JobRow)
            .where(JobRow.id.in_(job_ids), JobRow.next_fire_at == expected)
            .values(next_fire_at=new)
            .returning(JobRow.id)
        )
        return [row[0] for row in result]

    def with_active_runs(self, job_ids: list[str]) -> dict[str, tuple[str, str]]:
        """job id → (run id, status) of an active run, for the given jobs that have one."""
        if not job_ids:
            return {}
        rows = self.session.execute(
            select(JobRunRow.job_id, JobRunRow.id, JobRunRow.status).where(
                JobRunRow.job_id.in_(job_ids),
                JobRunRow.status.in_([s.value for s in ACTIVE_RUN_STATUSES]),
            )
        ).all()
        return {job_id: (run_id, status) for job_id, run_id, status in rows}

    def add_runs(self, rows: list[dict[str, Any]]) -> None:
        """Insert many runs in one statement (the scheduler's burst path)."""
        if rows:
            self.session.execute(insert(JobRunRow), rows)

    # Runs ------------------------------------------------------------------------------

    def add_run(self, **values: Any) -> JobRun:
        row = JobRunRow(**values)
        self.session.add(row)
        self.session.flush()
        run = self.get_run(row.id)
        assert run is not None
        return run

    def get_run(self, run_id: str) -> JobRun | None:
        found = self.session.execute(
            select(JobRunRow, UserRow.username)
            .join(UserRow, UserRow.id == JobRunRow.user_id)
            .where(JobRunRow.id == run_id)
        ).first()
        return to_run(*found) if found else None

    def runs_of(
        self,
        job_id: str,
        *,
        offset: int = 0,
        limit: int = 100,
        newest_first: bool = False,
        status: RunStatus | None = None,
    ) -> list[JobRun]:
        order = JobRunRow.created_at.desc() if newest_first else JobRunRow.created_at.asc()
        query = (
            select(JobRunRow, UserRow.username)
            .join(UserRow, UserRow.id == JobRunRow.user_id)
            .where(JobRunRow.job_id == job_id)
        )
        if status is not None:
            query = query.where(JobRunRow.status == status.value)
        rows = self.session.execute(
            query.order_by(order, JobRunRow.id).offset(offset).limit(limit)
        ).all()
        return [to_run(row, name) for row, name in rows]

    def active_run(self, job_id: str) -> JobRun | None:
        found = self.session.execute(
            select(JobRunRow, UserRow.username)
            .join(UserRow, UserRow.id == JobRunRow.user_id)
            .where(
                JobRunRow.job_id == job_id,
                JobRunRow.status.in_([s.value for s in ACTIVE_RUN_STATUSES]),
            )
            .limit(1)
        ).first()
        return to_run(*found) if found else None

    def runs_with_status(self, *statuses: RunStatus, limit: int = 1000) -> list[JobRun]:
        rows = self.session.execute(
            select(JobRunRow, UserRow.username)
            .join(UserRow, UserRow.id == JobRunRow.user_id)
            .where(JobRunRow.status.in_([s.value for s in statuses]))
            .order_by(JobRunRow.created_at)
            .limit(limit)
        ).all()
        return [to_run(row, name) for row, name in rows]

    def run_for_workload(self, workload_id: str) -> JobRun | None:
        found = self.session.execute(
            select(JobRunRow, UserRow.username)
            .join(UserRow, UserRow.id == JobRunRow.user_id)
            .where(JobRunRow.workload_id == workload_id)
        ).first()
        return to_run(*found) if found else None

    def move_run(self, run_id: str, expected: RunStatus, target: RunStatus, **values: Any) -> bool:
        check_move(RUN_TRANSITIONS, expected, target)
        result = self.session.execute(
            update(JobRunRow)
            .where(JobRunRow.id == run_id, JobRunRow.status == expected.value)
            .values(status=target.value, **values)
        )
        return bool(result.rowcount)

    def set_run(self, run_id: str, **values: Any) -> None:
        self.session.execute(update(JobRunRow).where(JobRunRow.id == run_id).values(**values))

    def claim_runs(self, run_ids: list[str], **values: Any) -> list[str]:
        """Move the runs of ``run_ids`` that are still scheduled to starting (with
        ``values``), in one ``UPDATE … WHERE status = 'scheduled' RETURNING id``: the ids
        this caller claimed (another scheduler may have claimed some first)."""
        if not run_ids:
            return []
        check_move(RUN_TRANSITIONS, RunStatus.SCHEDULED, RunStatus.STARTING)
        result = self.session.execute(
            update(_RUNS)
            .where(_RUNS.c.id.in_(run_ids), _RUNS.c.status == RunStatus.SCHEDULED.value)
            .values(status=RunStatus.STARTING.value, **values)
            .returning(_RUNS.c.id)
        )
        return [row[0] for row in result]

    def move_runs(
        self, expected: RunStatus, target: RunStatus, rows: Sequence[Mapping[str, Any]]
    ) -> set[str]:
        """``move_run`` for many runs, each with its own values (``id`` and the same keys in
        every row), in one statement; the ids moved. Only for moves no other writer makes
        (``store.bulk.move_each``): the dispatcher recording the runs it started."""
        check_move(RUN_TRANSITIONS, expected, target)
        return move_each(self.session, _RUNS, expected.value, target.value, rows)

    def set_runs(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """``set_run`` for many runs, each with its own values, in one statement."""
        set_each(self.session, _RUNS, rows)

    def experiment_runs(
        self, project_id: str, *, run_id: str | None = None, limit: int = 500
    ) -> list[tuple[Job, JobRun]]:
        """Legacy experiment runs of the project (newest first), each with its hidden job."""
        creator = UserRow.__table__.alias("creator")
        query = (
            select(JobRow, creator.c.username, JobRunRow, UserRow.username)
            .join(JobRunRow, JobRunRow.job_id == JobRow.id)
            .join(creator, creator.c.id == JobRow.creator_id)
            .join(UserRow, UserRow.id == JobRunRow.user_id)
            .where(JobRow.project_id == project_id, JobRow.kind == JobKind.EXPERIMENT.value)
        )
        if run_id is not None:
            query = query.where(JobRunRow.id == run_id)
        rows = self.session.execute(
            query.order_by(JobRunRow.created_at.desc(), JobRunRow.id.desc()).limit(limit)
        ).all()
        return [(to_job(job, made_by), to_run(run, ran_by)) for job, made_by, run, ran_by in rows]

    def last_runs(self, job_ids: list[str]) -> dict[str, JobRun]:
        """The newest run of each job (for job lists)."""
        result: dict[str, JobRun] = {}
        for job_id in job_ids:
            runs = self.runs_of(job_id, limit=1, newest_first=True)
            if runs:
                result[job_id] = runs[0]
        return result
