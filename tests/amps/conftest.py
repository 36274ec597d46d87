"""Fixtures for AMP setups with real workloads.

Provides (besides the serving fixtures re-exported from tests/serving/conftest.py):
- ``amp_repo(files)``: a git repository on disk holding ``files``; its path is a git URL.
- ``amp_tick(project_id, statuses)``: ticks the scheduler until the project's AMP setup
  reaches one of ``statuses``; returns the setup.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.serving import conftest as serving

from lakeworks.amps import runner
from lakeworks.entities.amps import AmpSetup, SetupStatus
from lakeworks.scheduler.loop import Scheduler
from lakeworks.services.platform import Platform, Principal

# The serving fixtures (an app with the gateway on the test runtime cache, its scheduler).
modeler = serving.modeler
modeler_principal = serving.modeler_principal
serving_app = serving.serving_app
serving_client = serving.serving_client
serving_platform = serving.serving_platform
serving_scheduler = serving.serving_scheduler
serving_settings = serving.serving_settings


@pytest.fixture
def amp_repo(tmp_path: Path) -> Callable[[dict[str, str]], str]:
    def make(files: dict[str, str]) -> str:
        root = tmp_path / f"amp-{len(list(tmp_path.glob('amp-*')))}"
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        env = {
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.org",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.org",
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
        }
        for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "amp"]):
            subprocess.run(["git", *args], cwd=root, env=env, check=True)
        return str(root)

    return make


@pytest.fixture
def amp_tick(
    serving_scheduler: Scheduler, serving_platform: Platform, modeler_principal: Principal
) -> Callable[..., AmpSetup]:
    def wait(project_id: str, statuses: set[SetupStatus], timeout: float = 240.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            serving_scheduler.tick(wait=True)
            setup = runner.get(serving_platform, modeler_principal, project_id)
            if setup.status in statuses:
                return setup
            if time.monotonic() > deadline:
                states = [(t.title, t.status.value, t.reason) for t in setup.tasks]
                raise AssertionError(f"AMP setup stuck in {setup.status}: {states}")
            time.sleep(0.1)

    return wait
