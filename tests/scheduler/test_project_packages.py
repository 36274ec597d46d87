"""A project's own packages win over the runtime's (issue 14 #2): ``requirements.txt``
installed with ``pip`` in one job lands in the project's ``.local`` and later jobs import those
versions, older ones included (``numpy<2`` under a runtime with numpy 2, ``pandas==1.5.3``),
never the runtime's. Real installs from the package index, in real sandboxed jobs."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from lakeworks.entities.jobs import JobRun, RunStatus
from lakeworks.entities.projects import Project
from lakeworks.services import job_runs, jobs
from lakeworks.services.jobs import JobFields
from lakeworks.services.platform import Platform, Principal

REQUIREMENTS = "numpy<2\npandas==1.5.3\npackaging==21.3\n"

INSTALL = """
!pip install -r requirements.txt
import numpy, pandas, packaging
print("SAME-RUN", numpy.__version__, pandas.__version__, packaging.__version__)
"""

SHOW = """
import numpy, pandas, packaging
print("VERSIONS", numpy.__version__, pandas.__version__, packaging.__version__)
print("FROM", numpy.__file__, pandas.__file__, packaging.__file__)
frame = pandas.DataFrame({"a": numpy.arange(3)})
print("SUM", int(frame["a"].sum()))
"""


def _run(
    platform: Platform,
    principal: Principal,
    project: Project,
    wait_for: Callable[..., JobRun],
    script: str,
) -> str:
    job = jobs.create(
        platform,
        principal,
        project.id,
        JobFields(name=script, script=script, memory_mb=1024),
    )
    started = job_runs.trigger(platform, principal, project.id, job.id)
    ended = wait_for(started.id, {RunStatus.SUCCEEDED, RunStatus.FAILED}, timeout=600)
    log = job_runs.run_log(platform, principal, project.id, job.id, started.id)[0].decode()
    assert ended.status is RunStatus.SUCCEEDED, log[-4000:]
    return log


@pytest.mark.timeout(900)
def test_requirements_installed_by_a_job_win_over_the_runtime_packages(
    job_platform: Platform,
    owner_principal: Principal,
    project: Project,
    wait_for: Callable[..., JobRun],
) -> None:
    root = job_platform.settings.projects_dir / project.id
    (root / "requirements.txt").write_text(REQUIREMENTS)
    (root / "install.py").write_text(INSTALL)
    (root / "show.py").write_text(SHOW)

    base = _run(job_platform, owner_principal, project, wait_for, "show.py")
    runtime_numpy = base.split("VERSIONS ")[1].split()[0]
    assert runtime_numpy.startswith("2."), base  # the runtime's own, which the pin replaces

    installed = _run(job_platform, owner_principal, project, wait_for, "install.py")
    assert "SAME-RUN 1." in installed and " 1.5.3 21.3" in installed, installed[-3000:]

    later = _run(job_platform, owner_principal, project, wait_for, "show.py")
    versions = later.split("VERSIONS ")[1].split()[:3]
    assert versions[0].startswith("1.") and versions[1:] == ["1.5.3", "21.3"], later
    where = later.split("FROM ")[1].split()[:3]
    assert all(path.startswith("/home/cdsw/.local/") for path in where), where
    assert "SUM 3" in later

    # The notebook runner's kernel sees the project's versions too (sessions' kernels start
    # the same way).
    (root / "show.ipynb").write_text(json.dumps(_notebook(SHOW)))
    notebook = _run(job_platform, owner_principal, project, wait_for, "show.ipynb")
    assert "VERSIONS " + " ".join(versions) in notebook, notebook[-3000:]


def _notebook(source: str) -> dict[str, object]:
    cell = {"cell_type": "code", "metadata": {}, "source": source, "outputs": []}
    cell["execution_count"] = None
    return {
        "cells": [cell],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
