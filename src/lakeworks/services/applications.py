"""Applications: definitions, start/stop/restart, readiness, crash restarts, proxy access.

An application runs its script (IPython-style runner, project runtime) as an ``APPLICATION``
workload with the ports ``CDSW_APP_PORT``, ``CDSW_READONLY_PORT`` and ``CDSW_PUBLIC_PORT``.
It is ``RUNNING`` once one of them accepts connections; the proxy then forwards
``<subdomain>.<domain>`` and ``/apps/<subdomain>/`` to that port.

Starting happens in a background thread (building a runtime the first time can take
minutes): it launches the workload, then probes the ports every ``PROBE_SECONDS`` until one
answers, the workload ends, or ``app_start_timeout_seconds`` pass (then the app is stopped
and ``FAILED`` with a reason saying so). The scheduler's tick (``reconcile``) repeats the
probe and the deadline for apps whose thread is gone (server restart), and
``on_workloads_ended`` applies exits: 0 → ``STOPPED``; a crash of a running app → a new
engine, at most ``app_max_restarts`` times within ``app_restart_window_seconds``, then
``FAILED``; any exit before the port opened → ``FAILED`` with the last log line.

Access (``authorize_access``): project members with read access; everyone when the app
bypasses authentication and the admin allows it. Routes and decisions are cached for
``proxy_route_cache_seconds`` (mutations here clear the cache at once).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from lakeworks import bounds
from lakeworks.entities.applications import (
    APP_PORTS,
    Application,
    AppStatus,
    can_move,
)
from lakeworks.entities.models import MODEL_SERVICE_HOST
from lakeworks.entities.projects import Project
from lakeworks.entities.users import User
from lakeworks.entities.workloads import Resources, Workload, WorkloadKind, WorkloadStatus
from lakeworks.errors import Conflict, InvalidInput, InvalidState, NotFound
from lakeworks.services import environment, files, projects, workloads
from lakeworks.services.environment import ENGINE_ID_RE
from lakeworks.services.ids import public_id
from lakeworks.services.permissions import Action, require
from lakeworks.services.platform import Platform, Principal
from lakeworks.services.resources import require_room
from lakeworks.store.tables import utcnow
from lakeworks.store.uow import UnitOfWork
from lakeworks.workload import SCRIPT_SUFFIXES

log = logging.getLogger(__name__)

PROBE_SECONDS = 0.1
SUBDOMAIN_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# Labels the platform routes itself, or that would read as something else.
RESERVED_SUBDOMAINS = frozenset(
    {MODEL_SERVICE_HOST, "www", "api", "apps", "admin", "static", "login", "auth", "lakeworks"}
)
ENGINE_PREFIXES = ("read-only-", "public-")


@dataclass(frozen=True)
class AppFields:
    """An application's editable fields, already parsed (API and UI both fill this)."""

    name: str
    subdomain: str
    script: str
    description: str = ""
    runtime_identifier: str = ""
    cpu: float = 1.0
    memory_mb: int = 2048
    gpu: int = 0
    environment: Mapping[str, object] | None = None
    bypass_authentication: bool = False


def check_subdomain(subdomain: str) -> str:
    """The subdomain as stored, or ``InvalidInput`` saying what is wrong with it."""
    label = subdomain.strip()
    if not label:
        raise InvalidInput("An application needs a subdomain (e.g. 'sales-dashboard').")
    if label != label.lower():
        raise InvalidInput(f"Subdomain {label!r} must be lowercase.")
    if not SUBDOMAIN_RE.match(label):
        raise InvalidInput(
            f"Subdomain {label!r} is not a DNS label: use 1-63 lowercase letters, digits and "
            "hyphens, starting and ending with a letter or digit."
        )
    if label in RESERVED_SUBDOMAINS:
        raise InvalidInput(f"Subdomain {label!r} is reserved by the platform.")
    if ENGINE_ID_RE.match(label) or any(
        label.startswith(p) and ENGINE_ID_RE.match(label.removeprefix(p)) for p in ENGINE_PREFIXES
    ):
        raise InvalidInput(
            f"Subdomain {label!r} looks like an engine address (16 letters and digits); "
            "choose another one."
        )
    return label


