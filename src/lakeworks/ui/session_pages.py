"""Sessions: the caller's sessions, a project's sessions, "New Session", one session's page
(JupyterLab link, or the workbench: file editor + console), its log, stop, a terminal, and
the console's websocket (``services/console.py`` does the talking to the kernel)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Form, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.websockets import WebSocketState

from lakeworks.entities.sessions import Editor, Session, SessionStatus
from lakeworks.errors import InvalidInput, LakeworksError, http_status
from lakeworks.services import console, files, projects, resources, sessions
from lakeworks.services.permissions import Action
from lakeworks.services.platform import Platform, Principal
from lakeworks.services.projects import ProjectView
from lakeworks.ui.deps import FormUserDep, PlatformDep, UserDep
from lakeworks.ui.pages import flash, form_error, redirect, render
from lakeworks.web.auth import session_principal

router = APIRouter()

MAX_PROJECTS = 200
EDITORS = [(Editor.JUPYTERLAB.value, "JupyterLab"), (Editor.WORKBENCH.value, "Workbench")]
# Files the Workbench editor opens.
EDITABLE_SUFFIXES = (".py", ".txt", ".md", ".sh", ".R", ".sql", ".json", ".yaml", ".yml", ".csv")


def _context(view: ProjectView) -> dict[str, Any]:
    return {
        "nav": "projects",
        "tab": "sessions",
        "view": view,
        "project": view.project,
        "can_start": projects.allowed(view, Action.CREATE_WORKLOADS),
    }


def session_url(session: Session) -> str:
    return f"/projects/{session.project_id}/sessions/{session.id}"


@router.get("/sessions")
def my_sessions(request: Request, platform: PlatformDep, principal: UserDep) -> Response:
    """Every session the caller started, across their projects (newest first)."""
    views, _ = projects.listed_by_name(platform, principal, MAX_PROJECTS)
    rows = []
    for view in views:
        for session in sessions.list_sessions(platform, principal, view.project.id):
            if session.user_id == principal.user.id:
                rows.append((view, session))
    rows.sort(key=lambda row: row[1].created_at, reverse=True)
    return render(
        request,
        "sessions/all.html",
        {"nav": "sessions", "rows": rows, "answering": _answering(platform, [s for _, s in rows])},
    )


def _answering(platform: Platform, found: list[Session]) -> set[str]:
    """Ids of the running sessions that answer (the others are shown starting)."""
    return {
        s.id for s in found if s.status is SessionStatus.RUNNING and sessions.answering(platform, s)
    }


@router.get("/projects/{project_id}/sessions")
def project_sessions(
    request: Request, platform: PlatformDep, principal: UserDep, project_id: str
) -> Response:
    view = projects.get(platform, principal, project_id)
    found = sessions.list_sessions(platform, principal, project_id)
    return render(
        request,
        "sessions/list.html",
        _context(view)
        | {
            "sessions": found,
            "owners": sessions.owner_names(platform, found),
            "me": principal,
            "answering": _answering(platform, found),
        },
    )


def _form(
    request: Request,
    platform: Platform,
    principal: Principal,
    view: ProjectView,
    values: dict[str, Any],
    *,
    status: int = 200,
    error: str = "",
) -> Response:
    return render(
        request,
        "sessions/new.html",
        _context(view)
        | {
            "values": values,
            "profiles": resources.profiles(platform, principal),
            "editors": [
                (Editor.JUPYTERLAB.value, "JupyterLab"),
                (Editor.WORKBENCH.value, "Workbench"),
            ],
            "idle_default": platform.settings.session_idle_timeout_minutes,
        },
        status=status,
        error=error,
    )


@router.get("/projects/{project_id}/sessions/new")
def new_session(
    request: Request, platform: PlatformDep, principal: UserDep, project_id: str
) -> Response:
    view = projects.get(platform, principal, project_id)
    return _form(request, platform, principal, view, {"editor": Editor.JUPYTERLAB.value})


@router.post("/projects/{project_id}/sessions")
def start_session(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    name: Annotated[str, Form()] = "",
    editor: Annotated[str, Form()] = Editor.JUPYTERLAB.value,
    runtime: Annotated[str, Form()] = "",
    profile: Annotated[str, Form()] = "",
    spark: Annotated[str, Form()] = "",
    idle_minutes: Annotated[str, Form()] = "",
) -> Response:
    view = projects.get(platform, principal, project_id)
    values = {
        "name": name,
        "editor": editor,
        "runtime": runtime,
        "profile": profile,
        "spark": bool(spark),
        "idle_minutes": idle_minutes,
    }
    try:
        cpu, memory_mb = _profile(platform, principal, profile)
        idle = _minutes(idle_minutes)
        session = sessions.start(
            platform,
            principal,
            project_id,
            sessions.SessionFields(
                name=name,
                editor=editor,
                runtime_identifier=runtime,
                cpu=cpu,
                memory_mb=memory_mb,
                spark=bool(spark),
                idle_timeout_minutes=idle,
            ),
        )
    except LakeworksError as exc:
        form_error(request, exc)
        return _form(
            request, platform, principal, view, values, status=http_status(exc), error=exc.message
        )
    if session.status is SessionStatus.FAILED:
        flash(request, f"The session could not start: {session.reason}", "error")
    return redirect(session_url(session))


def _profile(platform: Platform, principal: Principal, profile: str) -> tuple[float, int]:
    available = resources.profiles(platform, principal)
    if not profile:
        return (available[0].cpu, available[0].memory_mb) if available else (1.0, 2048)
    for p in available:
        if str(p.id) == profile or p.name == profile:
            return p.cpu, p.memory_mb
    raise InvalidInput(f"Unknown resource profile {profile!r}.")


def _minutes(text: str) -> int | None:
    if not text.strip():
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidInput("The idle timeout is a whole number of minutes.") from None


@router.get("/projects/{project_id}/sessions/{session_id}")
def session_page(
    request: Request, platform: PlatformDep, principal: UserDep, project_id: str, session_id: str
) -> Response:
    view = projects.get(platform, principal, project_id)
    session = sessions.get(platform, principal, project_id, session_id)
    owner = session.user_id == principal.user.id
    scripts: list[str] = []
    if owner and session.editor is Editor.WORKBENCH:
        scripts = _project_files(platform, principal, project_id)
    workload_id = session.workload_id or ""
    scheme = "https" if platform.settings.https else "http"
    # An ended workbench session still shows its console's history (to its owner only: the
    # code and output may hold what only they should read).
    history: list[tuple[str, str]] = []
    if owner and session.editor is Editor.WORKBENCH and session.status.is_final:
        history = console.history(
            console.Transcript(console.transcript_path(platform.settings.data_dir, session.id))
        )
    return render(
        request,
        "sessions/session.html",
        _context(view)
        | {
            "session": session,
            "answering": _answering(platform, [session]),
            "owner": owner,
            "can_stop": not session.status.is_final
            and sessions.can_stop(platform, principal, session),
            "scripts": scripts,
            "history": history,
            "engine_url": f"{scheme}://{workload_id}.{platform.settings.domain}/"
            if workload_id
            else "",
        },
    )


def _project_files(platform: Platform, principal: Principal, project_id: str) -> list[str]:
    """Editable text files of the project (top two levels), for the workbench's picker."""
    found: list[str] = []
    for entry in files.list_dir(platform, principal, project_id, ""):
        if entry.is_dir and not entry.name.startswith("."):
            with contextlib.suppress(LakeworksError):
                found += [
                    e.path
                    for e in files.list_dir(platform, principal, project_id, entry.path)
                    if not e.is_dir and e.name.endswith(EDITABLE_SUFFIXES)
                ]
        elif not entry.is_dir and entry.name.endswith(EDITABLE_SUFFIXES):
            found.append(entry.path)
    return sorted(found)[:500]


