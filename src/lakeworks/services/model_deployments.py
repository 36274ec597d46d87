"""Model deployments: N replicas of a build, kept running by the reconciler (CML compat §5.4,
§7).

Statuses: ``pending`` (also while its build is still building: it starts once the build is
built) → ``deploying`` → ``deployed`` (every replica slot has a replica that answered its
health check) | ``failed`` (a replica died before ever becoming ready three times in a row,
e.g. the model file raises on import, or its queued build failed; ``reason`` says which);
``stopping`` → ``stopped``.

The reconciler (``reconcile``, run by the scheduler on every tick) compares desired and
actual replicas: a replica whose process ended is replaced; a restart bumps the deployment's
*generation* and replaces replicas one slot at a time, retiring an old replica only once its
replacement is ready (a rolling restart drops no request: the gateway stops routing to a retired
replica, which answers what it holds before it exits). Deploying a new build of a model is a
new deployment; the previous one keeps serving until the new one is ``deployed``, then stops.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from lakeworks import bounds
from lakeworks.entities.models import (
    BuildStatus,
    DeploymentStatus,
    Model,
    ModelBuild,
    ModelDeployment,
    Replica,
    crn,
)
from lakeworks.entities.workloads import Resources, Workload, WorkloadKind, WorkloadStatus
from lakeworks.errors import InvalidInput, InvalidState, NotFound
from lakeworks.services import environment, workloads
from lakeworks.services.model_builds import MLFLOW_DIR, snapshot_dir
from lakeworks.services.models import model_of
from lakeworks.services.permissions import Action, require
from lakeworks.services.platform import Platform, Principal
from lakeworks.services.probes import probes_for
from lakeworks.store.tables import utcnow
from lakeworks.store.uow import UnitOfWork

log = logging.getLogger(__name__)

MAX_FAILED_STARTS = 3
MAX_REPLICAS = bounds.MAX_REPLICAS
REPLICA_PORT = "LAKEWORKS_REPLICA_PORT"
# The gateway's way in where the executor makes one: a Unix socket the replica inherits,
# with no TCP and no network namespace (pasta) between the two (README, Measured).
REPLICA_SOCKET = "LAKEWORKS_REPLICA_SOCKET_FD"


@dataclass(frozen=True)
class DeploymentFields:
    cpu: float = 1.0
    memory_mb: int = 2048
    replicas: int = 1
    environment: Mapping[str, str] = field(default_factory=dict)
    timeout_seconds: float = 0.0  # 0: the install default


@dataclass(frozen=True)
class ReplicaView:
    """A replica with its workload, for the UI and API."""

    replica: Replica
    workload: Workload | None

    @property
    def state(self) -> str:
        if self.workload is None:
            return "unknown"
        if self.replica.retired and not self.workload.status.is_final:
            return "draining"
        if self.workload.status is WorkloadStatus.RUNNING:
            return "ready" if self.replica.ready else "starting"
        return self.workload.status.value


def check(fields: DeploymentFields) -> DeploymentFields:
    """Refuse a deployment no replica could be given (``InvalidInput``)."""
    bounds.check_resources(fields.cpu, fields.memory_mb)
    if fields.memory_mb < 64:
        raise InvalidInput("memory must be at least 64 MiB.")
    bounds.check_range("replicas", fields.replicas, 1, MAX_REPLICAS)
    bounds.check_range(
        "timeout (seconds)", fields.timeout_seconds, 0, bounds.MAX_REQUEST_TIMEOUT_SECONDS
    )
    return fields


def create(
    platform: Platform,
    principal: Principal,
    project_id: str,
    model_id: str,
    build_id: str,
    fields: DeploymentFields,
) -> ModelDeployment:
    """Deploy a build. The model's current deployment keeps serving until this one is
    deployed, then stops (same access key). A build still pending or building is not refused:
    as in CML, the deployment waits (``pending``) and starts when the build is built, or fails
    with the build's reason when the build fails; scripts create a build and deploy it at once."""
    fields = check(fields)
    with platform.command(principal, "model.deploy", target=build_id, project_id=project_id) as cmd:
        require(cmd.uow, principal, project_id, Action.CREATE_WORKLOADS)
        model_of(cmd.uow, project_id, model_id)
        build = cmd.uow.models.get_build(build_id)
        if build is None or build.model_id != model_id:
            raise NotFound(f"Build {build_id!r} not found.")
        if build.status in (BuildStatus.FAILED, BuildStatus.STOPPED):
            raise InvalidState(
                f"Build {build_id} is {build.status.value!r}; deploy a build that built "
                "or is still building."
            )
        deployment = cmd.uow.models.add_deployment(
            id=str(uuid.uuid4()),
            model_id=model_id,
            build_id=build_id,
            project_id=project_id,
            deployer_id=principal.user.id,
            cpu=fields.cpu,
            memory_mb=fields.memory_mb,
            replicas=fields.replicas,
            environment={str(k): str(v) for k, v in fields.environment.items()},
            status=DeploymentStatus.PENDING.value,
            timeout_seconds=fields.timeout_seconds,
            generation=0,
        )
        cmd.target = deployment.id
        cmd.detail = {"model_id": model_id, "build_id": build_id, "replicas": fields.replicas}
    platform.nudge()
    return deployment


