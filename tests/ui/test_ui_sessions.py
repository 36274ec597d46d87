"""Session pages without starting workloads: the list, the form, and bad input on it."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable

from fastapi.testclient import TestClient
from tests.conftest import login

from lakeworks.entities.sessions import Editor, SessionStatus
from lakeworks.entities.users import User
from lakeworks.entities.workloads import Resources, WorkloadKind, WorkloadStatus
from lakeworks.services import projects, sessions
from lakeworks.services.environment import new_engine_id
from lakeworks.services.ids import public_id
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.tables import utcnow


def test_form_refuses_bad_input_and_viewers_see_no_button(
    client: TestClient, platform: Platform, make_user: Callable[..., User]
) -> None:
    alice = make_user("alice")
    make_user("carol")
    project = projects.create(
        platform,
        Principal(user=alice, via="session"),
        name="P",
        source=projects.parse_source("", ""),
    )
    projects.set_collaborator(
        platform, Principal(user=alice, via="session"), project.id, "carol", "viewer"
    )
    csrf = login(client, "alice")
    listing = client.get(f"/projects/{project.id}/sessions")
    assert listing.status_code == 200
    assert "No sessions yet" in listing.text
    assert f"/projects/{project.id}/sessions/new" in listing.text
    form = client.get(f"/projects/{project.id}/sessions/new")
    assert form.status_code == 200
    assert 'name="editor" value="workbench"' in form.text

    bad_editor = client.post(
        f"/projects/{project.id}/sessions",
        data={"csrf_token": csrf, "name": "x", "editor": "emacs"},
    )
    assert bad_editor.status_code == 400
    assert "Unknown editor" in bad_editor.text
    bad_idle = client.post(
        f"/projects/{project.id}/sessions",
        data={"csrf_token": csrf, "name": "x", "editor": "jupyterlab", "idle_minutes": "soon"},
    )
    assert bad_idle.status_code == 400
    assert "whole number of minutes" in bad_idle.text
    no_csrf = client.post(f"/projects/{project.id}/sessions", data={"editor": "jupyterlab"})
    assert no_csrf.status_code == 403

    client.cookies.clear()
    login(client, "carol")
    viewer = client.get(f"/projects/{project.id}/sessions")
    assert viewer.status_code == 200
    assert not re.search(r'href="[^"]*/sessions/new"', viewer.text)
    refused = client.post(
        f"/projects/{project.id}/sessions",
        data={"csrf_token": login(client, "carol"), "editor": "jupyterlab"},
    )
    assert refused.status_code == 403
    assert "contributor" in refused.text
    # The all-sessions page (nav) is a real page.
    assert "No sessions yet" in client.get("/sessions").text


def _session_whose_editor_is_silent(platform: Platform, owner: User, project_id: str) -> str:
    """A session the way it is right after its workload started: running, with its Jupyter
    port assigned, but nothing answering there yet (a port nobody listens on)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        silent_port = sock.getsockname()[1]
    session_id = public_id()
    with platform.store.transaction() as uow:
        workload = uow.workloads.add(
            workload_id=new_engine_id(),  # engine ids are 16 characters (the column's size)
            kind=WorkloadKind.SESSION,
            project_id=project_id,
            user_id=owner.id,
            executor="local",
            log_path="",
            resources=Resources(cpu=1.0, memory_mb=1024),
        )
        uow.workloads.set(
            workload.id,
            status=WorkloadStatus.RUNNING.value,
            handle={"port_names": [sessions.JUPYTER_PORT], "ports": [silent_port]},
        )
        now = utcnow()
        uow.sessions.add(
            id=session_id,
            project_id=project_id,
            user_id=owner.id,
            name="lab",
            editor=Editor.JUPYTERLAB.value,
            runtime_identifier="",
            cpu=1.0,
            memory_mb=1024,
            spark=False,
            idle_timeout_minutes=60,
            status=SessionStatus.RUNNING.value,
            kernel_key_sealed="",
            created_at=now,
            last_activity_at=now,
            reason="",
            workload_id=workload.id,
        )
    return session_id


def test_a_session_is_shown_running_only_once_its_editor_answers(
    client: TestClient, platform: Platform, make_user: Callable[..., User]
) -> None:
    alice = make_user("alice")
    project = projects.create(
        platform,
        Principal(user=alice, via="session"),
        name="P",
        source=projects.parse_source("", ""),
    )
    session_id = _session_whose_editor_is_silent(platform, alice, project.id)
    login(client, "alice")

    page = client.get(f"/projects/{project.id}/sessions/{session_id}")
    assert page.status_code == 200
    assert re.search(r"data-session-status>starting<", page.text)
    assert "Starting JupyterLab" in page.text
    # "Open JupyterLab" is there but cannot be followed until the editor answers.
    open_lab = re.search(r"<a [^>]*data-lab-open[^>]*>", page.text)
    assert open_lab and 'aria-disabled="true"' in open_lab.group(0)
    assert "href" not in open_lab.group(0)
    assert "data-lab-link" not in page.text
    state = client.get(f"/projects/{project.id}/sessions/{session_id}/status").json()
    assert state == {"status": "running", "reason": "", "ready": False}
    for listing in (f"/projects/{project.id}/sessions", "/sessions"):
        assert re.search(r"data-session-status>starting<", client.get(listing).text)

    # Followed anyway (an old bookmark): a page saying what to do, not a bare 502.
    lab = client.get(f"/sessions/{session_id}/lab", headers={"Accept": "text/html"})
    assert lab.status_code == 502
    assert lab.headers["content-type"].startswith("text/html")
    assert "JupyterLab is not answering yet" in lab.text
    assert f'href="/projects/{project.id}/sessions/{session_id}"' in lab.text
    assert '<meta http-equiv="refresh"' in lab.text
    assert "<style>" in lab.text


def test_a_session_that_is_not_running_explains_itself_to_a_browser(
    client: TestClient, platform: Platform, make_user: Callable[..., User]
) -> None:
    alice = make_user("alice")
    project = projects.create(
        platform,
        Principal(user=alice, via="session"),
        name="P",
        source=projects.parse_source("", ""),
    )
    session_id = _session_whose_editor_is_silent(platform, alice, project.id)
    with platform.store.transaction() as uow:
        uow.sessions.move(session_id, SessionStatus.RUNNING, SessionStatus.STOPPED)
    login(client, "alice")
    page = client.get(f"/sessions/{session_id}/lab", headers={"Accept": "text/html"})
    assert page.status_code == 409
    assert "This session is not open" in page.text
    assert "stopped, not running" in page.text
    assert 'href="/sessions"' in page.text
    api = client.get(f"/sessions/{session_id}/api/status")
    assert api.status_code == 409
    assert "not running" in api.json()["message"]
