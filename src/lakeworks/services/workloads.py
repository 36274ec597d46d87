"""Workload lifecycle, for every kind: launch through the executor, observe exits, stop,
recover after a server restart. Kind-specific rules (job runs, sessions...) live in their
own services and call these.

Every kind starts its workload the same way: it prepares the runtime
(``environment.prepare``/``await_runtime``, a phase its owner shows), then hands a
``LaunchRequest`` (its command and identity variables) to ``launch``, which owns the rest:
the record, the workload's API keys, the environment contract (``environment.compose``), the
sandbox's view of the project and the executor's start.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from lakeworks import safe_paths
from lakeworks.config import Settings
from lakeworks.data import iceberg_spark
from lakeworks.data import warehouse as warehouses
from lakeworks.entities.projects import Project
from lakeworks.entities.users import ApiKeyKind, User
from lakeworks.entities.workloads import (
    ExitInfo,
    Handle,
    Resources,
    Workload,
    WorkloadKind,
    WorkloadSpec,
    WorkloadStatus,
)
from lakeworks.errors import InvalidInput, InvalidState, LakeworksError, NotFound
from lakeworks.executors.base import StartFailed
from lakeworks.services import auth, environment, files
from lakeworks.services.environment import PreparedRuntime, new_engine_id
from lakeworks.services.platform import Platform
from lakeworks.services.secret_masking import Masker
from lakeworks.store.tables import utcnow
from lakeworks.store.uow import UnitOfWork

log = logging.getLogger(__name__)

# Where a workload's wrapper records its exit code, relative to the project root: it
# survives a server crash, so runs that end while the server is down keep their outcome.
EXIT_DIR = ".lakeworks/exits"
STOP_GRACE_SECONDS = 10.0
TIMEOUT_REASON = "timed out"
# A workload is recorded by its owner right after it is launched; one that is still
# nobody's after this long never will be (see ``stop_orphans``).
ORPHAN_GRACE = timedelta(seconds=60)
ORPHAN_REASON = "owned by nothing: its job run, session, application or model was deleted"
# Kinds some record owns (workers have no owner record: their parent session or job ends them).
_OWNED_KINDS = frozenset(
    {
        WorkloadKind.JOB_RUN,
        WorkloadKind.SESSION,
        WorkloadKind.APPLICATION,
        WorkloadKind.MODEL_BUILD,
        WorkloadKind.MODEL_REPLICA,
    }
)

# bash runs the command, then writes its exit status where the platform can read it. bash
# itself ignores SIGTERM (trap) and waits on the child again after a signal interrupts
# ``wait``, so a stop's SIGTERM reaches the program and its grace period is kept.
_WRAPPER = (
    # The exit file's folder by expansion, made only when missing: `$(dirname ...)` and
    # `mkdir` were two processes before every workload's first line.
    '[ -d "${LAKEWORKS_EXIT_FILE%/*}" ] || mkdir -p "${LAKEWORKS_EXIT_FILE%/*}"; '
    'trap : TERM; "$@" & child=$!; '
    'while :; do wait "$child"; code=$?; kill -0 "$child" 2>/dev/null || break; done; '
    'echo "$code" > "$LAKEWORKS_EXIT_FILE"; exit "$code"'
)


@dataclass(frozen=True)
class LaunchContext:
    """What a kind-specific service gets to build the command and environment."""

    engine_id: str
    project_home: str  # the project root as the workload sees it (/home/cdsw under bwrap)
    v1_key: str
    v2_key: str


@dataclass(frozen=True)
class LaunchRequest:
    """One workload to start: what its kind supplies; ``launch`` does the rest.

    The command is either a project script (``script``, project-relative, checked to exist
    when the workload starts, run by the runtime's runner with ``arguments``) or
    ``command(ctx)``. ``layers`` are the user-set variables above the project's own (a job's,
    then a run's); ``identity`` the kind's identity variables (``CDSW_JOB_ID``...), which no
    layer overrides; ``platform_env(ctx)`` variables that need the engine id or home (a
    session's tokens), set last.
    """

    kind: WorkloadKind
    project: Project
    user: User
    resources: Resources
    runtime: PreparedRuntime
    script: str = ""
    arguments: str = ""
    command: Callable[[LaunchContext], list[str]] | None = None
    layers: Sequence[Mapping[str, object]] = ()
    identity: Mapping[str, str] = field(default_factory=dict)
    platform_env: Callable[[LaunchContext], Mapping[str, str]] | None = None
    ports: Sequence[str] = ()
    # An environment variable for the descriptor of a Unix socket made for the workload
    # (``WorkloadSpec.socket``: model replicas).
    socket: str = ""
    key_lifetime: timedelta = timedelta(days=7)
    project_dir: Path | None = None  # default: the project's files (builds: their snapshot)
    # Workers (compat §12): the session or job run that launched it; the worker shares its
    # network and writes to its log. ``name``: the worker's name.
    parent: Workload | None = None
    name: str = ""


@dataclass(frozen=True)
class Ended:
    """A workload that just reached a final status."""

    workload: Workload
    status: WorkloadStatus
    reason: str


@dataclass(frozen=True)
class Reservation:
    """A workload recorded as starting, with its API keys, whose process has not started:
    what ``reserve`` records in the caller's transaction and ``start`` starts."""

    workload_id: str
    kind: WorkloadKind
    project_id: str
    resources: Resources
    log_path: Path
    project_dir: Path
    own_files: bool
    warehouse: Path
    context: LaunchContext
    workload: Workload  # as recorded
    request: LaunchRequest | None = None
    project_env: Mapping[str, str] = field(default_factory=dict)
    network_of: Handle | None = None  # a worker's parent's handle: the network it joins


def launch(platform: Platform, request: LaunchRequest) -> Workload:
    """Record and start the workload ``request`` describes (see ``spawn`` for the outcomes):
    ``reserve`` in a transaction of its own, then ``start``."""
    with platform.store.transaction() as uow:
        reservation = reserve(platform, uow, request)
    return start(platform, reservation)


def reserve(platform: Platform, uow: UnitOfWork, request: LaunchRequest) -> Reservation:
    """Record the workload ``request`` describes as starting, with its two API keys (audited),
    in ``uow``: a launcher that has its own rows to read and write (a job run's) does it all
    in one transaction. It must commit before ``start``, so that the keys the process is
    given exist when it calls the API and a crash leaves a record to recover."""
    return reserve_many(platform, uow, [request])[0]


def reserve_many(
    platform: Platform, uow: UnitOfWork, requests: Sequence[LaunchRequest]
) -> list[Reservation]:
    """``reserve`` for several workloads at once (a dispatcher's batch of job runs): their
    records, their keys and the keys' audit rows in one INSERT each, their projects'
    variables in one query. The same rule holds: commit before ``start_many``."""
    reservations = _record_many(
        platform,
        uow,
        [
            _Wanted(
                kind=request.kind,
                project=request.project,
                user=request.user,
                resources=request.resources,
                runtime_dir=request.runtime.directory,
                key_lifetime=request.key_lifetime,
                project_dir=request.project_dir,
                parent=request.parent,
                name=request.name,
            )
            for request in requests
        ],
    )
    env = uow.projects.env_of({request.project.id for request in requests})
    return [
        replace(
            reservation,
            request=request,
            project_env={v.name: v.value for v in env.get(request.project.id, [])},
        )
        for reservation, request in zip(reservations, requests, strict=True)
    ]


def start(platform: Platform, reservation: Reservation) -> Workload:
    """Start a workload ``reserve`` recorded (see ``spawn`` for the outcomes)."""
    return start_many(platform, [reservation])[0]


@dataclass(frozen=True)
class Started:
    """A workload whose process the executor started, as recorded in the transaction that
    recorded the process (running; or as found, when it was stopped while it started), and
    when its process started."""

    workload: Workload
    at: datetime


def start_many(
    platform: Platform,
    reservations: Sequence[Reservation],
    then: Callable[[UnitOfWork, list[Started]], None] | None = None,
) -> list[Workload]:
    """Start workloads ``reserve_many`` recorded, one after another, then record every
    process that started in one transaction, in which ``then`` records its owners' own moves
    (a job run's to running). Each outcome, in order, as ``spawn``'s: a workload that could
    not start is recorded as failed with its reason and the others start all the same."""
    return _run_many(platform, [_request_start(platform, r) for r in reservations], then)


def _request_start(platform: Platform, reservation: Reservation) -> _Start:
    request = reservation.request
    assert request is not None, "reserve() records the request"
    runtime = request.runtime

    def build(ctx: LaunchContext) -> tuple[list[str], dict[str, str]]:
        if request.command is not None:
            argv = request.command(ctx)
        else:
            # A snapshot's own copy when it runs from one (legacy experiment runs).
            root = request.project_dir or files.project_root(platform, request.project.id)
            if not files.resolve(root, request.script).is_file():
                raise InvalidInput(
                    f"script {request.script!r} does not exist in the project any more"
                )
            argv = runtime.command(f"{ctx.project_home}/{request.script}", request.arguments)
        env = environment.compose(
            platform,
            runtime,
            ctx,
            project=request.project,
            user=request.user,
            kind=request.kind,
            resources=request.resources,
            layers=[reservation.project_env, *request.layers],
            extra_identity=request.identity,
        )
        if request.platform_env is not None:
            env |= request.platform_env(ctx)
        return argv, env

    return _Start(
        reservation,
        build=build,
        runtime_dir=runtime.directory,
        extra_ro_binds=runtime.ro_binds,
        ports=list(request.ports),
        socket=request.socket,
    )


def spawn(
    platform: Platform,
    *,
    kind: WorkloadKind,
    project: Project,
    user: User,
    resources: Resources,
    build: Callable[[LaunchContext], tuple[list[str], dict[str, str]]],
    runtime_dir: Path | None,
    extra_ro_binds: list[Path] | None = None,
    ports: list[str] | None = None,
    key_lifetime: timedelta = timedelta(days=7),
    project_dir: Path | None = None,
    parent: Workload | None = None,
    name: str = "",
) -> Workload:
    """Record and start a workload. ``build`` returns (argv, env) once ids and keys exist:
    the primitive under ``launch``, which every kind uses.

    ``project_dir`` is what the workload sees as its project (default: the project's files;
    model builds and replicas get their build snapshot). A worker's ``parent``: the worker
    joins its network and appends to its log (compat §12: worker output in the parent's log).

    Never raises for a workload that could not start: it is recorded as failed with the
    reason, and returned, so callers treat every outcome the same way.
    """
    wanted = _Wanted(
        kind=kind,
        project=project,
        user=user,
        resources=resources,
        runtime_dir=runtime_dir,
        key_lifetime=key_lifetime,
        project_dir=project_dir,
        parent=parent,
        name=name,
    )
    with platform.store.transaction() as uow:
        (reservation,) = _record_many(platform, uow, [wanted])
    start_ = _Start(
        reservation,
        build=build,
        runtime_dir=runtime_dir,
        extra_ro_binds=list(extra_ro_binds or []),
        ports=list(ports or []),
    )
    return _run_many(platform, [start_])[0]


@dataclass(frozen=True)
class _Wanted:
    """One workload for ``_record_many`` to record."""

    kind: WorkloadKind
    project: Project
    user: User
    resources: Resources
    runtime_dir: Path | None
    key_lifetime: timedelta
    project_dir: Path | None
    parent: Workload | None = None
    name: str = ""


@dataclass(frozen=True)
class _Start:
    """One recorded workload for ``_run_many`` to start: how to build its command."""

    reservation: Reservation
    build: Callable[[LaunchContext], tuple[list[str], dict[str, str]]]
    runtime_dir: Path | None
    extra_ro_binds: list[Path]
    ports: list[str]
    socket: str = ""


def _record_many(
    platform: Platform, uow: UnitOfWork, wanted: Sequence[_Wanted]
) -> list[Reservation]:
    settings = platform.settings
    warehouse_of: dict[str, Path] = {}
    made: set[Path] = set()
    places: list[tuple[str, Path, Path, str]] = []  # engine id, log, project dir, its home
    for want in wanted:
        engine_id = new_engine_id()
        log_path = settings.workloads_dir / "logs" / f"{engine_id}.log"
        if want.parent is not None:
            log_path = Path(want.parent.log_path)
        if log_path.parent not in made:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            made.add(log_path.parent)
        # The project's Iceberg warehouse, at its own path: writable for the project's own
        # files' workloads, read-only for model builds and replicas (a snapshot, another uid).
        if want.project.id not in warehouse_of:
            warehouse_of[want.project.id] = warehouses.ensure_warehouse(settings, want.project.id)
        project_dir = want.project_dir or settings.projects_dir / want.project.id
        spec_probe = WorkloadSpec(
            workload_id=engine_id,
            kind=want.kind,
            argv=[],
            env={},
            project_dir=project_dir,
            log_path=log_path,
            runtime_dir=want.runtime_dir,
            resources=want.resources,
        )
        places.append(
            (engine_id, log_path, project_dir, platform.executor.project_home(spec_probe))
        )
    # One transaction for the records and their keys: ending a workload revokes its keys, and
    # a failure leaves neither (a pending record would hold its user's quota forever).
    keys = auth.add_workload_keys_many(
        platform,
        uow,
        [(want.user, want.project.id, want.key_lifetime) for want in wanted],
        [ApiKeyKind.V1, ApiKeyKind.V2],
    )
    recorded = uow.workloads.add_many(
        [
            {
                "workload_id": engine_id,
                "kind": want.kind,
                "project_id": want.project.id,
                "user_id": want.user.id,
                "executor": settings.executor,
                "log_path": str(log_path),
                "resources": want.resources,
                "status": WorkloadStatus.STARTING,
                "api_key_ids": [v1.key.id, v2.key.id],
                "started_at": utcnow(),
                "parent_id": want.parent.id if want.parent else None,
                "name": want.name,
            }
            for want, (engine_id, log_path, _, _), (v1, v2) in zip(
                wanted, places, keys, strict=True
            )
        ]
    )
    return [
        Reservation(
            workload_id=engine_id,
            kind=want.kind,
            project_id=want.project.id,
            resources=want.resources,
            log_path=log_path,
            project_dir=project_dir,
            own_files=want.project_dir is None,
            warehouse=warehouse_of[want.project.id],
            context=LaunchContext(engine_id, home, v1.secret, v2.secret),
            workload=workload,
            network_of=want.parent.handle if want.parent else None,
        )
        for want, (engine_id, log_path, project_dir, home), (v1, v2), workload in zip(
            wanted, places, keys, recorded, strict=True
        )
    ]


def _run_many(
    platform: Platform,
    starts: Sequence[_Start],
    then: Callable[[UnitOfWork, list[Started]], None] | None = None,
) -> list[Workload]:
    executor = platform.executor
    started: dict[str, tuple[Handle, datetime]] = {}
    failed: dict[str, str] = {}
    try:
        for item in starts:
            engine_id = item.reservation.workload_id
            try:
                spec = _spec(
                    platform,
                    item.reservation,
                    item.build,
                    item.runtime_dir,
                    item.extra_ro_binds,
                    item.ports,
                    item.socket,
                )
                started[engine_id] = (executor.start(spec), utcnow())
            except (StartFailed, InvalidInput, OSError) as exc:
                failed[engine_id] = str(exc.message if isinstance(exc, InvalidInput) else exc)
            except Exception:  # the edge of one start: a bug in it must not fail the others
                log.exception("starting workload %s failed", engine_id)
                failed[engine_id] = "internal error"
    finally:
        # Whatever ended the loop early (an interrupt), no starting record is left behind (it
        # would hold its user's quota) and every process that started is recorded.
        for item in starts:
            engine_id = item.reservation.workload_id
            if engine_id not in started:
                failed.setdefault(engine_id, "internal error")
        recorded = _record_started(platform, starts, started, then)
        for engine_id, reason in failed.items():
            _finish(
                platform,
                engine_id,
                WorkloadStatus.STARTING,
                WorkloadStatus.FAILED,
                reason=f"could not start: {reason}",
                exit_code=None,
            )
    return [
        recorded.get(item.reservation.workload_id) or get(platform, item.reservation.workload_id)
        for item in starts
    ]


def _record_started(
    platform: Platform,
    starts: Sequence[_Start],
    started: Mapping[str, tuple[Handle, datetime]],
    then: Callable[[UnitOfWork, list[Started]], None] | None,
) -> dict[str, Workload]:
    """Record the processes that started and their workloads running, in one transaction
    (with ``then``, their owners' moves); the workloads as recorded, by id."""
    if not started:
        return {}
    address = {engine_id: platform.executor.address(h) for engine_id, (h, _) in started.items()}
    recorded: dict[str, Workload] = {}
    with platform.store.transaction() as uow:
        running = uow.workloads.move_many(
            WorkloadStatus.STARTING,
            WorkloadStatus.RUNNING,
            [
                {"id": engine_id, "handle": handle, "address": address[engine_id]}
                for engine_id, (handle, _) in started.items()
            ],
        )
        for item in starts:
            engine_id = item.reservation.workload_id
            if engine_id not in started:
                continue
            handle = started[engine_id][0]
            if engine_id in running:
                recorded[engine_id] = replace(
                    item.reservation.workload,
                    status=WorkloadStatus.RUNNING,
                    handle=handle,
                    address=address[engine_id],
                )
                continue
            uow.workloads.set(engine_id, handle=handle, address=address[engine_id])
            found = uow.workloads.get(engine_id)
            assert found is not None, "workload records are never deleted"
            recorded[engine_id] = found
        if then is not None:
            then(uow, [Started(recorded[engine_id], at) for engine_id, (_, at) in started.items()])
    for engine_id, (handle, _) in started.items():
        if engine_id not in running:
            # Stopped while starting (its owner was deleted meanwhile): that stop found no
            # process to signal and recorded the end, so the process just started must end.
            log.info("workload %s was stopped while it started; ending its process", engine_id)
            _stop_in_background(platform, engine_id, handle)
    return recorded


def _spec(
    platform: Platform,
    reservation: Reservation,
    build: Callable[[LaunchContext], tuple[list[str], dict[str, str]]],
    runtime_dir: Path | None,
    extra_ro_binds: list[Path] | None,
    ports: list[str] | None,
    socket: str = "",
) -> WorkloadSpec:
    """What the executor starts: the kind's command in the exit-recording wrapper, its
    environment with the platform's own variables, and the sandbox's mounts."""
    settings = platform.settings
    ctx = reservation.context
    project_id = reservation.project_id
    argv, env = build(ctx)
    iceberg_uri = iceberg_rest_uri(settings, project_id)
    env = env | {
        "LAKEWORKS_EXIT_FILE": f"{ctx.project_home}/{EXIT_DIR}/{ctx.engine_id}",
        # cml.data_v1's "iceberg" connection: the project's REST catalog and warehouse.
        "LAKEWORKS_ICEBERG_URI": iceberg_uri,
        "LAKEWORKS_WAREHOUSE": str(reservation.warehouse),
    }
    spark_jar = platform.iceberg_spark_jar()
    if spark_jar:
        env["LAKEWORKS_ICEBERG_SPARK_JAR"] = spark_jar
        # Plain getOrCreate() too; a PYSPARK_SUBMIT_ARGS of the user's own wins.
        env.setdefault(
            "PYSPARK_SUBMIT_ARGS", iceberg_spark.submit_args(spark_jar, iceberg_uri, ctx.v2_key)
        )
    own_files = reservation.own_files
    warehouse = reservation.warehouse
    return WorkloadSpec(
        workload_id=ctx.engine_id,
        kind=reservation.kind,
        argv=["/bin/bash", "-c", _WRAPPER, "lakeworks-workload", *argv],
        env=env,
        project_dir=reservation.project_dir,
        log_path=reservation.log_path,
        runtime_dir=runtime_dir,
        resources=reservation.resources,
        ports=list(ports or []),
        extra_ro_binds=list(extra_ro_binds or [])
        + ([] if own_files else [warehouse])
        + ([Path(spark_jar)] if spark_jar else []),
        extra_rw_binds=[warehouse] if own_files else [],
        host_ports=platform.metastore_ports(),
        network_of=reservation.network_of,
        socket=socket,
    )


def iceberg_rest_uri(settings: Settings, project_id: str) -> str:
    """The project's Iceberg REST catalog (``api/iceberg_rest.py``), as workloads reach it."""
    return f"{settings.base_url}/api/iceberg/projects/{project_id}"


def get(platform: Platform, workload_id: str) -> Workload:
    with platform.read() as uow:
        workload = uow.workloads.get(workload_id)
    if workload is None:
        raise NotFound(f"Workload {workload_id!r} not found.")
    return workload


def read_log(
    platform: Platform, workload: Workload, offset: int = 0, limit: int = 1024 * 1024
) -> tuple[bytes, int]:
    """Log bytes from ``offset`` (the file is kept after the workload ends), with the values
    of the project's secret variables masked; the offset to read from next."""
    path = Path(workload.log_path)
    start = max(offset, 0)
    masker = log_masker(platform, workload.project_id)
    if not masker:
        data, _size = safe_paths.read_range(path.parent, path.name, start, limit)
        return data, start + len(data)
    look = masker.longest - 1
    begin = max(start - look, 0)
    raw, _size = safe_paths.read_range(path.parent, path.name, begin, start - begin + limit + look)
    end = min(start + limit, begin + len(raw))
    if end <= start:
        return b"", start
    growing = not workload.status.is_final
    return masker.mask_window(raw, begin, start, end, growing=growing)


def log_masker(platform: Platform, project_id: str) -> Masker:
    """Masks the values of the project's secret variables (README, Roles)."""
    with platform.read() as uow:
        return Masker(v.value for v in uow.projects.env(project_id) if v.secret)


def last_log_line(platform: Platform, workload: Workload, limit: int = 300) -> str:
    """The last non-blank line the workload printed (read from the end of its log), cut to
    ``limit`` characters, secrets masked: what a failure reason quotes."""
    path = Path(workload.log_path)
    tail = 64 * 1024
    try:
        with safe_paths.open_file(path.parent, path.name) as (f, st):
            f.seek(max(st.st_size - tail, 0))
            data = f.read(tail)
    except (FileNotFoundError, LakeworksError):
        return ""
    data = log_masker(platform, workload.project_id).mask(data)
    lines = [line.strip() for line in data.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line]
    return lines[-1][:limit] if lines else ""


def request_stop(platform: Platform, workload_id: str, reason: str = "stopped") -> bool:
    """Ask a workload to end; the reconciler records the outcome. False if already ended."""
    with platform.store.transaction() as uow:
        workload = uow.workloads.get(workload_id)
        if workload is None:
            raise NotFound(f"Workload {workload_id!r} not found.")
        if workload.status.is_final:
            return False
        if workload.status is WorkloadStatus.STOPPING:
            return True
        if workload.status is not WorkloadStatus.PENDING and not uow.workloads.move(
            workload_id, workload.status, WorkloadStatus.STOPPING, reason=reason
        ):
            raise InvalidState("The workload changed state meanwhile; try again.")
    if workload.status is WorkloadStatus.PENDING:
        # Nothing was handed to the executor yet (a worker waiting for its start, say): it
        # ends here, stopped; the launcher's own PENDING → STARTING move then finds it gone.
        if not _finish(
            platform,
            workload_id,
            WorkloadStatus.PENDING,
            WorkloadStatus.STOPPED,
            reason=reason,
            exit_code=None,
        ):
            raise InvalidState("The workload changed state meanwhile; try again.")
    elif workload.handle:
        _stop_in_background(platform, workload_id, workload.handle)
    else:
        _finish(
            platform,
            workload_id,
            WorkloadStatus.STOPPING,
            WorkloadStatus.STOPPED,
            reason=reason,
            exit_code=None,
        )
    return True


def _stop_in_background(platform: Platform, workload_id: str, handle: Handle) -> None:
    # Stopping waits out the grace period; nobody should wait on it.
    threading.Thread(
        target=_stop_quietly, args=(platform, handle), daemon=True, name=f"stop-{workload_id}"
    ).start()


_LIVE = (WorkloadStatus.PENDING, WorkloadStatus.STARTING, WorkloadStatus.RUNNING)


def live(platform: Platform) -> list[Workload]:
    """Workloads pending, starting or running: what a tick's ``stop_orphans`` and
    ``workers.reconcile`` both look at (one query for the two)."""
    with platform.read() as uow:
        return uow.workloads.with_status(*_LIVE)


def stop_orphans(
    platform: Platform, now: datetime | None = None, *, running: Sequence[Workload] | None = None
) -> list[str]:
    """Stop live workloads that nothing owns: no job run, session, application, model build
    or model replica records them (the owner was deleted while its workload started, or the
    launcher died between launching and recording it). They would otherwise run forever and
    hold their user's quota. A workload younger than ``ORPHAN_GRACE`` may still be about to
    be recorded by its launcher, so it is left for a later tick. Idempotent; the ids stopped.
    ``running``: the ``live`` workloads, when the caller has read them already.
    """
    now = now or utcnow()
    running = live(platform) if running is None else running
    old = [w for w in running if w.kind in _OWNED_KINDS and now - w.created_at > ORPHAN_GRACE]
    if not old:
        return []
    with platform.read() as uow:
        owned = uow.workloads.owned([w.id for w in old])
    stopped = []
    for workload in old:
        if workload.id in owned:
            continue
        try:
            if request_stop(platform, workload.id, ORPHAN_REASON):
                stopped.append(workload.id)
        except InvalidState:
            continue  # it moved meanwhile (ended on its own): the next tick looks again
    if stopped:
        log.warning("stopped %d workload(s) owned by nothing: %s", len(stopped), stopped)
    return stopped


def _stop_quietly(platform: Platform, handle: Handle) -> None:
    try:
        platform.executor.stop(handle, STOP_GRACE_SECONDS)
    except Exception:  # the outermost edge of a background thread
        log.exception("stopping workload %s failed", handle)


def observe(platform: Platform) -> list[Ended]:
    """Poll every live workload once; record and return those that ended. Idempotent."""
    with platform.read() as uow:
        live = uow.workloads.with_status(WorkloadStatus.RUNNING, WorkloadStatus.STOPPING)
    ended: list[Ended] = []
    for workload in live:
        if not workload.handle:
            continue
        info = platform.executor.poll(workload.handle)
        if info is None:
            continue
        _record_end(platform, workload, _with_recorded_exit(platform, workload, info), ended)
    return ended


def _record_end(platform: Platform, workload: Workload, info: ExitInfo, ended: list[Ended]) -> None:
    """Record how ``workload`` ended (once: another process may have) and add it to ``ended``."""
    status, reason = final_status(workload, info)
    if _finish(
        platform,
        workload.id,
        workload.status,
        status,
        reason=reason,
        exit_code=info.code if info.code != -1 else None,
    ):
        ended.append(Ended(get(platform, workload.id), status, reason))


def final_status(workload: Workload, info: ExitInfo) -> tuple[WorkloadStatus, str]:
    """How a workload's exit reads: stop and timeout requests win over the exit code."""
    if workload.status is WorkloadStatus.STOPPING:
        if workload.reason == TIMEOUT_REASON:
            return WorkloadStatus.TIMEDOUT, TIMEOUT_REASON
        return WorkloadStatus.STOPPED, workload.reason or "stopped"
    if info.oom:
        limit = workload.resources.memory_mb
        return WorkloadStatus.OOM, info.reason or f"out of memory: over its {limit} MiB limit"
    if info.code == 0:
        return WorkloadStatus.SUCCEEDED, ""
    if info.code == -1:
        return WorkloadStatus.LOST, info.reason or "the process ended; its exit code is unknown"
    if info.code < 0:
        return WorkloadStatus.FAILED, info.reason or f"killed by signal {-info.code}"
    return WorkloadStatus.FAILED, info.reason or f"exit code {info.code}"


def _with_recorded_exit(platform: Platform, workload: Workload, info: ExitInfo) -> ExitInfo:
    """For adopted processes the executor cannot know the exit code; the wrapper wrote it."""
    if info.code != -1:
        return info
    # The workload can write anything there (a link to a host file, a FIFO that would block
    # a plain read forever): a few bytes of a plain file or nothing.
    root = platform.settings.projects_dir / workload.project_id
    try:
        code = int(safe_paths.read_bytes(root, f"{EXIT_DIR}/{workload.id}", max_bytes=32))
    except (OSError, ValueError, LakeworksError):
        return info
    return ExitInfo(code=code, oom=info.oom, reason="" if not info.oom else info.reason)


def _finish(
    platform: Platform,
    workload_id: str,
    expected: WorkloadStatus,
    status: WorkloadStatus,
    *,
    reason: str,
    exit_code: int | None,
) -> bool:
    """Record the final status (once) and revoke the workload's keys."""
    now = utcnow()
    with platform.store.transaction() as uow:
        moved = uow.workloads.move(
            workload_id, expected, status, finished_at=now, reason=reason, exit_code=exit_code
        )
        if moved:
            for key_id in uow.workloads.key_ids(workload_id):
                uow.users.revoke_api_key(key_id, now)
    if moved:
        workload = get(platform, workload_id)
        root = platform.settings.projects_dir / workload.project_id
        safe_paths.unlink(root, f"{EXIT_DIR}/{workload_id}")
    return moved


def recover(platform: Platform) -> list[Ended]:
    """After a restart: re-adopt workloads still running, record the rest as ended or lost."""
    with platform.read() as uow:
        live = uow.workloads.with_status(
            WorkloadStatus.STARTING, WorkloadStatus.RUNNING, WorkloadStatus.STOPPING
        )
    ended: list[Ended] = []
    for workload in live:
        if workload.handle and platform.executor.adopt(workload.handle):
            continue
        info = ExitInfo(code=-1, reason="the server stopped while it was starting")
        if workload.handle:
            info = _with_recorded_exit(
                platform,
                workload,
                ExitInfo(
                    code=-1,
                    reason="the server restarted and the process had ended "
                    "(its exit code was not recorded)",
                ),
            )
        _record_end(platform, workload, info, ended)
    return ended
