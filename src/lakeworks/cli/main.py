"""`lakeworks`: run the server, migrate the database, manage users and keys, start the demo.

Operators script set-up with these commands, so their forms are stable:

    lakeworks server [--host H] [--port P]
    lakeworks db upgrade
    lakeworks admin create-user USERNAME [--admin] [--password-stdin]
    lakeworks admin create-api-key USERNAME
    lakeworks demo
    lakeworks runtimes list
    lakeworks runtimes build [PYTHON_VERSION] [--all] [--edition lean] [--quiet]
    lakeworks runtimes remove NAME
"""

from __future__ import annotations

import getpass
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from pydantic import ValidationError

from lakeworks import __version__, heap
from lakeworks.cli import remote
from lakeworks.config import Settings
from lakeworks.errors import LakeworksError

if TYPE_CHECKING:
    from lakeworks.services.platform import Platform


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise click.ClickException(f"Invalid LAKEWORKS_* setting:\n{exc}") from exc


def _fail(exc: LakeworksError) -> click.ClickException:
    return click.ClickException(exc.message)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lakeworks")
def main() -> None:
    """Lakeworks: a self-hosted machine learning workbench that runs CML projects unchanged.

    Every option can also come from the environment (LAKEWORKS_DATA_DIR,
    LAKEWORKS_DATABASE_URL, LAKEWORKS_SECRET_KEY, ...); see the README's configuration table.
    """


# Client commands of a server's API v2, on cmlapi (forms in cli/remote.py's docstring).
main.add_command(remote.projects)
main.add_command(remote.jobs)
main.add_command(remote.models)


@main.command()
@click.option("--host", help="Address to bind (LAKEWORKS_HOST, default 127.0.0.1).")
@click.option("--port", type=int, help="Port to bind (LAKEWORKS_PORT, default 8000).")
def server(host: str | None, port: int | None) -> None:
    """Run the Lakeworks server (UI, API v2, API v1) in the foreground."""
    settings = _settings(host=host, port=port)
    _serve(settings)


def _serve(settings: Settings) -> None:
    import uvicorn

    from lakeworks.app import create_app, server_config
    from lakeworks.serving import local_socket

    try:
        app = create_app(settings)
        from lakeworks.tracking import backend as mlflow_backend

        mlflow_backend.check_migrated(settings)
    except LakeworksError as exc:
        raise _fail(exc) from exc
    click.echo(f"Lakeworks {__version__} on {settings.base_url} (data in {settings.data_dir})")
    _sandbox_notice(settings, app.state.platform)
    config = server_config(app, settings)
    server = uvicorn.Server(config)
    try:
        sockets = [config.bind_socket()]  # exits when the port is taken, after saying so
    except SystemExit:
        sys.exit(3)
    if local_socket.wanted(settings):
        try:
            sockets.append(local_socket.bind(settings))
        except OSError as exc:  # workloads then call models over TCP
            click.echo(f"WARNING: no model gateway socket for workloads: {exc}", err=True)
    heap.freeze()  # what start-up made lives as long as the process (``heap``)
    server.run(sockets=sockets)
    if not server.started:
        sys.exit(3)  # as uvicorn.run: start-up failed


def _sandbox_notice(settings: Settings, platform: Platform) -> None:
    """Say at start-up, where an operator looks, when workloads are not isolated or cannot
    start at all."""
    if settings.sandbox == "none":
        click.echo(
            "WARNING: LAKEWORKS_SANDBOX=none: workloads run unsandboxed as this server's user "
            "and can read its files (secret key, database). Single-user machines only.",
            err=True,
        )
        return
    refusal = getattr(platform.executor, "refusal", "")
    if refusal:
        click.echo(f"ERROR: no workload will start: {refusal}.", err=True)


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Migrate the metadata database to this version's schema (safe to run repeatedly)."""
    from lakeworks.store.database import current_revision, head_revision, make_engine, upgrade

    settings = _settings()
    engine = make_engine(settings.resolved_database_url)
    before = current_revision(engine)
    upgrade(engine)
    after = current_revision(engine)
    engine.dispose()
    # MLflow's own tables (experiments, runs, registry), by MLflow's own migrations.
    from lakeworks.tracking import backend as mlflow_backend

    mlflow_backend.upgrade(settings)
    mlflow_url = _masked(mlflow_backend.mlflow_database_url(settings))
    click.echo(f"Experiments (MLflow) database ready: {mlflow_url}.")
    if before == after:
        click.echo(f"Database already at revision {after}.")
    else:
        click.echo(
            f"Database migrated from {before or 'empty'} to {after} (head {head_revision(engine)})."
        )


@main.group()
def admin() -> None:
    """User and key administration from the server's shell."""


def _platform(settings: Settings):  # type: ignore[no-untyped-def]
    from lakeworks.services.platform import Platform
    from lakeworks.store.uow import Store

    store = Store.from_url(settings.resolved_database_url)
    try:
        store.check_migrated()
    except LakeworksError as exc:
        raise _fail(exc) from exc
    return Platform(settings, store)


@admin.command("create-user")
@click.argument("username")
@click.option("--admin", "is_admin", is_flag=True, help="Make the user a site administrator.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--name", default="", help="Full name.")
@click.option("--email", default="", help="Email address.")
def create_user(username: str, is_admin: bool, password_stdin: bool, name: str, email: str) -> None:
    """Create a local user. Without --password-stdin you are asked for the password."""
    from lakeworks.services import users

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != password:
            raise click.ClickException("The passwords differ.")
    platform = _platform(_settings())
    try:
        user = users.create_user(
            platform,
            None,
            username=username,
            password=password,
            name=name,
            email=email,
            is_admin=is_admin,
        )
    except LakeworksError as exc:
        raise _fail(exc) from exc
    kind = "administrator" if user.is_admin else "user"
    click.echo(f"Created {kind} {user.username}.", err=True)


