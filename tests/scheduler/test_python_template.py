"""The ``Python`` project template (issue 14 #9): CML's example files run as tutorials use
them: ``analysis.py`` and ``fit.py`` as real jobs, then ``predict.py``'s function answers."""

from __future__ import annotations

from collections.abc import Callable

from lakeworks.entities.jobs import JobRun, RunStatus
from lakeworks.services import job_runs, jobs, projects
from lakeworks.services.jobs import JobFields
from lakeworks.services.platform import Platform, Principal

USE_MODEL = """
from predict import predict
print("PREDICTED", predict({"petal_length": 4}))
"""


def test_the_python_templates_examples_run_as_jobs(
    job_platform: Platform, owner_principal: Principal, wait_for: Callable[..., JobRun]
) -> None:
    platform, principal = job_platform, owner_principal
    project = projects.create(
        platform, principal, name="Tutorial", source=projects.parse_source("Python", "")
    )
    root = platform.settings.projects_dir / project.id
    (root / "use_model.py").write_text(USE_MODEL)

    def run(script: str, arguments: str = "") -> str:
        job = jobs.create(
            platform,
            principal,
            project.id,
            JobFields(name=script, script=script, arguments=arguments, memory_mb=1024),
        )
        started = job_runs.trigger(platform, principal, project.id, job.id)
        ended = wait_for(started.id, {RunStatus.SUCCEEDED, RunStatus.FAILED}, timeout=180)
        log = job_runs.run_log(platform, principal, project.id, job.id, started.id)[0].decode()
        assert ended.status is RunStatus.SUCCEEDED, log[-3000:]
        return log

    analysis = run("analysis.py")
    assert "150 rows analysed in project tutorial" in analysis
    assert "virginica" in analysis and (root / "petals.png").is_file()

    fit = run("fit.py", "0.2")
    assert "R² on 30 held-out rows" in fit and (root / "model.pkl").is_file()

    used = run("use_model.py")
    assert "PREDICTED {'petal_width': 1.296}" in used
