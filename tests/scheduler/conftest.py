"""Fixtures for running real jobs: a shared runtime cache, a scheduler, a project with scripts.

Provides:
- ``runtimes_dir``: where runtimes are built once per machine and reused across test runs
  (``LAKEWORKS_TEST_RUNTIME_CACHE``, default ``~/.cache/lakeworks-test-runtimes``).
- ``job_settings`` / ``job_platform``: settings and platform using that cache.
- ``scheduler``: a Scheduler on ``job_platform`` (no thread: tests call ``tick``).
- ``owner`` / ``owner_principal`` and ``project``: a user and a project with scripts.
- ``wait_for(run_id, statuses)``: ticks until the run reaches one of the statuses.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.workload_cleanup import stop_live_workloads

from lakeworks.config import Settings
from lakeworks.entities.jobs import JobRun, RunStatus
from lakeworks.entities.projects import Project
from lakeworks.entities.users import User
from lakeworks.scheduler.loop import Scheduler
from lakeworks.services import projects, users
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.uow import Store

RUNTIME_CACHE = Path(
    os.environ.get(
        "LAKEWORKS_TEST_RUNTIME_CACHE", Path.home() / ".cache" / "lakeworks-test-runtimes"
    )
)


@pytest.fixture
def job_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"runtimes_dir": RUNTIME_CACHE})


@pytest.fixture
def job_platform(job_settings: Settings, store: Store) -> Iterator[Platform]:
    job_settings.projects_dir.mkdir(parents=True, exist_ok=True)
    platform = Platform(job_settings, store)
    yield platform
    # Leave no process behind, whatever the test did.
    stop_live_workloads(platform)


@pytest.fixture
def scheduler(job_platform: Platform) -> Iterator[Scheduler]:
    sched = Scheduler(job_platform)
    yield sched
    sched.stop()


@pytest.fixture
def owner(job_platform: Platform) -> User:
    return users.create_user(
        job_platform,
        None,
        username="owner",
        password="correct horse battery",
        email="owner@example.org",
    )


@pytest.fixture
def owner_principal(owner: User) -> Principal:
    return Principal(user=owner, via="api_key")


SCRIPTS = {
    "ok.py": """
import os
print("hello from", os.environ["CDSW_PROJECT_ID"])
""",
    "fail.py": """
print("about to fail")
raise SystemExit(3)
""",
    "sleep.py": """
import sys, time
print("sleeping", flush=True)
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 60)
print("woke up")
""",
    "hog.py": """
blocks = []
for _ in range(200):
    blocks.append(bytearray(10 * 1024 * 1024))
print("allocated", len(blocks) * 10, "MiB")
""",
    "env.py": """
import os, sys
prefixes = ("CDSW_", "PROJECT_", "HADOOP_", "JOB_", "MY_")
for k in sorted(os.environ):
    if k.startswith(prefixes):
        print(f"{k}={os.environ[k]}")
print("ARGV=" + repr(sys.argv[1:]))
""",
}


@pytest.fixture
def project(job_platform: Platform, owner_principal: Principal) -> Project:
    project = projects.create(
        job_platform,
        owner_principal,
        name="Pipelines",
        source=projects.parse_source("", ""),
        environment={"MY_PROJECT_VAR": "from-project"},
    )
    root = job_platform.settings.projects_dir / project.id
    for name, text in SCRIPTS.items():
        (root / name).write_text(text)
    return project


@pytest.fixture
def wait_for(scheduler: Scheduler, job_platform: Platform) -> Callable[..., JobRun]:
    def wait(run_id: str, statuses: set[RunStatus], timeout: float = 90.0) -> JobRun:
        deadline = time.monotonic() + timeout
        while True:
            scheduler.tick(wait=True)
            with job_platform.read() as uow:
                run = uow.jobs.get_run(run_id)
            assert run is not None
            if run.status in statuses:
                return run
            if time.monotonic() > deadline:
                raise AssertionError(f"run {run_id} stuck in {run.status}: {run.reason}")
            time.sleep(0.1)

    return wait
