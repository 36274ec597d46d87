"""What every service command needs: settings, the store, the caller, and the audit trail."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from lakeworks.config import Settings
from lakeworks.data.explorer import RunningQueries
from lakeworks.data.sources import ProjectFiles, SourceProvider
from lakeworks.entities.audit import Outcome
from lakeworks.entities.users import User
from lakeworks.errors import LakeworksError, PermissionDenied, Unauthenticated
from lakeworks.executors.base import Executor
from lakeworks.runtimes.manager import RuntimeManager
from lakeworks.services.login_throttle import LoginThrottle
from lakeworks.store.tables import utcnow
from lakeworks.store.uow import Store, UnitOfWork


@dataclass(frozen=True)
class Principal:
    """Who is calling. ``project_scope`` is set for workload keys: the project of their
    workload, the only one they reach unless ``user_wide`` (``workload_key_scope = user``, as in
    CML: the key acts with its user's rights everywhere). Either way a workload key carries no
    site-admin powers and manages no keys, profiles or browser sessions."""

    user: User
    via: str  # "session", "api_key", "v1_key", "cli"
    project_scope: str | None = None
    user_wide: bool = False

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
        self.login_throttle = LoginThrottle(settings)
        self._runtimes: RuntimeManager | None = None
        # Ids of objects (job runs, sessions, apps...) that a thread of this process is
        # starting now: preparing a runtime can take minutes, and the reconcilers must not
        # read that wait as a start the server abandoned.
        self._launching: set[str] = set()
        self._launching_lock = threading.Lock()
        # The Data page: its queries running now (to cancel them), and where its tables come
        # from (the project's files; the Iceberg catalog and connections add theirs).
        self.running_queries = RunningQueries(max_running=settings.data_max_running_queries)
        self.table_providers: list[SourceProvider] = [
            ProjectFiles(settings.projects_dir, max_sources=settings.data_max_sources)
        ]

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
    def launching(self, key: str) -> Iterator[None]:
        """Mark ``key`` as being started by this thread for the duration of the block."""
        with self._launching_lock:
            self._launching.add(key)
        try:
            yield
        finally:
            with self._launching_lock:
                self._launching.discard(key)

    def is_launching(self, key: str) -> bool:
        with self._launching_lock:
            return key in self._launching

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
                )
            return self._executor

    def read(self) -> Any:
        """A unit of work for queries (committed empty, so no audit)."""
        return self.store.transaction()

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
                uow.audit.add(
                    at=utcnow(),
                    actor_id=principal.user.id if principal else None,
                    actor=principal.user.username if principal else SYSTEM,
                    action=action,
                    target=_storable(cmd.target),
                    project_id=cmd.project_id,
                    outcome=Outcome.SUCCESS,
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


def _storable(text: str) -> str:
    # Targets echo user input; PostgreSQL text cannot hold NUL, and a refusal of such input
    # must still be audited rather than fail on the audit write.
    return text.replace("\x00", "\\x00")
