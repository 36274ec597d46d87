"""Executor fixtures: real processes, no mocks.

Provides:
- ``make_spec(code, **fields)``: a ``WorkloadSpec`` running ``python -c code`` with this
  interpreter (its venv and base installation mounted read-only), in ``tmp_path/project``.
- ``executor``: a ``LocalExecutor``, once with bubblewrap (skipped where it does not work)
  and once without; ``plain_executor``: without bubblewrap. Every workload they started is
  killed at teardown.
- ``make_executor(**kwargs)``: more executors on the same state dir, cleaned up the same way.

``support`` has the helpers tests import: ``TrackingExecutor``, ``wait_exit``, ``wait_log``.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.executors.support import TrackingExecutor

from lakeworks.entities.workloads import Resources, WorkloadKind, WorkloadSpec


@pytest.fixture
def make_executor(tmp_path: Path) -> Iterator[Callable[..., TrackingExecutor]]:
    made: list[TrackingExecutor] = []

    def make(**kwargs: Any) -> TrackingExecutor:
        kwargs.setdefault("state_dir", tmp_path / "state")
        executor = TrackingExecutor(**kwargs)
        made.append(executor)
        return executor

    yield make
    for executor in made:
        executor.clean_up()


@pytest.fixture(params=["bwrap", "none"])
def executor(
    request: pytest.FixtureRequest, make_executor: Callable[..., TrackingExecutor]
) -> TrackingExecutor:
    if request.param == "none":
        return make_executor(use_bwrap=False)
    made = make_executor(use_bwrap=None)
    if made.sandbox != "bwrap":
        pytest.skip("bubblewrap does not work on this machine")
    return made


@pytest.fixture
def plain_executor(make_executor: Callable[..., TrackingExecutor]) -> TrackingExecutor:
    return make_executor(use_bwrap=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    return path


@pytest.fixture
def make_spec(tmp_path: Path, project: Path) -> Callable[..., WorkloadSpec]:
    def make(code: str = "", **fields: Any) -> WorkloadSpec:
        workload_id = fields.pop("workload_id", f"w{uuid.uuid4().hex[:12]}")
        values: dict[str, Any] = {
            "workload_id": workload_id,
            "kind": WorkloadKind.JOB_RUN,
            "argv": [sys.executable, "-u", "-c", code],
            "env": {"PATH": os.environ.get("PATH", os.defpath)},
            "project_dir": project,
            "log_path": tmp_path / "logs" / f"{workload_id}.log",
            "runtime_dir": Path(sys.prefix),
            "extra_ro_binds": [Path(sys.base_prefix)],
            "resources": Resources(cpu=1.0, memory_mb=1024),
        }
        values.update(fields)
        return WorkloadSpec(**values)

    return make
