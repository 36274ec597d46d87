"""Sessions: start, stop, list, logs, and the idle timeout.

Who may do what (CML's rule, stated once here):

- start a session: contributors and above (``Action.CREATE_WORKLOADS``);
- see a project's sessions (list, status): anyone who can read the project;
- **enter** a session (its JupyterLab, console, terminal, proxied ports) and read its log:
  only the person who started it. A session runs code as its owner with the owner's API
  keys in its environment, so nobody else gets in, project admins and site admins included;
- stop a session: its owner, or an admin of the project (to free resources).

A session's workload runs ``python -m lakeworks_session`` (``workload/site``): a Jupyter
server on ``LAKEWORKS_JUPYTER_PORT`` for both editors (JupyterLab, and the terminals of a
workbench session) plus, for the workbench, the console kernel on five pool ports.

Idle timeout: proxied requests and console messages count as activity (``touch``, written at
most every ``TOUCH_EVERY`` seconds per session); ``enforce_idle`` stops sessions idle past
their timeout (the session's own, else the ``session_idle_timeout_minutes`` setting) and
records the reason ``idle timeout``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

from lakeworks import bounds
from lakeworks.data import spark
from lakeworks.entities.projects import Role
from lakeworks.entities.sessions import (
    IDLE_REASON,
    Editor,
    Session,
    SessionStatus,
)
from lakeworks.entities.users import User
from lakeworks.entities.workloads import Resources, Workload, WorkloadKind, WorkloadStatus
from lakeworks.errors import (
    InvalidInput,
    InvalidState,
    LakeworksError,
    NotFound,
    PermissionDenied,
)
from lakeworks.services import environment, sealing, workloads
from lakeworks.services.ids import public_id
from lakeworks.services.permissions import Action, effective_role, require
from lakeworks.services.platform import Platform, Principal
from lakeworks.services.probes import probes_for
from lakeworks.services.resources import require_room
from lakeworks.store.tables import utcnow
from lakeworks.store.uow import UnitOfWork

log = logging.getLogger(__name__)

APP_PORTS = ["CDSW_APP_PORT", "CDSW_READONLY_PORT", "CDSW_PUBLIC_PORT"]
JUPYTER_PORT = "LAKEWORKS_JUPYTER_PORT"
KERNEL_CHANNELS = ("shell", "iopub", "stdin", "control", "hb")
KERNEL_PORTS = [f"LAKEWORKS_KERNEL_{c.upper()}_PORT" for c in KERNEL_CHANNELS]
KERNEL_KEY_PURPOSE = "console-kernel-key"
SPARK_UI_PORT = "SPARK_UI_PORT"
# The session's Jupyter server admits only requests with its token in this header, which the
# proxy adds (``lakeworks_session.identity`` inside the workload).
JUPYTER_TOKEN_HEADER = "X-Lakeworks-Session-Token"
JUPYTER_TOKEN_VARIABLE = "LAKEWORKS_JUPYTER_TOKEN"
MAX_IDLE_MINUTES = 7 * 24 * 60
TOUCH_EVERY = 15.0  # seconds between activity writes of one session

WORKLOAD_TO_SESSION = {
    WorkloadStatus.SUCCEEDED: SessionStatus.SUCCEEDED,
    WorkloadStatus.FAILED: SessionStatus.FAILED,
    WorkloadStatus.OOM: SessionStatus.FAILED,
    WorkloadStatus.LOST: SessionStatus.FAILED,
    WorkloadStatus.TIMEDOUT: SessionStatus.STOPPED,
    WorkloadStatus.STOPPED: SessionStatus.STOPPED,
}


@dataclass(frozen=True)
class SessionFields:
    """What "New Session" asks for (API and UI both fill this)."""

    name: str = ""
    editor: str = Editor.JUPYTERLAB.value
    runtime_identifier: str = ""
    cpu: float = 1.0
    memory_mb: int = 2048
    spark: bool = False
    idle_timeout_minutes: int | None = None  # None: the setting's default


@dataclass(frozen=True)
class Endpoint:
    """Where a running session listens (loopback), for the proxy and the console bridge."""

    session: Session
    workload: Workload
    ports: dict[str, int]
    # The console kernel's message key, in clear (workbench sessions); kept out of reprs.
    kernel_key: str = field(default="", repr=False)
    # What lets a request into the session's Jupyter server; kept out of reprs.
    jupyter_token: str = field(default="", repr=False)

    @property
    def jupyter(self) -> str:
        return f"http://127.0.0.1:{self.ports[JUPYTER_PORT]}"

    @property
    def jupyter_headers(self) -> dict[str, str]:
        return {JUPYTER_TOKEN_HEADER: self.jupyter_token}

    @property
    def app_port(self) -> int | None:
        return self.ports.get("CDSW_APP_PORT")

    @property
    def spark_ui(self) -> str | None:
        """Where the session's Spark UI listens once a SparkSession is started (sessions
        with the Spark add-on only)."""
        port = self.ports.get(SPARK_UI_PORT)
        return f"127.0.0.1:{port}" if port else None


# Commands -------------------------------------------------------------------------------


def _editor(value: str) -> Editor:
    try:
        return Editor(value)
    except ValueError:
        names = ", ".join(e.value for e in Editor)
        raise InvalidInput(f"Unknown editor {value!r}; choose one of: {names}.") from None


def start(
    platform: Platform, principal: Principal, project_id: str, fields: SessionFields
) -> Session:
    """Record and start a session; returns it starting or running (or failed, with why)."""
    editor = _editor(fields.editor)
    bounds.check_resources(fields.cpu, fields.memory_mb)
    idle = fields.idle_timeout_minutes
    if idle is None:
        idle = platform.settings.session_idle_timeout_minutes
    if not 0 <= idle <= MAX_IDLE_MINUTES:
        raise InvalidInput(f"The idle timeout must be between 0 (never) and {MAX_IDLE_MINUTES}.")
    with platform.command(principal, "session.start", project_id=project_id) as cmd:
        project = require(cmd.uow, principal, project_id, Action.CREATE_WORKLOADS)
        require_room(
            cmd.uow,
            platform.settings,
            principal.user.id,
            fields.cpu,
            fields.memory_mb,
            what="This session",
        )
        now = utcnow()
        session = cmd.uow.sessions.add(
            id=public_id(),
            project_id=project.id,
            user_id=principal.user.id,
            name=(fields.name.strip() or f"{editor.value} session")[:200],
            editor=editor.value,
            runtime_identifier=fields.runtime_identifier or "",
            cpu=float(fields.cpu),
            memory_mb=int(fields.memory_mb),
            spark=bool(fields.spark),
            idle_timeout_minutes=int(idle),
            status=SessionStatus.STARTING.value,
            kernel_key_sealed=(
                sealing.seal(platform.settings, KERNEL_KEY_PURPOSE, secrets.token_hex(32))
                if editor is Editor.WORKBENCH
                else ""
            ),
            created_at=now,
            last_activity_at=now,
            reason="",
        )
        cmd.target = session.id
        cmd.detail = {"editor": editor.value, "spark": session.spark, "idle_minutes": idle}
    return _launch(platform, principal, session)


def _launch(platform: Platform, principal: Principal, session: Session) -> Session:
    """Start the session's engine now, or, when its runtime is not built yet, return at once
    (the session says it is preparing its runtime) and start it from a thread once built."""
    since = time.time()
    try:
        runtime = environment.prepare(platform, session.runtime_identifier, since=since)
    except environment.RuntimePreparing as preparing:
        with platform.store.transaction() as uow:
            uow.sessions.set(session.id, reason=preparing.message)
        _launch_when_ready(platform, principal.user, session.id, since)
        return _reload(platform, session.id)
    except environment.RuntimeFailed as exc:
        _end(platform, session.id, SessionStatus.FAILED, exc.message)
        return _reload(platform, session.id)
    return _start_engine(platform, principal.user, session, runtime)


def _launch_when_ready(platform: Platform, user: User, session_id: str, since: float) -> None:
    def wait_then_start() -> None:
        with platform.launching(session_id):
            try:
                session = _reload(platform, session_id)
                try:
                    runtime = environment.await_runtime(
                        platform, session.runtime_identifier, since=since, waiting=_ignore
                    )
                except environment.RuntimeFailed as exc:
                    _end(platform, session_id, SessionStatus.FAILED, exc.message)
                    return
                session = _reload(platform, session_id)
                if session.status is SessionStatus.STARTING and not session.workload_id:
                    _start_engine(platform, user, session, runtime)
                elif session.status is SessionStatus.STOPPING and not session.workload_id:
                    _end(platform, session_id, SessionStatus.STOPPED, session.reason)
            except Exception:  # the outermost edge of a background thread
                log.exception("starting session %s failed", session_id)
                _end(platform, session_id, SessionStatus.FAILED, "could not start: internal error")

    threading.Thread(target=wait_then_start, daemon=True, name=f"session-{session_id}").start()


def _ignore(_message: str) -> None:
    """The session already shows the preparing message (set before the thread started)."""


def _start_engine(
    platform: Platform, user: User, session: Session, runtime: environment.PreparedRuntime
) -> Session:
    with platform.read() as uow:
        project = uow.projects.get(session.project_id)
    if project is None:
        _end(platform, session.id, SessionStatus.FAILED, "its project was deleted")
        return _reload(platform, session.id)
    resources = Resources(cpu=session.cpu, memory_mb=session.memory_mb)
    ports = [*APP_PORTS, JUPYTER_PORT]
    if session.editor is Editor.WORKBENCH:
        ports += KERNEL_PORTS
    if session.spark:
        ports.append(SPARK_UI_PORT)

    def session_env(ctx: workloads.LaunchContext) -> dict[str, str]:
        env: dict[str, str] = {}
        if session.spark:
            env |= spark.prepare(
                platform.settings.projects_dir / project.id,
                ctx.project_home,
                platform.settings.spark_master,
                ui=True,
                metastore=platform.spark_metastore(project.id, runtime.directory),
                java=platform.java_home(),
            )
        if session.kernel_key_sealed:
            env["LAKEWORKS_KERNEL_KEY"] = kernel_key(platform, session)
        env[JUPYTER_TOKEN_VARIABLE] = jupyter_token(platform, session.id, ctx.engine_id)
        return env

    workload = workloads.launch(
        platform,
        workloads.LaunchRequest(
            kind=WorkloadKind.SESSION,
            project=project,
            user=user,
            resources=resources,
            runtime=runtime,
            command=lambda ctx: [
                runtime.python,
                "-m",
                "lakeworks_session",
                session.id,
                session.editor.value,
            ],
            identity={"CDSW_SESSION_ID": session.id},
            platform_env=session_env,
            ports=ports,
        ),
    )
    with platform.store.transaction() as uow:
        uow.sessions.set(session.id, workload_id=workload.id, reason="")
    if workload.status is WorkloadStatus.FAILED:
        _end(platform, session.id, SessionStatus.FAILED, workload.reason)
    else:
        with platform.store.transaction() as uow:
            uow.sessions.move(session.id, SessionStatus.STARTING, SessionStatus.RUNNING)
    return _reload(platform, session.id)


def stop(platform: Platform, principal: Principal, project_id: str, session_id: str) -> Session:
    """Stop a session (its owner, or a project admin); the reconciler records the end."""
    with platform.command(
        principal, "session.stop", target=session_id, project_id=project_id
    ) as cmd:
        require(cmd.uow, principal, project_id, Action.READ)
        session = _session(cmd.uow, project_id, session_id)
        if session.user_id != principal.user.id:
            require(cmd.uow, principal, project_id, Action.MANAGE_COLLABORATORS)
        if session.status.is_final:
            raise InvalidState(f"Session {session_id} already ended ({session.status.value}).")
        cmd.detail = {"name": session.name}
    _request_stop(platform, session, f"stopped by {principal.user.username}")
    return _reload(platform, session_id)


def _request_stop(platform: Platform, session: Session, reason: str) -> None:
    with platform.store.transaction() as uow:
        moved = uow.sessions.move(session.id, session.status, SessionStatus.STOPPING, reason=reason)
    if not moved:
        return
    if session.workload_id:
        if not workloads.request_stop(platform, session.workload_id, reason):
            _sync_with_workload(platform, session.id)
    else:
        _end(platform, session.id, SessionStatus.STOPPED, reason)


# Reads ----------------------------------------------------------------------------------


def get(platform: Platform, principal: Principal, project_id: str, session_id: str) -> Session:
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        return _session(uow, project_id, session_id)


def list_sessions(platform: Platform, principal: Principal, project_id: str) -> list[Session]:
    with platform.read() as uow:
        require(uow, principal, project_id, Action.READ)
        return uow.sessions.of_project(project_id)


def owner_names(platform: Platform, sessions: list[Session]) -> dict[int, str]:
    with platform.read() as uow:
        names = {}
        for user_id in {s.user_id for s in sessions}:
            user = uow.users.get(user_id)
            names[user_id] = user.username if user else "(deleted)"
        return names


def can_stop(platform: Platform, principal: Principal, session: Session) -> bool:
    if session.user_id == principal.user.id:
        return True
    with platform.read() as uow:
        project = uow.projects.get(session.project_id)
        role = effective_role(uow, principal, project) if project else None
    return role is not None and role.rank >= Role.ADMIN.rank


def enter(platform: Platform, principal: Principal, session_id: str) -> Endpoint:
    """The running session's endpoint, for its owner only (proxy, console, terminal).

    Anyone else is told the session does not exist, so session ids of other people's work
    reveal nothing.
    """
    with platform.read() as uow:
        session = uow.sessions.get(session_id)
        if session is None or session.user_id != principal.user.id:
            raise NotFound(f"Session {session_id!r} not found.")
        # Membership can be withdrawn while a session runs: check the project too.
        require(uow, principal, session.project_id, Action.CREATE_WORKLOADS)
        workload = uow.workloads.get(session.workload_id) if session.workload_id else None
    if session.status is not SessionStatus.RUNNING or workload is None:
        raise InvalidState(f"Session {session_id} is {session.status.value}, not running.")
    names = workload.handle.get("port_names") or []
    numbers = workload.handle.get("ports") or []
    ports = dict(zip(names, numbers, strict=False))
    token = jupyter_token(platform, session.id, workload.id)
    return Endpoint(session, workload, ports, kernel_key(platform, session), token)


def jupyter_token(platform: Platform, session_id: str, workload_id: str) -> str:
    """The token of one session's Jupyter server: random to anyone without the server's
    secret key, different for every session and every start of it, and derived rather than
    stored, so the proxy finds it without a database column (and after a restart)."""
    message = f"jupyter-token\0{session_id}\0{workload_id}".encode()
    return hmac.new(platform.settings.secret_key.encode(), message, hashlib.sha256).hexdigest()


def kernel_key(platform: Platform, session: Session) -> str:
    """The console kernel's message key in clear ("" for sessions without a console, or when
    it was sealed under another server secret key)."""
    if not session.kernel_key_sealed:
        return ""
    try:
        return sealing.unseal(platform.settings, KERNEL_KEY_PURPOSE, session.kernel_key_sealed)
    except sealing.Unsealable:
        return ""


def is_ready(platform: Platform, principal: Principal, session: Session) -> bool:
    """Whether the caller's session answers: Jupyter's API (JupyterLab), the kernel's port
    (workbench)."""
    if session.status is not SessionStatus.RUNNING:
        return False
    try:
        endpoint = enter(platform, principal, session.id)
    except LakeworksError:
        return False
    return _answers(platform, endpoint)


def answering(platform: Platform, session: Session) -> bool:
    """Whether a running session answers yet, for whoever may see its status: a session is
    shown running only once its editor answers (its workload runs a few seconds before)."""
    if session.status is not SessionStatus.RUNNING or not session.workload_id:
        return False
    with platform.read() as uow:
        workload = uow.workloads.get(session.workload_id)
    if workload is None:
        return False
    names = workload.handle.get("port_names") or []
    numbers = workload.handle.get("ports") or []
    ports = dict(zip(names, numbers, strict=False))
    # Its Jupyter server answers only with the token the proxy adds.
    token = jupyter_token(platform, session.id, workload.id)
    return _answers(platform, Endpoint(session, workload, ports, jupyter_token=token))


def _answers(platform: Platform, endpoint: Endpoint) -> bool:
    session = endpoint.session
    if session.editor is Editor.WORKBENCH:
        port = endpoint.ports.get(KERNEL_PORTS[0])
        # The executor knows: under network isolation a forwarder accepts before the kernel.
        return platform.executor.listening(endpoint.workload.handle, int(port or 0))
    if JUPYTER_PORT not in endpoint.ports:
        return False
    return probes_for(platform).answers(
        f"{endpoint.jupyter}/sessions/{session.id}/api/status", endpoint.jupyter_headers
    )


def new_terminal(platform: Platform, principal: Principal, session_id: str) -> str:
    """Open a terminal in the session (Jupyter's terminals, inside the session's sandbox)."""
    endpoint = enter(platform, principal, session_id)
    base = f"{endpoint.jupyter}/sessions/{session_id}"
    try:
        with httpx.Client(timeout=10.0, headers=endpoint.jupyter_headers) as client:
            # Jupyter's XSRF check stays on: take its token from a page, as a browser does.
            client.get(f"{base}/lab")
            token = client.cookies.get("_xsrf") or ""
            answer = client.post(f"{base}/api/terminals", headers={"X-XSRFToken": token})
            answer.raise_for_status()
            name = str(answer.json()["name"])
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        raise InvalidState(f"The session could not open a terminal: {exc}") from exc
    touch(platform, session_id, force=True)
    return name


def log_of(
    platform: Platform, principal: Principal, project_id: str, session_id: str, offset: int = 0
) -> tuple[bytes, int, Session]:
    """The session's log (its Jupyter server and kernel output); its owner only."""
    session = get(platform, principal, project_id, session_id)
    if session.user_id != principal.user.id:
        raise PermissionDenied("Only the person who started a session can read its log.")
    if not session.workload_id:
        return b"", offset, session
    data, next_offset = workloads.read_log(
        platform, workloads.get(platform, session.workload_id), offset
    )
    return data, next_offset, session


