"""The AMP catalog page, the Configure form and Launch; site catalogs in CML's format; git
mirrors and unreachable hosts; pip mirror settings. No workload runs here: Launch is checked up
to the setup's first (pending) task."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.conftest import login

from lakeworks.amps import catalog
from lakeworks.config import Settings
from lakeworks.entities.users import User
from lakeworks.services import environment, gitsource, projects
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.uow import Store

SITE_AMP = """\
name: Invoice reader
description: Reads invoices with a vendor service.
author: Lakeworks tests
specification_version: 1.0
prototype_version: 2.0
environment_variables:
  VENDOR_API_TOKEN:
    default: "s3cr3t-default"
    description: Token of the vendor's OCR service.
    required: true
  PAGES:
    default: 5
    description: Pages per invoice.
  SILENT:
    default: quiet
    prompt_user: false
runtimes:
  - editor: Workbench
    kernel: Python 3.7
    edition: Standard
tasks:
  - type: create_job
    name: Read invoices
    entity_label: read
    script: read.py
    cpu: 3
    memory: 6
  - type: run_job
    entity_label: read
"""


def _git_repo(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
        "PATH": "/usr/bin:/bin",
        "HOME": str(root.parent),
    }
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "amp"]):
        subprocess.run(["git", *args], cwd=root, env=env, check=True)
    return root


@pytest.fixture
def site(tmp_path: Path) -> dict[str, Path]:
    """A site catalog: a local AMP, a git AMP (reached through a mirror), a broken entry."""
    local = tmp_path / "catalogs" / "invoice-reader"
    local.mkdir(parents=True)
    (local / ".project-metadata.yaml").write_text(SITE_AMP)
    (local / "read.py").write_text("print('reading')\n")
    (tmp_path / "catalogs" / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    mirror = tmp_path / "mirror"
    _git_repo(
        mirror / "team" / "forecast",
        {".project-metadata.yaml": SITE_AMP.replace("Invoice reader", "Forecast")},
    )
    (tmp_path / "catalogs" / "site.yaml").write_text(
        """\
name: Our prototypes
entries:
  - title: Invoice reader
    label: invoice-reader
    short_description: Reads invoices.
    long_description: Longer text about invoices.
    image_path: logo.png
    tags: [OCR, Finance]
    path: invoice-reader
    is_prototype: true
  - title: Forecast
    label: forecast
    short_description: Forecasts sales.
    tags: [Time series]
    git_url: https://git.example.org/team/forecast
    is_prototype: true
  - label: untitled
    short_description: No title here.
    git_url: https://git.example.org/team/none