def _deployment(
    uow: UnitOfWork, project_id: str, model_id: str, deployment_id: str
) -> ModelDeployment:
    model_of(uow, project_id, model_id)
    deployment = uow.models.get_deployment(deployment_id)
    if deployment is None or deployment.model_id != model_id:
        raise NotFound(f"Deployment {deployment_id!r} not found.")
    return deployment


def get(
    platform: Platform, principal: Principal, project_id: str, model_id: str, deployment_id: str
) -> ModelDeployment:
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        return _deployment(uow, project_id, model_id, deployment_id)


def list_deployments(
    platform: Platform,
    principal: Principal,
    project_id: str,
    model_id: str,
    build_id: str | None = None,
) -> list[ModelDeployment]:
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        model_of(uow, project_id, model_id)
        return uow.models.deployments_of(model_id, build_id)


def replicas(
    platform: Platform, principal: Principal, project_id: str, model_id: str, deployment_id: str
) -> list[ReplicaView]:
    """The deployment's replicas, newest first per slot, retired ones included while alive."""
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        _deployment(uow, project_id, model_id, deployment_id)
        out = []
        for replica in uow.models.replicas_of(deployment_id, live=False):
            workload = uow.workloads.get(replica.workload_id)
            if replica.retired and (workload is None or workload.status.is_final):
                continue
            out.append(ReplicaView(replica, workload))
        return out


def replica_log(
    platform: Platform,
    principal: Principal,
    project_id: str,
    model_id: str,
    workload_id: str,
    offset: int = 0,
) -> tuple[str, int]:
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        model_of(uow, project_id, model_id)
        replica = uow.models.replica(workload_id)
        deployment = uow.models.get_deployment(replica.deployment_id) if replica else None
        workload = uow.workloads.get(workload_id)
    if replica is None or deployment is None or deployment.model_id != model_id or not workload:
        raise NotFound(f"Replica {workload_id!r} not found.")
    data, end = workloads.read_log(platform, workload, offset)
    return data.decode("utf-8", "replace"), end


def stop(
    platform: Platform, principal: Principal, project_id: str, model_id: str, deployment_id: str
) -> ModelDeployment:
    with platform.command(
        principal, "model.deployment.stop", target=deployment_id, project_id=project_id
    ) as cmd:
        require(cmd.uow, principal, project_id, Action.RUN_WORKLOADS)
        deployment = _deployment(cmd.uow, project_id, model_id, deployment_id)
        if deployment.status.is_active:
            cmd.uow.models.move_deployment(
                deployment_id, deployment.status, DeploymentStatus.STOPPING
            )
    _retire_all(platform, deployment_id, "its deployment was stopped")
    platform.nudge()
    return get(platform, principal, project_id, model_id, deployment_id)


def restart(
    platform: Platform, principal: Principal, project_id: str, model_id: str, deployment_id: str
) -> ModelDeployment:
    """A deployed deployment is replaced replica by replica; a stopped or failed one starts."""
    with platform.command(
        principal, "model.deployment.restart", target=deployment_id, project_id=project_id
    ) as cmd:
        require(cmd.uow, principal, project_id, Action.RUN_WORKLOADS)
        deployment = _deployment(cmd.uow, project_id, model_id, deployment_id)
        if deployment.status is DeploymentStatus.STOPPING:
            raise InvalidState("The deployment is stopping; restart it once it has stopped.")
        if deployment.status.is_active:
            cmd.uow.models.set_deployment(deployment_id, generation=deployment.generation + 1)
        else:
            # Only the model's newest deployment may come back (it would replace the others).
            newest = cmd.uow.models.deployments_of(model_id)[-1]
            if newest.id != deployment_id and newest.status.is_active:
                raise InvalidState(
                    "A newer deployment of this model is active; deploy this build again instead."
                )
            cmd.uow.models.move_deployment(
                deployment_id,
                deployment.status,
                DeploymentStatus.PENDING,
                generation=deployment.generation + 1,
                stopped_at=None,
                reason="",
            )
    platform.nudge()
    return get(platform, principal, project_id, model_id, deployment_id)


