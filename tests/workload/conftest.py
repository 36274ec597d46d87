"""Provides:

- ``runtime``: a runtime built for the test interpreter (built once, cached; see
  ``runtimes.shared``);
- ``project``: an empty project directory;
- ``run_script(text, arguments=None, name="job.py", **env)``: writes ``text`` to the project
  and runs it the way a job run does (``command_for`` with the runtime's python);
- ``run_python(code, **env)``: ``python -c code`` inside the project's workload environment.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from lakeworks.workload import command_for
from runtimes.shared import (
    build_test_runtime,
    give_cold_builds_time,
    project_env,
    python_of,
    run_in_project,
)

Result = subprocess.CompletedProcess[str]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    give_cold_builds_time(items)


@pytest.fixture(scope="session")
def runtime() -> Path:
    return build_test_runtime()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    directory = tmp_path / "project"
    directory.mkdir()
    return directory


@pytest.fixture
def run_script(runtime: Path, project: Path) -> Callable[..., Result]:
    def run(text: str, arguments: str | None = None, name: str = "job.py", **env: str) -> Result:
        script = project / name
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(text)
        argv = command_for(name, arguments, python_of(runtime))
        return run_in_project(runtime, project, argv, env=project_env(runtime, project, **env))

    return run


@pytest.fixture
def run_python(runtime: Path, project: Path) -> Callable[..., Result]:
    def run(code: str, **env: str) -> Result:
        return run_in_project(
            runtime,
            project,
            [python_of(runtime), "-c", code],
            env=project_env(runtime, project, **env),
        )

    return run
