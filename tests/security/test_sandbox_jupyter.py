"""Issue 12, H2: a session's JupyterLab answers only the proxy, which adds the session's token.

The review reached another user's session port on 127.0.0.1 from a job, listed and wrote
files and opened a terminal. Now a request without the token (or with a wrong one) is
refused, from the host and from another project's job alike.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.conftest import login
from tests.scheduler.conftest import RUNTIME_CACHE
from tests.security.test_sandbox_isolation import RunJob, result
from tests.workload_cleanup import stop_live_workloads

from lakeworks.config import Settings
from lakeworks.entities.projects import Project
from lakeworks.entities.sessions import Session, SessionStatus
from lakeworks.services import sessions
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.uow import Store

START_TIMEOUT = 120.0


@pytest.fixture
def lab_app(sec_platform: Platform, settings: Settings, store: Store) -> Iterator[FastAPI]:
    from lakeworks.app import create_app

    app = create_app(settings.model_copy(update={"runtimes_dir": RUNTIME_CACHE}), store)
    yield app
    stop_live_workloads(sec_platform)


@pytest.fixture
def lab(sec_platform: Platform, alice: Principal, alice_project: Project) -> Session:
    root = sec_platform.settings.projects_dir / alice_project.id
    (root / "alice-notes.txt").write_text("private")
    session = sessions.start(sec_platform, alice, alice_project.id, sessions.SessionFields())
    assert session.status is SessionStatus.RUNNING, session.reason
    deadline = time.monotonic() + START_TIMEOUT
    while not sessions.is_ready(sec_platform, alice, session):
        assert time.monotonic() < deadline, "the session never answered"
        time.sleep(0.2)
    return session


def test_jupyter_refuses_requests_without_the_sessions_token(
    lab_app: FastAPI, sec_platform: Platform, alice: Principal, lab: Session
) -> None:
    endpoint = sessions.enter(sec_platform, alice, lab.id)
    base = f"{endpoint.jupyter}/sessions/{lab.id}"

    direct = httpx.get(f"{base}/api/contents", timeout=10)
    wrong = httpx.get(
        f"{base}/api/contents",
        headers={sessions.JUPYTER_TOKEN_HEADER: "0" * 64},
        timeout=10,
    )
    terminal = httpx.post(f"{base}/api/terminals", timeout=10)
    page = httpx.get(f"{base}/lab", timeout=10)
    # The token Jupyter's own scheme would take (query or Authorization) does not open it.
    as_jupyter_token = httpx.get(
        f"{base}/api/contents",
        params={"token": endpoint.jupyter_token},
        headers={"Authorization": f"token {endpoint.jupyter_token}"},
        timeout=10,
    )

    assert direct.status_code == wrong.status_code == 403
    assert terminal.status_code == 403
    assert as_jupyter_token.status_code == 403
    assert page.status_code == 302 and "/login" in page.headers["location"]
    assert "alice-notes" not in direct.text + wrong.text + page.text

    # Through the proxy, its owner gets in.
    with TestClient(lab_app, base_url="http://testserver") as web:
        login(web, "alice")
        listing = web.get(f"/sessions/{lab.id}/api/contents")
        assert listing.status_code == 200
        assert "alice-notes.txt" in {item["name"] for item in listing.json()["content"]}
        assert endpoint.jupyter_token not in listing.text


def test_the_token_differs_per_session_and_start(sec_platform: Platform) -> None:
    one = sessions.jupyter_token(sec_platform, "s1", "w1")
    assert len(one) == 64
    assert one != sessions.jupyter_token(sec_platform, "s1", "w2")
    assert one != sessions.jupyter_token(sec_platform, "s2", "w1")


def test_a_job_of_another_project_cannot_use_the_session(
    lab_app: FastAPI,
    sec_platform: Platform,
    alice: Principal,
    lab: Session,
    run_job: RunJob,
    mallory: Principal,
    mallory_project: Project,
) -> None:
    endpoint = sessions.enter(sec_platform, alice, lab.id)
    url = f"{endpoint.jupyter}/sessions/{lab.id}/api/contents"
    attack = """
import json, sys, urllib.request, urllib.error
try:
    answer = urllib.request.urlopen(sys.argv[1], timeout=5)
    outcome = {"status": answer.status, "body": answer.read().decode()}
except urllib.error.HTTPError as exc:
    outcome = {"status": exc.code, "body": exc.read().decode()}
except OSError as exc:
    outcome = {"status": 0, "body": repr(exc)}  # not even reachable
print("RESULT " + json.dumps(outcome))
"""
    found = result(*run_job(mallory, mallory_project, attack, arguments=url))

    assert found["status"] in (0, 403), found
    assert "alice-notes" not in str(found["body"])
