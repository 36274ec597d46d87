"""Workloads: one OS process tree each (job run, session, model replica, application, build).

A workload's status only moves along ``TRANSITIONS``; services apply a move with an atomic
``UPDATE … WHERE status = :expected`` so two server processes can never both apply one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypedDict


class WorkloadKind(enum.StrEnum):
    JOB_RUN = "job_run"
    SESSION = "session"
    APPLICATION = "application"
    MODEL_REPLICA = "model_replica"
    MODEL_BUILD = "model_build"
    WORKER = "worker"


class WorkloadStatus(enum.StrEnum):
    PENDING = "pending"  # recorded, waiting for resources or quota
    STARTING = "starting"  # handed to the executor
    RUNNING = "running"
    STOPPING = "stopping"  # a stop was asked for; the executor is ending it
    SUCCEEDED = "succeeded"  # exit code 0
    FAILED = "failed"  # non-zero exit, or could not start
    TIMEDOUT = "timedout"  # killed at its time limit
    STOPPED = "stopped"  # stopped on request
    OOM = "oom"  # killed for exceeding its memory limit
    LOST = "lost"  # the process vanished and no exit could be recorded (e.g. server crash)

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset(
    {
        WorkloadStatus.SUCCEEDED,
        WorkloadStatus.FAILED,
        WorkloadStatus.TIMEDOUT,
        WorkloadStatus.STOPPED,
        WorkloadStatus.OOM,
        WorkloadStatus.LOST,
    }
)

_ENDINGS = FINAL_STATUSES

TRANSITIONS: dict[WorkloadStatus, frozenset[WorkloadStatus]] = {
    WorkloadStatus.PENDING: frozenset(
        {WorkloadStatus.STARTING, WorkloadStatus.STOPPED, WorkloadStatus.FAILED}
    ),
    WorkloadStatus.STARTING: frozenset(
        {WorkloadStatus.RUNNING, WorkloadStatus.STOPPING} | _ENDINGS
    ),
    WorkloadStatus.RUNNING: frozenset({WorkloadStatus.STOPPING} | _ENDINGS),
    WorkloadStatus.STOPPING: _ENDINGS,
}


def can_move(current: WorkloadStatus, target: WorkloadStatus) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


@dataclass(frozen=True)
class Resources:
    cpu: float = 1.0  # vCPUs
    memory_mb: int = 2048
    gpu: int = 0


@dataclass(frozen=True)
class WorkloadSpec:
    """Everything an executor needs to start one process tree.

    ``argv`` runs with ``project_dir`` as the working directory, which the workload sees as
    ``/home/cdsw`` when the executor can bind-mount it (bubblewrap), and as its real path
    otherwise. ``runtime_dir`` is the Python environment (a venv) the workload uses; it is
    mounted read-only where possible. ``ports`` names the ports the workload wants (e.g.
    ``["CDSW_APP_PORT", "CDSW_READONLY_PORT"]``): the executor picks free ones and puts them
    in the environment under those names. ``host_ports`` are ports of the machine's loopback
    this workload may reach besides the executor's own list (e.g. the Spark metastore).
    """

    workload_id: str
    kind: WorkloadKind
    argv: list[str]
    env: dict[str, str]
    project_dir: Path
    log_path: Path
    runtime_dir: Path | None = None
    resources: Resources = field(default_factory=Resources)
    ports: list[str] = field(default_factory=list)
    extra_ro_binds: list[Path] = field(default_factory=list)  # e.g. the in-workload libraries
    # Writable folders outside the project, seen at the same path (the project's Iceberg
    # warehouse); they belong to the workload's user like the project does.
    extra_rw_binds: list[Path] = field(default_factory=list)
    host_ports: list[int] = field(default_factory=list)
    # Workers (compat §12): the parent workload's handle, whose network namespace the worker
    # joins, so the two reach each other on any port; ``None``: a network of its own.
    network_of: Handle | None = None
    # The name of an environment variable for the number of a descriptor the workload
    # inherits: a listening Unix socket the executor made at a path of its own, which the
    # workload never sees (model replicas: the gateway's way in, ``Executor.socket_path``).
    # Executors that cannot make one ignore it; the workload then has its ports only.
    socket: str = ""


class Handle(TypedDict, total=False):
    """What an executor's ``start`` returns and the platform keeps (``workloads.handle``, a
    JSON column) to find the process tree again, also after a server restart. Each executor
    fills the keys it needs; the platform itself reads only ``ports`` and ``port_names``."""

    executor: str  # the executor's name
    workload_id: str
    # The local executor: the tree's leader (its pid and /proc start time tell a reused pid
    # apart), its log, sandbox, uid and cgroups, and the limits that apply.
    pid: int
    pgid: int
    start_time: int
    log_path: str
    sandbox: str  # "bwrap" or "none"
    uid: int
    cgroups: list[str]
    memory_limit: str  # "cgroup", "rlimit" or ""
    memory_mb: int
    cpu_limit: str
    ports: list[int]  # where the workload's ports are reachable; the first is its address
    port_names: list[str]  # the names asked for (WorkloadSpec.ports), in the same order
    # Network isolation: the workload's namespace holder and the pasta process serving it.
    netns_pid: int
    netns_start_time: int
    pasta_pid: int
    pasta_start_time: int
    # A namespace made ahead (executors/netpool.py): its holder, ended with the workload.
    holder_pid: int
    holder_start_time: int
    # The local executor: the Unix socket made for ``WorkloadSpec.socket`` (removed at the end).
    socket: str
    fake: str  # executors/fake.py: the workload's id


@dataclass(frozen=True)
class ExitInfo:
    """How a process tree ended."""

    code: int  # exit code; negative for a signal (as subprocess reports it)
    oom: bool = False  # killed by the memory limit
    reason: str = ""


@dataclass(frozen=True)
class Workload:
    id: str
    kind: WorkloadKind
    project_id: str
    user_id: int
    status: WorkloadStatus
    executor: str
    handle: Handle
    address: str
    log_path: str
    resources: Resources
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    exit_code: int | None
    reason: str
    parent_id: str | None = None  # workers: the workload (session, job run) that launched them
    name: str = ""