@router.get("/projects/{project_id}/sessions/{session_id}/status")
def session_status(
    platform: PlatformDep, principal: UserDep, project_id: str, session_id: str
) -> Response:
    session = sessions.get(platform, principal, project_id, session_id)
    ready = sessions.answering(platform, session)
    return JSONResponse({"status": session.status.value, "reason": session.reason, "ready": ready})


@router.post("/projects/{project_id}/sessions/{session_id}/stop")
def stop_session(
    request: Request,
    platform: PlatformDep,
    principal: FormUserDep,
    project_id: str,
    session_id: str,
) -> Response:
    session = sessions.stop(platform, principal, project_id, session_id)
    flash(request, f"Session {session.name!r} is stopping.")
    return redirect(session_url(session))


@router.get("/projects/{project_id}/sessions/{session_id}/log")
def session_log(
    platform: PlatformDep, principal: UserDep, project_id: str, session_id: str, offset: int = 0
) -> Response:
    data, next_offset, session = sessions.log_of(
        platform, principal, project_id, session_id, offset
    )
    return PlainTextResponse(
        data.decode(errors="replace"),
        headers={"X-Next-Offset": str(next_offset), "X-Session-Status": session.status.value},
    )


@router.post("/projects/{project_id}/sessions/{session_id}/terminals")
def new_terminal(
    platform: PlatformDep, principal: FormUserDep, project_id: str, session_id: str
) -> Response:
    sessions.get(platform, principal, project_id, session_id)
    name = sessions.new_terminal(platform, principal, session_id)
    return redirect(f"/projects/{project_id}/sessions/{session_id}/terminals/{name}")


