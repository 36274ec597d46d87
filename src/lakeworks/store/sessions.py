"""Session records."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session as OrmSession

from lakeworks.entities.sessions import TRANSITIONS, Editor, Session, SessionStatus
from lakeworks.entities.status import check_move
from lakeworks.store.tables import SessionRow


def to_session(row: SessionRow) -> Session:
    return Session(
        id=row.id,
        project_id=row.project_id,
        user_id=row.user_id,
        name=row.name,
        editor=Editor(row.editor),
        runtime_identifier=row.runtime_identifier,
        cpu=row.cpu,
        memory_mb=row.memory_mb,
        spark=row.spark,
        idle_timeout_minutes=row.idle_timeout_minutes,
        status=SessionStatus(row.status),
        workload_id=row.workload_id,
        kernel_key_sealed=row.kernel_key_sealed,
        created_at=row.created_at,
        last_activity_at=row.last_activity_at,
        finished_at=row.finished_at,
        reason=row.reason,
    )


class SessionRepo:
    def __init__(self, session: OrmSession) -> None:
        self.session = session

    def add(self, **values: Any) -> Session:
        row = SessionRow(**values)
        self.session.add(row)
        self.session.flush()
        return to_session(row)

    def get(self, session_id: str) -> Session | None:
        row = self.session.get(SessionRow, session_id)
        return to_session(row) if row else None

    def of_project(self, project_id: str, limit: int = 200) -> list[Session]:
        rows = self.session.scalars(
            select(SessionRow)
            .where(SessionRow.project_id == project_id)
            .order_by(SessionRow.created_at.desc(), SessionRow.id.desc())
            .limit(limit)
        )
        return [to_session(r) for r in rows]

    def with_status(self, *statuses: SessionStatus) -> list[Session]:
        rows = self.session.scalars(
            select(SessionRow).where(SessionRow.status.in_([s.value for s in statuses]))
        )
        return [to_session(r) for r in rows]

    def for_workload(self, workload_id: str) -> Session | None:
        row = self.session.scalars(
            select(SessionRow).where(SessionRow.workload_id == workload_id)
        ).first()
        return to_session(row) if row else None

    def move(
        self, session_id: str, expected: SessionStatus, target: SessionStatus, **values: Any
    ) -> bool:
        check_move(TRANSITIONS, expected, target)
        result = self.session.execute(
            update(SessionRow)
            .where(SessionRow.id == session_id, SessionRow.status == expected.value)
            .values(status=target.value, **values)
        )
        return bool(result.rowcount)

    def set(self, session_id: str, **values: Any) -> None:
        self.session.execute(update(SessionRow).where(SessionRow.id == session_id).values(**values))

    def touch(self, session_ids: Sequence[str], when: datetime) -> None:
        """Record activity; only ever moves the time forwards."""
        self.session.execute(
            update(SessionRow)
            .where(SessionRow.id.in_(list(session_ids)), SessionRow.last_activity_at < when)
            .values(last_activity_at=when)
        )
