"""Sessions with real workloads: JupyterLab behind the proxy, the workbench console's kernel
over its websocket, who may enter, stop, the idle timeout, bad input.

Sessions run in the shared test runtime (``tests/scheduler/conftest.py``'s cache); each test
stops what it started (the ``session_app`` fixture stops every live workload at the end).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from tests.conftest import login
from tests.scheduler.conftest import RUNTIME_CACHE
from tests.workload_cleanup import stop_live_workloads

from lakeworks.config import Settings
from lakeworks.entities.projects import Project
from lakeworks.entities.sessions import Editor, Session, SessionStatus
from lakeworks.entities.users import User
from lakeworks.entities.workloads import WorkloadStatus
from lakeworks.errors import InvalidInput, NotFound, PermissionDenied, QuotaExceeded
from lakeworks.scheduler.loop import Scheduler
from lakeworks.services import projects, sessions
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.tables import utcnow
from lakeworks.store.uow import Store

START_TIMEOUT = 120.0


@pytest.fixture
def session_app(settings: Settings, store: Store) -> Iterator[FastAPI]:
    from lakeworks.app import create_app

    app = create_app(settings.model_copy(update={"runtimes_dir": RUNTIME_CACHE}), store)
    yield app
    stop_everything(app.state.platform)


def stop_everything(platform: Platform) -> None:
    stop_live_workloads(platform)


@pytest.fixture
def lw(session_app: FastAPI) -> Platform:
    platform: Platform = session_app.state.platform
    platform.settings.projects_dir.mkdir(parents=True, exist_ok=True)
    return platform


@pytest.fixture
def web(session_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(session_app, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def people(lw: Platform, make_user: Callable[..., User]) -> dict[str, Principal]:
    return {
        name: Principal(user=make_user(name), via="session")
        for name in ("alice", "bob", "carol", "dave")
    }


@pytest.fixture
def project(lw: Platform, people: dict[str, Principal]) -> Project:
    """Alice's project; Bob contributes, Carol views, Dave is not a member."""
    project = projects.create(
        lw,
        people["alice"],
        name="Notebooks",
        source=projects.parse_source("", ""),
        environment={"MY_PROJECT_VAR": "from-project"},
    )
    projects.set_collaborator(lw, people["alice"], project.id, "bob", "contributor")
    projects.set_collaborator(lw, people["alice"], project.id, "carol", "viewer")
    (lw.settings.projects_dir / project.id / "analysis.py").write_text(
        "import pandas as pd\n"
        "df = pd.DataFrame({'city': ['Oslo', 'Lima'], 'rain_mm': [763, 16]})\n"
        "display(df)\n"
    )
    return project


def start(platform: Platform, principal: Principal, project: Project, **fields: Any) -> Session:
    session = sessions.start(platform, principal, project.id, sessions.SessionFields(**fields))
    assert session.status is SessionStatus.RUNNING, session.reason
    return session


def wait_ready(platform: Platform, principal: Principal, session: Session) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not sessions.is_ready(platform, principal, session):
        if time.monotonic() > deadline:
            data, _, _ = sessions.log_of(platform, principal, session.project_id, session.id)
            raise AssertionError(f"session never became ready; log:\n{data.decode()[-3000:]}")
        time.sleep(0.1)


def wait_status(platform: Platform, session_id: str, wanted: SessionStatus) -> Session:
    scheduler = Scheduler(platform)
    deadline = time.monotonic() + 60
    try:
        while True:
            scheduler.tick()
            with platform.read() as uow:
                session = uow.sessions.get(session_id)
            assert session is not None
            if session.status is wanted:
                return session
            if time.monotonic() > deadline:
                raise AssertionError(f"session stuck in {session.status}: {session.reason}")
            time.sleep(0.2)
    finally:
        scheduler.stop()


# JupyterLab through the proxy -----------------------------------------------------------


