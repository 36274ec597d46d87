"""The `lakeworks` command: database migration, user and key administration, server start-up."""

from __future__ import annotations

import secrets
import socket
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from tests.ports import free_port

from lakeworks.cli.main import main
from lakeworks.config import Settings
from lakeworks.entities.users import ApiKeyKind
from lakeworks.services import auth, projects
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.database import current_revision, head_revision
from lakeworks.store.uow import Store

PASSWORD = "a long enough password"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    data_dir = tmp_path / "data"
    return {
        "LAKEWORKS_DATA_DIR": str(data_dir),
        "LAKEWORKS_DATABASE_URL": f"sqlite:///{data_dir / 'cli.db'}",
    }


Invoke = Callable[..., Result]


@pytest.fixture
def cli(env: dict[str, str]) -> Invoke:
    """Run `lakeworks ARGS...` with ``env`` (changes to ``env`` apply to later calls)."""

    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(main, list(args), env=env, input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def store(env: dict[str, str]) -> Iterator[Store]:
    """The CLI's own database (overrides the suite's shared ``store``)."""
    store = Store.from_url(env["LAKEWORKS_DATABASE_URL"])
    yield store
    store.dispose()


@pytest.fixture
def migrated(cli: Invoke) -> None:
    assert cli("db", "upgrade").exit_code == 0


def test_help_lists_the_commands(cli: Invoke) -> None:
    result = cli("--help")
    assert result.exit_code == 0
    for command in ("server", "db", "admin", "demo"):
        assert f"  {command} " in result.output
    admin_help = cli("admin", "--help").output
    assert "create-user" in admin_help and "create-api-key" in admin_help
    assert "upgrade" in cli("db", "-h").output


def test_db_upgrade_migrates_once_and_then_is_a_no_op(cli: Invoke, store: Store) -> None:
    first = cli("db", "upgrade")
    assert first.exit_code == 0, first.output
    head = head_revision(store.engine)
    assert f"migrated from empty to {head}" in first.output
    assert current_revision(store.engine) == head

    second = cli("db", "upgrade")
    assert second.exit_code == 0, second.output
    assert f"already at revision {head}" in second.output
    store.check_migrated()


def test_the_default_database_lives_in_the_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "only-data-dir"
    result = CliRunner().invoke(main, ["db", "upgrade"], env={"LAKEWORKS_DATA_DIR": str(data_dir)})
    assert result.exit_code == 0, result.output
    assert (data_dir / "lakeworks.db").is_file()


def test_create_user_reads_the_password_from_stdin(
    cli: Invoke, store: Store, migrated: None
) -> None:
    result = cli(
        "admin",
        "create-user",
        "alice",
        "--admin",
        "--password-stdin",
        "--name",
        "Alice Liddell",
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    assert "Created administrator alice." in result.stderr
    assert result.stdout == "", "stdout stays clean for scripts"

    platform = Platform(Settings(database_url=str(store.engine.url)), store)
    user = auth.login(platform, "alice", PASSWORD)
    assert user.is_admin and user.name == "Alice Liddell"


def test_create_user_refuses_a_duplicate(cli: Invoke, migrated: None) -> None:
    assert cli("admin", "create-user", "bob", "--password-stdin", input=PASSWORD).exit_code == 0

    again = cli("admin", "create-user", "bob", "--password-stdin", input=PASSWORD)

    assert again.exit_code != 0
    assert "'bob' is already taken" in again.output
    assert "Traceback" not in again.output


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("carol", "short", "at least 10 characters"),
        ("carol", "", "at least 10 characters"),
        ("Not Valid!", PASSWORD, "not a valid username"),
    ],
)
def test_create_user_refuses_bad_input(
    cli: Invoke,
    store: Store,
    migrated: None,
    username: str,
    password: str,
    message: str,
) -> None:
    result = cli("admin", "create-user", username, "--password-stdin", input=password)
    assert result.exit_code != 0
    assert message in result.output
    with store.transaction() as uow:
        assert uow.users.search() == []


def test_admin_commands_refuse_an_unmigrated_database(cli: Invoke) -> None:
    result = cli("admin", "create-user", "dave", "--password-stdin", input=PASSWORD)
    assert result.exit_code != 0
    assert "lakeworks db upgrade" in result.output