def _session(uow: UnitOfWork, project_id: str, session_id: str) -> Session:
    session = uow.sessions.get(session_id)
    if session is None or session.project_id != project_id:
        raise NotFound(f"Session {session_id!r} not found in this project.")
    return session


def _reload(platform: Platform, session_id: str) -> Session:
    with platform.read() as uow:
        session = uow.sessions.get(session_id)
    assert session is not None
    return session


# Activity and idle timeout --------------------------------------------------------------


class _Touches:
    """Last activity written per session, so busy sessions cost one write per TOUCH_EVERY."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._written: dict[str, float] = {}

    def due(self, session_id: str) -> bool:
        now = time.monotonic()
        with self._lock:
            if now - self._written.get(session_id, 0.0) < TOUCH_EVERY:
                return False
            self._written[session_id] = now
            if len(self._written) > 10_000:
                self._written.clear()
            return True


def touch(platform: Platform, session_id: str, *, force: bool = False) -> None:
    """Record activity in a session (a proxied request, a console message)."""
    if not force and not platform.component(_Touches, _Touches).due(session_id):
        return
    with platform.store.transaction() as uow:
        uow.sessions.touch([session_id], utcnow())


def enforce_idle(platform: Platform, now: datetime) -> list[str]:
    """Stop running sessions idle past their timeout; returns their ids. Idempotent."""
    stopped = []
    with platform.read() as uow:
        running = uow.sessions.with_status(SessionStatus.RUNNING)
    for session in running:
        if not session.idle_timeout_minutes:
            continue
        if now - session.last_activity_at < timedelta(minutes=session.idle_timeout_minutes):
            continue
        reason = f"{IDLE_REASON}: no activity for {session.idle_timeout_minutes} min"
        with platform.command(
            None, "session.idle_stop", target=session.id, project_id=session.project_id
        ) as cmd:
            cmd.detail = {"idle_minutes": session.idle_timeout_minutes}
        _request_stop(platform, session, reason)
        stopped.append(session.id)
    return stopped


# Reconciler -----------------------------------------------------------------------------


def on_workloads_ended(platform: Platform, ended: list[workloads.Ended]) -> None:
    for item in ended:
        if item.workload.kind is not WorkloadKind.SESSION:
            continue
        with platform.read() as uow:
            session = uow.sessions.for_workload(item.workload.id)
        if session is not None:
            status = WORKLOAD_TO_SESSION[item.status]
            _end(platform, session.id, status, session.reason or item.reason)


def reconcile(platform: Platform) -> None:
    """Close sessions whose workload ended without us seeing it (crash, restart)."""
    with platform.read() as uow:
        active = uow.sessions.with_status(
            SessionStatus.STARTING, SessionStatus.RUNNING, SessionStatus.STOPPING
        )
    for session in active:
        _sync_with_workload(platform, session.id)


def recover(platform: Platform) -> None:
    """After a server restart: close sessions whose workload ended, and start again the
    sessions whose start was cut off before their engine launched (e.g. while their runtime
    was being built)."""
    reconcile(platform)
    with platform.read() as uow:
        starting = uow.sessions.with_status(SessionStatus.STARTING)
    for session in starting:
        if session.workload_id or platform.is_launching(session.id):
            continue
        with platform.read() as uow:
            user = uow.users.get(session.user_id)
        if user is None:
            _end(platform, session.id, SessionStatus.FAILED, "its user was deleted")
            continue
        _launch_when_ready(platform, user, session.id, time.time())


def _sync_with_workload(platform: Platform, session_id: str) -> None:
    with platform.read() as uow:
        session = uow.sessions.get(session_id)
        workload = (
            uow.workloads.get(session.workload_id) if session and session.workload_id else None
        )
    if session is None or session.status.is_final:
        return
    if workload is None:
        if session.status is not SessionStatus.STARTING:
            _end(platform, session.id, SessionStatus.FAILED, "its workload record is gone")
        return
    if workload.status.is_final:
        status = WORKLOAD_TO_SESSION[workload.status]
        _end(platform, session.id, status, session.reason or workload.reason)


def _end(platform: Platform, session_id: str, status: SessionStatus, reason: str) -> bool:
    with platform.store.transaction() as uow:
        session = uow.sessions.get(session_id)
        if session is None or session.status.is_final:
            return False
        return uow.sessions.move(
            session_id, session.status, status, finished_at=utcnow(), reason=reason
        )
