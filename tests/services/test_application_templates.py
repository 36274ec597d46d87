"""A real Flask application laid out as CML projects are (issue 14 #7): the app script in a
sub-folder, ``templates/`` at the project root, ``Flask(__name__)``. CML's runner leaves
``__file__`` undefined, so Flask looks for templates in the working directory (/home/cdsw)."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable

from tests.proxy import fixtures

from lakeworks.entities.applications import Application, AppStatus
from lakeworks.entities.projects import Project
from lakeworks.services import applications
from lakeworks.services.applications import AppFields
from lakeworks.services.platform import Platform, Principal

app_owner = fixtures.app_owner
app_platform = fixtures.app_platform
app_principal = fixtures.app_principal
app_project = fixtures.app_project
app_scheduler = fixtures.app_scheduler
app_settings = fixtures.app_settings
wait_app = fixtures.wait_app

SERVER = """
import os
from flask import Flask, render_template

app = Flask(__name__)

@app.route("/")
def index():
    return render_template("index.html", who=os.environ["WHO"])

app.run(host="127.0.0.1", port=int(os.environ["CDSW_APP_PORT"]))
"""


def test_a_flask_app_in_a_folder_renders_templates_from_the_project_root(
    app_platform: Platform,
    app_principal: Principal,
    app_project: Project,
    wait_app: Callable[..., Application],
) -> None:
    root = app_platform.settings.projects_dir / app_project.id
    (root / "app").mkdir()
    (root / "app" / "server.py").write_text(SERVER)
    (root / "templates").mkdir()
    (root / "templates" / "index.html").write_text("<h1>Hello {{ who }}</h1>\n")
    app = applications.create(
        app_platform,
        app_principal,
        app_project.id,
        AppFields(
            name="Templated",
            subdomain="templated",
            script="app/server.py",
            environment={"WHO": "from the template"},
        ),
    )
    running = wait_app(app.id, {AppStatus.RUNNING, AppStatus.FAILED})
    assert running.status is AppStatus.RUNNING, running.reason
    with urllib.request.urlopen(f"http://{running.target}/", timeout=10) as response:
        assert response.status == 200
        assert response.read().decode() == "<h1>Hello from the template</h1>"