def test_jupyterlab_answers_through_the_proxy_for_its_owner_only(
    lw: Platform, web: TestClient, people: dict[str, Principal], project: Project
) -> None:
    session = start(lw, people["alice"], project, name="lab")
    wait_ready(lw, people["alice"], session)

    anonymous = web.get(f"/sessions/{session.id}/api/status", follow_redirects=False)
    assert anonymous.status_code == 401

    login(web, "alice")
    status = web.get(f"/sessions/{session.id}/api/status")
    assert status.status_code == 200
    assert "started" in status.json()
    lab = web.get(f"/sessions/{session.id}/lab")
    assert lab.status_code == 200
    assert "JupyterLab" in lab.text
    # The Jupyter server sees the project at its root.
    contents = web.get(f"/sessions/{session.id}/api/contents").json()
    assert "analysis.py" in {item["name"] for item in contents["content"]}
    # JupyterLab's "notified about Jupyter news?" prompt is answered: never (the default the
    # lab gets from the session's settings; a person may still turn it on).
    notification = web.get(
        f"/sessions/{session.id}/lab/api/settings/@jupyterlab/apputils-extension:notification"
    ).json()
    assert notification["schema"]["properties"]["fetchNews"]["default"] == "false"
    assert notification["schema"]["properties"]["checkForUpdates"]["default"] is False

    # A terminal opens inside the session: a shell on a real PTY, whose output comes raw
    # (escape sequences included) and whose size follows the browser's (set_size).
    name = sessions.new_terminal(lw, people["alice"], session.id)
    assert name
    with web.websocket_connect(f"/sessions/{session.id}/terminals/websocket/{name}") as ws:
        ws.send_text(json.dumps(["set_size", 37, 113, 600, 900]))
        ws.send_text(
            json.dumps(["stdin", "stty size; printf '\\033[31m%s\\033[0m\\n' $MY_PROJECT_VAR\r"])
        )
        seen = ""
        for _ in range(200):
            kind, *data = ws.receive_json()
            if kind == "stdout":
                seen += data[0]
            if "37 113" in seen and "\x1b[31mfrom-project\x1b[0m" in seen:
                break
        else:
            raise AssertionError(f"the terminal never showed its size and colour: {seen!r}")
        # Resizing again reaches the PTY (a full-screen program would redraw to fit).
        ws.send_text(json.dumps(["set_size", 20, 70, 300, 500]))
        ws.send_text(json.dumps(["stdin", "stty size\r"]))
        for _ in range(200):
            kind, *data = ws.receive_json()
            if kind == "stdout":
                seen += data[0]
            if "20 70" in seen:
                break
        else:
            raise AssertionError(f"the resize never reached the PTY: {seen[-500:]!r}")

    for other in ("bob", "dave"):  # a contributor who is not the owner; a non-member
        web.cookies.clear()
        login(web, other)
        refused = web.get(f"/sessions/{session.id}/api/status")
        assert refused.status_code == 404, other
        with pytest.raises(NotFound):
            sessions.enter(lw, people[other], session.id)

    sessions.stop(lw, people["alice"], project.id, session.id)
    stopped = wait_status(lw, session.id, SessionStatus.STOPPED)
    assert stopped.reason == "stopped by alice"
    assert stopped.finished_at is not None


# The workbench console ------------------------------------------------------------------


def collect(ws: Any, until: Callable[[dict[str, Any]], bool], limit: int = 200) -> list[dict]:
    seen = []
    for _ in range(limit):
        message = ws.receive_json()
        seen.append(message)
        if until(message):
            return seen
    raise AssertionError(f"never got the expected message; saw {seen[-10:]}")


