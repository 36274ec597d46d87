"""Legacy experiment runs (CDSW's "Run Experiment", CML compat §3.4): a script with arguments
run once from a snapshot of the project's files, with the metrics and files it tracked.

A run is a job run of its own hidden job (``JobKind.EXPERIMENT``): the job holds what was
asked (script, arguments, runtime, resources, comment), the run its lifecycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lakeworks.entities.jobs import Job, JobRun, RunStatus


@dataclass(frozen=True)
class TrackedMetric:
    """One ``cdsw.track_metric`` call: the value as the script gave it (a number, a string,
    a bool, a dict or a list)."""

    key: str
    value: Any
    timestamp_ms: int


@dataclass(frozen=True)
class TrackedFile:
    path: str  # relative to the run's tracked files (the project-relative path it had)
    size: int


@dataclass(frozen=True)
class LegacyRun:
    job: Job
    run: JobRun
    history: list[TrackedMetric] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.run.id

    @property
    def project_id(self) -> str:
        return self.run.project_id

    @property
    def script(self) -> str:
        return self.job.script

    @property
    def arguments(self) -> str:
        return self.run.arguments

    @property
    def comment(self) -> str:
        return self.job.name

    @property
    def status(self) -> RunStatus:
        return self.run.status

    @property
    def created_at(self) -> datetime:
        return self.run.created_at

    @property
    def metrics(self) -> dict[str, Any]:
        """The last value of each metric, in the order the keys were first tracked."""
        latest: dict[str, Any] = {}
        for metric in self.history:
            latest[metric.key] = metric.value
        return latest