# The reconciler ---------------------------------------------------------------------------


def _retire_all(platform: Platform, deployment_id: str, reason: str) -> None:
    with platform.store.transaction() as uow:
        live = uow.models.replicas_of(deployment_id)
        for replica in live:
            uow.models.set_replica(replica.workload_id, retired=True)
    platform.models_changed()
    for replica in live:
        workloads.request_stop(platform, replica.workload_id, reason)


def reconcile(platform: Platform) -> None:
    """Bring every deployment's replicas to what it wants; idempotent, once per tick."""
    # One read for every deployment: a deployed one whose replicas are all up and ready
    # costs no other statement (the tick runs this each second in the server's process).
    with platform.read() as uow:
        deployments = uow.models.deployments_with_status(
            DeploymentStatus.PENDING,
            DeploymentStatus.DEPLOYING,
            DeploymentStatus.DEPLOYED,
            DeploymentStatus.STOPPING,
        )
        live = uow.models.replicas_of_many(
            [d.id for d in deployments if d.status is not DeploymentStatus.STOPPING]
        )
        states = uow.workloads.get_many([r.workload_id for rs in live.values() for r in rs])
    for deployment in deployments:
        try:
            if deployment.status is DeploymentStatus.STOPPING:
                _settle_stopping(platform, deployment)
            else:
                _reconcile_one(platform, deployment, live[deployment.id], states)
        except Exception:  # one broken deployment must not stop the others
            log.exception("reconciling model deployment %s failed", deployment.id)


def _settle_stopping(platform: Platform, deployment: ModelDeployment) -> None:
    with platform.store.transaction() as uow:
        replicas_ = uow.models.replicas_of(deployment.id, live=False)
        alive = [
            r
            for r in replicas_
            if (w := uow.workloads.get(r.workload_id)) is not None and not w.status.is_final
        ]
        if not alive:
            uow.models.move_deployment(
                deployment.id,
                DeploymentStatus.STOPPING,
                DeploymentStatus.STOPPED,
                stopped_at=utcnow(),
            )
    _retire_all(platform, deployment.id, "its deployment was stopped") if alive else None


def _build_ready(platform: Platform, deployment: ModelDeployment) -> bool:
    """Whether a pending deployment's build is built; a deployment queued on a build that
    failed or stopped fails with the build's reason (never launches)."""
    with platform.read() as uow:
        build = uow.models.get_build(deployment.build_id)
    if build is not None and build.status is BuildStatus.BUILT:
        return True
    if build is not None and not build.status.is_final:
        return False  # still pending or building: the deployment waits
    if build is None:
        reason = f"its build {deployment.build_id} was deleted"
    else:
        reason = f"its build {build.id} ended {build.status.value!r}"
        reason += f": {build.reason}" if build.reason else ""
    with platform.store.transaction() as uow:
        moved = uow.models.move_deployment(
            deployment.id,
            DeploymentStatus.PENDING,
            DeploymentStatus.FAILED,
            stopped_at=utcnow(),
            reason=reason[:1000],
        )
    if moved:
        log.info("model deployment %s failed: %s", deployment.id, reason)
        platform.models_changed()
    return False


def _reconcile_one(
    platform: Platform,
    deployment: ModelDeployment,
    live: list[Replica],
    states: dict[str, Workload],
) -> None:
    """``live``: the deployment's live replicas; ``states``: their workloads, by id."""
    if deployment.status is DeploymentStatus.PENDING and not _build_ready(platform, deployment):
        return
    survivors, failed_starts, changed = _observe_replicas(platform, deployment, live, states)
    if any(n >= MAX_FAILED_STARTS for n in failed_starts.values()):
        _fail(platform, deployment, survivors)
        return
    to_stop, launches = _plan_slots(deployment, survivors, failed_starts)
    if to_stop:
        with platform.store.transaction() as uow:
            for workload_id in to_stop:
                uow.models.set_replica(workload_id, retired=True)
        platform.models_changed()
        for workload_id in to_stop:
            workloads.request_stop(platform, workload_id, "replaced")
    for slot, restarts in launches:
        _launch_replica(platform, deployment, slot, restarts)
        changed = True
    changed = _settle_status(platform, deployment) or changed
    if changed:
        platform.models_changed()