@router.get("/projects/{project_id}/sessions/{session_id}/terminals/{name}")
def terminal_page(
    request: Request,
    platform: PlatformDep,
    principal: UserDep,
    project_id: str,
    session_id: str,
    name: str,
) -> Response:
    view = projects.get(platform, principal, project_id)
    sessions.enter(platform, principal, session_id)
    session = sessions.get(platform, principal, project_id, session_id)
    return render(
        request,
        "sessions/terminal.html",
        _context(view) | {"session": session, "terminal": name},
    )


# The console's websocket ----------------------------------------------------------------


@router.websocket("/projects/{project_id}/sessions/{session_id}/console")
async def console_socket(websocket: WebSocket, project_id: str, session_id: str) -> None:
    platform: Platform = websocket.app.state.platform
    principal = await anyio.to_thread.run_sync(session_principal, websocket, platform)  # type: ignore[arg-type]
    if principal is None:
        await websocket.close(code=4401, reason="Sign in to use the console.")
        return
    try:
        endpoint = await anyio.to_thread.run_sync(sessions.enter, platform, principal, session_id)
        if endpoint.session.project_id != project_id:
            raise InvalidInput("That session belongs to another project.")
    except LakeworksError as exc:
        await websocket.close(code=4404, reason=exc.message[:120])
        return
    await websocket.accept()
    lock = asyncio.Lock()

    async def send(message: dict[str, Any]) -> None:
        async with lock:
            if websocket.client_state is WebSocketState.CONNECTED:
                await websocket.send_json(message)

    transcript = console.Transcript(
        console.transcript_path(platform.settings.data_dir, endpoint.session.id)
    )
    await send({"type": "transcript", "messages": transcript.read()})
    bridge = console.Bridge(endpoint, send, transcript)
    try:
        await bridge.open()
        while True:
            text = await websocket.receive_text()
            if len(text.encode()) > console.MAX_MESSAGE_BYTES:
                await websocket.close(code=1009, reason="message too big")
                return
            try:
                message = console.parse(text)
            except InvalidInput as exc:
                await send({"type": "refused", "message": exc.message})
                continue
            await anyio.to_thread.run_sync(sessions.touch, platform, session_id)
            await bridge.handle(message)
    except WebSocketDisconnect:
        pass
    except (LakeworksError, RuntimeError, TimeoutError) as exc:
        reason = exc.message if isinstance(exc, LakeworksError) else "the console kernel failed"
        with contextlib.suppress(RuntimeError):
            await websocket.close(code=1011, reason=reason[:120])
    finally:
        # Code still running when the browser left: its output still goes to the transcript.
        await bridge.linger()
        await bridge.close()
