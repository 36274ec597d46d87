"""Remote commands: ``lakeworks`` as a client of a server's API v2, built on ``cmlapi``.

    lakeworks projects list [--all] [--search TEXT]
    lakeworks jobs list PROJECT_ID
    lakeworks jobs run PROJECT_ID JOB [--arguments TEXT] [--env NAME=VALUE ...] [--wait]
    lakeworks models list PROJECT_ID
    lakeworks models deploy PROJECT_ID MODEL [--file F --function FN | --build ID] [--wait]

The server and key come from ``--url`` and ``--api-key``, else from the environment as
``cmlapi.default_client()`` reads it (``CDSW_API_URL``, ``CDSW_APIV2_KEY``), so the same
commands work from a laptop and inside a workload.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

import click

from lakeworks.sdk import load

F = TypeVar("F", bound=Callable[..., Any])
FINAL_BUILD_STATUSES = {"built", "build failed", "timedout"}
FINAL_DEPLOYMENT_STATUSES = {"deployed", "failed", "stopped"}
FINAL_RUN_STATUSES = {
    "ENGINE_SUCCEEDED",
    "ENGINE_FAILED",
    "ENGINE_TIMEDOUT",
    "ENGINE_STOPPED",
    "ENGINE_SKIPPED",
}


def _connection(command: F) -> F:
    command = click.option(
        "--api-key", default=None, help="API v2 key (default: $CDSW_APIV2_KEY)."
    )(command)
    return click.option(
        "--url", default=None, help="Server base URL (default: $CDSW_API_URL without /api/v1)."
    )(command)


def _api(url: str | None, api_key: str | None) -> Any:
    cmlapi = load()
    try:
        return cmlapi.default_client(url, api_key)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


def _call(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``call`` with an API error turned into a one-line CLI error (exit status 1)."""
    cmlapi = load()
    try:
        return call(*args, **kwargs)
    except cmlapi.rest.ApiException as exc:
        where = f"HTTP {exc.status}" if exc.status else "no answer"
        raise click.ClickException(f"{exc.message} ({where})") from exc


def _every(list_fn: Callable[..., Any], **kwargs: Any) -> list[Any]:
    """Every item of a paged list call (``cmlapi.utils.Cursor``)."""
    cursor = load().utils.Cursor(list_fn, page_size=100, **kwargs)
    return list(_call(lambda: list(cursor.items())))


def _table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo(
            "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip()
        )


@click.group()
def projects() -> None:
    """Projects on a Lakeworks (or CML) server."""


@projects.command("list")
@_connection
@click.option("--all", "include_all", is_flag=True, help="Every project (administrators).")
@click.option("--search", default="", help="Only projects whose name contains TEXT.")
def projects_list(url: str | None, api_key: str | None, include_all: bool, search: str) -> None:
    """List the projects you can see: id, name, owner, visibility."""
    api = _api(url, api_key)
    found = _every(
        api.list_projects,
        include_all_projects=include_all or None,
        search_filter=json.dumps({"name": search}) if search else None,
    )
    rows = [[p.id, p.name, p.owner.username if p.owner else "", p.visibility] for p in found]
    _table(rows, ["ID", "NAME", "OWNER", "VISIBILITY"])


@click.group()
def jobs() -> None:
    """Jobs of a project on a Lakeworks (or CML) server."""


@jobs.command("list")
@_connection
@click.argument("project_id")
def jobs_list(url: str | None, api_key: str | None, project_id: str) -> None:
    """List a project's jobs: id, name, script, type and latest run status."""
    api = _api(url, api_key)
    rows = [
        [j.id, j.name, j.script, j.type, j.latest.status if j.latest else ""]
        for j in _every(api.list_jobs, project_id=project_id)
    ]
    _table(rows, ["ID", "NAME", "SCRIPT", "TYPE", "LATEST"])


@jobs.command("run")
@_connection
@click.argument("project_id")
@click.argument("job")
@click.option("--arguments", default=None, help="Arguments for this run (replace the job's).")
@click.option("--env", "env", multiple=True, metavar="NAME=VALUE", help="Extra variable.")
@click.option("--wait", is_flag=True, help="Wait for the run to end; exit 1 unless it succeeds.")
@click.option("--poll-seconds", default=2.0, show_default=True, hidden=True)
def jobs_run(
    url: str | None,
    api_key: str | None,
    project_id: str,
    job: str,
    arguments: str | None,
    env: tuple[str, ...],
    wait: bool,
    poll_seconds: float,
) -> None:
    """Start a run of JOB (its id or its name) and print the run's id and status."""
    cmlapi = load()
    api = _api(url, api_key)
    variables = {}
    for item in env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE.", param_hint="--env")
        variables[name] = value
    job_id = _job_id(api, project_id, job)
    body = cmlapi.CreateJobRunRequest(
        project_id, job_id, environment=variables or None, arguments=arguments
    )
    run = _call(api.create_job_run, body, project_id, job_id)
    click.echo(f"{run.id} {run.status}")
    if not wait:
        return
    while run.status not in FINAL_RUN_STATUSES:
        time.sleep(poll_seconds)
        run = _call(api.get_job_run, project_id, job_id, run.id)
    click.echo(f"{run.id} {run.status}")
    if run.status != "ENGINE_SUCCEEDED":
        raise click.exceptions.Exit(1)