def test_create_api_key_prints_a_working_key(cli: Invoke, store: Store, migrated: None) -> None:
    cli("admin", "create-user", "alice", "--password-stdin", input=PASSWORD)

    result = cli("admin", "create-api-key", "alice", "--name", "ci")

    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert "\n" not in secret
    platform = Platform(Settings(database_url=str(store.engine.url)), store)
    principal = auth.authenticate_key(platform, secret, ApiKeyKind.V2)
    assert principal.user.username == "alice"
    with store.transaction() as uow:
        [key] = uow.users.api_keys_of(principal.user.id)
    assert key.name == "ci"


def test_create_api_key_for_an_unknown_user_fails(cli: Invoke, migrated: None) -> None:
    result = cli("admin", "create-api-key", "ghost")
    assert result.exit_code != 0
    assert "User 'ghost' not found" in result.output


@pytest.fixture
def no_binding(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the server must not start")

    monkeypatch.setattr(uvicorn, "Server", refuse)


def test_server_refuses_an_unmigrated_database(
    cli: Invoke,
    env: dict[str, str],
    no_binding: None,
) -> None:
    env["LAKEWORKS_SECRET_KEY"] = secrets.token_urlsafe(48)
    result = cli("server", "--port", "8765")
    assert result.exit_code != 0
    assert "`lakeworks db upgrade`" in result.output
    assert "Traceback" not in result.output


def test_server_refuses_a_missing_secret_key(cli: Invoke, migrated: None, no_binding: None) -> None:
    result = cli("server")
    assert result.exit_code != 0
    assert "LAKEWORKS_SECRET_KEY is not set" in result.output


def test_invalid_settings_are_reported_without_a_traceback(
    cli: Invoke, env: dict[str, str]
) -> None:
    env["LAKEWORKS_PORT"] = "not-a-port"
    result = cli("db", "upgrade")
    assert result.exit_code != 0
    assert "Invalid LAKEWORKS_* setting" in result.output


def test_demo_sets_up_a_user_and_the_churn_project_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    served: list[dict[str, object]] = []

    class Server:
        """uvicorn's Server as ``lakeworks demo`` runs it, serving nothing on the sockets the
        command bound (its port, the model gateway's socket for workloads)."""

        def __init__(self, config: uvicorn.Config) -> None:
            served.append(
                {
                    name: getattr(config, name)
                    for name in ("host", "port", "log_level", "proxy_headers", "server_header")
                }
            )
            self.started = True

        def run(self, sockets: list[socket.socket]) -> None:
            served[-1]["families"] = [s.family for s in sockets]
            for each in sockets:
                each.close()

    monkeypatch.setattr(uvicorn, "Server", Server)
    data_dir = tmp_path / "demo"
    runner = CliRunner()
    port = free_port()

    first = runner.invoke(main, ["demo", "--data-dir", str(data_dir), "--port", str(port)], env={})
    assert first.exit_code == 0, first.output
    credentials = data_dir / "demo-credentials.txt"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    password = credentials.read_text().split("password: ")[1].strip()
    assert f"password: {password}" in first.output
    assert served == [
        {
            "host": "127.0.0.1",
            "port": port,
            "log_level": "info",
            "proxy_headers": True,
            "server_header": False,
            "families": [socket.AF_INET, socket.AF_UNIX],
        }
    ]
    assert stat.S_ISSOCK((data_dir / "run" / "gateway.sock").stat().st_mode)

    store = Store.from_url(f"sqlite:///{data_dir / 'lakeworks.db'}")
    try:
        platform = Platform(Settings(data_dir=data_dir), store)
        demo = auth.login(platform, "demo", password)
        views, _ = projects.list_projects(platform, Principal(user=demo, via="session"))
        [project] = [v.project for v in views]
        assert project.name == "Telco churn demo"
        csv = platform.settings.projects_dir / project.id / "data" / "telco-customer-churn.csv"
        assert csv.stat().st_size > 0

        second = runner.invoke(main, ["demo", "--data-dir", str(data_dir)], env={})
        assert second.exit_code == 0, second.output
        assert password not in second.output, "the password is printed only once"
        assert "demo-credentials.txt" in second.output
        assert len(projects.list_projects(platform, Principal(user=demo, via="session"))[0]) == 1
    finally:
        store.dispose()
