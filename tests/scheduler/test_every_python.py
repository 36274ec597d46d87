"""A job runs on every Python the runtime catalog offers (issue: a 3.9 runtime once built and
then failed every workload, and only 3.11 was ever tested).

The default runtime's Python always runs. The others need their runtimes built (minutes each,
once per machine): ``scripts/test`` builds them when ``LAKEWORKS_TEST_ALL_PYTHONS=1`` is set,
as ``.ci/run`` does; without it they are skipped, saying so.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from lakeworks.entities.jobs import JobRun, RunStatus
from lakeworks.entities.projects import Project
from lakeworks.runtimes.catalog import host_catalog
from lakeworks.services import job_runs, jobs, workloads
from lakeworks.services.platform import Platform, Principal

ALL_PYTHONS = os.environ.get("LAKEWORKS_TEST_ALL_PYTHONS") == "1"  # read before fixtures run
OFFERED = host_catalog().pythons()
# The default runtime (no LAKEWORKS_DEFAULT_PYTHON in tests): the one scripts/test always builds.
DEFAULT = host_catalog().default().python_version

VERSION_SCRIPT = """
import platform, sys
print("python", platform.python_version())
print("prefix-ok", sys.prefix != sys.base_prefix)
"""


@pytest.mark.parametrize("python", OFFERED)
def test_a_job_runs_on_every_offered_python(
    python: str,
    job_platform: Platform,
    owner_principal: Principal,
    project: Project,
    wait_for: Callable[..., JobRun],
) -> None:
    if python != DEFAULT and not ALL_PYTHONS:
        pytest.skip(f"Python {python}: set LAKEWORKS_TEST_ALL_PYTHONS=1 (as .ci/run does)")
    state = job_platform.runtimes.state(python)
    assert state.state == "built", (
        f"scripts/test builds every offered runtime before the tests; Python {python} is "
        f"{state.state}: {state.reason}"
    )
    identifier = next(
        r.image_identifier
        for r in job_platform.runtimes.catalog.runtimes
        if r.python_version == python and r.editor == "Workbench"
    )
    root = job_platform.settings.projects_dir / project.id
    (root / "version.py").write_text(VERSION_SCRIPT)
    job = jobs.create(
        job_platform,
        owner_principal,
        project.id,
        jobs.JobFields(name=f"On {python}", script="version.py", runtime_identifier=identifier),
    )
    run = job_runs.trigger(job_platform, owner_principal, project.id, job.id)
    done = wait_for(run.id, {RunStatus.SUCCEEDED, RunStatus.FAILED}, timeout=120)
    workload = workloads.get(job_platform, done.workload_id or "")
    log, _ = workloads.read_log(job_platform, workload)
    text = log.decode()
    assert done.status is RunStatus.SUCCEEDED, f"{done.reason}\n{text}"
    assert f"python {state.full_version}" in text
    assert "prefix-ok True" in text