def _job_id(api: Any, project_id: str, job: str) -> str:
    """``job`` as an id: itself when it is one of the project's job ids, else by name."""
    return _pick(_every(api.list_jobs, project_id=project_id), job, "job", project_id)


@click.group()
def models() -> None:
    """Models of a project on a Lakeworks (or CML) server."""


@models.command("list")
@_connection
@click.argument("project_id")
def models_list(url: str | None, api_key: str | None, project_id: str) -> None:
    """List a project's models: id, name, access key and whether calls need a key."""
    api = _api(url, api_key)
    rows = [
        [m.id, m.name, m.access_key, "yes" if m.auth_enabled else "no"]
        for m in _every(api.list_models, project_id=project_id)
    ]
    _table(rows, ["ID", "NAME", "ACCESS KEY", "AUTH"])


@models.command("deploy")
@_connection
@click.argument("project_id")
@click.argument("model")
@click.option("--file", "file_path", default=None, help="Build FILE first (with --function).")
@click.option("--function", "function_name", default=None, help="The function FILE serves.")
@click.option("--build", "build_id", default=None, help="Deploy this build (default: newest).")
@click.option("--cpu", default=1.0, show_default=True, help="vCPU per replica.")
@click.option("--memory", default=2.0, show_default=True, help="GB per replica.")
@click.option("--replicas", default=1, show_default=True)
@click.option("--wait", is_flag=True, help="Wait until deployed; exit 1 if it fails.")
@click.option("--poll-seconds", default=2.0, show_default=True, hidden=True)
def models_deploy(
    url: str | None,
    api_key: str | None,
    project_id: str,
    model: str,
    file_path: str | None,
    function_name: str | None,
    build_id: str | None,
    cpu: float,
    memory: float,
    replicas: int,
    wait: bool,
    poll_seconds: float,
) -> None:
    """Deploy MODEL (its id or name): build FILE/FUNCTION first, or take a build that exists.

    A new build is waited for (a deployment needs a built build); with --wait the deployment
    is too. Prints the build and the deployment, one line each, as id and status.
    """
    cmlapi = load()
    api = _api(url, api_key)
    if bool(file_path) != bool(function_name):
        raise click.UsageError("--file and --function go together.")
    if file_path and build_id:
        raise click.UsageError("Give --file/--function or --build, not both.")
    found = _every(api.list_models, project_id=project_id)
    model_id = _pick(found, model, "model", project_id)

    def settle(read: Callable[[], Any], final: set[str]) -> Any:
        current = read()
        while current.status not in final:
            time.sleep(poll_seconds)
            current = read()
        return current

    if file_path:
        body = cmlapi.CreateModelBuildRequest(
            project_id=project_id,
            model_id=model_id,
            file_path=file_path,
            function_name=function_name,
            kernel="python3",
        )
        build = _call(api.create_model_build, body, project_id, model_id)
        build = settle(
            lambda: _call(api.get_model_build, project_id, model_id, build.id),
            FINAL_BUILD_STATUSES,
        )
    elif build_id:
        build = _call(api.get_model_build, project_id, model_id, build_id)
    else:
        newest = _call(api.list_model_builds, project_id, model_id, sort="-created_at").model_builds
        if not newest:
            raise click.ClickException("The model has no build; give --file and --function.")
        build = newest[0]
    click.echo(f"build {build.id} {build.status}")
    if build.status != "built":
        raise click.ClickException(f"Build {build.id} is {build.status!r}, not built.")
    body = cmlapi.CreateModelDeploymentRequest(cpu=cpu, memory=memory, replicas=replicas)
    deployment = _call(api.create_model_deployment, body, project_id, model_id, build.id)
    if wait:
        deployment = settle(
            lambda: _call(api.get_model_deployment, project_id, model_id, build.id, deployment.id),
            FINAL_DEPLOYMENT_STATUSES,
        )
    click.echo(f"deployment {deployment.id} {deployment.status}")
    if wait and deployment.status != "deployed":
        raise click.exceptions.Exit(1)


def _pick(found: list[Any], wanted: str, noun: str, project_id: str) -> str:
    """``wanted`` as an id among ``found``: itself when it is an id, else by unique name."""
    if wanted in {item.id for item in found}:
        return wanted
    named = [item.id for item in found if item.name == wanted]
    if len(named) != 1:
        problem = f"No {noun}" if not named else f"{len(named)} {noun}s"
        raise click.ClickException(f"{problem} named {wanted!r} in project {project_id}.")
    return str(named[0])