"""
    )
    return {"catalogs": tmp_path / "catalogs", "mirror": mirror}


@pytest.fixture
def site_settings(settings: Settings, site: dict[str, Path]) -> Settings:
    return settings.model_copy(
        update={
            "amp_catalogs": [str(site["catalogs"]), str(site["catalogs"] / "missing.yaml")],
            "git_mirrors": {"https://git.example.org/": f"{site['mirror']}/"},
        }
    )


@pytest.fixture
def site_app(site_settings: Settings, store: Store) -> FastAPI:
    from lakeworks.app import create_app

    return create_app(site_settings, store)


@pytest.fixture
def site_client(site_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(site_app) as client:
        yield client


@pytest.fixture
def site_platform(site_app: FastAPI) -> Platform:
    platform: Platform = site_app.state.platform
    return platform


@pytest.fixture
def user(site_platform: Platform) -> User:
    from lakeworks.services import users

    return users.create_user(
        site_platform,
        None,
        username="ana",
        password="correct horse battery",
        email="ana@example.org",
    )


def _signed_in(client: TestClient, user: User) -> str:
    return login(client, user.username, "correct horse battery")


def test_the_catalog_lists_the_builtin_amp_with_its_needs_and_searches(
    client: TestClient, make_user: Callable[..., User]
) -> None:
    make_user("bo")
    login(client, "bo")
    page = client.get("/amps")
    assert page.status_code == 200
    assert 'href="/amps" class="nav-item active"' in page.text
    card = page.text.split('data-amp="customer-churn"', 1)[1].split("</article>", 1)[0]
    assert "Customer churn" in card
    assert "Workbench · Python 3.11 · Standard" in card
    assert "2.0 vCPU · 4.0 GiB per task, 14 tasks" in card
    assert "MLOps" in card and "/amps/configure?entry=customer-churn" in card
    assert 'data-amp="customer-churn"' in client.get("/amps", params={"q": "mlops churn"}).text
    nothing = client.get("/amps", params={"q": "no such prototype"})
    assert "data-amp=" not in nothing.text and "No AMP matches" in nothing.text


def test_the_builtin_configure_form_shows_its_variables_and_runtime(
    client: TestClient, make_user: Callable[..., User]
) -> None:
    make_user("bo")
    login(client, "bo")
    page = client.get("/amps/configure", params={"entry": "customer-churn"})
    assert page.status_code == 200, page.text
    assert 'name="env.HIVE_TABLE" value="churn_customers"' in page.text
    assert 'name="env.SIMULATION_CALLS" value="240"' in page.text
    # Filled in by a task, so not asked (prompt_user: false).
    assert "env.CHURN_MODEL_ACCESS_KEY" not in page.text
    assert page.text.count('title="required"') >= 3
    assert "Workbench · Python 3.11 · Standard" in page.text
    assert "Launch project" in page.text


def test_site_catalogs_add_entries_and_report_bad_ones_to_admins(
    site_client: TestClient, site_platform: Platform, user: User
) -> None:
    _signed_in(site_client, user)
    page = site_client.get("/amps")
    ids = re.findall(r'data-amp="([^"]+)"', page.text)
    assert ids == ["customer-churn", "fraud-mlops", "invoice-reader", "forecast"]
    invoice = page.text.split('data-amp="invoice-reader"', 1)[1].split("</article>", 1)[0]
    assert "Our prototypes" in invoice and "OCR" in invoice and "3.0 vCPU · 6.0 GiB" in invoice
    assert 'src="/amps/invoice-reader/image"' in invoice
    image = site_client.get("/amps/invoice-reader/image")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert "https://git.example.org/team/forecast" in page.text
    assert "data-catalog-problem" not in page.text  # problems are for admins
    assert 'data-amp="forecast"' in site_client.get("/amps", params={"q": "time series"}).text

    loaded = catalog.load(site_platform.settings)
    assert any("entries[2]: title is missing" in p for p in loaded.problems)
    assert any("missing.yaml does not exist" in p for p in loaded.problems)


def test_configure_masks_secrets_marks_required_and_warns_about_the_runtime(
    site_client: TestClient, user: User
) -> None:
    _signed_in(site_client, user)
    page = site_client.get("/amps/configure", params={"entry": "invoice-reader"})
    assert page.status_code == 200
    token_field = page.text.split('data-variable="VENDOR_API_TOKEN"', 1)[1].split("</label>")[0]
    assert 'type="password"' in token_field and 'title="required"' in token_field
    assert "Token of the vendor&#39;s OCR service." in token_field
    pages_field = page.text.split('data-variable="PAGES"', 1)[1].split("</label>")[0]
    assert 'value="5"' in pages_field and 'type="password"' not in pages_field
    assert 'title="required"' not in pages_field
    assert "env.SILENT" not in page.text
    # Python 3.7 is not offered here: the closest runtime, with a warning.
    assert "Python 3.7" in page.text
    assert "data-runtime-warning" in page.text


def test_launch_creates_the_project_and_starts_the_setup(
    site_client: TestClient, site_platform: Platform, user: User
) -> None:
    csrf = _signed_in(site_client, user)
    launched = site_client.post(
        "/amps/launch",
        data={
            "csrf_token": csrf,
            "entry": "invoice-reader",
            "name": "Invoices",
            "visibility": "private",
            "env.VENDOR_API_TOKEN": "tok-123",
            "env.PAGES": "9",
            "env.NOT_DECLARED": "dropped",
        },
        follow_redirects=False,
    )
    assert launched.status_code == 303, launched.text
    project_id = launched.headers["location"].split("/")[2]
    assert launched.headers["location"] == f"/projects/{project_id}/amp"
    who = Principal(user=user, via="ui")
    env = {v.name: v.value for v in projects.get_env(site_platform, who, project_id)}
    assert env == {"VENDOR_API_TOKEN": "tok-123", "PAGES": "9", "SILENT": "quiet"}
    root = site_platform.settings.projects_dir / project_id
    assert (root / "read.py").read_text() == "print('reading')\n"
    progress = site_client.get(f"/projects/{project_id}/amp")
    assert progress.status_code == 200
    assert "Read invoices" in progress.text and "pending" in progress.text
    assert "Python 3.7" in progress.text  # the runtime warning stays on the setup
    with site_platform.read() as uow:
        events, _ = uow.audit.query(project_id=project_id)
    assert {"project.create", "amp.start"} <= {e.action for e in events}


def test_launch_refuses_an_empty_required_variable_and_makes_no_project(
    site_client: TestClient, site_platform: Platform, user: User
) -> None:
    csrf = _signed_in(site_client, user)
    refused = site_client.post(
        "/amps/launch",
        data={
            "csrf_token": csrf,
            "entry": "invoice-reader",
            "name": "Invoices",
            "env.VENDOR_API_TOKEN": "  ",
        },
        follow_redirects=False,
    )
    assert refused.status_code == 400
    assert "The AMP needs a value for VENDOR_API_TOKEN" in refused.text
    assert 'name="name" value="Invoices"' in refused.text  # the form keeps what was typed
    who = Principal(user=user, via="ui")
    assert projects.list_projects(site_platform, who)[0] == []


def test_a_git_amp_comes_through_the_site_mirror(
    site_client: TestClient, site_platform: Platform, user: User
) -> None:
    csrf = _signed_in(site_client, user)
    page = site_client.get("/amps/configure", params={"entry": "forecast"})
    assert page.status_code == 200, page.text
    assert "Configure project: Forecast" in page.text
    launched = site_client.post(
        "/amps/launch",
        data={"csrf_token": csrf, "entry": "forecast", "name": "Sales forecast"},
        follow_redirects=False,
    )
    assert launched.status_code == 303, launched.text
    project_id = launched.headers["location"].split("/")[2]
    assert (site_platform.settings.projects_dir / project_id / ".project-metadata.yaml").exists()


def test_new_project_amps_tab_goes_to_configure_and_unreachable_urls_fail_fast(
    site_client: TestClient, user: User
) -> None:
    csrf = _signed_in(site_client, user)
    form = site_client.get("/projects/new")
    assert 'id="source-amp"' in form.text and 'name="amp_git_url"' in form.text
    made = site_client.post(
        "/projects/new",
        data={
            "csrf_token": csrf,
            "name": "From git",
            "source": "amp",
            "amp_git_url": "https://git.example.org/team/forecast",
        },
        follow_redirects=False,
    )
    assert made.status_code == 303
    assert made.headers["location"].startswith("/amps/configure?git_url=https")
    configure = site_client.get(made.headers["location"])
    assert 'name="name" value="From git"' in configure.text
    assert "Configure project: Forecast" in configure.text

    began = time.monotonic()
    far = site_client.get(
        "/amps/configure", params={"git_url": "https://amps.example.invalid/x.git"}
    )
    assert time.monotonic() - began < 30
    assert "cannot reach amps.example.invalid" in far.text
    assert "LAKEWORKS_GIT_MIRRORS" in far.text
    assert 'id="source-amp" checked' in far.text.replace('value="amp" id', "id")
    missing = site_client.post(
        "/projects/new",
        data={"csrf_token": csrf, "name": "x", "source": "amp", "amp_git_url": " "},
    )
    assert missing.status_code == 400 and "git URL of the AMP" in missing.text


def test_mirrors_map_the_longest_prefix() -> None:
    mirrors = {"https://github.com/": "/srv/gh/", "https://github.com/acme/": "/srv/acme/"}
    assert gitsource.mirrored("https://github.com/acme/amp.git", mirrors) == "/srv/acme/amp.git"
    assert gitsource.mirrored("https://github.com/other/x", mirrors) == "/srv/gh/other/x"
    assert gitsource.mirrored("https://gitlab.com/x", mirrors) == "https://gitlab.com/x"


def test_a_host_that_refuses_fails_at_once_naming_host_and_setting(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    began = time.monotonic()
    with pytest.raises(gitsource.CloneFailed) as failed:
        gitsource.clone(f"http://127.0.0.1:{port}/amp.git", tmp_path / "x", connect_timeout=5)
    assert time.monotonic() - began < 10
    assert f"cannot reach 127.0.0.1 (port {port}" in str(failed.value)
    assert "LAKEWORKS_GIT_MIRRORS" in str(failed.value)


def test_pip_settings_reach_workloads_as_pip_variables(settings: Settings, tmp_path: Path) -> None:
    assert environment.pip_env(settings) == {"PIP_TIMEOUT": "10", "PIP_RETRIES": "1"}
    wheelhouse = tmp_path / "wheels"
    wheelhouse.mkdir()
    alone = settings.model_copy(update={"pip_find_links": wheelhouse})
    assert environment.pip_env(alone) | {} == {
        "PIP_TIMEOUT": "10",
        "PIP_RETRIES": "1",
        "PIP_FIND_LINKS": str(wheelhouse),
        "PIP_NO_INDEX": "1",
    }
    mirror = settings.model_copy(
        update={
            "pip_find_links": wheelhouse,
            "pip_index_url": "http://pypi.internal/simple",
            "pip_trusted_host": "pypi.internal",
        }
    )
    env = environment.pip_env(mirror)
    assert env["PIP_INDEX_URL"] == "http://pypi.internal/simple"
    assert env["PIP_TRUSTED_HOST"] == "pypi.internal" and "PIP_NO_INDEX" not in env
    from_env = Settings(_env_file=None, data_dir=tmp_path, git_mirrors={"a/": "b/"})  # type: ignore[call-arg]
    assert from_env.git_mirrors == {"a/": "b/"}


def test_the_pip_mirror_reaches_workloads_below_the_project_layer(
    settings: Settings, store: Store, tmp_path: Path
) -> None:
    from lakeworks.entities.workloads import Resources, WorkloadKind
    from lakeworks.services import users
    from lakeworks.services.environment import PreparedRuntime, compose
    from lakeworks.services.workloads import LaunchContext

    mirrored = settings.model_copy(update={"pip_index_url": "http://pypi.internal/simple"})
    platform = Platform(mirrored, store)
    alice = users.create_user(
        platform, None, username="alice", password="correct horse battery", email="a@x.org"
    )
    project = projects.create(
        platform, Principal(user=alice, via="cli"), name="P", source=projects.parse_source("", "")
    )
    runtime = PreparedRuntime(
        directory=tmp_path / "runtime", python="python3", base_env={}, site_dir=tmp_path
    )

    def env_with(layers: list[dict[str, object]]) -> dict[str, str]:
        return compose(
            platform,
            runtime,
            LaunchContext(engine_id="e" * 16, project_home="/home/cdsw", v1_key="a", v2_key="b"),
            project=project,
            user=alice,
            kind=WorkloadKind.JOB_RUN,
            resources=Resources(),
            layers=layers,
        )

    assert env_with([])["PIP_INDEX_URL"] == "http://pypi.internal/simple"
    assert env_with([])["PIP_TIMEOUT"] == "10"
    own = env_with([{"PIP_INDEX_URL": "http://own/simple"}])
    assert own["PIP_INDEX_URL"] == "http://own/simple"


def test_the_fraud_pipeline_amp_ships_valid_and_chains_its_jobs_after_the_first_deploy(
    settings: Settings,
) -> None:
    entry = catalog.load(settings).get("fraud-mlops")
    assert entry.builtin and entry.directory is not None and not entry.problem
    assert entry.spec is not None
    tasks = [(t.type, t.fields.get("entity_label", "")) for t in entry.spec.tasks]
    # The first batch and training run before the chain exists, so the setup's own runs
    # never start a redeployment of a model that is not deployed yet.
    assert tasks.index(("deploy_model", "fraud_model")) < tasks.index(("run_session", ""), 1)
    chain = (entry.directory / "code/7_chain_jobs.py").read_text()
    assert "parent_id=" in chain
    requirements = (entry.directory / "requirements.txt").read_text().split()
    assert "xgboost-cpu>=2.1" in requirements
    assert (entry.directory / "code/3_model.py").read_text().count('"input_data"') == 1
