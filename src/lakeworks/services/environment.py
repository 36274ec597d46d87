"""The environment a workload starts in: its runtime and its variables (CML compat §1.7, §2).

One module for the whole contract, as jupyterhub's ``Spawner.get_env()``:

- **Runtime.** A workload's runtime identifier becomes an interpreter, a read-only virtual
  environment and a command line (``PreparedRuntime``). Preparing the runtime is a phase of its
  own, before a workload starts: the first use of a runtime builds it (minutes) in the
  background (``RuntimeManager``). ``prepare`` never waits for a build (it raises
  ``RuntimePreparing``); ``await_runtime`` waits in the caller's thread.
- **Variables.** Layering, lowest first: the runtime's and platform's defaults (``MLFLOW_*``,
  Spark), then project < job or application < run override (each later one wins), then the
  platform's identity variables, which no layer can override (``compose``).
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lakeworks.config import Settings
from lakeworks.data import spark
from lakeworks.entities.projects import Project
from lakeworks.entities.users import User
from lakeworks.entities.workloads import Resources, WorkloadKind
from lakeworks.errors import InvalidInput, LakeworksError, NotFound
from lakeworks.executors.sandbox import SERVER_DIR
from lakeworks.runtimes import builder
from lakeworks.runtimes.builder import RuntimeBuildError
from lakeworks.runtimes.manager import RuntimePreparing, failure_reason
from lakeworks.services.platform import Platform

if TYPE_CHECKING:
    from lakeworks.services.workloads import LaunchContext

__all__ = [
    "PreparedRuntime",
    "RuntimeFailed",
    "RuntimePreparing",
    "await_runtime",
    "compose",
    "identity",
    "layered",
    "new_engine_id",
    "prepare",
]

_ENGINE_ALPHABET = string.ascii_lowercase + string.digits
# What ``new_engine_id`` makes: the proxy tells engine hosts from app subdomains by it.
ENGINE_ID_RE = re.compile(r"^[a-z0-9]{16}$")

ENGINE_TYPES = {
    WorkloadKind.JOB_RUN: "job",
    WorkloadKind.SESSION: "session",
    WorkloadKind.APPLICATION: "application",
    WorkloadKind.MODEL_REPLICA: "model",
    WorkloadKind.MODEL_BUILD: "model",
    WorkloadKind.WORKER: "worker",
}


def new_engine_id() -> str:
    """16 lowercase alphanumerics, usable as a DNS label (``<engine_id>.<domain>``)."""
    return "".join(secrets.choice(_ENGINE_ALPHABET) for _ in range(16))


def identity(
    settings: Settings,
    *,
    project: Project,
    user: User,
    engine_id: str,
    kind: WorkloadKind,
    resources: Resources,
    v1_key: str,
    v2_key: str,
) -> dict[str, str]:
    """The variables Lakeworks always sets, in CML's exact formats."""
    base = settings.base_url
    api_v1 = f"{base}/api/v1"
    owner = project.owner.username
    variables = {
        "CDSW_DOMAIN": settings.domain,
        "CDSW_API_URL": api_v1,
        "CDSW_PROJECT_URL": f"{api_v1}/projects/{owner}/{project.slug}",
        "CDSW_PROJECT": project.slug,
        "CDSW_PROJECT_ID": project.id,
        "CDSW_ENGINE_ID": engine_id,
        "CDSW_ENGINE_TYPE": ENGINE_TYPES[kind],
        "CDSW_API_KEY": v1_key,
        "CDSW_APIV2_KEY": v2_key,
        "CDSW_USER_API_KEY": v1_key,
        "CDSW_CPU_MILLICORES": str(int(resources.cpu * 1000)),
        "CDSW_MEMORY_MB": str(resources.memory_mb),
        "CDSW_IP_ADDRESS": "127.0.0.1",
        "HADOOP_USER_NAME": user.username,
        "HADOOP_USERNAME": user.username,
        "CDSW_CREATOR": user.username,
        "PROJECT_OWNER": owner,
    }
    gateway = local_gateway_url(settings)
    if gateway:
        variables["LAKEWORKS_MODEL_GATEWAY_URL"] = gateway
    socket_path = local_gateway_socket(settings)
    if socket_path:
        variables["LAKEWORKS_MODEL_GATEWAY_SOCKET"] = socket_path
    return variables


