"""Fixtures for real applications in the real runtime (import the ones a module needs).

Provides:
- ``app_settings`` / ``app_platform``: settings and platform on the shared runtime cache
  (``tests/scheduler/conftest.py``), a short start timeout, 2 automatic restarts.
- ``app_scheduler``: a Scheduler on it (no thread: ``wait_app`` ticks it).
- ``app_owner`` / ``app_principal``; ``app_project``: a project with the app scripts below.
- ``wait_app(app_id, statuses)``: ticks until the application reaches one of the statuses.
- ``stop_apps``: stops every application of ``app_platform`` at teardown (used by the others).

Scripts: ``web.py`` (tornado: ``/`` echoes headers and engine id as JSON, ``/crash`` exits 1,
``/ws`` echoes websocket messages; binds the port named by ``PORT_VAR``, default
``CDSW_APP_PORT``), ``flask_app.py`` (Flask on ``CDSW_READONLY_PORT``), ``streamlit_app.py``
(launches ``dashboard.py`` with Streamlit on ``CDSW_APP_PORT``), ``exit_now.py`` (exits 2 at
once) and ``never_binds.py`` (sleeps without opening a port).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from tests.scheduler.conftest import RUNTIME_CACHE
from tests.workload_cleanup import stop_live_workloads

from lakeworks.config import Settings
from lakeworks.entities.applications import Application, AppStatus
from lakeworks.entities.projects import Project
from lakeworks.entities.users import User
from lakeworks.scheduler.loop import Scheduler
from lakeworks.services import projects, users
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.uow import Store

APP_SCRIPTS = {
    "web.py": """
import json, os
import tornado.ioloop, tornado.web, tornado.websocket

class Echo(tornado.web.RequestHandler):
    def get(self):
        self.write({
            "path": self.request.path,
            "query": self.request.query,
            "headers": dict(self.request.headers),
            "engine": os.environ["CDSW_ENGINE_ID"],
            "greeting": os.environ.get("GREETING", ""),
        })

class Crash(tornado.web.RequestHandler):
    def get(self):
        os._exit(1)

class Socket(tornado.websocket.WebSocketHandler):
    def check_origin(self, origin):
        return True
    def on_message(self, message):
        self.write_message(message if isinstance(message, bytes) else "echo:" + message,
                           binary=isinstance(message, bytes))

port = int(os.environ[os.environ.get("PORT_VAR", "CDSW_APP_PORT")])
app = tornado.web.Application(
    [(r"/crash", Crash), (r"/ws", Socket), (r"/.*", Echo)],
    websocket_max_message_size=64 * 1024 * 1024,
)
app.listen(port, address="127.0.0.1")
print("serving on", port, flush=True)
tornado.ioloop.IOLoop.current().start()
""",
    "flask_app.py": """
import os
from flask import Flask, request

app = Flask(__name__)

@app.route("/")
def index():
    user = request.headers.get("X-Forwarded-User", "nobody")
    return f"<html><body><h1>Hello from Flask</h1><p id='user'>{user}</p></body></html>"

app.run(host="127.0.0.1", port=int(os.environ["CDSW_READONLY_PORT"]))
""",
    "streamlit_app.py": """
import os, subprocess, sys
subprocess.run([
    sys.executable, "-m", "streamlit", "run", "dashboard.py",
    "--server.port", os.environ["CDSW_APP_PORT"], "--server.address", "127.0.0.1",
    "--server.headless", "true", "--browser.gatherUsageStats", "false",
], check=True)
""",
    "dashboard.py": """
import streamlit as st
st.title("Churn dashboard")
st.write("Rendered through the websocket: 6 x 7 =", 6 * 7)
""",
    "exit_now.py": """
print("missing configuration: DATABASE_URL", flush=True)
raise SystemExit(2)
""",
    "never_binds.py": """
import time
print("thinking forever", flush=True)
time.sleep(3600)
""",
}


@pytest.fixture
def app_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "runtimes_dir": RUNTIME_CACHE,
            "app_start_timeout_seconds": 45.0,
            "app_max_restarts": 2,
            "proxy_max_ws_message_bytes": 1024 * 1024,
            "app_path_routing": True,  # off by default; these tests cover both forms
        }
    )


@pytest.fixture
def app_platform(app_settings: Settings, store: Store) -> Iterator[Platform]:
    app_settings.projects_dir.mkdir(parents=True, exist_ok=True)
    platform = Platform(app_settings, store)
    yield platform
    stop_everything(platform)


def stop_everything(platform: Platform) -> None:
    """Leave no application process behind, whatever the test did."""
    with platform.store.transaction() as uow:
        for app in uow.applications.with_status(AppStatus.STARTING, AppStatus.RUNNING):
            uow.applications.set(app.id, status=AppStatus.STOPPED.value)
    deadline = time.monotonic() + 5
    while any(t.name.startswith("app-") for t in __import__("threading").enumerate()):
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)  # let start threads notice and stop what they launched
    stop_live_workloads(platform)
    platform.proxy_routes.forget()


@pytest.fixture
def app_scheduler(app_platform: Platform) -> Iterator[Scheduler]:
    sched = Scheduler(app_platform)
    yield sched
    sched.stop()


@pytest.fixture
def app_owner(app_platform: Platform) -> User:
    return users.create_user(
        app_platform,
        None,
        username="owner",
        password="correct horse battery",
        email="owner@example.org",
    )


@pytest.fixture
def app_principal(app_owner: User) -> Principal:
    return Principal(user=app_owner, via="api_key")


@pytest.fixture
def app_project(app_platform: Platform, app_principal: Principal) -> Project:
    project = projects.create(
        app_platform,
        app_principal,
        name="Dashboards",
        source=projects.parse_source("", ""),
        environment={"GREETING": "from-project"},
    )
    root = app_platform.settings.projects_dir / project.id
    for name, text in APP_SCRIPTS.items():
        (root / name).write_text(text)
    return project


@pytest.fixture
def wait_app(app_scheduler: Scheduler, app_platform: Platform) -> Callable[..., Application]:
    def wait(app_id: str, statuses: set[AppStatus], timeout: float = 120.0) -> Application:
        deadline = time.monotonic() + timeout
        while True:
            app_scheduler.tick()
            with app_platform.read() as uow:
                app = uow.applications.get(app_id)
            assert app is not None
            if app.status in statuses:
                return app
            if time.monotonic() > deadline:
                raise AssertionError(f"app {app_id} stuck in {app.status}: {app.reason}")
            time.sleep(0.2)

    return wait
