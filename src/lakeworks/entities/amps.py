"""An AMP setup (a project's run of its ``.project-metadata.yaml`` tasks) and its tasks."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class SetupStatus(enum.StrEnum):
    RUNNING = "running"
    FAILED = "failed"  # stopped at a failed task; retry or skip it to go on
    SUCCEEDED = "succeeded"


class TaskStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


TASK_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.PENDING: frozenset({TaskStatus.RUNNING, TaskStatus.SKIPPED}),
    TaskStatus.RUNNING: frozenset({TaskStatus.SUCCEEDED, TaskStatus.FAILED}),
    TaskStatus.FAILED: frozenset({TaskStatus.PENDING, TaskStatus.SKIPPED}),  # retry, skip
    TaskStatus.SUCCEEDED: frozenset(),
    TaskStatus.SKIPPED: frozenset(),
}
DONE = frozenset({TaskStatus.SUCCEEDED, TaskStatus.SKIPPED})


@dataclass(frozen=True)
class AmpTask:
    project_id: str
    position: int
    type: str
    title: str
    line: int
    fields: dict[str, Any]
    status: TaskStatus
    reason: str = ""
    # What the task made or waits on: a job, model, application id, and the run, build or
    # deployment it follows.
    entity_id: str = ""
    tracked_id: str = ""
    attempts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or datetime.now(UTC)
        return max(0.0, (end - self.started_at).total_seconds())


@dataclass(frozen=True)
class AmpSetup:
    project_id: str
    name: str
    status: SetupStatus
    creator_id: int
    reason: str = ""
    # The runtime every task uses: the AMP's ``runtimes[0]``, or the closest one offered.
    runtime_identifier: str = ""
    warnings: list[str] = field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    finished_at: datetime | None = None
    tasks: list[AmpTask] = field(default_factory=list)
