"""Reading the audit trail (site administrators only). Writing happens in ``Platform.command``."""

from __future__ import annotations

from lakeworks.entities.audit import AuditEvent
from lakeworks.errors import PermissionDenied
from lakeworks.services.platform import Platform, Principal


def list_audit(
    platform: Platform,
    principal: Principal,
    *,
    project_id: str | None = None,
    actor: str | None = None,
    action_prefix: str | None = None,
    offset: int = 0,
    limit: int = 100,
) -> tuple[list[AuditEvent], int]:
    """Newest events first, with the total number that match."""
    if not principal.is_admin:
        raise PermissionDenied("Only site administrators can read the audit log.")
    with platform.read() as uow:
        events, total = uow.audit.query(
            project_id=project_id or None,
            actor=actor or None,
            action_prefix=action_prefix or None,
            offset=max(offset, 0),
            limit=max(1, min(limit, 1000)),
        )
        return list(events), total
