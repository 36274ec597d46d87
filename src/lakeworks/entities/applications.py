"""Applications: a long-running web app from a project's script, reached at its subdomain.

Status machine (CML compat §7), applied by the service with conditional updates:

- ``STARTING``: its workload is launched and the platform waits (bounded) for it to open
  ``CDSW_APP_PORT``, ``CDSW_READONLY_PORT`` or ``CDSW_PUBLIC_PORT``;
- ``RUNNING``: a port answers; the proxy forwards to it;
- ``STOPPING`` → ``STOPPED``: stopped on request; a script that exits with 0 is ``STOPPED`` too;
- ``FAILED``: exited non-zero, never opened a port in time, or could not start;
- ``UNKNOWN``: the server lost track of its process (restart while it was ending).

Auto-restart (a Lakeworks addition; CML has none): a *running* app whose script crashes is
started again, at most ``max_restarts`` times within the restart window; after that it stays
``FAILED`` with the crash reason. A restart is a new engine behind the same subdomain.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class AppStatus(enum.StrEnum):
    STARTING = "APPLICATION_STARTING"
    RUNNING = "APPLICATION_RUNNING"
    STOPPING = "APPLICATION_STOPPING"
    STOPPED = "APPLICATION_STOPPED"
    FAILED = "APPLICATION_FAILED"
    UNKNOWN = "APPLICATION_UNKNOWN"

    @property
    def short(self) -> str:
        """The lowercase short form the API's status filter takes (``running``)."""
        return self.value.removeprefix("APPLICATION_").lower()

    @property
    def is_active(self) -> bool:
        return self in (AppStatus.STARTING, AppStatus.RUNNING, AppStatus.STOPPING)

    @classmethod
    def parse(cls, text: str) -> AppStatus | None:
        """``running``, ``RUNNING`` or ``APPLICATION_RUNNING``; None if none of those."""
        value = text.strip().upper()
        if not value.startswith("APPLICATION_"):
            value = "APPLICATION_" + value
        try:
            return cls(value)
        except ValueError:
            return None


ENDED = frozenset({AppStatus.STOPPED, AppStatus.FAILED, AppStatus.UNKNOWN})

TRANSITIONS: dict[AppStatus, frozenset[AppStatus]] = {
    AppStatus.STARTING: frozenset(
        {AppStatus.RUNNING, AppStatus.STOPPING, AppStatus.STARTING} | ENDED
    ),
    AppStatus.RUNNING: frozenset({AppStatus.STOPPING, AppStatus.STARTING} | ENDED),
    AppStatus.STOPPING: ENDED,
    AppStatus.STOPPED: frozenset({AppStatus.STARTING}),
    AppStatus.FAILED: frozenset({AppStatus.STARTING}),
    AppStatus.UNKNOWN: frozenset({AppStatus.STARTING, AppStatus.STOPPED}),
}

# The ports an application may open, in the order the proxy prefers them (compat §13).
APP_PORTS = ("CDSW_APP_PORT", "CDSW_READONLY_PORT", "CDSW_PUBLIC_PORT")


def can_move(current: AppStatus, target: AppStatus) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


@dataclass(frozen=True)
class Application:
    id: str
    project_id: str
    name: str
    description: str
    subdomain: str
    script: str
    runtime_identifier: str
    cpu: float
    memory_mb: int
    gpu: int
    environment: dict[str, str]
    bypass_authentication: bool
    status: AppStatus
    workload_id: str | None  # the current engine (a restart gets a new one)
    target: str  # "127.0.0.1:<port>" the proxy forwards to, once running
    port_name: str  # which of APP_PORTS it opened
    creator_id: int
    restarts: list[str] = field(default_factory=list)  # ISO times of recent auto-restarts
    reason: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    starting_at: datetime | None = None
    running_at: datetime | None = None
    stopped_at: datetime | None = None


@dataclass(frozen=True)
class Route:
    """What the proxy needs to reach an application or a workload port, cached briefly."""

    project_id: str
    target: str  # "" while nothing listens
    public: bool  # bypass_authentication (and the admin allows it)
    label: str  # the subdomain or engine id, for messages
    application_id: str | None = None
