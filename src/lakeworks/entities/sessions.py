"""Interactive sessions: a JupyterLab server or a workbench console (a Jupyter kernel) in a
project's environment, one workload each.

A session's status follows its workload's (starting, running, stopping, then one final
status); ``TRANSITIONS`` is the table the service applies with conditional updates.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class Editor(enum.StrEnum):
    JUPYTERLAB = "jupyterlab"  # JupyterLab, proxied under /sessions/<id>/
    WORKBENCH = "workbench"  # CML's own: file editor + console backed by a Jupyter kernel


class SessionStatus(enum.StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"  # stopped by a person, or by the idle timeout (see ``reason``)
    SUCCEEDED = "succeeded"  # its processes ended by themselves (e.g. ``exit`` in the console)
    FAILED = "failed"  # could not start, or crashed

    @property
    def is_final(self) -> bool:
        return self in FINAL_SESSION_STATUSES

    @property
    def engine_status(self) -> str:
        """CML's EngineStatus name for API v2."""
        return "ENGINE_" + self.value.upper()


FINAL_SESSION_STATUSES = frozenset(
    {SessionStatus.STOPPED, SessionStatus.SUCCEEDED, SessionStatus.FAILED}
)

TRANSITIONS: dict[SessionStatus, frozenset[SessionStatus]] = {
    SessionStatus.STARTING: frozenset(
        {SessionStatus.RUNNING, SessionStatus.STOPPING} | FINAL_SESSION_STATUSES
    ),
    SessionStatus.RUNNING: frozenset({SessionStatus.STOPPING} | FINAL_SESSION_STATUSES),
    SessionStatus.STOPPING: FINAL_SESSION_STATUSES,
}

IDLE_REASON = "idle timeout"


def can_move(current: SessionStatus, target: SessionStatus) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


@dataclass(frozen=True)
class Session:
    id: str
    project_id: str
    user_id: int
    name: str
    editor: Editor
    runtime_identifier: str
    cpu: float
    memory_mb: int
    spark: bool  # the Spark add-on (a Spark UI port, the driver's memory from the profile)
    idle_timeout_minutes: int  # 0: never stopped for idleness
    status: SessionStatus
    workload_id: str | None
    kernel_key_sealed: str  # HMAC key of the console kernel's messages (workbench), sealed
    created_at: datetime
    last_activity_at: datetime
    finished_at: datetime | None
    reason: str

    @property
    def is_active(self) -> bool:
        return not self.status.is_final