def _check(
    uow: UnitOfWork,
    platform: Platform,
    project_id: str,
    fields: AppFields,
    application_id: str | None,
) -> dict[str, Any]:
    name = bounds.check_name("An application name", fields.name.strip())
    if not name:
        raise InvalidInput("An application needs a name.")
    bounds.check_text("description", fields.description or "")
    subdomain = check_subdomain(fields.subdomain)
    other = uow.applications.by_subdomain(subdomain)
    if other is not None and other.id != application_id:
        raise Conflict(f"Subdomain {subdomain!r} is already used by another application.")
    script = files.clean_relative(fields.script).as_posix() if fields.script.strip() else ""
    if script in ("", "."):
        raise InvalidInput("An application needs a script: a .py, .ipynb or .sh project file.")
    if not script.endswith(SCRIPT_SUFFIXES):
        raise InvalidInput(f"{script!r} is not a script Lakeworks can run (.py, .ipynb, .sh).")
    location = files.resolve(files.project_root(platform, project_id), script)
    if not location.is_file():
        raise InvalidInput(f"Script {script!r} does not exist in the project.")
    bounds.check_resources(fields.cpu, fields.memory_mb, fields.gpu)
    env = projects.validate_env(fields.environment or {})
    return {
        "name": name,
        "description": fields.description or "",
        "subdomain": subdomain,
        "script": script,
        "runtime_identifier": (fields.runtime_identifier or "").strip(),
        "cpu": float(fields.cpu),
        "memory_mb": int(fields.memory_mb),
        "gpu": int(fields.gpu),
        "environment": {v.name: v.value for v in env},
        "bypass_authentication": bool(fields.bypass_authentication),
    }


def _fields_of(app: Application) -> AppFields:
    return AppFields(
        name=app.name,
        subdomain=app.subdomain,
        script=app.script,
        description=app.description,
        runtime_identifier=app.runtime_identifier,
        cpu=app.cpu,
        memory_mb=app.memory_mb,
        gpu=app.gpu,
        environment=app.environment,
        bypass_authentication=app.bypass_authentication,
    )


# Definitions ---------------------------------------------------------------------------


def create(
    platform: Platform, principal: Principal, project_id: str, fields: AppFields
) -> Application:
    """Record the application and start it (CML's ``create_application`` also starts)."""
    with platform.command(
        principal, "application.create", target=fields.subdomain, project_id=project_id
    ) as cmd:
        require(cmd.uow, principal, project_id, Action.CREATE_WORKLOADS)
        values = _check(cmd.uow, platform, project_id, fields, None)
        require_room(
            cmd.uow,
            platform.settings,
            principal.user.id,
            values["cpu"],
            values["memory_mb"],
            what="This application",
        )
        now = utcnow()
        app = cmd.uow.applications.add(
            id=public_id(),
            project_id=project_id,
            creator_id=principal.user.id,
            status=AppStatus.STARTING.value,
            starting_at=now,
            created_at=now,
            updated_at=now,
            restarts=[],
            **values,
        )
        cmd.target = app.id
        cmd.detail = {"name": app.name, "subdomain": app.subdomain, "script": app.script}
    platform.proxy_routes.forget()
    _boot_in_background(platform, app)
    return app


def update(
    platform: Platform,
    principal: Principal,
    project_id: str,
    application_id: str,
    changes: Mapping[str, Any],
) -> Application:
    """PATCH: ``changes`` holds AppFields names. A running app keeps running; script,
    runtime, resources and environment apply at its next (re)start, as in CML."""
    with platform.command(
        principal, "application.update", target=application_id, project_id=project_id
    ) as cmd:
        require(cmd.uow, principal, project_id, Action.CREATE_WORKLOADS)
        app = _application(cmd.uow, project_id, application_id)
        unknown = set(changes) - set(AppFields.__dataclass_fields__)
        if unknown:
            raise InvalidInput(f"Applications have no field(s) {sorted(unknown)}.")
        values = _check(
            cmd.uow, platform, project_id, replace(_fields_of(app), **changes), application_id
        )
        cmd.uow.applications.set(application_id, updated_at=utcnow(), **values)
        cmd.detail = {k: str(v) for k, v in changes.items() if k != "environment"}
        result = _application(cmd.uow, project_id, application_id)
    platform.proxy_routes.forget()
    return result


def delete(platform: Platform, principal: Principal, project_id: str, application_id: str) -> None:
    """Delete an application, stopping its engine first (the workload record is kept)."""
    with platform.command(
        principal, "application.delete", target=application_id, project_id=project_id
    ) as cmd:
        require(cmd.uow, principal, project_id, Action.CREATE_WORKLOADS)
        app = _application(cmd.uow, project_id, application_id)
        cmd.detail = {"name": app.name, "subdomain": app.subdomain}
        cmd.uow.applications.delete(application_id)
    platform.proxy_routes.forget()
    if app.workload_id:
        workloads.request_stop(platform, app.workload_id, "its application was deleted")


