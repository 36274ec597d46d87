"""Turning a workload's runtime identifier into an interpreter, environment and command line.

Preparing the runtime is a phase of its own, before a workload starts: the first use of a
runtime builds it (minutes), in the background (``RuntimeManager``). ``prepare`` never waits
for a build (it raises ``RuntimePreparing``); ``await_runtime`` waits in the caller's thread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lakeworks.data import spark
from lakeworks.entities.projects import Project
from lakeworks.entities.users import User
from lakeworks.entities.workloads import Resources, WorkloadKind
from lakeworks.errors import InvalidInput, LakeworksError, NotFound
from lakeworks.runtimes import builder
from lakeworks.runtimes.builder import RuntimeBuildError
from lakeworks.runtimes.manager import RuntimePreparing, failure_reason
from lakeworks.services import environment
from lakeworks.services.platform import Platform

if TYPE_CHECKING:
    from lakeworks.services.workloads import LaunchContext


# Runtime packages live in a "base-packages" directory rather than "site-packages", which
# makes Streamlit believe it runs from a source checkout ("developmentMode") and refuse
# `--server.port`: CML's documented `streamlit run app.py --server.port $CDSW_APP_PORT` (in
# apps, and in sessions and jobs too) must work. A project may still override it.
RUNTIME_ENV_DEFAULTS = {"STREAMLIT_GLOBAL_DEVELOPMENT_MODE": "false"}


@dataclass(frozen=True)
class PreparedRuntime:
    directory: Path  # the runtime's virtual environment (read-only for workloads)
    python: str  # its interpreter, as the workload sees it
    base_env: dict[str, str]
    site_dir: Path  # Lakeworks' in-workload libraries (runner, cdsw, cml)
    ro_binds: list[Path] = field(default_factory=list)

    def env(self, project_home: str, project_pythonpath: str = "") -> dict[str, str]:
        """Variables that select this runtime; the project's own ``PYTHONPATH`` is folded in
        (after Lakeworks' libraries, before the project root) rather than replacing it."""
        return (
            builder.workload_env(
                self.directory, project_home, project_pythonpath=project_pythonpath
            )
            | self.base_env
        )

    def command(self, script: str, arguments: str) -> list[str]:
        from lakeworks.workload import UnsupportedScript, command_for

        try:
            return command_for(script, arguments, self.python)
        except UnsupportedScript as exc:
            raise InvalidInput(str(exc)) from exc


class RuntimeFailed(LakeworksError):
    """A workload cannot get its runtime; ``message`` is the reason to record on it
    (``could not start: …`` for a runtime that does not exist here, ``runtime build failed:
    …`` with the build's last lines)."""

    code = "runtime_failed"


def prepare(platform: Platform, identifier: str, *, since: float | None = None) -> PreparedRuntime:
    """The runtime for ``identifier``, when it is built.

    When it is not, its build starts in the background and ``RuntimePreparing`` (a phase, not
    a failure) says so: the caller shows ``exc.message`` and tries again, or calls
    ``await_runtime``. ``since`` (Unix time the workload was asked for) lets a build that
    failed after it fail the workload (``RuntimeFailed``).
    """
    from lakeworks.workload import site_dir

    runtimes = platform.runtimes
    try:
        runtime = runtimes.catalog.resolve(identifier or None)
        directory = runtimes.ready(runtime.key, since=since)
    except (InvalidInput, NotFound) as exc:
        raise RuntimeFailed(f"could not start: {exc.message}") from exc
    except RuntimeBuildError as exc:
        raise RuntimeFailed(failure_reason(exc)) from exc
    python = str(directory / "bin" / "python")
    base_prefix = Path(builder.base_prefix(directory))
    return PreparedRuntime(
        directory=directory,
        python=python,
        base_env=dict(RUNTIME_ENV_DEFAULTS),
        site_dir=site_dir(),
        ro_binds=[site_dir(), base_prefix],
    )


def await_runtime(
    platform: Platform,
    identifier: str,
    *,
    since: float,
    waiting: Callable[[str], None],
) -> PreparedRuntime:
    """``prepare``, waiting (in this thread) for a build to finish; ``waiting(message)`` is
    called once first, so the workload can show the preparing phase."""
    try:
        return prepare(platform, identifier, since=since)
    except RuntimePreparing as preparing:
        waiting(preparing.message)
        try:
            platform.runtimes.wait(preparing.key, since=since)
        except RuntimeBuildError as exc:
            raise RuntimeFailed(failure_reason(exc)) from exc
    return prepare(platform, identifier, since=since)


def compose_env(
    platform: Platform,
    runtime: PreparedRuntime,
    ctx: LaunchContext,
    *,
    project: Project,
    user: User,
    kind: WorkloadKind,
    resources: Resources,
    layers: Sequence[Mapping[str, object]],
    extra_identity: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The whole environment of a workload (CML compat §1.7, §2), for every kind.

    ``layers`` are the user-set variables, lowest first (project, then job or application,
    then a run's overrides); the platform's identity variables (plus ``extra_identity``,
    e.g. ``CDSW_JOB_ID``) come last and cannot be overridden. A ``PYTHONPATH`` in any layer
    is folded into the runtime's path instead of replacing it.
    """
    identity = environment.identity(
        platform.settings,
        project=project,
        user=user,
        engine_id=ctx.engine_id,
        kind=kind,
        resources=resources,
        v1_key=ctx.v1_key,
        v2_key=ctx.v2_key,
    )
    identity |= dict(extra_identity or {})
    pythonpath = next(
        (str(layer["PYTHONPATH"]) for layer in reversed(layers) if "PYTHONPATH" in layer), ""
    )
    runtime_vars = runtime.env(ctx.project_home, project_pythonpath=pythonpath)
    # Spark add-on: getOrCreate() with no configuration (data/spark.py); user layers win.
    runtime_vars |= spark.prepare(
        platform.settings.projects_dir / project.id,
        ctx.project_home,
        platform.settings.spark_master,
        ui=False,
    )
    # MLflow points at the embedded tracking server by default; these sit below the user
    # layers, so a project or job value wins, including "" (MLflow then uses ./mlruns).
    tracking_uri = f"{platform.settings.base_url}/mlflow"
    runtime_vars |= {
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MLFLOW_REGISTRY_URI": tracking_uri,
        "MLFLOW_TRACKING_TOKEN": ctx.v2_key,
    }
    return environment.layered(
        runtime_vars,
        *[{k: v for k, v in layer.items() if k != "PYTHONPATH"} for layer in layers],
        identity_vars=identity,
    )
