"""What every service command needs: settings, the store, the caller, and the audit trail."""

from __future__ import annotations

import functools
import logging
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, cast

from lakeworks.config import Settings
from lakeworks.data import iceberg_spark, spark
from lakeworks.data.explorer import RunningQueries
from lakeworks.data.iceberg import IcebergCatalogs, IcebergTables
from lakeworks.data.metastore import (
    Connection,
    DerbyMetastore,
    MetastoreUnavailable,
    spark_jars,
)
from lakeworks.data.sources import ProjectFiles, SourceProvider
from lakeworks.entities.audit import Outcome
from lakeworks.entities.users import User
from lakeworks.errors import LakeworksError, PermissionDenied, Unauthenticated
from lakeworks.executors.base import Executor
from lakeworks.runtimes.manager import RuntimeManager
from lakeworks.services.login_throttle import LoginThrottle
from lakeworks.store.tables import utcnow
from lakeworks.store.uow import Store, UnitOfWork

if TYPE_CHECKING:
    from lakeworks.services.app_access import ProxyRoutes

# How a principal reached the platform: a browser session, an API v2 key, a v1 key, the
# local command line, or an AMP setup acting for its project's creator.
Via = Literal["session", "api_key", "v1_key", "cli", "amp"]

log = logging.getLogger(__name__)

C = TypeVar("C")


@dataclass(frozen=True)
class Principal:
    """Who is calling. ``project_scope`` is set for workload keys: the project of their
    workload, the only one they reach unless ``user_wide`` (``workload_key_scope = user``, as in
    CML: the key acts with its user's rights everywhere). Either way a workload key carries no
    site-admin powers and manages no keys, profiles or browser sessions."""

    user: User
    via: Via
    project_scope: str | None = None
    user_wide: bool = False
    key_id: int | None = None  # the API key presented (workers: whose workload is calling)

    @property
    def confined_to(self) -> str | None:
        """The one project this principal may reach, or None when not confined."""
        return None if self.user_wide else self.project_scope

    @property
    def is_admin(self) -> bool:
        # A project-scoped workload key never carries site-admin powers.
        return self.user.is_admin and self.project_scope is None


SYSTEM = "system"

# Actions after which a cached "who is this key, what may they reach" answer may be wrong: a
# process's caches of such answers (the MLflow gate, the model gateway) compare
# ``Platform.access_epoch`` and drop their entries when it moved. Other processes find out when
# their entries expire.
ACCESS_CHANGES = frozenset(
    {
        "api_key.revoke",
        "api_key.revoke_all",
        "user.update",
        "user.password",
        "user.logout",
        "user.sessions_end",
        "team.set_member",
        "team.remove_member",
        "team.delete",
        "project.update",
        "project.delete",
        "project.collaborator.set",
        "project.collaborator.remove",
    }
)


@dataclass
class Command:
    """One audited mutating action: the unit of work plus what the audit event will say."""

    uow: UnitOfWork
    action: str
    target: str = ""
    project_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class ModelCaller(Protocol):
    """What services need of the model gateway (``serving.gateway.Gateway``)."""

    async def test_call(
        self, access_key_hash: str, request: Any, writer: Any = None
    ) -> tuple[int, dict[str, Any]]: ...