def get(
    platform: Platform, principal: Principal, project_id: str, application_id: str
) -> Application:
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        return _application(uow, project_id, application_id)


def list_applications(
    platform: Platform,
    principal: Principal,
    project_id: str,
    statuses: Sequence[AppStatus] = (),
) -> list[Application]:
    """Oldest first (CML's default order); optionally only those with one of ``statuses``."""
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        apps = uow.applications.of_project(project_id)
    return [a for a in apps if not statuses or a.status in statuses]


def _application(uow: UnitOfWork, project_id: str, application_id: str) -> Application:
    app = uow.applications.get(application_id)
    if app is None or app.project_id != project_id:
        raise NotFound(f"Application {application_id!r} not found in this project.")
    return app


def _reload(platform: Platform, application_id: str) -> Application | None:
    with platform.read() as uow:
        return uow.applications.get(application_id)


# Start, stop, restart -------------------------------------------------------------------


def start(
    platform: Platform, principal: Principal, project_id: str, application_id: str
) -> Application:
    """Start a stopped or failed application (a running one is left alone)."""
    with platform.command(
        principal, "application.start", target=application_id, project_id=project_id
    ) as cmd:
        require(cmd.uow, principal, project_id, Action.RUN_WORKLOADS)
        app = _application(cmd.uow, project_id, application_id)
        if app.status in (AppStatus.STARTING, AppStatus.RUNNING):
            return app
        if app.status is AppStatus.STOPPING:
            raise InvalidState("The application is stopping; start it again once stopped.")
        _require_room(cmd.uow, platform, app)
        started = _restart_record(cmd.uow, app)
    platform.proxy_routes.forget()
    _boot_in_background(platform, started)
    return started


def stop(
    platform: Platform, principal: Principal, project_id: str, application_id: str
) -> Application:
    """Stop the application's engine; it ends ``STOPPED``. Stopping a stopped app is a no-op."""
    with platform.command(
        principal, "application.stop", target=application_id, project_id=project_id
    ) as cmd:
        require(cmd.uow, principal, project_id, Action.RUN_WORKLOADS)
        app = _application(cmd.uow, project_id, application_id)
        if not app.status.is_active:
            return app
        _begin_stop(cmd.uow, app)
        result = _application(cmd.uow, project_id, application_id)
    platform.proxy_routes.forget()
    _stop_engine(platform, app)
    return _reload(platform, application_id) or result


def _begin_stop(uow: UnitOfWork, app: Application) -> None:
    now = utcnow()
    if app.status is AppStatus.STOPPING:
        return
    if not uow.applications.move(
        app.id, app.status, AppStatus.STOPPING, updated_at=now, reason="stopped", target=""
    ):
        raise InvalidState("The application changed state meanwhile; try again.")


def _stop_engine(platform: Platform, app: Application) -> None:
    """Ask the engine to end; if there is none (still booting, or gone), finish at once."""
    live = False
    if app.workload_id:
        live = workloads.request_stop(platform, app.workload_id, "stopped")
    if not live:
        with platform.store.transaction() as uow:
            uow.applications.move(
                app.id, AppStatus.STOPPING, AppStatus.STOPPED, stopped_at=utcnow()
            )


def restart(
    platform: Platform, principal: Principal, project_id: str, application_id: str
) -> Application:
    """Stop the current engine (if any) and start a new one behind the same subdomain."""
    with platform.command(
        principal, "application.restart", target=application_id, project_id=project_id
    ) as cmd:
        require(cmd.uow, principal, project_id, Action.RUN_WORKLOADS)
        app = _application(cmd.uow, project_id, application_id)
        if not can_move(app.status, AppStatus.STARTING):
            raise InvalidState("The application is stopping; restart it once it has stopped.")
        _require_room(cmd.uow, platform, app)
        started = _restart_record(cmd.uow, app)
    platform.proxy_routes.forget()
    if app.workload_id:
        workloads.request_stop(platform, app.workload_id, "restarted")
    _boot_in_background(platform, started)
    return started


def logs(
    platform: Platform,
    principal: Principal,
    project_id: str,
    application_id: str,
    offset: int = 0,
) -> tuple[bytes, int]:
    """The current engine's log from ``offset`` (kept after it ends)."""
    app = get(platform, principal, project_id, application_id)
    if not app.workload_id:
        return b"", offset
    return workloads.read_log(platform, workloads.get(platform, app.workload_id), offset)


