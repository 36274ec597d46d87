"""Workers (compat §12): engines a running session or job run launches for itself.

Who may do what:

- launch, list and stop the workers of a workload: that workload itself, through its own
  ``CDSW_APIV2_KEY`` (the key ``launch`` gave it), which acts as the workload's user, who
  must still be a contributor of the project; its owner also lists and stops them with a key
  of their own (not another workload's). Anyone else is told the parent does not exist;
- only a running session or job run has workers; at most ``bounds.MAX_WORKERS`` live ones,
  each within the user's quota like any workload.

A worker is a workload of kind ``worker`` whose ``parent_id`` is the launching workload. It
runs with the parent's runtime, the project's files and variables plus the caller's ``env``,
``CDSW_MASTER_ID``/``CDSW_MASTER_IP`` (the parent) and its own engine id, address and
ports. It shares the parent's network (the executor joins it to the parent's namespace), so
the two reach each other on any port while other workloads cannot, and it appends to the
parent's log. It ends when its command does, when stopped, or when its parent ends
(``reconcile``, every scheduler tick).

Every launch and stop is audited (``worker.launch``, ``worker.stop``), refusals too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from lakeworks import bounds
from lakeworks.entities.workloads import Resources, Workload, WorkloadKind, WorkloadStatus
from lakeworks.errors import InvalidInput, InvalidState, NotFound, PermissionDenied
from lakeworks.services import environment, workloads
from lakeworks.services.permissions import Action, require
from lakeworks.services.platform import Platform, Principal
from lakeworks.services.resources import require_room
from lakeworks.store.tables import utcnow
from lakeworks.store.uow import UnitOfWork

log = logging.getLogger(__name__)

APP_PORTS = ["CDSW_APP_PORT", "CDSW_READONLY_PORT", "CDSW_PUBLIC_PORT"]
PARENT_KINDS = frozenset({WorkloadKind.SESSION, WorkloadKind.JOB_RUN})
PARENT_ENDED = "its parent session or job ended"
CODE_VARIABLE = "LAKEWORKS_WORKER_CODE"
# Python ``code`` runs through the CML script runner (IPython semantics, as in a session):
# from a file in the sandbox's own /tmp, so the server writes nothing into the project.
_RUN_CODE = (
    'f="$(mktemp /tmp/lakeworks-worker-XXXXXX.py)" && '
    'printf "%s\\n" "$LAKEWORKS_WORKER_CODE" > "$f" && exec "$0" -m lakeworks_runner "$f"'
)

# CML's worker statuses (compat §12), from the workload's.
STATUS_NAMES = {
    WorkloadStatus.PENDING: "scheduling",
    WorkloadStatus.STARTING: "scheduling",
    WorkloadStatus.RUNNING: "running",
    WorkloadStatus.STOPPING: "running",
    WorkloadStatus.SUCCEEDED: "succeeded",
    WorkloadStatus.FAILED: "failed",
    WorkloadStatus.OOM: "failed",
    WorkloadStatus.LOST: "failed",
    WorkloadStatus.STOPPED: "stopped",
    WorkloadStatus.TIMEDOUT: "timedout",
}


@dataclass(frozen=True)
class WorkerFields:
    """What ``launch_workers`` asks for. ``memory_gb`` in GB, as CML."""

    count: int = 1
    cpu: float = 1.0
    memory_gb: float = 1.0
    gpu: int = 0
    script: str = ""
    code: str = ""
    env: Mapping[str, object] = field(default_factory=dict)
    name: str = ""


@dataclass(frozen=True)
class Worker:
    """A worker as the library shows it: the workload and where it is reached."""

    workload: Workload
    ip_address: str
    app_url: str

    @property
    def status(self) -> str:
        return STATUS_NAMES[self.workload.status]

    @property
    def running_at(self) -> datetime | None:
        return self.workload.started_at

    @property
    def duration_seconds(self) -> float | None:
        start, end = self.workload.started_at, self.workload.finished_at
        if start is None:
            return None
        return ((end or utcnow()) - start).total_seconds()


def _check(fields: WorkerFields) -> int:
    """Refuse bad input (4xx); the memory in MiB."""
    if not 1 <= fields.count <= bounds.MAX_WORKERS:
        raise InvalidInput(f"n must be between 1 and {bounds.MAX_WORKERS}.")
    memory_mb = int(fields.memory_gb * 1024)
    bounds.check_resources(fields.cpu, memory_mb, fields.gpu)
    if fields.gpu:
        raise InvalidInput("This Lakeworks site has no GPUs for workers (nvidia_gpu must be 0).")
    bounds.check_name("name", fields.name)
    bounds.check_text("script", fields.script)
    bounds.check_text("code", fields.code)
    if not fields.script and not fields.code.strip():
        raise InvalidInput("Give the workers a script (a project file) or code to run.")
    for key, value in fields.env.items():
        if not isinstance(key, str) or not key or "=" in key or "\0" in key:
            raise InvalidInput(f"Not an environment variable name: {key!r}.")
        bounds.check_text(f"env[{key!r}]", str(value))
    return memory_mb


def _parent(
    uow: UnitOfWork,
    principal: Principal,
    project_id: str,
    parent_id: str,
    *,
    launching: bool = False,
) -> Workload:
    """The workload ``parent_id`` of ``project_id``, if the caller speaks for it: with one of
    its own keys, or (not to launch) as its owner with a key that is not another workload's."""
    parent = uow.workloads.get(parent_id)
    if parent is None or parent.project_id != project_id or parent.kind not in PARENT_KINDS:
        raise NotFound(f"No session or job run {parent_id!r} in this project.")
    own_key = principal.key_id is not None and principal.key_id in uow.workloads.key_ids(parent_id)
    owner = principal.user.id == parent.user_id and principal.project_scope is None
    if not own_key and (launching or not owner):
        if principal.user.id == parent.user_id:
            raise PermissionDenied(
                "Only the session or job run itself (its CDSW_APIV2_KEY) manages its workers."
            )
        raise NotFound(f"No session or job run {parent_id!r} in this project.")
    return parent