class Platform:
    """Settings and store, handed to every service function."""

    def __init__(self, settings: Settings, store: Store, executor: Executor | None = None) -> None:
        self.settings = settings
        self.store = store
        self._executor = executor
        # Two threads launching the first workloads at once must share one executor (one
        # port pool, one sandbox probe): the second one used to fail the probe.
        self._executor_lock = threading.Lock()
        # Set by the scheduler in this process; services set it when there is work now.
        self.work_signal: threading.Event | None = None
        # Moves when credentials, roles or memberships change (``ACCESS_CHANGES``).
        self.access_epoch = 0
        # Moves whenever what the model gateway caches may have changed (a key regenerated,
        # authentication switched, a deployment or replica changed): this process's gateway
        # drops its cache at once; other processes notice within ``model_route_cache_seconds``.
        self.model_epoch = 0
        # This process's model gateway, set where the server wires it (``app.create_app``):
        # the UI's Test tab calls models through ``models.test_call``.
        self.model_caller: ModelCaller | None = None
        self.login_throttle = LoginThrottle(settings)
        self._runtimes: RuntimeManager | None = None
        # Per-platform components of rooms that Platform cannot import or that only some
        # processes use (``component``), and what releases their resources (``close``).
        self._components: dict[type[Any], Any] = {}
        self._components_lock = threading.RLock()
        self._closers: list[Callable[[], object]] = []
        # A platform nobody closes (tests build one per test) releases them when collected.
        weakref.finalize(self, _close_all, self._closers)
        # Ids of objects (job runs, sessions, apps...) that a thread of this process is
        # starting now: preparing a runtime can take minutes, and the reconcilers must not
        # read that wait as a start the server abandoned.
        self._launching: set[str] = set()
        self._launching_lock = threading.Lock()
        self._iceberg_spark_jar: str | None = None
        self._java_home: str | None = None
        # The Data page: its queries running now (to cancel them), and where its tables come
        # from (the project's files; the Iceberg catalog and connections add theirs).
        self.running_queries = RunningQueries(max_running=settings.data_max_running_queries)
        self.project_files = ProjectFiles(
            settings.projects_dir, max_sources=settings.data_max_sources
        )
        self.table_providers: list[SourceProvider] = [
            self.project_files,
            IcebergTables(lambda: self.iceberg),
        ]
        self.metastore = DerbyMetastore(
            settings.data_dir / "metastore",
            settings.secret_key,
            settings.spark_metastore_port,
            java=settings.java_home,
        )

    def component(
        self,
        kind: type[C],
        make: Callable[[], C],
        *,
        close: Callable[[C], object] | None = None,
    ) -> C:
        """This platform's one ``kind``: made by ``make()`` on first use, the same object after.

        The way a room keeps state that lives as long as the platform (STYLE 10) without a
        module-level registry: the model gateway (``serving.gateway.gateway_for``), the embedded
        MLflow (``tracking.embedded.tracking_for``), caches of services. Two threads asking at
        once get one object. ``close`` releases what the component holds (a database pool):
        ``Platform.close()`` runs it, or the platform's collection; it must not hold the
        platform (that would keep it alive), and the component stays usable after it.
        """
        with self._components_lock:
            found = self._components.get(kind)
            if found is None:
                found = self._components[kind] = make()
                if close is not None:
                    self._closers.append(functools.partial(close, found))
            return cast(C, found)

    def close(self) -> None:
        """Release what this platform's components hold (server shutdown). Safe to call twice;
        a component used afterwards opens what it needs again. The executor's own resources
        (its pool of network namespaces) go too; its workloads keep running."""
        with self._components_lock:
            _close_all(self._closers)
        self.close_executor()

    @property
    def iceberg(self) -> IcebergCatalogs:
        """The projects' Iceberg catalogs (on the store's engine), made on first use."""
        return self.component(
            IcebergCatalogs, lambda: IcebergCatalogs(self.settings, self.store.engine)
        )

    @property
    def proxy_routes(self) -> ProxyRoutes:
        """Routes and access decisions the proxy caches (``services.app_access``)."""
        from lakeworks.services.app_access import ProxyRoutes

        return self.component(ProxyRoutes, lambda: ProxyRoutes(self))

    def models_changed(self) -> None:
        """Move ``model_epoch``: the gateway's cached routes and keys are out of date."""
        with self._executor_lock:
            self.model_epoch += 1

    @property
    def runtimes(self) -> RuntimeManager:
        """The installation's runtimes: catalog, states, background builds."""
        if self._runtimes is None:
            self._runtimes = RuntimeManager(
                self.settings.resolved_runtimes_dir,
                default_python=self.settings.default_python,
            )
        return self._runtimes

    @contextmanager
    def launching(self, *keys: str) -> Iterator[None]:
        """Mark ``keys`` as being started by this thread for the duration of the block."""
        with self._launching_lock:
            self._launching.update(keys)
        try:
            yield
        finally:
            with self._launching_lock:
                self._launching.difference_update(keys)

    def is_launching(self, key: str) -> bool:
        with self._launching_lock:
            return key in self._launching

    def spark_metastore(
        self, project_id: str, runtime_dir: Path | None = None
    ) -> Connection | None:
        """The project's shared Spark metastore, or None where it does not run (Spark then
        embeds Derby in the workload, as before). With the workload's runtime, a project's
        new database gets the metastore's tables first (from the runtime's Spark jars)."""
        if self.settings.spark_metastore != "shared" or not self.metastore.running:
            return None
        try:
            jars = spark_jars(runtime_dir) if runtime_dir is not None else None
            return self.metastore.connection(project_id, jars)
        except (MetastoreUnavailable, OSError, ValueError) as exc:
            # The workload still starts; its Spark embeds Derby (one at a time per project).
            log.warning("Spark metastore of project %s: %s", project_id, exc)
            return None

    def iceberg_spark_jar(self) -> str:
        """Iceberg's Spark runtime jar for workloads, or "": looked for once per process (a
        glob over the site's jar folders on every workload's start was a tenth of its cost);
        a jar installed later is found after a restart."""
        if self._iceberg_spark_jar is None:
            self._iceberg_spark_jar = iceberg_spark.find_jar(self.settings.iceberg_spark_jar)
        return self._iceberg_spark_jar

    def java_home(self) -> str:
        """The JDK workloads' Spark runs on (``spark.java_home`` of the configured one), or "":
        looked for once per process, as the jar above (a glob of /usr/lib/jvm on every
        workload's start was a sixth of a no-op job run's start)."""
        if self._java_home is None:
            self._java_home = spark.java_home(self.settings.java_home)
        return self._java_home

    def metastore_ports(self) -> list[int]:
        """Loopback ports every workload may reach for the shared services (the metastore)."""
        return [self.metastore.port] if self.metastore.running else []

    def use_runtimes(self, manager: RuntimeManager) -> None:
        """Replace the runtime manager (tests give one with a slow or failing build)."""
        self._runtimes = manager

    def nudge(self) -> None:
        """Wake this process's scheduler early (a run was triggered)."""
        if self.work_signal is not None:
            self.work_signal.set()

    @property
    def executor(self) -> Executor:
        """The executor workloads start on (created on first use, so plain API use needs none)."""
        with self._executor_lock:
            if self._executor is None:
                from lakeworks.executors.local import LocalExecutor

                if self.settings.executor != "local":
                    raise LakeworksError(f"Unknown executor {self.settings.executor!r}.")
                sandboxed = self.settings.sandbox == "bwrap"
                self._executor = LocalExecutor(
                    state_dir=self.settings.workloads_dir / "executor",
                    use_bwrap=None if sandboxed else False,
                    require_sandbox=sandboxed,
                    isolate_network=self.settings.sandbox_network == "isolated",
                    host_ports=self.settings.workload_host_ports,
                    network_pool=self.settings.sandbox_network_pool,
                    server_dir=self.settings.server_socket_dir,
                )
            return self._executor

    def close_executor(self) -> None:
        """Release what the executor holds, if one was made (its workloads keep running)."""
        with self._executor_lock:
            executor = self._executor
        if executor is not None:
            executor.close()

    def read(self) -> AbstractContextManager[UnitOfWork]:
        """A unit of work for queries (committed empty, so no audit)."""
        return self.store.transaction()

    def audit(
        self,
        uow: UnitOfWork,
        principal: Principal | None,
        action: str,
        *,
        target: str,
        project_id: str | None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Record a successful action in ``uow``, the transaction that makes the change: for a
        step that is one part of a larger command (the scheduler starting a run)."""
        self.audit_many(uow, principal, action, [(target, project_id, detail)])

    def audit_many(
        self,
        uow: UnitOfWork,
        principal: Principal | None,
        action: str,
        events: Sequence[tuple[str, str | None, dict[str, Any] | None]],
    ) -> None:
        """``audit`` for several successes of one action, each (target, project id, detail),
        in one INSERT: the scheduler starting a batch of runs audits all their keys."""
        at = utcnow()
        uow.audit.add_many(
            [
                {
                    "at": at,
                    "actor_id": principal.user.id if principal else None,
                    "actor": principal.user.username if principal else SYSTEM,
                    "action": action,
                    "target": _storable(target),
                    "project_id": project_id,
                    "outcome": Outcome.SUCCESS,
                    "detail": detail or {},
                }
                for target, project_id, detail in events
            ]
        )

    @contextmanager
    def command(
        self,
        principal: Principal | None,
        action: str,
        *,
        target: str = "",
        project_id: str | None = None,
    ) -> Iterator[Command]:
        """Run a mutating action in one transaction and audit it.

        Success is written in the same transaction as the change, so the trail never claims
        something that was rolled back. A refusal or failure is written afterwards in its own
        transaction, because the command's own was rolled back.
        """
        cmd: Command | None = None
        try:
            with self.store.transaction() as uow:
                cmd = Command(uow=uow, action=action, target=target, project_id=project_id)
                yield cmd
                self.audit(
                    uow,
                    principal,
                    action,
                    target=cmd.target,
                    project_id=cmd.project_id,
                    detail=cmd.detail,
                )
            if action in ACCESS_CHANGES:
                self.access_epoch += 1
        except LakeworksError as exc:
            denied = isinstance(exc, PermissionDenied | Unauthenticated)
            with self.store.transaction() as uow:
                uow.audit.add(
                    at=utcnow(),
                    actor_id=principal.user.id if principal else None,
                    actor=principal.user.username if principal else SYSTEM,
                    action=action,
                    target=_storable(cmd.target if cmd else target),
                    project_id=cmd.project_id if cmd else project_id,
                    outcome=Outcome.DENIED if denied else Outcome.FAILED,
                    detail={"error": exc.message},
                )
            raise


def _close_all(closers: list[Callable[[], object]]) -> None:
    for close in closers:
        try:
            close()
        except Exception:  # one component's failure must not keep the others open
            log.exception("closing a platform component failed")


def _storable(text: str) -> str:
    # Targets echo user input; PostgreSQL text cannot hold NUL, and a refusal of such input
    # must still be audited rather than fail on the audit write.
    return text.replace("\x00", "\\x00")
