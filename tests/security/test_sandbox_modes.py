"""``LAKEWORKS_SANDBOX``: both of its modes, and what happens when ``bwrap`` (the default) is
asked for on a machine where bubblewrap cannot work."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.conftest import login
from tests.ports import free_port
from tests.security.test_sandbox_isolation import RunJob, result

from lakeworks.cli.main import main
from lakeworks.config import Settings
from lakeworks.entities.jobs import RunStatus
from lakeworks.entities.projects import Project
from lakeworks.entities.users import User
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.uow import Store


@pytest.fixture
def no_bwrap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A machine without bubblewrap: nothing on PATH provides ``bwrap``."""
    bare = tmp_path / "bare-bin"
    bare.mkdir()
    monkeypatch.setenv("PATH", str(bare))


def test_without_bubblewrap_no_workload_starts_and_the_run_says_why(
    no_bwrap: None,
    sec_platform: Platform,
    run_job: RunJob,
    alice: Principal,
    alice_project: Project,
) -> None:
    assert sec_platform.settings.sandbox == "bwrap"  # the default

    run, log = run_job(alice, alice_project, "print('ran unsandboxed')")

    assert run.status is RunStatus.FAILED
    assert "ran unsandboxed" not in log
    assert "bubblewrap cannot be used here (bwrap is not installed)" in run.reason
    assert "LAKEWORKS_SANDBOX=none" in run.reason


@pytest.fixture
def unsandboxed(sec_settings: Settings, store: Store) -> Iterator[Platform]:
    from tests.workload_cleanup import stop_live_workloads

    settings = sec_settings.model_copy(update={"sandbox": "none"})
    platform = Platform(settings, store)
    yield platform
    stop_live_workloads(platform)


def test_with_sandbox_none_workloads_run_as_plain_processes(
    unsandboxed: Platform, alice: Principal
) -> None:
    # The fixtures of conftest run on ``sec_platform``; this mode needs its own platform.
    from lakeworks.scheduler.loop import Scheduler
    from lakeworks.services import job_runs, jobs, projects, workloads
    from lakeworks.services.jobs import JobFields

    project = projects.create(
        unsandboxed, alice, name="Plain", source=projects.parse_source("", "")
    )
    root = unsandboxed.settings.projects_dir / project.id
    (root / "where.py").write_text(
        "import json, os\n"
        'print("RESULT " + json.dumps({"cwd": os.getcwd(), "uid": os.getuid(),'
        ' "sandbox": os.environ["LAKEWORKS_SANDBOX"]}))\n'
    )
    job = jobs.create(unsandboxed, alice, project.id, JobFields(name="w", script="where.py"))
    run = job_runs.trigger(unsandboxed, alice, project.id, job.id)
    scheduler = Scheduler(unsandboxed)
    try:
        for _ in range(600):
            scheduler.tick(wait=True)
            with unsandboxed.read() as uow:
                run = uow.jobs.get_run(run.id) or run
            if run.status.is_final:
                break
    finally:
        scheduler.stop()
    data, _ = workloads.read_log(unsandboxed, workloads.get(unsandboxed, run.workload_id or ""))
    found = result(run, data.decode())

    assert unsandboxed.executor.sandbox == "none"
    assert found == {"cwd": str(root), "uid": os.getuid(), "sandbox": "none"}


def _app(settings: Settings, store: Store) -> FastAPI:
    from lakeworks.app import create_app

    return create_app(settings, store)


@pytest.mark.parametrize("mode", ["none", "bwrap"])
def test_admins_see_a_banner_when_workloads_are_unsandboxed(
    mode: str, settings: Settings, store: Store, make_user: Callable[..., User]
) -> None:
    make_user("boss", is_admin=True)
    make_user("worker")
    app = _app(settings.model_copy(update={"sandbox": mode}), store)
    seen = {}
    for name in ("boss", "worker"):
        with TestClient(app, base_url="http://testserver") as client:
            login(client, name)
            seen[name] = "data-sandbox-banner" in client.get("/projects").text

    assert seen == {"boss": mode == "none", "worker": False}


def _serve_output(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> str:
    import uvicorn

    class Server:  # uvicorn's, as ``lakeworks demo`` runs it, without binding a port
        started = True

        def __init__(self, config: uvicorn.Config) -> None:
            pass

        def run(self, sockets: list[socket.socket]) -> None:
            for each in sockets:
                each.close()

    monkeypatch.setattr(uvicorn, "Server", Server)
    args = ["demo", "--data-dir", str(data_dir), "--port", str(free_port())]
    done = CliRunner().invoke(main, args, env=env)
    assert done.exit_code == 0, done.output
    return done.output


def test_the_server_says_at_start_when_workloads_cannot_start(
    no_bwrap: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    output = _serve_output({}, monkeypatch, tmp_path / "demo")

    assert "ERROR: no workload will start" in output
    assert "bwrap is not installed" in output and "LAKEWORKS_SANDBOX=none" in output


def test_the_server_warns_at_start_when_workloads_are_unsandboxed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    output = _serve_output({"LAKEWORKS_SANDBOX": "none"}, monkeypatch, tmp_path / "demo")

    assert "WARNING: LAKEWORKS_SANDBOX=none: workloads run unsandboxed" in output
    assert "no workload will start" not in output


def test_an_unknown_sandbox_is_refused() -> None:
    with pytest.raises(ValueError, match="sandbox"):
        Settings(sandbox="docker")
    assert Settings().sandbox == "bwrap"


def test_network_settings_are_checked() -> None:
    assert Settings().sandbox_network == "isolated"
    with pytest.raises(ValueError, match="sandbox_network"):
        Settings(sandbox_network="none")
    with pytest.raises(ValueError, match="between 1 and 65535"):
        Settings(sandbox_host_ports="5432,70000")
    settings = Settings(sandbox_host_ports=" 6379, 5432 ", port=8001)
    assert settings.sandbox_host_ports == "6379,5432"
    assert settings.workload_host_ports == (5432, 6379, 8001)
    behind = Settings(port=8001, public_url="http://127.0.0.1:9443")  # e.g. a local TLS proxy
    assert behind.workload_host_ports == (8001, 9443)
    remote = Settings(port=8001, public_url="https://ml.example.org")
    assert remote.workload_host_ports == (8001,)
