"""Session pages without starting workloads: the list, the form, and bad input on it."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from tests.conftest import login

from lakeworks.entities.users import User
from lakeworks.services import projects
from lakeworks.services.platform import Platform, Principal


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