def _observe_replicas(
    platform: Platform,
    deployment: ModelDeployment,
    live: list[Replica],
    states: dict[str, Workload],
) -> tuple[list[Replica], dict[int, int], bool]:
    """Retire dead replicas and mark healthy ones ready: (survivors, failed starts per slot
    of the replicas that died before ever being ready, whether anything changed)."""
    changed = False
    failed_starts: dict[int, int] = {}
    survivors: list[Replica] = []
    for replica in live:
        workload = states.get(replica.workload_id)
        if workload is None or workload.status.is_final:
            # A dead replica leaves its slot; note whether it had ever been ready.
            with platform.store.transaction() as uow:
                uow.models.set_replica(replica.workload_id, retired=True)
            changed = True
            failed_starts[replica.slot] = 0 if replica.ready else replica.restarts + 1
            log.info(
                "model replica %s (deployment %s slot %d) ended: %s",
                replica.workload_id,
                deployment.id,
                replica.slot,
                workload.reason if workload else "lost",
            )
            continue
        # A replica that is up answers its health check once, then is routable.
        if (
            not replica.ready
            and workload.status is WorkloadStatus.RUNNING
            and workload.address
            and probes_for(platform).answers(f"http://{workload.address}/health")
        ):
            with platform.store.transaction() as uow:
                uow.models.set_replica(replica.workload_id, ready=True, restarts=0)
            replica = dataclasses.replace(replica, ready=True, restarts=0)
            changed = True
        survivors.append(replica)
    return survivors, failed_starts, changed


def _plan_slots(
    deployment: ModelDeployment, survivors: list[Replica], failed_starts: dict[int, int]
) -> tuple[list[str], list[tuple[int, int]]]:
    """What to change (no side effects): (replicas to stop, (slot, restarts) to launch).

    Extra slots (scaled down) go; each wanted slot is filled; old generations are retired
    once a current one is ready, one slot rolling at a time.
    """
    by_slot: dict[int, list[Replica]] = {}
    for replica in survivors:
        by_slot.setdefault(replica.slot, []).append(replica)
    to_stop = [
        r.workload_id
        for slot, members in by_slot.items()
        if slot >= deployment.replicas
        for r in members
    ]
    rolling = any(
        any(r.generation == deployment.generation and not r.ready for r in members)
        and any(r.generation < deployment.generation for r in members)
        for members in by_slot.values()
    )
    launches: list[tuple[int, int]] = []
    for slot in range(deployment.replicas):
        members = sorted(by_slot.get(slot, []), key=lambda r: (r.generation, r.created_at))
        current = [r for r in members if r.generation == deployment.generation]
        if not members:
            launches.append((slot, failed_starts.get(slot, 0)))
            continue
        if any(r.ready for r in current):
            to_stop += [r.workload_id for r in members if r.generation < deployment.generation]
        elif not current and not rolling:
            launches.append((slot, 0))  # roll this slot now; the others wait their turn
            rolling = True
    return to_stop, launches


def _settle_status(platform: Platform, deployment: ModelDeployment) -> bool:
    """Pending → deploying; deploying → deployed once every slot has a ready replica, which
    retires the model's older deployments. Whether the deployment became deployed."""
    if deployment.status not in (DeploymentStatus.PENDING, DeploymentStatus.DEPLOYING):
        return False  # deployed: replicas come and go without a change of status
    with platform.read() as uow:
        now_live = uow.models.replicas_of(deployment.id)
    ready_slots = {r.slot for r in now_live if r.ready}
    all_ready = all(slot in ready_slots for slot in range(deployment.replicas))
    older: list[ModelDeployment] = []
    with platform.store.transaction() as uow:
        if deployment.status is DeploymentStatus.PENDING:
            uow.models.move_deployment(
                deployment.id, DeploymentStatus.PENDING, DeploymentStatus.DEPLOYING
            )
            deployment = uow.models.get_deployment(deployment.id) or deployment
        if deployment.status is not DeploymentStatus.DEPLOYING or not all_ready:
            return False
        uow.models.move_deployment(
            deployment.id, DeploymentStatus.DEPLOYING, DeploymentStatus.DEPLOYED
        )
        older = [
            d
            for d in uow.models.deployments_of(deployment.model_id)
            if d.id != deployment.id and d.status.is_active
        ]
        for other in older:
            uow.models.move_deployment(other.id, other.status, DeploymentStatus.STOPPING)
    for other in older:
        _retire_all(platform, other.id, "replaced by a newer deployment")
    return True


