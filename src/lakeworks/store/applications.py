"""Application records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from lakeworks.entities.applications import TRANSITIONS, Application, AppStatus
from lakeworks.entities.status import check_move
from lakeworks.store.tables import ApplicationRow


def to_application(row: ApplicationRow) -> Application:
    return Application(
        id=row.id,
        project_id=row.project_id,
        name=row.name,
        description=row.description,
        subdomain=row.subdomain,
        script=row.script,
        runtime_identifier=row.runtime_identifier,
        cpu=row.cpu,
        memory_mb=row.memory_mb,
        gpu=row.gpu,
        environment=dict(row.environment or {}),
        bypass_authentication=row.bypass_authentication,
        status=AppStatus(row.status),
        workload_id=row.workload_id,
        target=row.target,
        port_name=row.port_name,
        creator_id=row.creator_id,
        restarts=list(row.restarts or []),
        reason=row.reason,
        created_at=row.created_at,
        updated_at=row.updated_at,
        starting_at=row.starting_at,
        running_at=row.running_at,
        stopped_at=row.stopped_at,
    )


class ApplicationRepo:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, **values: Any) -> Application:
        row = ApplicationRow(**values)
        self.session.add(row)
        self.session.flush()
        return to_application(row)

    def get(self, application_id: str) -> Application | None:
        row = self.session.get(ApplicationRow, application_id)
        return to_application(row) if row else None

    def by_subdomain(self, subdomain: str) -> Application | None:
        row = self.session.scalars(
            select(ApplicationRow).where(ApplicationRow.subdomain == subdomain)
        ).first()
        return to_application(row) if row else None

    def for_workload(self, workload_id: str) -> Application | None:
        row = self.session.scalars(
            select(ApplicationRow).where(ApplicationRow.workload_id == workload_id)
        ).first()
        return to_application(row) if row else None

    def of_project(self, project_id: str) -> list[Application]:
        rows = self.session.scalars(
            select(ApplicationRow)
            .where(ApplicationRow.project_id == project_id)
            .order_by(ApplicationRow.created_at, ApplicationRow.id)
        )
        return [to_application(r) for r in rows]

    def with_status(self, *statuses: AppStatus) -> list[Application]:
        rows = self.session.scalars(
            select(ApplicationRow).where(ApplicationRow.status.in_([s.value for s in statuses]))
        )
        return [to_application(r) for r in rows]

    def move(
        self, application_id: str, expected: AppStatus, to: AppStatus, /, **values: Any
    ) -> bool:
        """Apply a status change only if the status is still ``expected`` (atomic); a change
        its transition table does not allow raises ``IllegalTransition``."""
        check_move(TRANSITIONS, expected, to)
        result = self.session.execute(
            update(ApplicationRow)
            .where(ApplicationRow.id == application_id, ApplicationRow.status == expected.value)
            .values(status=to.value, **values)
        )
        return bool(result.rowcount)

    def set(self, application_id: str, **values: Any) -> None:
        self.session.execute(
            update(ApplicationRow).where(ApplicationRow.id == application_id).values(**values)
        )

    def delete(self, application_id: str) -> None:
        self.session.execute(delete(ApplicationRow).where(ApplicationRow.id == application_id))

    def attach(self, application_id: str, starting_at: datetime | None, workload_id: str) -> bool:
        """Link a just-launched engine, only if the app is still in that same start."""
        result = self.session.execute(
            update(ApplicationRow)
            .where(
                ApplicationRow.id == application_id,
                ApplicationRow.status == AppStatus.STARTING.value,
                ApplicationRow.starting_at == starting_at,
                ApplicationRow.workload_id.is_(None),
            )
            .values(workload_id=workload_id)
        )
        return bool(result.rowcount)
