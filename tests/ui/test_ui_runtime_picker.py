"""The runtime picker: every form that starts a workload (job, application, model build,
session) offers the same choices — the default first, then each Python of the catalog with its
edition and version, and says which a first use still builds — and keeps what was chosen."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.ui.test_ui_jobs import create, only_job

from conftest import login
from lakeworks.config import Settings
from lakeworks.entities.projects import Project
from lakeworks.entities.users import User
from lakeworks.runtimes.catalog import Catalog, Interpreter
from lakeworks.runtimes.manager import RuntimeManager
from lakeworks.services import projects
from lakeworks.services.platform import Platform, Principal

PYTHONS = [
    Interpreter(__import__("pathlib").Path(f"/opt/python3.{minor}/bin/python3"), (3, minor, 1))
    for minor in (9, 11, 14)
]


@pytest.fixture
def alice(make_user: Callable[..., User]) -> User:
    return make_user("alice")


@pytest.fixture
def project(platform: Platform, settings: Settings, alice: User) -> Project:
    created = projects.create(
        platform,
        Principal(user=alice, via="cli"),
        name="Pick",
        source=projects.parse_source("blank", ""),
    )
    (settings.projects_dir / created.id / "train.py").write_text("print('train')\n")
    return created


@pytest.fixture
def catalog(app: FastAPI, settings: Settings) -> Catalog:
    """A host with Python 3.9, 3.11 and 3.14 (3.14: newer than the lock, so unavailable)."""
    chosen = Catalog(PYTHONS, default_python="3.11")
    app.state.platform.use_runtimes(RuntimeManager(settings.data_dir / "runtimes", catalog=chosen))
    return chosen


def options(html: str, name: str) -> list[tuple[str, str, bool, bool]]:
    select = re.search(rf'<select name="{name}" data-runtime-select>(.*?)</select>', html, re.S)
    assert select, f"no runtime picker named {name}"
    return [
        (m["value"], m["label"].strip(), bool(m["selected"]), bool(m["disabled"]))
        for m in re.finditer(
            r'<option value="(?P<value>[^"]*)"(?P<selected> selected)?(?P<disabled> disabled)?>'
            r"(?P<label>[^<]*)</option>",
            select.group(1),
        )
    ]


def test_every_workload_form_offers_the_same_runtime_choices(
    client: TestClient, project: Project, alice: User, catalog: Catalog
) -> None:
    login(client, "alice")
    forms = {
        f"/projects/{project.id}/jobs/new": "runtime_identifier",
        f"/projects/{project.id}/applications/new": "runtime_identifier",
        f"/projects/{project.id}/sessions/new": "runtime",
        f"/projects/{project.id}/models/new": "runtime_identifier",
    }
    seen = []
    for url, name in forms.items():
        page = client.get(url)
        assert page.status_code == 200, (url, page.text[:300])
        seen.append(options(page.text, name))
    assert seen[0] == seen[1] == seen[2] == seen[3]
    choices = seen[0]
    assert choices[0][0] == "" and choices[0][1].startswith("Default — Python 3.11")
    assert choices[0][2]  # nothing chosen yet: the default
    # Every Python in every edition: "Python 3.9 · Standard · <release>".
    by_label = {
        tuple(label.split(" · ")[:2]): (value, disabled)
        for value, label, _, disabled in choices[1:]
    }
    assert set(by_label) == {
        (python, edition)
        for python in ("Python 3.9", "Python 3.11", "Python 3.14")
        for edition in ("Standard", "Lean")
    }
    assert "python3.9-standard:" in by_label["Python 3.9", "Standard"][0]
    assert "python3.9-lean:" in by_label["Python 3.9", "Lean"][0]
    assert by_label["Python 3.14", "Lean"][1] is True  # listed, not selectable, with the reason
    assert all("first use builds it" in label for _, label, _, disabled in choices if not disabled)


def test_a_chosen_runtime_is_stored_and_shown_again(
    client: TestClient, platform: Platform, project: Project, alice: User, catalog: Catalog
) -> None:
    token = login(client, "alice")
    wanted = next(
        r.image_identifier
        for r in catalog.runtimes
        if r.python_version == "3.9" and r.edition == "Lean"
    )
    job_id = create(client, project, token, runtime_identifier=wanted)
    assert only_job(platform, alice, project, job_id).runtime_identifier == wanted
    page = client.get(f"/projects/{project.id}/jobs/{job_id}/edit").text
    selected = [value for value, _, chosen, _ in options(page, "runtime_identifier") if chosen]
    assert selected == [wanted]
    # A Cloudera identifier given through the API stays as given when the form is saved again.
    cloudera = (
        "docker.repository.cloudera.com/cloudera/cdsw/"
        "ml-runtime-workbench-python3.9-standard:2023.08.2-b8"
    )
    other = create(client, project, token, name="Other", runtime_identifier=cloudera)
    page = client.get(f"/projects/{project.id}/jobs/{other}/edit").text
    assert [v for v, _, chosen, _ in options(page, "runtime_identifier") if chosen] == [cloudera]