def engine(platform: Platform, app: Application) -> Workload | None:
    """The application's current workload, if it has one."""
    if not app.workload_id:
        return None
    try:
        return workloads.get(platform, app.workload_id)
    except NotFound:
        return None


# Booting and readiness ------------------------------------------------------------------


def _boot_in_background(platform: Platform, app: Application) -> None:
    threading.Thread(
        target=_boot_quietly, args=(platform, app), daemon=True, name=f"app-{app.id}"
    ).start()


def _boot_quietly(platform: Platform, app: Application) -> None:
    try:
        boot(platform, app)
    except Exception:  # the outermost edge of a background thread
        log.exception("starting application %s failed", app.id)
        _fail(platform, app.id, AppStatus.STARTING, "could not start: internal error")


def boot(platform: Platform, app: Application) -> Application | None:
    """Launch the engine of an app that is ``STARTING`` (as of ``app.starting_at``), then wait
    for its port. Returns the app as it ends up; safe to call again (it does nothing then).

    A runtime's first use builds it first (minutes): the app says so meanwhile, and its start
    deadline only counts from its engine's start."""
    with platform.launching(app.id):
        return _boot(platform, app)


def _boot(platform: Platform, app: Application) -> Application | None:
    with platform.read() as uow:
        project = uow.projects.get(app.project_id)
        user = uow.users.get(app.creator_id)
    if project is None or user is None:
        _fail(platform, app.id, AppStatus.STARTING, "its project or creator was deleted")
        return _reload(platform, app.id)

    waited = False

    def preparing(message: str) -> None:
        nonlocal waited
        waited = True
        with platform.store.transaction() as uow:
            current = uow.applications.get(app.id)
            if current is not None and current.status is AppStatus.STARTING:
                uow.applications.set(app.id, reason=message)

    try:
        runtime = environment.await_runtime(
            platform, app.runtime_identifier, since=time.time(), waiting=preparing
        )
    except environment.RuntimeFailed as exc:
        _fail(platform, app.id, AppStatus.STARTING, exc.message)
        return _reload(platform, app.id)
    current = _reload(platform, app.id)
    if current is None or current.status is not AppStatus.STARTING:
        return current  # stopped or deleted while its runtime was prepared
    if waited:  # the preparing message has served its purpose (other reasons stay)
        with platform.store.transaction() as uow:
            uow.applications.set(app.id, reason="")
    workload = _launch(platform, app, project, user, runtime)
    with platform.store.transaction() as uow:
        attached = uow.applications.attach(app.id, app.starting_at, workload.id)
    if not attached:
        # Stopped, restarted or deleted while launching: this engine is nobody's.
        workloads.request_stop(platform, workload.id, "its application no longer wants it")
        return _reload(platform, app.id)
    if workload.status is WorkloadStatus.FAILED:
        _fail(platform, app.id, AppStatus.STARTING, workload.reason)
        return _reload(platform, app.id)
    return _await_port(platform, app.id, workload.id)


def _launch(
    platform: Platform,
    app: Application,
    project: Project,
    user: User,
    runtime: environment.PreparedRuntime,
) -> Workload:
    return workloads.launch(
        platform,
        workloads.LaunchRequest(
            kind=WorkloadKind.APPLICATION,
            project=project,
            user=user,
            resources=Resources(cpu=app.cpu, memory_mb=app.memory_mb, gpu=app.gpu),
            runtime=runtime,
            script=app.script,
            layers=[app.environment],
            identity={"CDSW_APPLICATION_ID": app.id},
            ports=APP_PORTS,
            key_lifetime=timedelta(days=365),  # apps run until stopped
        ),
    )


def listening_port(platform: Platform, workload: Workload) -> tuple[str, str] | None:
    """(port name, "127.0.0.1:<port>") of the first of ``APP_PORTS`` accepting connections."""
    ports = dict(
        zip(
            workload.handle.get("port_names") or [],
            workload.handle.get("ports") or [],
            strict=False,
        )
    )
    for name in APP_PORTS:
        port = ports.get(name)
        if port is None:
            continue
        if platform.executor.listening(workload.handle, int(port)):
            return name, f"127.0.0.1:{port}"
    return None