def _runtime_identifier(uow: UnitOfWork, parent: Workload) -> str:
    """The runtime the parent runs (its session's or its job's)."""
    if parent.kind is WorkloadKind.SESSION:
        session = uow.sessions.for_workload(parent.id)
        if session is not None:
            return session.runtime_identifier
    else:
        run = uow.jobs.run_for_workload(parent.id)
        job = uow.jobs.get(run.job_id) if run else None
        if job is not None:
            return job.runtime_identifier
    raise InvalidState("The parent's session or job run record is gone.")


def launch(
    platform: Platform,
    principal: Principal,
    project_id: str,
    parent_id: str,
    fields: WorkerFields,
) -> list[Worker]:
    """Start ``fields.count`` workers of the running workload ``parent_id``; one entry per
    worker, failed ones too (with the reason on the workload)."""
    memory_mb = _check(fields)
    with platform.command(
        principal, "worker.launch", target=parent_id, project_id=project_id
    ) as cmd:
        project = require(cmd.uow, principal, project_id, Action.CREATE_WORKLOADS)
        parent = _parent(cmd.uow, principal, project_id, parent_id, launching=True)
        if parent.status is not WorkloadStatus.RUNNING:
            raise InvalidState(f"{parent_id} is {parent.status.value}: only a running one.")
        live = [w for w in cmd.uow.workloads.children(parent_id) if not w.status.is_final]
        if len(live) + fields.count > bounds.MAX_WORKERS:
            raise InvalidInput(
                f"At most {bounds.MAX_WORKERS} workers run at once; {len(live)} already do."
            )
        require_room(
            cmd.uow,
            platform.settings,
            principal.user.id,
            fields.cpu * fields.count,
            memory_mb * fields.count,
            what="These workers",
        )
        runtime_id = _runtime_identifier(cmd.uow, parent)
        user = cmd.uow.users.get(parent.user_id)
        cmd.detail = {
            "count": fields.count,
            "cpu": fields.cpu,
            "memory_mb": memory_mb,
            "script": fields.script,
            "shell": fields.code.startswith("!"),
        }
    assert user is not None
    try:
        runtime = environment.prepare(platform, runtime_id)
    except (environment.RuntimePreparing, environment.RuntimeFailed) as exc:
        raise InvalidState(f"The parent's runtime is not available: {exc.message}") from exc
    master_ip = platform.executor.ip_address(parent.handle)
    request = workloads.LaunchRequest(
        kind=WorkloadKind.WORKER,
        project=project,
        user=user,
        resources=Resources(cpu=fields.cpu, memory_mb=memory_mb, gpu=fields.gpu),
        runtime=runtime,
        script=fields.script,
        command=None if fields.script else _command(fields.code, runtime.python),
        layers=[{k: v for k, v in fields.env.items()}],
        # Parent and workers share one network: one address, distinct ports.
        identity={
            "CDSW_MASTER_ID": parent.id,
            "CDSW_MASTER_IP": master_ip,
            "CDSW_IP_ADDRESS": master_ip,
        },
        platform_env=None if fields.script else lambda _ctx: {CODE_VARIABLE: fields.code},
        ports=APP_PORTS,
        parent=parent,
        name=fields.name,
    )
    started = [workloads.launch(platform, request) for _ in range(fields.count)]
    return [_view(platform, w) for w in started]


