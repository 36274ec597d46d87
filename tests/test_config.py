"""Settings: the environment they come from, what start-up refuses, and derived values."""

from __future__ import annotations

import secrets
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from lakeworks.config import MIN_SECRET_LENGTH, Settings, check_secret_key
from lakeworks.errors import InsecureSettings

STRONG_KEY = secrets.token_urlsafe(48)


def test_a_secret_key_is_required_outside_dev_mode(tmp_path: Path) -> None:
    with pytest.raises(InsecureSettings, match="LAKEWORKS_SECRET_KEY is not set"):
        check_secret_key(Settings(data_dir=tmp_path))
    assert not (tmp_path / "secret_key").exists(), "no key is invented outside dev mode"


@pytest.mark.parametrize(
    "key",
    [
        "changeme",
        "secret",
        "LAKEWORKS",
        "x" * (MIN_SECRET_LENGTH - 1),
        secrets.token_hex(8),  # random but too short
        "ab" * 40,  # long enough, but only two distinct characters
        "abcdefg" * 10,  # seven distinct characters
    ],
    # Fixed ids: a random value in a test id differs between pytest-xdist's workers.
    ids=["changeme", "secret", "name", "one-short", "random-short", "two-chars", "seven-chars"],
)
def test_weak_and_known_bad_keys_are_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(InsecureSettings, match="too weak"):
        check_secret_key(Settings(data_dir=tmp_path, secret_key=key))


def test_weak_keys_are_refused_in_dev_mode_too(tmp_path: Path) -> None:
    with pytest.raises(InsecureSettings, match="too weak"):
        check_secret_key(Settings(data_dir=tmp_path, secret_key="changeme", dev_mode=True))


def test_a_strong_key_is_kept_as_given(tmp_path: Path) -> None:
    checked = check_secret_key(Settings(data_dir=tmp_path, secret_key=STRONG_KEY))
    assert checked.secret_key == STRONG_KEY
    assert not (tmp_path / "secret_key").exists()


def test_dev_mode_generates_a_key_once_and_reuses_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = check_secret_key(Settings(data_dir=data_dir, dev_mode=True))
    key_file = data_dir / "secret_key"

    assert len(first.secret_key) >= MIN_SECRET_LENGTH
    assert key_file.read_text() == first.secret_key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # The generated key would pass the production check as well.
    assert check_secret_key(Settings(data_dir=tmp_path, secret_key=first.secret_key))

    second = check_secret_key(Settings(data_dir=data_dir, dev_mode=True))
    assert second.secret_key == first.secret_key, "browser logins survive a restart"

    other = check_secret_key(Settings(data_dir=tmp_path / "other", dev_mode=True))
    assert other.secret_key != first.secret_key, "each data directory has its own key"


def test_dev_mode_replaces_an_empty_key_file(tmp_path: Path) -> None:
    # What a start interrupted between creating the file and writing the key leaves behind.
    tmp_path.joinpath("secret_key").touch(mode=0o600)

    checked = check_secret_key(Settings(data_dir=tmp_path, dev_mode=True))

    assert len(checked.secret_key) >= MIN_SECRET_LENGTH
    assert tmp_path.joinpath("secret_key").read_text() == checked.secret_key


def test_dev_mode_uses_a_given_key_without_writing_one(tmp_path: Path) -> None:
    checked = check_secret_key(Settings(data_dir=tmp_path, dev_mode=True, secret_key=STRONG_KEY))
    assert checked.secret_key == STRONG_KEY
    assert not (tmp_path / "secret_key").exists()


def test_the_default_database_is_a_sqlite_file_in_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings(data_dir=Path("relative-data"))
    expected = (tmp_path / "relative-data" / "lakeworks.db").resolve()
    # Absolute, so the server and `lakeworks db upgrade` agree wherever they are started.
    assert settings.resolved_database_url == f"sqlite:///{expected}"
    assert settings.projects_dir == tmp_path / "relative-data" / "projects"


def test_an_explicit_database_url_wins(tmp_path: Path) -> None:
    url = "postgresql+psycopg://lw@db.example.org/lakeworks"
    assert Settings(data_dir=tmp_path, database_url=url).resolved_database_url == url


def test_settings_are_read_from_lakeworks_environment_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKEWORKS_DATA_DIR", str(tmp_path / "env-data"))
    monkeypatch.setenv("LAKEWORKS_DATABASE_URL", "sqlite:////srv/lw.db")
    monkeypatch.setenv("LAKEWORKS_SECRET_KEY", STRONG_KEY)
    monkeypatch.setenv("LAKEWORKS_DEV_MODE", "true")
    monkeypatch.setenv("LAKEWORKS_PORT", "9100")
    monkeypatch.setenv("LAKEWORKS_PUBLIC_URL", "https://ml.example.org/")
    monkeypatch.setenv("LAKEWORKS_MAX_UPLOAD_BYTES", "1234")
    monkeypatch.setenv("DATA_DIR", "/not/ours")  # unprefixed variables are not read

    settings = Settings()

    assert settings.data_dir == tmp_path / "env-data"
    assert settings.resolved_database_url == "sqlite:////srv/lw.db"
    assert settings.secret_key == STRONG_KEY
    assert settings.dev_mode is True
    assert settings.port == 9100
    assert settings.base_url == "https://ml.example.org"
    assert settings.max_upload_bytes == 1234


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LAKEWORKS_PORT", "0"),
        ("LAKEWORKS_PORT", "70000"),
        ("LAKEWORKS_MAX_UPLOAD_BYTES", "0"),
        ("LAKEWORKS_DEV_MODE", "maybe"),
    ],
)
def test_invalid_environment_values_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=name.removeprefix("LAKEWORKS_").lower()):
        Settings()


def test_base_url_and_domain_come_from_the_public_url() -> None:
    settings = Settings(public_url="https://ml.example.org/")
    assert settings.base_url == "https://ml.example.org"
    assert settings.domain == "ml.example.org"
    assert settings.https is True

    with_port = Settings(public_url="http://ml.example.org:8443")
    assert with_port.domain == "ml.example.org:8443"
    assert with_port.https is False


@pytest.mark.parametrize(
    ("host", "port", "base_url"),
    [
        # Loopback and wildcard binds are reached as `localhost`, where browsers also resolve
        # `<app>.localhost` (issue 13: host-routed apps on a laptop).
        ("127.0.0.1", 8000, "http://localhost:8000"),
        ("0.0.0.0", 8080, "http://localhost:8080"),
        ("::", 8081, "http://localhost:8081"),
        ("ml-box", 9000, "http://ml-box:9000"),
    ],
)
def test_without_a_public_url_the_bind_address_is_used(host: str, port: int, base_url: str) -> None:
    settings = Settings(host=host, port=port)
    assert settings.base_url == base_url
    assert settings.domain == base_url.removeprefix("http://")
    assert settings.https is False


def test_directories_are_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Workloads bind them into their sandbox: a relative path failed every job and build of
    # `lakeworks demo` (".lakeworks-demo").
    monkeypatch.chdir(tmp_path)
    settings = Settings(data_dir=Path(".lakeworks-demo"), runtimes_dir=Path("rt"))
    assert settings.data_dir == tmp_path / ".lakeworks-demo"
    assert settings.runtimes_dir == tmp_path / "rt"
    assert settings.projects_dir.is_absolute() and settings.workloads_dir.is_absolute()
    assert Settings().data_dir == tmp_path / "lakeworks-data"