def _await_port(platform: Platform, application_id: str, workload_id: str) -> Application | None:
    deadline = time.monotonic() + platform.settings.app_start_timeout_seconds
    while True:
        app = _reload(platform, application_id)
        if app is None or app.status is not AppStatus.STARTING or app.workload_id != workload_id:
            return app
        if probe(platform, app):
            return _reload(platform, application_id)
        workload = workloads.get(platform, workload_id)
        if workload.status.is_final or (
            workload.handle and platform.executor.poll(workload.handle) is not None
        ):
            # It ended before opening a port: the scheduler records why (on_workloads_ended).
            return app
        if time.monotonic() > deadline:
            _time_out(platform, app)
            return _reload(platform, application_id)
        time.sleep(PROBE_SECONDS)


def probe(platform: Platform, app: Application) -> bool:
    """Move a ``STARTING`` app to ``RUNNING`` if its engine's port answers. Idempotent."""
    workload = engine(platform, app)
    if workload is None or workload.status is not WorkloadStatus.RUNNING:
        return False
    found = listening_port(platform, workload)
    if found is None:
        return False
    name, target = found
    with platform.store.transaction() as uow:
        moved = uow.applications.move(
            app.id,
            AppStatus.STARTING,
            AppStatus.RUNNING,
            running_at=utcnow(),
            target=target,
            port_name=name,
            reason="",
        )
    platform.proxy_routes.forget()
    return moved


def _time_out(platform: Platform, app: Application) -> None:
    seconds = platform.settings.app_start_timeout_seconds
    reason = (
        f"the script did not open CDSW_APP_PORT or CDSW_READONLY_PORT (on 127.0.0.1) within "
        f"{seconds:g} s; it was stopped"
    )
    if _fail(platform, app.id, AppStatus.STARTING, reason) and app.workload_id:
        workloads.request_stop(platform, app.workload_id, "did not open its port in time")


def _fail(platform: Platform, application_id: str, expected: AppStatus, reason: str) -> bool:
    with platform.store.transaction() as uow:
        moved = uow.applications.move(
            application_id,
            expected,
            AppStatus.FAILED,
            stopped_at=utcnow(),
            reason=reason,
            target="",
        )
    platform.proxy_routes.forget()
    return moved


# Reconciling (scheduler) ---------------------------------------------------------------


def reconcile(platform: Platform, now: datetime | None = None) -> None:
    """Probe starting apps and fail those past their start deadline. Idempotent."""
    now = now or utcnow()
    limit = timedelta(seconds=platform.settings.app_start_timeout_seconds)
    with platform.read() as uow:
        starting = uow.applications.with_status(AppStatus.STARTING)
    for app in starting:
        if probe(platform, app):
            continue
        if platform.is_launching(app.id):
            continue  # its runtime is being prepared, or its engine launched, right now
        grace = limit + timedelta(seconds=5)
        workload = engine(platform, app)
        if workload is None:
            # Nobody in this process is starting it (``recover`` boots such apps again after a
            # restart): the process that was starting it stopped.
            if app.starting_at is not None and now - app.starting_at > grace:
                _fail(platform, app.id, AppStatus.STARTING, "the server stopped while starting it")
            continue
        # The start deadline counts from the engine's start, never from time spent preparing.
        started = workload.started_at or app.starting_at
        if started is not None and now - started > grace:
            _time_out(platform, app)


def recover(platform: Platform) -> None:
    """After a server restart: boot again apps whose start was cut off before launching."""
    with platform.read() as uow:
        starting = uow.applications.with_status(AppStatus.STARTING)
        stopping = uow.applications.with_status(AppStatus.STOPPING)
    for app in starting:
        if app.workload_id is None:
            _boot_in_background(platform, app)
    for app in stopping:
        workload = engine(platform, app)
        if workload is None or workload.status.is_final:
            with platform.store.transaction() as uow:
                uow.applications.move(
                    app.id, AppStatus.STOPPING, AppStatus.STOPPED, stopped_at=utcnow()
                )


def on_workloads_ended(platform: Platform, ended: Sequence[workloads.Ended]) -> None:
    """Apply application engines' exits: stopped, failed, or restarted after a crash."""
    for item in ended:
        if item.workload.kind is not WorkloadKind.APPLICATION:
            continue
        with platform.read() as uow:
            app = uow.applications.for_workload(item.workload.id)
        if app is None or app.workload_id != item.workload.id:
            continue  # an old engine of a restarted app, or a deleted app
        _apply_exit(platform, app, item)
        platform.proxy_routes.forget()


