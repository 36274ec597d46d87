"""Security tests: each reproduces an attack from issue 12's review, which must now fail.

Provides:
- ``live_server`` and ``page`` (headless Chromium), from ``tests/ui/conftest.py``.
- ``console_errors(page)``: starts collecting a Playwright page's console errors and page
  errors (CSP violations show up there) and returns the list it fills.
- ``sec_platform``: a Platform on the shared test runtime (``tests/scheduler/conftest``'s
  cache) with the settings' sandbox (``bwrap``, the default); every workload it started is
  stopped at the end. ``sandboxed``: the same, skipped where bubblewrap cannot work here.
- ``alice`` / ``mallory``: two people, each owning a project (``alice_project``,
  ``mallory_project``); Mallory is no member of Alice's.
- ``run_job(principal, project, code, **fields)``: writes ``code`` as a script into the
  project, runs it as a job and returns ``(run, log)`` once it ended.
- ``start_job(...)``: the same without waiting; ``wait_run(run, statuses)``.
- ``make_executor(**kwargs)``: bare ``LocalExecutor``s (``tests/executors``' fixture).

The ``fuzz`` tests (Schemathesis over the API, minutes long) are skipped in every run that does
not ask for them with ``-m fuzz`` (``.ci/run`` runs them as a step of their own).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Page
from tests.executors.conftest import make_executor  # noqa: F401 (a fixture used here too)
from tests.scheduler.conftest import RUNTIME_CACHE
from tests.ui.conftest import live_server, page
from tests.workload_cleanup import stop_live_workloads

from lakeworks.config import Settings
from lakeworks.entities.jobs import FINAL_RUN_STATUSES, JobRun, RunStatus
from lakeworks.entities.projects import Project
from lakeworks.entities.users import User
from lakeworks.scheduler.loop import Scheduler
from lakeworks.services import job_runs, jobs, projects, workloads
from lakeworks.services.jobs import JobFields
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.uow import Store

__all__ = ["live_server", "page"]

TIMEOUT = 120.0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "fuzz" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="API fuzzing runs on its own: pytest -m fuzz (see .ci/run)")
    for item in items:
        if "fuzz" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def console_errors() -> Callable[[Page], list[str]]:
    def collect(page: Page) -> list[str]:
        errors: list[str] = []

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                errors.append(message.text)

        page.on("console", on_console)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return errors

    return collect


@pytest.fixture
def sec_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"runtimes_dir": RUNTIME_CACHE})


@pytest.fixture
def sec_platform(sec_settings: Settings, store: Store) -> Iterator[Platform]:
    sec_settings.projects_dir.mkdir(parents=True, exist_ok=True)
    platform = Platform(sec_settings, store)
    yield platform
    stop_live_workloads(platform)


@pytest.fixture
def sandboxed(sec_platform: Platform) -> Platform:
    if sec_platform.executor.sandbox != "bwrap":
        pytest.skip(
            f"bubblewrap does not work here: {getattr(sec_platform.executor, 'refusal', '')}"
        )
    return sec_platform


@pytest.fixture
def scheduler(sec_platform: Platform) -> Iterator[Scheduler]:
    sched = Scheduler(sec_platform)
    yield sched
    sched.stop()


def _person(make_user: Callable[..., User], name: str) -> Principal:
    return Principal(user=make_user(name), via="api_key")


@pytest.fixture
def alice(sec_platform: Platform, make_user: Callable[..., User]) -> Principal:
    return _person(make_user, "alice")


@pytest.fixture
def mallory(sec_platform: Platform, make_user: Callable[..., User]) -> Principal:
    return _person(make_user, "mallory")


def _project(platform: Platform, owner: Principal, name: str) -> Project:
    return projects.create(platform, owner, name=name, source=projects.parse_source("", ""))


@pytest.fixture
def alice_project(sec_platform: Platform, alice: Principal) -> Project:
    return _project(sec_platform, alice, "Alice private")


@pytest.fixture
def mallory_project(sec_platform: Platform, mallory: Principal) -> Project:
    return _project(sec_platform, mallory, "Mallory tools")


@pytest.fixture
def start_job(sec_platform: Platform) -> Callable[..., JobRun]:
    def start(principal: Principal, project: Project, code: str, **fields: Any) -> JobRun:
        script = f"attack_{uuid.uuid4().hex[:8]}.py"
        (sec_platform.settings.projects_dir / project.id / script).write_text(code)
        environment = fields.pop("environment", None)
        job = jobs.create(
            sec_platform,
            principal,
            project.id,
            JobFields(name=script, script=script, memory_mb=512, **fields),
        )
        return job_runs.trigger(
            sec_platform, principal, project.id, job.id, environment=environment
        )

    return start


@pytest.fixture
def wait_run(sec_platform: Platform, scheduler: Scheduler) -> Callable[..., JobRun]:
    def wait(run: JobRun, statuses: frozenset[RunStatus] = FINAL_RUN_STATUSES) -> JobRun:
        deadline = time.monotonic() + TIMEOUT
        while True:
            scheduler.tick(wait=True)
            with sec_platform.read() as uow:
                current = uow.jobs.get_run(run.id)
            assert current is not None
            if current.status in statuses:
                return current
            if time.monotonic() > deadline:
                raise AssertionError(f"run stuck in {current.status}: {current.reason}")
            time.sleep(0.1)

    return wait


def log_of(platform: Platform, run: JobRun) -> str:
    if not run.workload_id:
        return ""
    data, _ = workloads.read_log(platform, workloads.get(platform, run.workload_id))
    return data.decode(errors="replace")


@pytest.fixture
def run_job(
    sec_platform: Platform, start_job: Callable[..., JobRun], wait_run: Callable[..., JobRun]
) -> Callable[..., tuple[JobRun, str]]:
    def run(principal: Principal, project: Project, code: str, **fields: Any) -> tuple[JobRun, str]:
        done = wait_run(start_job(principal, project, code, **fields))
        return done, log_of(sec_platform, done)

    return run
