"""Runtime editions (issue 14 #2, compat §1.6): a job on the Lean edition of the default Python
gets the CML libraries and the MLflow client, without the Standard edition's scientific stack;
its runtime is built on first use like any other."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from lakeworks.entities.jobs import JobRun, RunStatus
from lakeworks.entities.projects import Project
from lakeworks.services import job_runs, jobs
from lakeworks.services.jobs import JobFields
from lakeworks.services.platform import Platform, Principal

LEAN_SCRIPT = """
import importlib.util, os, sys
import cdsw, cml, cmlapi, mlflow
from cml import metrics_v1, models_v1, utils_v1
print("LEAN-OK", mlflow.__version__, sys.prefix)
print("PANDAS", importlib.util.find_spec("pandas") is not None)
client = cmlapi.default_client()  # from the workload's environment (no server here)
print("CLIENT", type(client).__name__, os.environ["CDSW_PROJECT_ID"])
"""


@pytest.mark.timeout(1500)  # a cold cache builds the Lean runtime (scripts/test builds it first)
def test_a_job_on_the_lean_edition_has_the_cml_libraries_and_mlflow_only(
    job_platform: Platform,
    owner_principal: Principal,
    project: Project,
    wait_for: Callable[..., JobRun],
) -> None:
    catalog = job_platform.runtimes.catalog
    python = catalog.default().python_version
    lean = next(
        r
        for r in catalog.runtimes
        if r.python_version == python and r.edition == "Lean" and r.editor == "Workbench"
    )
    assert lean.key == f"{python}-lean" and "-lean:" in lean.image_identifier
    root = job_platform.settings.projects_dir / project.id
    (root / "lean.py").write_text(LEAN_SCRIPT)
    job = jobs.create(
        job_platform,
        owner_principal,
        project.id,
        JobFields(
            name="Lean",
            script="lean.py",
            runtime_identifier=lean.image_identifier,
            memory_mb=1024,
        ),
    )
    started = job_runs.trigger(job_platform, owner_principal, project.id, job.id)
    ended = wait_for(started.id, {RunStatus.SUCCEEDED, RunStatus.FAILED}, timeout=1400)
    log = job_runs.run_log(job_platform, owner_principal, project.id, job.id, started.id)[
        0
    ].decode()
    assert ended.status is RunStatus.SUCCEEDED, (ended.reason, log[-4000:])
    assert "LEAN-OK 2.22.5" in log
    runtime_dir = job_platform.runtimes.path_for(lean.key)
    assert runtime_dir.name.startswith(f"python{python}-lean-")
    assert f"LEAN-OK 2.22.5 {runtime_dir}" in log  # it ran on the Lean runtime
    assert "PANDAS False" in log  # the scientific stack is the project's to install
    assert f"CLIENT CMLServiceApi {project.id}" in log
    assert job_platform.runtimes.state(lean.key).state == "built"
