"""The audit trail: append-only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session

from lakeworks.entities.audit import AuditEvent, Outcome
from lakeworks.store.tables import AuditEventRow

_EVENTS = cast(Table, AuditEventRow.__table__)


def to_event(row: AuditEventRow) -> AuditEvent:
    return AuditEvent(
        id=row.id,
        at=row.at,
        actor_id=row.actor_id,
        actor=row.actor,
        action=row.action,
        target=row.target,
        project_id=row.project_id,
        outcome=Outcome(row.outcome),
        detail=dict(row.detail or {}),
    )


class AuditRepo:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(
        self,
        *,
        at: datetime,
        actor_id: int | None,
        actor: str,
        action: str,
        target: str,
        project_id: str | None,
        outcome: Outcome,
        detail: dict[str, Any],
    ) -> None:
        self.add_many(
            [
                {
                    "at": at,
                    "actor_id": actor_id,
                    "actor": actor,
                    "action": action,
                    "target": target,
                    "project_id": project_id,
                    "outcome": outcome,
                    "detail": detail,
                }
            ]
        )

    def add_many(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Events (``add``'s arguments each) in one INSERT (a dispatcher's batch audits the
        keys of all its workloads together)."""
        if events:
            self.session.execute(
                insert(_EVENTS), [dict(e) | {"outcome": e["outcome"].value} for e in events]
            )

    def query(
        self,
        *,
        project_id: str | None = None,
        actor: str | None = None,
        action_prefix: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[AuditEvent], int]:
        """Newest first, with the total count of matching events."""
        query = select(AuditEventRow)
        if project_id:
            query = query.where(AuditEventRow.project_id == project_id)
        if actor:
            query = query.where(AuditEventRow.actor == actor)
        if action_prefix:
            query = query.where(AuditEventRow.action.startswith(action_prefix))
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.session.scalars(
            query.order_by(AuditEventRow.id.desc()).offset(offset).limit(limit)
        )
        return [to_event(r) for r in rows], total