def idle_after(parent: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: (
        m["type"] == "status"
        and m["parent"] == parent
        and m["content"].get("execution_state") == "idle"
    )


def test_workbench_console_runs_code_with_rich_output(
    lw: Platform, web: TestClient, people: dict[str, Principal], project: Project
) -> None:
    session = start(lw, people["alice"], project, name="wb", editor=Editor.WORKBENCH.value)
    # The kernel's message key is kept sealed: the database alone does not hold it.
    clear = sessions.kernel_key(lw, session)
    assert len(clear) == 64 and clear not in session.kernel_key_sealed
    login(web, "alice")
    url = f"/projects/{project.id}/sessions/{session.id}/console"
    with web.websocket_connect(url) as ws:
        assert collect(ws, lambda m: m["type"] == "ready")[-1]["type"] == "ready"

        show = "import os\nprint(os.environ['CDSW_ENGINE_ID'], os.environ['MY_PROJECT_VAR'])"
        ws.send_text(json.dumps({"op": "execute", "code": show}))
        msg_id = ws.receive_json()["msg_id"]
        out = collect(ws, idle_after(msg_id))
        text = "".join(m["content"]["text"] for m in out if m["type"] == "stream")
        assert text.split() == [session.workload_id, "from-project"]

        code = (lw.settings.projects_dir / project.id / "analysis.py").read_text()
        ws.send_text(json.dumps({"op": "execute", "code": code}))
        msg_id = ws.receive_json()["msg_id"]
        out = collect(ws, idle_after(msg_id))
        shown = [m for m in out if m["type"] == "display_data"]
        assert shown and "<table" in shown[0]["content"]["data"]["text/html"]
        assert "Oslo" in shown[0]["content"]["data"]["text/html"]

        ws.send_text(json.dumps({"op": "bogus"}))
        assert ws.receive_json()["type"] == "refused"

        # Restart: a fresh kernel (the variable is gone), same console.
        ws.send_text(json.dumps({"op": "restart"}))
        collect(ws, lambda m: m["type"] == "ready")
        ws.send_text(json.dumps({"op": "execute", "code": "print('df' in globals())"}))
        msg_id = ws.receive_json()["msg_id"]
        out = collect(ws, idle_after(msg_id))
        assert (
            "".join(m["content"].get("text", "") for m in out if m["type"] == "stream") == "False\n"
        )

    # The console's history is kept by the server: a new connection (the page opened again)
    # first gets what was shown before, without the kernel's status chatter.
    with web.websocket_connect(url) as ws:
        history = ws.receive_json()
        assert history["type"] == "transcript"
        kept = history["messages"]
        assert {m["type"] for m in kept} <= {"execute_input", "stream", "display_data", "error"}
        assert any(m["type"] == "execute_input" and m["content"]["code"] == show for m in kept)
        assert any("Oslo" in m["content"].get("data", {}).get("text/html", "") for m in kept)
        assert kept[-1]["content"].get("text") == "False\n"
        collect(ws, lambda m: m["type"] == "ready")
        # Clear forgets it, for this page and the next.
        ws.send_text(json.dumps({"op": "clear"}))
        collect(ws, lambda m: m["type"] == "cleared")
    with web.websocket_connect(url) as ws:
        assert ws.receive_json() == {"type": "transcript", "messages": []}
        collect(ws, lambda m: m["type"] == "ready")
        ws.send_text(json.dumps({"op": "execute", "code": "print('kept' + ' for later')"}))
        collect(ws, idle_after(ws.receive_json()["msg_id"]))

    # A huge message is refused: the socket closes with 1009, the server keeps serving.
    with web.websocket_connect(url) as ws:
        collect(ws, lambda m: m["type"] == "ready")
        ws.send_text(json.dumps({"op": "execute", "code": "x" * (2 * 1024 * 1024)}))
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 1009

    # Somebody else cannot attach to the console.
    web.cookies.clear()
    login(web, "dave")
    with pytest.raises(WebSocketDisconnect) as refused, web.websocket_connect(url) as ws:
        ws.receive_json()
    assert refused.value.code == 4404

    # Once the session has ended, its page still shows the console's history to its owner.
    sessions.stop(lw, people["alice"], project.id, session.id)
    wait_status(lw, session.id, SessionStatus.STOPPED)
    web.cookies.clear()
    login(web, "alice")
    page = web.get(f"/projects/{project.id}/sessions/{session.id}").text
    assert "Console history" in page
    assert "print(&#39;kept&#39; + &#39; for later&#39;)" in page and "kept for later" in page


# Idle timeout, permissions, bad input ---------------------------------------------------


def test_idle_session_is_stopped_and_recorded(
    lw: Platform, people: dict[str, Principal], project: Project
) -> None:
    session = start(lw, people["alice"], project, name="idle", idle_timeout_minutes=1)
    assert session.idle_timeout_minutes == 1
    # Not idle yet: nothing happens.
    assert sessions.enforce_idle(lw, utcnow()) == []
    # Activity moves the clock: a touch now counts.
    sessions.touch(lw, session.id, force=True)
    assert sessions.enforce_idle(lw, utcnow() + timedelta(minutes=2)) == [session.id]
    ended = wait_status(lw, session.id, SessionStatus.STOPPED)
    assert ended.reason.startswith("idle timeout")
    with lw.read() as uow:
        workload = uow.workloads.get(ended.workload_id or "")
        events = [e.action for e in uow.audit.query(action_prefix="session.")[0]]
    assert workload is not None and workload.status is WorkloadStatus.STOPPED
    assert "session.idle_stop" in events
    # Idempotent: a second pass stops nothing.
    assert sessions.enforce_idle(lw, utcnow() + timedelta(minutes=5)) == []


def test_who_may_start_stop_and_read(
    lw: Platform, people: dict[str, Principal], project: Project
) -> None:
    with pytest.raises(PermissionDenied):
        sessions.start(lw, people["carol"], project.id, sessions.SessionFields())
    with pytest.raises(NotFound):
        sessions.start(lw, people["dave"], project.id, sessions.SessionFields())
    with pytest.raises(InvalidInput, match="editor"):
        sessions.start(lw, people["alice"], project.id, sessions.SessionFields(editor="emacs"))
    with pytest.raises(InvalidInput, match="idle"):
        sessions.start(
            lw, people["alice"], project.id, sessions.SessionFields(idle_timeout_minutes=-1)
        )
    session = start(lw, people["bob"], project, name="bob's", cpu=1.0, memory_mb=1024)
    # Bob's quota has room for that one session only: a second is refused, not recorded.
    with lw.store.transaction() as uow:
        uow.workloads.set_quota(people["bob"].user.id, 1.5, 2048)
    with pytest.raises(QuotaExceeded, match=r"This session needs 1 vCPU / 1024 MiB; 1 of 1.5"):
        sessions.start(
            lw, people["bob"], project.id, sessions.SessionFields(cpu=1.0, memory_mb=1024)
        )
    # Viewers see it listed but cannot enter or stop it; the project's admin (Alice, owner)
    # may stop it but not enter it.
    assert [s.id for s in sessions.list_sessions(lw, people["carol"], project.id)] == [session.id]
    with pytest.raises(NotFound):
        sessions.enter(lw, people["alice"], session.id)
    with pytest.raises(PermissionDenied):
        sessions.stop(lw, people["carol"], project.id, session.id)
    with pytest.raises(PermissionDenied):
        sessions.log_of(lw, people["alice"], project.id, session.id)
    sessions.stop(lw, people["alice"], project.id, session.id)
    assert wait_status(lw, session.id, SessionStatus.STOPPED).reason == "stopped by alice"