def _command(code: str, python: str) -> Callable[[workloads.LaunchContext], list[str]]:
    if code.startswith("!"):
        # A shell command, as the rest of the line; its exit status is the worker's.
        return lambda _ctx: ["/bin/bash", "-c", code[1:]]
    return lambda _ctx: ["/bin/bash", "-c", _RUN_CODE, python]


def list_workers(
    platform: Platform, principal: Principal, project_id: str, parent_id: str
) -> list[Worker]:
    """The workers ``parent_id`` launched, oldest first."""
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        _parent(uow, principal, project_id, parent_id)
        children = uow.workloads.children(parent_id)
    return [_view(platform, w) for w in children]


def stop(
    platform: Platform,
    principal: Principal,
    project_id: str,
    parent_id: str,
    worker_ids: Sequence[str] = (),
) -> list[Worker]:
    """Stop the given workers of ``parent_id`` (none given: all of them); unknown ids are a
    ``NotFound``. Stopping an ended worker does nothing. The workers, as they are now."""
    with platform.command(principal, "worker.stop", target=parent_id, project_id=project_id) as cmd:
        require(cmd.uow, principal, project_id, Action.READ)
        _parent(cmd.uow, principal, project_id, parent_id)
        children = {w.id: w for w in cmd.uow.workloads.children(parent_id)}
        unknown = [i for i in worker_ids if i not in children]
        if unknown:
            raise NotFound(f"No worker {unknown[0]!r} of {parent_id}.")
        chosen = [children[i] for i in worker_ids] if worker_ids else list(children.values())
        cmd.detail = {"workers": [w.id for w in chosen]}
    reason = f"stopped by {principal.user.username}"
    for worker in chosen:
        if not worker.status.is_final:
            try:
                workloads.request_stop(platform, worker.id, reason)
            except InvalidState:
                continue  # it ended meanwhile
    return [_view(platform, workloads.get(platform, w.id)) for w in chosen]


def _view(platform: Platform, workload: Workload) -> Worker:
    running = workload.status is WorkloadStatus.RUNNING and workload.handle
    ip = platform.executor.ip_address(workload.handle) if running else ""
    settings = platform.settings
    scheme = settings.base_url.split(":", 1)[0]
    return Worker(workload, ip, f"{scheme}://{workload.id}.{settings.domain}/")


def reconcile(platform: Platform, running: Sequence[Workload] | None = None) -> list[str]:
    """Stop live workers whose parent ended (or whose record is gone). Idempotent; the ids
    stopped. ``running``: ``workloads.live``, when the caller has read it already (the tick
    reads it once for this and ``workloads.stop_orphans``); without workers, no query."""
    running = workloads.live(platform) if running is None else running
    workers = [w for w in running if w.kind is WorkloadKind.WORKER]
    if not workers:
        return []
    # A parent among the live workloads is not final; the others (ended, stopping, or gone)
    # are read.
    parents: dict[str, Workload | None] = {w.id: w for w in running}
    with platform.read() as uow:
        for worker in workers:
            if worker.parent_id and worker.parent_id not in parents:
                parents[worker.parent_id] = uow.workloads.get(worker.parent_id)
    stopped = []
    for worker in workers:
        parent = parents.get(worker.parent_id) if worker.parent_id else None
        if parent is not None and not parent.status.is_final:
            continue
        try:
            if workloads.request_stop(platform, worker.id, PARENT_ENDED):
                stopped.append(worker.id)
        except InvalidState:
            continue  # it moved meanwhile; the next tick looks again
    if stopped:
        log.info("stopped %d worker(s) whose parent ended: %s", len(stopped), stopped)
    return stopped
