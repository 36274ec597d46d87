"""AMP setups and their tasks: one row per project that runs an AMP, one per task."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from lakeworks.entities.amps import (
    TASK_TRANSITIONS,
    AmpSetup,
    AmpTask,
    SetupStatus,
    TaskStatus,
)
from lakeworks.entities.status import check_move
from lakeworks.store.tables import Base, UTCDateTime, utcnow


class AmpSetupRow(Base):
    __tablename__ = "amp_setups"
    __table_args__ = (Index("ix_amp_setups_status", "status"),)

    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    creator_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    reason: Mapped[str] = mapped_column(Text, default="")
    runtime_identifier: Mapped[str] = mapped_column(Text, default="")
    warnings: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AmpTaskRow(Base):
    __tablename__ = "amp_tasks"

    project_id: Mapped[str] = mapped_column(
        ForeignKey("amp_setups.project_id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(Text, default="")
    line: Mapped[int] = mapped_column(Integer, default=0)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    entity_id: Mapped[str] = mapped_column(String(64), default="")
    tracked_id: Mapped[str] = mapped_column(String(64), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


def to_task(row: AmpTaskRow) -> AmpTask:
    return AmpTask(
        project_id=row.project_id,
        position=row.position,
        type=row.type,
        title=row.title,
        line=row.line,
        fields=dict(row.fields or {}),
        status=TaskStatus(row.status),
        reason=row.reason,
        entity_id=row.entity_id,
        tracked_id=row.tracked_id,
        attempts=row.attempts,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def to_setup(row: AmpSetupRow, tasks: list[AmpTask]) -> AmpSetup:
    return AmpSetup(
        project_id=row.project_id,
        name=row.name,
        status=SetupStatus(row.status),
        creator_id=row.creator_id,
        reason=row.reason,
        runtime_identifier=row.runtime_identifier,
        warnings=list(row.warnings or []),
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
        tasks=tasks,
    )


class AmpRepo:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(
        self,
        *,
        project_id: str,
        name: str,
        creator_id: int,
        runtime_identifier: str,
        warnings: list[str],
        tasks: list[dict[str, Any]],
    ) -> AmpSetup:
        now = utcnow()
        self.session.add(
            AmpSetupRow(
                project_id=project_id,
                name=name,
                status=SetupStatus.RUNNING.value,
                creator_id=creator_id,
                runtime_identifier=runtime_identifier,
                warnings=warnings,
                created_at=now,
                updated_at=now,
            )
        )
        self.session.flush()
        for task in tasks:
            self.session.add(
                AmpTaskRow(project_id=project_id, status=TaskStatus.PENDING.value, **task)
            )
        self.session.flush()
        setup = self.get(project_id)
        assert setup is not None
        return setup

    def get(self, project_id: str) -> AmpSetup | None:
        row = self.session.get(AmpSetupRow, project_id)
        if row is None:
            return None
        tasks = self.session.scalars(
            select(AmpTaskRow)
            .where(AmpTaskRow.project_id == project_id)
            .order_by(AmpTaskRow.position)
        )
        return to_setup(row, [to_task(t) for t in tasks])

    def running_project_ids(self) -> list[str]:
        return list(
            self.session.scalars(
                select(AmpSetupRow.project_id).where(
                    AmpSetupRow.status == SetupStatus.RUNNING.value
                )
            )
        )

    def set_setup(
        self, project_id: str, expected: SetupStatus, status: SetupStatus, reason: str
    ) -> bool:
        """Move the setup from ``expected`` only (another server may have moved it)."""
        now = utcnow()
        result = self.session.execute(
            update(AmpSetupRow)
            .where(AmpSetupRow.project_id == project_id, AmpSetupRow.status == expected.value)
            .values(
                status=status.value,
                reason=reason,
                updated_at=now,
                finished_at=None if status is SetupStatus.RUNNING else now,
            )
        )
        return bool(getattr(result, "rowcount", 0))

    def move_task(
        self,
        project_id: str,
        position: int,
        expected: TaskStatus,
        status: TaskStatus,
        **values: Any,
    ) -> bool:
        """The one transition function for tasks: an atomic ``UPDATE ... WHERE status``."""
        check_move(TASK_TRANSITIONS, expected, status)
        now = utcnow()
        if status is TaskStatus.RUNNING:
            values.setdefault("started_at", now)
            values.setdefault("finished_at", None)
        elif status is TaskStatus.PENDING:
            values.update(started_at=None, finished_at=None, reason="")
        else:
            values.setdefault("finished_at", now)
        result = self.session.execute(
            update(AmpTaskRow)
            .where(
                AmpTaskRow.project_id == project_id,
                AmpTaskRow.position == position,
                AmpTaskRow.status == expected.value,
            )
            .values(status=status.value, **values)
        )
        return bool(getattr(result, "rowcount", 0))

    def record(self, project_id: str, position: int, **values: Any) -> None:
        """Note what a running task made (ids), without a status change."""
        self.session.execute(
            update(AmpTaskRow)
            .where(AmpTaskRow.project_id == project_id, AmpTaskRow.position == position)
            .values(**values)
        )
