"""What a project's viewer is offered: the Start/Create controls are there, disabled, with the
reason, instead of working-looking buttons that are refused after submitting."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from tests.conftest import login

from lakeworks.entities.applications import AppStatus
from lakeworks.entities.users import User
from lakeworks.services import jobs, projects
from lakeworks.services.ids import public_id
from lakeworks.services.jobs import JobFields
from lakeworks.services.platform import Platform, Principal

REASON = "Your role here is viewer: contributors and above can create jobs, models and"


def _refused(page: str, label: str) -> str:
    """The reason shown beside the disabled control ``label`` ("" if there is none)."""
    found = re.search(
        r'<button type="button" class="btn [^"]*" disabled title="([^"]*)">'
        r"(?:<svg.*?</svg> )?" + re.escape(label) + r"</button>",
        page,
        re.S,
    )
    return found.group(1) if found else ""


def test_viewers_see_disabled_start_and_create_buttons_with_the_reason(
    client: TestClient, platform: Platform, make_user: Callable[..., User]
) -> None:
    alice = make_user("alice")
    make_user("carol")
    owner = Principal(user=alice, via="session")
    project = projects.create(platform, owner, name="P", source=projects.parse_source("", ""))
    projects.set_collaborator(platform, owner, project.id, "carol", "viewer")
    base = f"/projects/{project.id}"

    login(client, "carol")
    for path, label in [
        ("/sessions", "New session"),
        ("/sessions/new", "Start session"),
        ("/jobs", "New job"),
        ("/models", "New model"),
        ("/models/new", "Build and deploy"),
        ("/applications", "New application"),
        ("/applications/new", "Create and start"),
    ]:
        page = client.get(base + path)
        assert page.status_code == 200, path
        assert _refused(page.text, label).startswith(REASON), (path, label)
        assert f"data-refused>{REASON}" in page.text, path
        # Nothing on the page submits it.
        assert not re.search(r'<button type="submit" class="btn btn-primary">', page.text), path

    # A job of the project: its Run button, which needs the operator role.
    (platform.settings.projects_dir / project.id / "a.py").write_text("print(1)\n")
    job = jobs.create(platform, owner, project.id, JobFields(name="Nightly", script="a.py"))
    job_page = client.get(f"{base}/jobs/{job.id}").text
    assert _refused(job_page, "Run").startswith(
        "Your role here is viewer: operators and above can start and stop"
    )

    # A stopped application: Start, on its card and its page, needs the operator role too.
    with platform.store.transaction() as uow:
        app = uow.applications.add(
            id=public_id(),
            project_id=project.id,
            creator_id=alice.id,
            name="Dashboard",
            subdomain="dash",
            script="a.py",
            status=AppStatus.STOPPED.value,
            restarts=[],
        )
    for path in ("/applications", f"/applications/{app.id}"):
        assert _refused(client.get(base + path).text, "Start").startswith(
            "Your role here is viewer: operators and above can start and stop"
        ), path

    # The owner gets the working controls and no reason.
    client.cookies.clear()
    login(client, "alice")
    for path, label in [("/sessions", "New session"), ("/sessions/new", "Start session")]:
        page = client.get(base + path)
        assert _refused(page.text, label) == ""
        assert "data-refused" not in page.text
    assert f'href="/projects/{project.id}/sessions/new"' in client.get(base + "/sessions").text