def _fail(platform: Platform, deployment: ModelDeployment, survivors: list[Replica]) -> None:
    with platform.store.transaction() as uow:
        uow.models.move_deployment(
            deployment.id,
            deployment.status,
            DeploymentStatus.FAILED,
            stopped_at=utcnow(),
            reason=f"a replica failed to start {MAX_FAILED_STARTS} times in a row; see its log",
        )
        for replica in survivors:
            uow.models.set_replica(replica.workload_id, retired=True)
    platform.models_changed()
    for replica in survivors:
        workloads.request_stop(platform, replica.workload_id, "its deployment failed")


def replica_env(
    model: Model, build: ModelBuild, deployment: ModelDeployment, timeout: float, concurrency: int
) -> dict[str, str]:
    """The ``LAKEWORKS_`` variables a replica gets (ids, CRNs, what to serve, limits)."""
    env = {
        "LAKEWORKS_MODEL_ID": model.id,
        "LAKEWORKS_MODEL_BUILD_ID": build.id,
        "LAKEWORKS_MODEL_DEPLOYMENT_ID": deployment.id,
        "LAKEWORKS_MODEL_CRN": crn(model.id),
        "LAKEWORKS_MODEL_BUILD_CRN": crn(build.id),
        "LAKEWORKS_MODEL_DEPLOYMENT_CRN": crn(deployment.id),
        "LAKEWORKS_MODEL_CONCURRENCY": str(concurrency),
        "LAKEWORKS_MODEL_TIMEOUT": f"{timeout:g}",
    }
    if build.from_registry:
        env["LAKEWORKS_MODEL_MLFLOW_PATH"] = MLFLOW_DIR
    else:
        env["LAKEWORKS_MODEL_FILE"] = build.file_path
        env["LAKEWORKS_MODEL_FUNCTION"] = build.function_name
    return env


def _launch_replica(
    platform: Platform, deployment: ModelDeployment, slot: int, restarts: int
) -> None:
    with platform.read() as uow:
        project = uow.projects.get(deployment.project_id)
        user = uow.users.get(deployment.deployer_id)
        model = uow.models.get(deployment.model_id)
        build = uow.models.get_build(deployment.build_id)
    if project is None or user is None or model is None or build is None:
        return
    try:
        # Never waits: the build's runtime is normally built; when it is not (removed by an
        # admin, or a new release), it builds in the background and a later tick launches.
        runtime = environment.prepare(
            platform, build.runtime_identifier, since=_unix(deployment.created_at)
        )
    except environment.RuntimePreparing as preparing:
        log.info("deployment %s waits for its runtime: %s", deployment.id, preparing.message)
        return
    settings = platform.settings
    timeout = deployment.timeout_seconds or settings.model_timeout_seconds
    workload = workloads.launch(
        platform,
        workloads.LaunchRequest(
            kind=WorkloadKind.MODEL_REPLICA,
            project=project,
            user=user,
            resources=Resources(cpu=deployment.cpu, memory_mb=deployment.memory_mb),
            runtime=runtime,
            command=lambda ctx: [runtime.python, "-m", "lakeworks_serving"],
            layers=[deployment.environment],
            identity=replica_env(
                model, build, deployment, timeout, settings.model_replica_concurrency
            ),
            platform_env=lambda ctx: {"LAKEWORKS_REPLICA_ID": ctx.engine_id},
            ports=[REPLICA_PORT],
            socket=REPLICA_SOCKET,
            key_lifetime=timedelta(days=3650),
            project_dir=snapshot_dir(platform, build.id),
        ),
    )
    with platform.store.transaction() as uow:
        uow.models.add_replica(workload.id, deployment.id, slot, deployment.generation, restarts)


def _unix(moment: datetime | None) -> float | None:
    """A stored (naive UTC) time as Unix time."""
    return moment.replace(tzinfo=UTC).timestamp() if moment is not None else None


def describe(deployment: ModelDeployment) -> dict[str, Any]:
    return {"id": deployment.id, "status": deployment.status.value}