@admin.command("create-api-key")
@click.argument("username")
@click.option("--name", default="cli", help="A label for the key.")
def create_api_key(username: str, name: str) -> None:
    """Print a new API v2 key for USERNAME on standard output (shown only this once)."""
    from lakeworks.services import auth
    from lakeworks.services.platform import Principal

    platform = _platform(_settings())
    with platform.read() as uow:
        user = uow.users.by_username(username)
    if user is None:
        raise click.ClickException(f"User {username!r} not found.")
    # The operator at the shell acts for the user.
    principal = Principal(user=user, via="cli")
    try:
        new = auth.create_api_key(platform, principal, username, name=name)
    except LakeworksError as exc:
        raise _fail(exc) from exc
    click.echo(new.secret)


@main.command()
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the demo keeps its data (default ./.lakeworks-demo).",
)
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to bind (default 8000).")
def demo(data_dir: Path | None, host: str | None, port: int | None) -> None:
    """Start Lakeworks on SQLite with a demo user and the telco churn demo project.

    Runs in dev mode. The demo user's password is generated and printed on first start.
    """
    from lakeworks.services import projects, users
    from lakeworks.services.platform import Principal
    from lakeworks.store.database import make_engine, upgrade

    settings = _settings(
        data_dir=data_dir or Path(".lakeworks-demo"), dev_mode=True, host=host, port=port
    )
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    engine.dispose()
    from lakeworks.tracking import backend as mlflow_backend

    mlflow_backend.upgrade(settings)
    platform = _platform(settings)
    with platform.read() as uow:
        demo_user = uow.users.by_username("demo")
    if demo_user is None:
        password = secrets.token_urlsafe(12)
        demo_user = users.create_user(
            platform, None, username="demo", password=password, name="Demo Admin", is_admin=True
        )
        principal = Principal(user=demo_user, via="cli")
        projects.create(
            platform,
            principal,
            name="Telco churn demo",
            description="Customer churn data and a model, from the CML workshop labs.",
            source=projects.parse_source("churn-demo", ""),
        )
        credentials = settings.data_dir / "demo-credentials.txt"
        credentials.touch(mode=0o600)
        credentials.write_text(f"username: demo\npassword: {password}\n")
        click.echo(
            f"\nDemo user created. Sign in at {settings.base_url}/login as\n"
            f"    username: demo\n    password: {password}\n"
            f"(also saved in {credentials})\n"
        )
    else:
        click.echo(
            f"\nSign in at {settings.base_url}/login as 'demo' "
            f"(password in {settings.data_dir / 'demo-credentials.txt'}).\n"
        )
    platform.store.dispose()
    _serve(settings)


@main.group()
def runtimes() -> None:
    """Python runtimes: list them, build them ahead of first use, remove unused ones."""


def _runtime_manager(settings: Settings):  # type: ignore[no-untyped-def]
    from lakeworks.runtimes.manager import RuntimeManager

    return RuntimeManager(settings.resolved_runtimes_dir, default_python=settings.default_python)


@runtimes.command("list")
def runtimes_list() -> None:
    """Every runtime of this host: its state, size and where it is."""
    manager = _runtime_manager(_settings())
    try:
        states = manager.states()
    except LakeworksError as exc:
        raise _fail(exc) from exc
    for state in states:
        size = f"{state.size_bytes / 2**30:.1f} GiB" if state.size_bytes else "-"
        mark = " (default)" if state.is_default else ""
        reason = f": {state.reason.splitlines()[-1]}" if state.reason else ""
        click.echo(
            f"Python {state.full_version:<8} {state.edition:<9} {state.state:<11} {size:>9}  "
            f"{state.path}{mark}{reason}"
        )
    for path in manager.stale():
        click.echo(f"stale (an earlier release)        {path}")


@runtimes.command("build")
@click.argument("python_version", required=False)
@click.option("--all", "build_all", is_flag=True, help="Build every available Python's runtime.")
@click.option(
    "--edition",
    default="Standard",
    show_default=True,
    help="The runtime edition to build (Standard, Lean).",
)
@click.option("--quiet", is_flag=True, help="Only the build log file gets the tools' output.")
def runtimes_build(python_version: str | None, build_all: bool, edition: str, quiet: bool) -> None:
    """Build a runtime now, in the foreground, printing the build's output (default: the
    default runtime's Python). Does nothing for a runtime that is built. PYTHON_VERSION may
    name an edition too (`3.11-lean`)."""
    import time

    from lakeworks.runtimes import editions

    chosen = editions.by_name(edition)
    if chosen is None:
        names = ", ".join(e.name for e in editions.EDITIONS)
        raise click.UsageError(f"No edition {edition!r} (editions: {names}).")
    settings = _settings()
    manager = _runtime_manager(settings)
    try:
        if build_all:
            versions = manager.catalog.pythons()
        else:
            versions = [python_version or manager.default_python()]
        for version in versions:
            key = version if "-" in version else editions.runtime_key(version, chosen)
            started = time.monotonic()
            path = manager.build_now(
                key, log=None if quiet else lambda text: click.echo(text, nl=False, err=True)
            )
            click.echo(f"Python {key}: {path} ({time.monotonic() - started:.0f} s)")
    except LakeworksError as exc:
        raise _fail(exc) from exc


@runtimes.command("remove")
@click.argument("name")
def runtimes_remove(name: str) -> None:
    """Delete a built runtime (a directory name that `lakeworks runtimes list` shows) that no
    running process uses."""
    manager = _runtime_manager(_settings())
    try:
        manager.remove(name)
    except LakeworksError as exc:
        raise _fail(exc) from exc
    click.echo(f"Removed {name}.")


def _masked(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    main()
