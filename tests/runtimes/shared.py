"""The runtime that tests build once and reuse, and the project workloads that run on it.

Building downloads the base packages from the package index once; the result is kept in
``$LAKEWORKS_TEST_RUNTIME_CACHE`` (default ``~/.cache/lakeworks-test-runtimes``), so later
runs start at once. The runtime is for the interpreter running the tests, or for
``$LAKEWORKS_TEST_RUNTIME_PYTHON`` (e.g. ``/usr/bin/python3.9``: the runner on another Python).
Both variables are read at import, before fixtures give each test its own environment.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from lakeworks.runtimes.builder import ensure_runtime, runtime_path, runtime_python, workload_env
from lakeworks.runtimes.catalog import Interpreter, probe

RUNTIME_CACHE = Path(
    os.environ.get("LAKEWORKS_TEST_RUNTIME_CACHE")
    or Path.home() / ".cache" / "lakeworks-test-runtimes"
)
RUNTIME_PYTHON = os.environ.get("LAKEWORKS_TEST_RUNTIME_PYTHON", "")
# Enough for a cold build (downloads included); a built runtime needs no extra time.
COLD_BUILD_TIMEOUT = 900


def current_interpreter() -> Interpreter:
    """The interpreter running the tests (its base interpreter, not this virtual env)."""
    interpreter = probe(Path(sys.executable))
    assert interpreter is not None, "the test interpreter must be a CPython"
    return interpreter


def runtime_interpreter() -> Interpreter:
    """The interpreter of the shared test runtime."""
    if not RUNTIME_PYTHON:
        return current_interpreter()
    interpreter = probe(Path(RUNTIME_PYTHON))
    assert interpreter is not None, f"LAKEWORKS_TEST_RUNTIME_PYTHON={RUNTIME_PYTHON} is no CPython"
    return interpreter


def build_test_runtime() -> Path:
    interpreter = runtime_interpreter()
    return ensure_runtime(interpreter.python, RUNTIME_CACHE, interpreter=interpreter)


_TEST_DIRS = (Path(__file__).parent, Path(__file__).parent.parent / "workload")


def give_cold_builds_time(items: list[pytest.Item]) -> None:
    """Tests that use the built runtime get a long timeout while it is not built yet."""
    users = [
        item
        for item in items
        if "runtime" in getattr(item, "fixturenames", ())
        and any(item.path.is_relative_to(directory) for directory in _TEST_DIRS)
        and not item.get_closest_marker("timeout")
    ]
    if not users or (runtime_path(runtime_interpreter(), RUNTIME_CACHE) / "bin").exists():
        return
    for item in users:
        item.add_marker(pytest.mark.timeout(COLD_BUILD_TIMEOUT))


def project_env(runtime: Path, project: Path, **extra: str) -> dict[str, str]:
    """A workload's environment for ``project``, nothing from the machine running the tests."""
    env = workload_env(runtime, project)
    env.update(
        {
            "HOME": str(project),
            "LANG": "C.UTF-8",
            # No pip configuration of this machine (index mirrors, find-links).
            "PIP_CONFIG_FILE": os.devnull,
        }
    )
    env.update(extra)
    return env


def run_in_project(
    runtime: Path,
    project: Path,
    argv: list[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` as a workload of ``project`` would: from its root, with its environment."""
    return subprocess.run(
        argv,
        cwd=project,
        env=env if env is not None else project_env(runtime, project),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def python_of(runtime: Path) -> str:
    return str(runtime_python(runtime))


def make_wheel(directory: Path, name: str, version: str, files: dict[str, str]) -> Path:
    """A pure-Python wheel of ``files`` (path in the wheel -> text), made without any tool."""
    dist_info = f"{name}-{version}.dist-info"
    contents = {
        **files,
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist_info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: lakeworks-tests\nRoot-Is-Purelib: true\n"
            "Tag: py3-none-any\n"
        ),
    }
    record = []
    for path, text in contents.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in contents.items():
            archive.writestr(path, text)
        archive.writestr(f"{dist_info}/RECORD", "\n".join(record) + "\n")
    return wheel