def local_gateway_url(settings: Settings) -> str:
    """The model gateway on the workload's loopback, where ``cdsw.call_model`` goes straight
    (no name lookup, no TLS, no trip out to the public host and its proxy), or "" where the
    server is not there: a local workload reaches the server's port on its own 127.0.0.1
    (the isolated network forwards it), when the server listens on loopback or on every
    address."""
    if settings.executor != "local":
        return ""
    if settings.host not in ("127.0.0.1", "0.0.0.0", "localhost", "::"):
        return ""
    return f"http://127.0.0.1:{settings.port}/model"


def local_gateway_socket(settings: Settings) -> str:
    """The model gateway's Unix socket as a workload sees it (``serving.local_socket``):
    in the sandbox's read-only ``/run/lakeworks``, or the server's own path for unsandboxed
    workloads; "" where workloads do not run on this machine."""
    if settings.executor != "local":
        return ""
    if settings.sandbox == "bwrap":
        return f"{SERVER_DIR}/{settings.gateway_socket.name}"
    return str(settings.gateway_socket)


def pip_env(settings: Settings) -> dict[str, str]:
    """The site's package mirror for pip in workloads (compat §14): an index, a wheelhouse
    (alone when no index is set, so offline installs never wait on PyPI), and short network
    timeouts so an unreachable index fails fast. Below the user layers: a project may
    override any of them."""
    env = {"PIP_TIMEOUT": "10", "PIP_RETRIES": "1"}
    if settings.pip_index_url:
        env["PIP_INDEX_URL"] = settings.pip_index_url
    if settings.pip_extra_index_url:
        env["PIP_EXTRA_INDEX_URL"] = settings.pip_extra_index_url
    if settings.pip_trusted_host:
        env["PIP_TRUSTED_HOST"] = settings.pip_trusted_host
    if settings.pip_find_links is not None:
        env["PIP_FIND_LINKS"] = str(settings.pip_find_links)
        if not settings.pip_index_url:
            env["PIP_NO_INDEX"] = "1"
    return env


def layered(
    defaults: Mapping[str, str],
    *layers: Mapping[str, object],
    identity_vars: Mapping[str, str],
) -> dict[str, str]:
    """Merge layers (later wins), stringifying values Python-style, identity last."""
    env: dict[str, str] = dict(defaults)
    for layer in layers:
        for name, value in layer.items():
            env[str(name)] = "" if value is None else str(value)
    env.update(identity_vars)
    return env


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
    binds = [site_dir(), base_prefix]
    wheelhouse = platform.settings.pip_find_links
    if wheelhouse is not None and wheelhouse.is_dir():
        binds.append(wheelhouse)  # PIP_FIND_LINKS: the same path inside the sandbox
    return PreparedRuntime(
        directory=directory,
        python=python,
        base_env=dict(RUNTIME_ENV_DEFAULTS),
        site_dir=site_dir(),
        ro_binds=binds,
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
        wait_prepared(platform, preparing, since=since)
    return prepare(platform, identifier, since=since)


def wait_prepared(platform: Platform, preparing: RuntimePreparing, *, since: float) -> None:
    """Wait (in this thread) for the build ``prepare`` reported; ``RuntimeFailed`` if it
    failed. Then ``prepare`` again."""
    try:
        platform.runtimes.wait(preparing.key, since=since)
    except RuntimeBuildError as exc:
        raise RuntimeFailed(failure_reason(exc)) from exc


def compose(
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
    identity_vars = identity(
        platform.settings,
        project=project,
        user=user,
        engine_id=ctx.engine_id,
        kind=kind,
        resources=resources,
        v1_key=ctx.v1_key,
        v2_key=ctx.v2_key,
    )
    identity_vars |= dict(extra_identity or {})
    # Where the project really is for this workload (``/home/cdsw`` under the sandbox): the
    # workload site's ``sitecustomize`` maps MLflow's ``/home/cdsw`` artifact paths onto it.
    identity_vars["LAKEWORKS_PROJECT_HOME"] = ctx.project_home
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
        metastore=platform.spark_metastore(project.id, runtime.directory),
        java=platform.java_home(),
    )
    # MLflow points at the embedded tracking server by default; these sit below the user
    # layers, so a project or job value wins, including "" (MLflow then uses ./mlruns).
    tracking_uri = f"{platform.settings.base_url}/mlflow"
    runtime_vars |= {
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MLFLOW_REGISTRY_URI": tracking_uri,
        "MLFLOW_TRACKING_TOKEN": ctx.v2_key,
        # MLflow 3 clients a project installs send usage data to the vendor unless told not
        # to; a self-hosted platform does not (a project may set it to "false").
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    runtime_vars |= pip_env(platform.settings)
    return layered(
        runtime_vars,
        *[{k: v for k, v in layer.items() if k != "PYTHONPATH"} for layer in layers],
        identity_vars=identity_vars,
    )
