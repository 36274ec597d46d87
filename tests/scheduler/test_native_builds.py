"""Native builds in workloads (issue 14 #3): a job's ``pip install`` of a package that compiles
a C extension against a system header succeeds. ``pykerberos`` is an sdist only; its build
runs ``krb5-config`` and includes ``gssapi/gssapi.h`` (libkrb5-dev, which the install scripts
provide: ``scripts/build-headers``)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from lakeworks.entities.jobs import JobRun, RunStatus
from lakeworks.entities.projects import Project
from lakeworks.services import job_runs, jobs
from lakeworks.services.jobs import JobFields
from lakeworks.services.platform import Platform, Principal

INSTALL = """
!pip install --no-binary :all: pykerberos==1.2.4
import kerberos
print("COMPILED", kerberos.__file__)
print("GSS", kerberos.GSS_C_MUTUAL_FLAG)
"""

HEADER = Path("/usr/include/gssapi/gssapi.h")


@pytest.mark.timeout(900)
def test_a_job_compiles_a_package_against_system_headers(
    job_platform: Platform,
    owner_principal: Principal,
    project: Project,
    wait_for: Callable[..., JobRun],
) -> None:
    if not HEADER.is_file() or shutil.which("krb5-config") is None:
        pytest.skip(f"{HEADER} is absent: install libkrb5-dev (scripts/build-headers lists it)")
    if shutil.which("gcc") is None:
        pytest.skip("no C compiler on this host: install gcc (scripts/build-headers lists it)")
    root = job_platform.settings.projects_dir / project.id
    (root / "native.py").write_text(INSTALL)
    job = jobs.create(
        job_platform,
        owner_principal,
        project.id,
        JobFields(name="Native", script="native.py", memory_mb=1024),
    )
    started = job_runs.trigger(job_platform, owner_principal, project.id, job.id)
    ended = wait_for(started.id, {RunStatus.SUCCEEDED, RunStatus.FAILED}, timeout=600)
    log = job_runs.run_log(job_platform, owner_principal, project.id, job.id, started.id)[
        0
    ].decode()
    assert ended.status is RunStatus.SUCCEEDED, log[-4000:]
    # Built here (a wheel of this machine), installed in the project, and it loads.
    assert "Successfully installed pykerberos-1.2.4" in log, log[-4000:]
    assert "COMPILED /home/cdsw/.local/lib/python" in log and ".so" in log
    assert "GSS 2" in log
    assert list((root / ".local").glob("lib/python3.*/site-packages/kerberos*.so"))
