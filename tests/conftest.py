"""Shared fixtures. Each test gets its own data directory, database state and environment.

Provides:
- ``database_url``: a migrated database for the session — SQLite by default, PostgreSQL (in a
  schema of its own) when ``LAKEWORKS_TEST_DATABASE_URL`` is set.
- ``settings``: Settings with a fresh data dir and a strong secret key (not dev mode).
- ``store``: the Store on a clean database (SQLite: a fresh copy; PostgreSQL: truncated).
- ``app`` / ``client``: the ASGI app and a TestClient for it; ``platform``: its Platform.
- ``make_user(username, is_admin=False)``: a user whose password is ``PASSWORD``.
- ``admin``: a site administrator. ``api_headers(user)``: Bearer headers with a fresh API key.
- ``login(client, username)``: signs a TestClient in through the login form, returns its CSRF token.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from lakeworks.config import Settings
from lakeworks.entities.users import User
from lakeworks.services import auth, users
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.database import make_engine, upgrade
from lakeworks.store.tables import Base
from lakeworks.store.uow import Store

PASSWORD = "correct horse battery"
TEST_DATABASE_URL = os.environ.get("LAKEWORKS_TEST_DATABASE_URL", "")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No LAKEWORKS_* variable of the machine leaks into a test."""
    for name in list(os.environ):
        if name.startswith("LAKEWORKS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not TEST_DATABASE_URL:
        template = tmp_path_factory.mktemp("db") / "template.db"
        engine = make_engine(f"sqlite:///{template}")
        upgrade(engine)
        engine.dispose()
        yield f"sqlite:///{template}"
        return
    # Each run gets its own schema, so concurrent runs on one server never collide.
    schema = f"lwtest_{uuid.uuid4().hex[:12]}"
    admin_engine = make_engine(TEST_DATABASE_URL)
    with admin_engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(TEST_DATABASE_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    rendered = url.render_as_string(hide_password=False)
    engine = make_engine(rendered)
    upgrade(engine)
    engine.dispose()
    _seeded_rows(rendered)
    try:
        yield rendered
    finally:
        with admin_engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin_engine.dispose()


_SEEDED: dict[str, dict[str, list[dict[str, object]]]] = {}


def _seeded_rows(database_url: str) -> dict[str, list[dict[str, object]]]:
    """Rows present right after migrating (read once, before any test wrote)."""
    if database_url not in _SEEDED:
        engine = make_engine(database_url)
        with engine.connect() as conn:
            _SEEDED[database_url] = {
                table.name: [dict(row._mapping) for row in conn.execute(table.select())]
                for table in Base.metadata.sorted_tables
            }
        engine.dispose()
        _SEEDED[database_url] = {k: v for k, v in _SEEDED[database_url].items() if v}
    return _SEEDED[database_url]


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[Store]:
    if database_url.startswith("sqlite"):
        template = Path(make_url(database_url).database or "")
        copy = tmp_path / "lakeworks.db"
        shutil.copy(template, copy)
        store = Store.from_url(f"sqlite:///{copy}")
    else:
        store = Store.from_url(database_url)
        tables = ", ".join(t.name for t in reversed(Base.metadata.sorted_tables))
        with store.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            # Put back the rows the migrations seed (default resource profiles), as a fresh
            # database has them.
            # Without their ids, so the restarted sequences hand out the same ones again.
            for table, rows in _seeded_rows(database_url).items():
                conn.execute(
                    Base.metadata.tables[table].insert(),
                    [{k: v for k, v in row.items() if k != "id"} for row in rows],
                )
    yield store
    store.dispose()


@pytest.fixture
def settings(tmp_path: Path, store: Store) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=str(store.engine.url.render_as_string(hide_password=False)),
        secret_key=secrets.token_urlsafe(48),
        public_url="http://testserver",
        max_upload_bytes=2 * 1024 * 1024,
        max_archive_bytes=4 * 1024 * 1024,
        max_archive_members=500,
        scheduler_enabled=False,  # tests drive ticks themselves (Scheduler.tick)
        # A JVM per server otherwise; the shared metastore's tests opt in (tests/data).
        spark_metastore="embedded",
    )


@pytest.fixture
def app(settings: Settings, store: Store) -> FastAPI:
    from lakeworks.app import create_app

    return create_app(settings, store)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


@pytest.fixture
def platform(settings: Settings, store: Store) -> Iterator[Platform]:
    """The Platform services use; the ``app`` fixture shares the same settings and store."""
    settings.projects_dir.mkdir(parents=True, exist_ok=True)
    made = Platform(settings, store)
    yield made
    made.close_executor()  # what it holds, such as network namespaces made ahead


@pytest.fixture
def make_user(platform: Platform) -> Callable[..., User]:
    def make(username: str, is_admin: bool = False) -> User:
        return users.create_user(
            platform,
            None,
            username=username,
            password=PASSWORD,
            name=username.title(),
            email=f"{username}@example.org",
            is_admin=is_admin,
        )

    return make


@pytest.fixture
def admin(make_user: Callable[..., User]) -> User:
    return make_user("root", is_admin=True)


@pytest.fixture
def api_headers(platform: Platform) -> Callable[[User], dict[str, str]]:
    def headers(user: User) -> dict[str, str]:
        new = auth.create_api_key(platform, Principal(user=user, via="cli"), user.username)
        return {"Authorization": f"Bearer {new.secret}"}

    return headers


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Sign ``client`` in through the login form; return the session's CSRF token."""
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    data = {"username": username, "password": password}
    if token:
        data["csrf_token"] = token.group(1)
    response = client.post("/login", data=data, follow_redirects=False)
    assert response.status_code in (302, 303), response.text
    home = client.get("/projects")
    found = re.search(r'name="csrf-token" content="([^"]+)"', home.text)
    assert found, "pages carry the CSRF token in <meta name='csrf-token'>"
    return found.group(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` (a whole AMP installed, the workshop journey, a session's workers,
    the conformance walks: minutes each) run only when selected with ``-m slow``, as
    ``.ci/run``'s own step does."""
    if "slow" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="minutes long: pytest -m slow (see .ci/run)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
