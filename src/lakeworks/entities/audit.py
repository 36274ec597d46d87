"""Audit events: who did what, when, to which project, with what outcome."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Outcome(enum.StrEnum):
    SUCCESS = "success"
    DENIED = "denied"
    FAILED = "failed"


@dataclass(frozen=True)
class AuditEvent:
    id: int
    at: datetime
    actor_id: int | None
    actor: str  # username at the time, or "system"
    action: str  # dotted verb, e.g. "project.create", "file.write"
    target: str  # what the action touched (an id or path)
    project_id: str | None
    outcome: Outcome
    detail: dict[str, Any] = field(default_factory=dict)
