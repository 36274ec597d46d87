"""Experiments (legacy) pages without a browser: the Run Experiment form keeps what was typed
and says what is wrong; the tab is there for every member; a viewer's launch is refused."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from tests.conftest import login

from lakeworks.entities.users import User
from lakeworks.services import projects
from lakeworks.services.platform import Platform, Principal


def test_the_form_says_what_is_wrong_and_viewers_cannot_launch(
    client: TestClient, platform: Platform, make_user: Callable[..., User]
) -> None:
    alice = make_user("alice")
    make_user("vera")
    principal = Principal(user=alice, via="cli")
    project = projects.create(
        platform, principal, name="Legacy", source=projects.parse_source("blank", "")
    )
    projects.set_collaborator(platform, principal, project.id, "vera", "viewer")
    (platform.settings.projects_dir / project.id / "train.py").write_text("print(1)\n")
    url = f"/projects/{project.id}/legacy_experiments"

    token = login(client, "alice")
    page = client.get(f"/projects/{project.id}")
    assert f'href="{url}"' in page.text and "Experiments (legacy)" in page.text
    listed = client.get(url)
    assert listed.status_code == 200 and "No experiment runs yet" in listed.text
    assert '<option value="train.py">' in listed.text  # the script picker

    for form, message in (
        ({"script": "missing.py", "arguments": "--keep me"}, "does not exist in the project"),
        ({"script": "train.py", "cpu": "abc"}, "must be numbers"),
        ({"script": "train.py", "memory_gib": "100000"}, "memory"),
        ({"script": "../x.py"}, "leaves the project"),
    ):
        answer = client.post(url, data={"csrf_token": token, **form})
        assert answer.status_code == 400, (form, answer.status_code)
        assert message in answer.text, (form, answer.text[-2000:])
    assert (
        'value="--keep me"'
        in client.post(
            url, data={"csrf_token": token, "script": "missing.py", "arguments": "--keep me"}
        ).text
    )

    made = client.post(
        url,
        data={"csrf_token": token, "script": "train.py", "arguments": "1 2", "comment": "c1"},
        follow_redirects=False,
    )
    assert made.status_code == 303
    run_url = made.headers["location"]
    assert re.fullmatch(rf"{url}/[a-z0-9-]+", run_url)
    run_page = client.get(run_url)
    assert run_page.status_code == 200 and "scheduled" in run_page.text and "c1" in run_page.text

    client.cookies.clear()
    token = login(client, "vera")
    seen = client.get(url)
    assert seen.status_code == 200 and run_url.rsplit("/", 1)[-1] in seen.text
    assert 'aria-label="Run Experiment"' not in seen.text  # no form, a refused button
    refused = client.post(url, data={"csrf_token": token, "script": "train.py"})
    assert refused.status_code == 403
    stop = client.post(f"{run_url}/stop", data={"csrf_token": token}, follow_redirects=False)
    assert stop.status_code == 403
