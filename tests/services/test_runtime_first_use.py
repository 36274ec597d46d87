"""Workloads created before their runtime is built (a new install): each waits in a visible
"preparing runtime" phase, its start deadline counts from its engine's start, and a failed
build is reported as such. The runtime's build is replaced by a slow one (it sleeps, then hands
over the real runtime the tests share), so the tests take seconds, not minutes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.proxy import fixtures
from tests.runtimes.shared import build_test_runtime
from tests.scheduler.conftest import RUNTIME_CACHE
from tests.workload_cleanup import stop_live_workloads

from lakeworks.config import Settings
from lakeworks.entities.applications import AppStatus
from lakeworks.entities.jobs import RunStatus
from lakeworks.entities.models import BuildStatus, DeploymentStatus
from lakeworks.entities.sessions import SessionStatus
from lakeworks.runtimes.builder import RuntimeBuildError
from lakeworks.runtimes.catalog import Interpreter
from lakeworks.runtimes.manager import RuntimeManager
from lakeworks.scheduler.loop import Scheduler
from lakeworks.services import (
    applications,
    job_runs,
    jobs,
    model_builds,
    model_deployments,
    models,
    sessions,
)
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.uow import Store

app_owner = fixtures.app_owner
app_principal = fixtures.app_principal
app_project = fixtures.app_project

BUILD_SECONDS = 4.0
# Apps' start timeout, and a build longer than it plus the reconciler's 5 s grace: a deadline
# counted from the request (not from the engine's start) fails the app.
START_TIMEOUT = 4.0
SLOW_BUILD_SECONDS = START_TIMEOUT + 8.0
BUILD_FAILURE = (
    "Installing the runtime's packages failed (exit 2):\n"
    "error: Failed to fetch: `https://pypi.org/simple/pandas/`\n"
    "Caused by: dns error: failed to lookup address information"
)


class FakeBuilds:
    """A runtime build that takes ``seconds`` and then yields the shared test runtime,
    or fails with ``BUILD_FAILURE``; counts the builds it was asked for."""

    def __init__(self, *, fail: bool = False, seconds: float = BUILD_SECONDS) -> None:
        self.fail = fail
        self.seconds = seconds
        self.calls: list[str] = []

    def __call__(self, interpreter: Interpreter, runtimes_dir: Path, output: Any) -> Path:
        self.calls.append(interpreter.python)
        time.sleep(self.seconds)
        if self.fail:
            raise RuntimeBuildError(BUILD_FAILURE)
        return build_test_runtime()


@pytest.fixture
def app_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "runtimes_dir": RUNTIME_CACHE,
            "app_start_timeout_seconds": START_TIMEOUT,
            "app_max_restarts": 0,
        }
    )


@pytest.fixture
def app_platform(app_settings: Settings, store: Store, tmp_path: Path) -> Iterator[Platform]:
    build_test_runtime()  # built before the clock of any test starts
    app_settings.projects_dir.mkdir(parents=True, exist_ok=True)
    platform = Platform(app_settings, store)
    yield platform
    fixtures.stop_everything(platform)
    stop_live_workloads(platform)


def fresh_install(platform: Platform, tmp_path: Path, builds: FakeBuilds) -> None:
    """No runtime is built yet: an empty runtimes directory, builds done by ``builds``."""
    platform.use_runtimes(RuntimeManager(tmp_path / "no-runtimes-yet", build=builds))


@pytest.fixture
def scheduler(app_platform: Platform) -> Iterator[Scheduler]:
    sched = Scheduler(app_platform)
    yield sched
    sched.stop()


def until(
    scheduler: Scheduler, check: Callable[[], Any], timeout: float = 90.0, what: str = ""
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        scheduler.tick()
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def app_of(platform: Platform, app_id: str) -> Any:
    with platform.read() as uow:
        return uow.applications.get(app_id)


def test_an_application_created_first_thing_waits_for_the_build_then_runs(
    app_platform: Platform,
    app_principal: Principal,
    app_project: Any,
    scheduler: Scheduler,
    tmp_path: Path,
) -> None:
    builds = FakeBuilds(seconds=SLOW_BUILD_SECONDS)
    fresh_install(app_platform, tmp_path, builds)
    python = app_platform.runtimes.default_python()
    app = applications.create(
        app_platform,
        app_principal,
        app_project.id,
        applications.AppFields(name="Web", subdomain="first-web", script="web.py"),
    )
    preparing = until(
        scheduler,
        lambda: (a := app_of(app_platform, app.id)).reason and a,
        what="the preparing message",
    )
    assert preparing.status is AppStatus.STARTING
    assert preparing.reason == f"Preparing runtime Python {python} (first use, about 2 minutes)"
    assert app_platform.runtimes.state(python).state == "building"

    running = until(
        scheduler,
        lambda: (a := app_of(app_platform, app.id)).status is not AppStatus.STARTING and a,
        what="the app to start",
    )
    assert running.status is AppStatus.RUNNING, running.reason
    assert running.reason == ""
    assert builds.calls == [python]  # one build, however many ticks looked at it


def test_a_session_form_returns_at_once_and_the_session_starts_after_the_build(
    app_platform: Platform, app_principal: Principal, app_project: Any, tmp_path: Path
) -> None:
    fresh_install(app_platform, tmp_path, FakeBuilds())
    began = time.monotonic()
    session = sessions.start(
        app_platform,
        app_principal,
        app_project.id,
        sessions.SessionFields(name="first", editor="workbench"),
    )
    assert time.monotonic() - began < BUILD_SECONDS / 2  # the form does not wait for a build
    assert session.status is SessionStatus.STARTING
    assert session.reason.startswith("Preparing runtime Python")
    deadline = time.monotonic() + 90
    while session.status is SessionStatus.STARTING and time.monotonic() < deadline:
        time.sleep(0.2)
        session = sessions.get(app_platform, app_principal, app_project.id, session.id)
    assert session.status is SessionStatus.RUNNING, session.reason
    assert session.workload_id and session.reason == ""
    sessions.stop(app_platform, app_principal, app_project.id, session.id)


def test_a_job_run_waits_for_the_build_and_is_not_taken_for_an_orphan(
    app_platform: Platform,
    app_principal: Principal,
    app_project: Any,
    scheduler: Scheduler,
    tmp_path: Path,
) -> None:
    fresh_install(app_platform, tmp_path, FakeBuilds())
    root = app_platform.settings.projects_dir / app_project.id
    (root / "hello.py").write_text("import sys\nprint('hello on', sys.version.split()[0])\n")
    job = jobs.create(
        app_platform, app_principal, app_project.id, jobs.JobFields(name="Hello", script="hello.py")
    )
    run = job_runs.trigger(app_platform, app_principal, app_project.id, job.id)

    def get_run() -> Any:
        with app_platform.read() as uow:
            return uow.jobs.get_run(run.id)

    waiting = until(
        scheduler, lambda: (r := get_run()).reason.startswith("Preparing") and r, what="prep"
    )
    assert waiting.status is RunStatus.STARTING
    # Long past the orphan grace period: still not failed, its start is in progress here.
    with app_platform.store.transaction() as uow:
        uow.jobs.set_run(run.id, starting_at=waiting.starting_at - timedelta(minutes=30))
    job_runs.reconcile_orphans(app_platform)
    assert get_run().status is RunStatus.STARTING
    done = until(scheduler, lambda: (r := get_run()).status.is_final and r, what="the run")
    assert done.status is RunStatus.SUCCEEDED, done.reason


def test_a_failed_build_fails_its_workloads_with_the_build_reason(
    app_platform: Platform,
    app_principal: Principal,
    app_project: Any,
    scheduler: Scheduler,
    tmp_path: Path,
) -> None:
    builds = FakeBuilds(fail=True)
    fresh_install(app_platform, tmp_path, builds)
    python = app_platform.runtimes.default_python()
    app = applications.create(
        app_platform,
        app_principal,
        app_project.id,
        applications.AppFields(name="Web", subdomain="doomed", script="web.py"),
    )
    failed = until(
        scheduler,
        lambda: (a := app_of(app_platform, app.id)).status is not AppStatus.STARTING and a,
        what="the app to fail",
    )
    assert failed.status is AppStatus.FAILED
    assert failed.reason.startswith("runtime build failed: ")
    assert "Failed to fetch" in failed.reason and "server stopped" not in failed.reason
    state = app_platform.runtimes.state(python)
    assert state.state == "failed" and "dns error" in state.reason
    # A later request tries again rather than repeating an old failure forever.
    applications.restart(app_platform, app_principal, app_project.id, app.id)
    until(scheduler, lambda: len(builds.calls) == 2, what="a second build")


def test_a_model_build_and_deployment_wait_for_their_runtime(
    app_platform: Platform,
    app_principal: Principal,
    app_project: Any,
    scheduler: Scheduler,
    tmp_path: Path,
) -> None:
    root = app_platform.settings.projects_dir / app_project.id
    (root / "predict.py").write_text("def predict(args):\n    return {'doubled': args['x'] * 2}\n")
    fresh_install(app_platform, tmp_path, FakeBuilds())
    principal, project = app_principal, app_project
    model = models.create(app_platform, principal, project.id, models.ModelFields(name="double"))
    build = model_builds.create(
        app_platform,
        principal,
        project.id,
        model.id,
        model_builds.BuildFields(file_path="predict.py", function_name="predict"),
    )

    def get_build() -> Any:
        return model_builds.get(app_platform, principal, project.id, model.id, build.id)

    until(scheduler, lambda: get_build().reason.startswith("Preparing runtime"), what="prep")
    built = until(scheduler, lambda: (b := get_build()).status.is_final and b, what="the build")
    assert built.status is BuildStatus.BUILT, built.reason
    assert built.reason == ""

    # The runtime goes away (a new release, an admin removed it): the deployment waits again.
    builds = FakeBuilds()
    fresh_install(app_platform, tmp_path / "again", builds)
    deployment = model_deployments.create(
        app_platform,
        principal,
        project.id,
        model.id,
        build.id,
        model_deployments.DeploymentFields(),
    )

    def get_deployment() -> Any:
        return model_deployments.get(app_platform, principal, project.id, model.id, deployment.id)

    settled = until(
        scheduler,
        lambda: (d := get_deployment()).status
        in (DeploymentStatus.DEPLOYED, DeploymentStatus.FAILED)
        and d,
        what="the deployment",
    )
    assert settled.status is DeploymentStatus.DEPLOYED
    assert len(builds.calls) == 1