def _apply_exit(platform: Platform, app: Application, item: workloads.Ended) -> None:
    now = utcnow()
    if app.status is AppStatus.STOPPING:
        with platform.store.transaction() as uow:
            uow.applications.move(app.id, app.status, AppStatus.STOPPED, stopped_at=now)
        return
    if app.status is AppStatus.STARTING:
        why = item.reason or "it ended"
        if item.status is WorkloadStatus.SUCCEEDED:
            why = "exit code 0"
        tail = workloads.last_log_line(platform, item.workload)
        reason = f"the script ended ({why}) before opening CDSW_APP_PORT or CDSW_READONLY_PORT" + (
            f"; last output: {tail}" if tail else ""
        )
        _fail(platform, app.id, AppStatus.STARTING, reason)
        return
    if app.status is not AppStatus.RUNNING:
        return
    if item.status in (WorkloadStatus.SUCCEEDED, WorkloadStatus.STOPPED):
        reason = "the script exited with code 0" if item.status is WorkloadStatus.SUCCEEDED else ""
        with platform.store.transaction() as uow:
            uow.applications.move(
                app.id, app.status, AppStatus.STOPPED, stopped_at=now, reason=reason, target=""
            )
        return
    _crashed(platform, app, item.reason or item.status.value, now)


def _crashed(platform: Platform, app: Application, why: str, now: datetime) -> None:
    settings = platform.settings
    window = timedelta(seconds=settings.app_restart_window_seconds)
    recent = [t for t in app.restarts if now - datetime.fromisoformat(t) < window]
    if len(recent) >= settings.app_max_restarts:
        gave_up = (
            f"; not restarted: {len(recent)} automatic restarts in the last "
            f"{settings.app_restart_window_seconds:g} s"
            if settings.app_max_restarts
            else ""
        )
        _fail(platform, app.id, AppStatus.RUNNING, f"crashed: {why}{gave_up}")
        return
    recent.append(now.isoformat())
    with platform.command(
        None, "application.auto_restart", target=app.id, project_id=app.project_id
    ) as cmd:
        moved = cmd.uow.applications.move(
            app.id,
            AppStatus.RUNNING,
            AppStatus.STARTING,
            starting_at=now,
            running_at=None,
            workload_id=None,
            target="",
            port_name="",
            restarts=recent,
            reason=f"restarted automatically after a crash ({why}); "
            f"restart {len(recent)} of {settings.app_max_restarts}",
        )
        cmd.detail = {"reason": why, "restarts": len(recent)}
    if moved:
        restarted = _reload(platform, app.id)
        if restarted is not None:
            _boot_in_background(platform, restarted)


def creators(platform: Platform, apps: Sequence[Application]) -> dict[int, User]:
    """The creators of ``apps`` by id (for API and UI output)."""
    with platform.read() as uow:
        found = {i: uow.users.get(i) for i in {a.creator_id for a in apps}}
    return {i: u for i, u in found.items() if u is not None}


def address(platform: Platform, app: Application) -> tuple[str, str]:
    """(host URL, path URL) of an application: ``<scheme>://<subdomain>.<domain>/`` and the
    degraded path form ``<base_url>/apps/<subdomain>/``, empty unless path routing is on
    (links show only addresses that work)."""
    settings = platform.settings
    scheme = "https" if settings.https else "http"
    path_url = f"{settings.base_url}/apps/{app.subdomain}/" if settings.app_path_routing else ""
    return f"{scheme}://{app.subdomain}.{settings.domain}/", path_url


def _require_room(uow: UnitOfWork, platform: Platform, app: Application) -> None:
    """The creator's quota (the engine runs as them) must fit the app, counting as free what
    its current engine holds, since a (re)start replaces it."""
    current = uow.workloads.get(app.workload_id) if app.workload_id else None
    releasing = (0.0, 0)
    if (
        current is not None
        and not current.status.is_final
        and current.status is not WorkloadStatus.PENDING  # not held yet
    ):
        releasing = (current.resources.cpu, current.resources.memory_mb)
    require_room(
        uow,
        platform.settings,
        app.creator_id,
        app.cpu,
        app.memory_mb,
        what="This application",
        releasing=releasing,
    )


def _restart_record(uow: UnitOfWork, app: Application) -> Application:
    """Move an application to STARTING with a clean slate (no workload, target, reason or
    restart history): the one transition behind start and restart."""
    now = utcnow()
    if not uow.applications.move(
        app.id,
        app.status,
        AppStatus.STARTING,
        starting_at=now,
        running_at=None,
        workload_id=None,
        target="",
        port_name="",
        reason="",
        restarts=[],
        updated_at=now,
    ):
        raise InvalidState("The application changed state meanwhile; try again.")
    return _application(uow, app.project_id, app.id)
