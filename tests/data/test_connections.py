"""Data connections: site-wide (site admins) and per project (project admins), secrets never
shown back, fetched only by the project's own workloads; ``cml.data_v1.get_connection`` with a
workload's environment against a real server (DuckDB, PostgreSQL, the built-in Iceberg one,
and a name that does not exist)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from types import ModuleType

import httpx
import pyarrow as pa
import pytest
from sqlalchemy import text
from tests.tracking.live import LiveServer, live_server

from lakeworks.config import Settings
from lakeworks.entities.projects import Project
from lakeworks.entities.users import ApiKeyKind, User
from lakeworks.services import auth, projects, users
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.uow import Store
from lakeworks.workload import site_dir

POSTGRES = "127.0.0.1"


@dataclass
class World:
    server: LiveServer
    platform: Platform
    root: User
    alice: User
    bob: User
    project: Project
    other: Project
    clients: list[httpx.Client] = field(default_factory=list)

    def api(self, user: User, project: Project | None = None) -> httpx.Client:
        if project is None:
            key = auth.create_api_key(self.platform, _as(user), user.username).secret
        else:
            key = self.workload_key(user, project)
        client = httpx.Client(
            base_url=f"{self.server.url}/api/v2", headers={"Authorization": f"Bearer {key}"}
        )
        self.clients.append(client)
        return client

    def workload_key(self, user: User, project: Project) -> str:
        made = auth.create_workload_key(
            self.platform, user, project.id, timedelta(hours=1), ApiKeyKind.V2
        )
        return made.secret


def _as(user: User) -> Principal:
    return Principal(user=user, via="cli")


@pytest.fixture
def world(settings: Settings, store: Store) -> Iterator[World]:
    with live_server(settings, store) as server:
        platform: Platform = server.platform

        def user(name: str, admin: bool = False) -> User:
            return users.create_user(
                platform, None, username=name, password="correct horse battery", is_admin=admin
            )

        root, alice, bob = user("root", admin=True), user("alice"), user("bob")
        project = projects.create(
            platform, _as(alice), name="Data", source=projects.parse_source("", "")
        )
        other = projects.create(
            platform, _as(alice), name="Other", source=projects.parse_source("", "")
        )
        projects.set_collaborator(platform, _as(alice), project.id, "bob", "write")
        made = World(server, platform, root, alice, bob, project, other)
        yield made
        for client in made.clients:
            client.close()


def test_site_and_project_connections_never_show_their_secret(world: World) -> None:
    site = world.api(world.root).post(
        "/data/connections",
        json={
            "name": "warehouse_pg",
            "type": "postgresql",
            "options": {"host": "db.example.org", "port": "5432", "user": "etl"},
            "secret": "site-password",
        },
    )
    assert site.status_code == 200, site.text
    assert site.json()["has_secret"] is True and "secret" not in site.json()
    alice = world.api(world.alice)
    mine = alice.post(
        f"/projects/{world.project.id}/data/connections",
        json={"name": "local", "type": "duckdb", "options": {"database": ":memory:"}},
    )
    assert mine.status_code == 200, mine.text

    listed = alice.get(f"/projects/{world.project.id}/data/connections")
    assert listed.status_code == 200
    body = listed.json()["connections"]
    assert [c["name"] for c in body] == ["iceberg", "spark", "local", "warehouse_pg"]
    assert "site-password" not in listed.text
    assert all("secret" not in c for c in body)
    pg = alice.get(f"/projects/{world.project.id}/data/connections/warehouse_pg").json()
    assert pg["options"] == {"host": "db.example.org", "port": 5432, "user": "etl"}
    assert pg["scope"] == "site" and "site-password" not in str(pg)

    # Only the project's own workloads get the secret back.
    path = f"/projects/{world.project.id}/data/connections/warehouse_pg/credentials"
    assert alice.get(path).status_code == 403
    assert world.api(world.root).get(path).status_code == 403
    assert world.api(world.alice, world.other).get(path).status_code == 403
    fetched = world.api(world.alice, world.project).get(path)
    assert fetched.status_code == 200 and fetched.json()["secret"] == "site-password"
    # Sealed at rest: the database does not hold it in the clear.
    with world.platform.read() as uow:
        raw = uow.session.execute(text("SELECT secret_sealed FROM data_connections")).all()
    assert raw and all("site-password" not in row[0] for row in raw)


def test_who_may_manage_connections(world: World) -> None:
    contributor = world.api(world.bob)
    refused = contributor.post(
        f"/projects/{world.project.id}/data/connections",
        json={"name": "x", "type": "duckdb"},
    )
    assert refused.status_code == 403
    assert (
        world.api(world.alice)
        .post("/data/connections", json={"name": "x", "type": "duckdb"})
        .status_code
        == 403
    )
    assert world.api(world.alice).get("/data/connections").status_code == 403
    workload = world.api(world.alice, world.project)
    assert workload.post(
        f"/projects/{world.project.id}/data/connections", json={"name": "x", "type": "duckdb"}
    ).status_code in (200, 403)  # a project admin's workload acts as its user in its project


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "iceberg", "type": "duckdb"}, "built-in"),
        ({"name": "1bad", "type": "duckdb"}, "not a connection name"),
        ({"name": "x", "type": "oracle"}, "not a connection type"),
        ({"name": "x", "type": "postgresql"}, "need the option 'host'"),
        ({"name": "x", "type": "duckdb", "options": {"hots": "h"}}, "no option 'hots'"),
        ({"name": "x", "type": "duckdb", "secret": "pw"}, "take no secret"),
        ({"name": "x", "type": "mysql", "options": {"host": "h", "port": "x"}}, "whole number"),
        ({"name": "x", "type": "spark", "options": {"conf": {"a.b": "1"}}}, "start with 'spark.'"),
    ],
)
def test_bad_connections_are_refused_with_a_reason(
    world: World, body: dict[str, object], message: str
) -> None:
    answer = world.api(world.alice).post(
        f"/projects/{world.project.id}/data/connections", json=body
    )
    assert answer.status_code == 400
    assert message in answer.json()["message"]


def test_updating_and_deleting_a_connection(world: World) -> None:
    alice = world.api(world.alice)
    base = f"/projects/{world.project.id}/data/connections"
    alice.post(
        base, json={"name": "pg", "type": "postgresql", "options": {"host": "h"}, "secret": "a"}
    )
    assert alice.post(base, json={"name": "pg", "type": "duckdb"}).status_code == 400
    changed = alice.patch(f"{base}/pg", json={"options": {"host": "h2"}})
    assert changed.json()["options"] == {"host": "h2"} and changed.json()["has_secret"] is True
    cleared = alice.patch(f"{base}/pg", json={"secret": ""})
    assert cleared.json()["has_secret"] is False
    assert alice.delete(f"{base}/pg").status_code == 204
    assert alice.delete(f"{base}/pg").status_code == 404


@pytest.fixture
def data_v1(world: World, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``cml.data_v1`` as a workload of the project imports it, with its environment."""
    monkeypatch.syspath_prepend(str(site_dir()))
    for name in [m for m in sys.modules if m == "cml" or m.startswith("cml.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setenv("CDSW_API_URL", f"{world.server.url}/api/v1")
    monkeypatch.setenv("CDSW_APIV2_KEY", world.workload_key(world.alice, world.project))
    monkeypatch.setenv("CDSW_PROJECT_ID", world.project.id)
    monkeypatch.setenv(
        "LAKEWORKS_ICEBERG_URI", f"{world.server.url}/api/iceberg/projects/{world.project.id}"
    )
    import cml.data_v1

    return cml.data_v1


def test_get_connection_in_a_workload(world: World, data_v1: ModuleType) -> None:
    with pytest.raises(data_v1.ConnectionNotFound) as missing:
        data_v1.get_connection("prod-hive")
    assert "'prod-hive'" in str(missing.value)
    assert "Connections: iceberg, spark" in str(missing.value)

    world.api(world.alice).post(
        f"/projects/{world.project.id}/data/connections",
        json={"name": "scratch", "type": "duckdb"},
    )
    assert data_v1.list_connections() == ["iceberg", "spark", "scratch"]
    duck = data_v1.get_connection("scratch")
    assert duck.get_pandas_dataframe("SELECT 40 + 2 AS answer")["answer"].tolist() == [42]
    cursor = duck.get_cursor()
    cursor.execute("SELECT 'x'")
    assert cursor.fetchall() == [("x",)]

    catalog = data_v1.get_connection("iceberg").get_catalog()
    table = catalog.create_table("default.t", pa.schema([("n", pa.int64())]))
    table.append(pa.table({"n": pa.array([1, 2], pa.int64())}))
    first = table.current_snapshot().snapshot_id
    table.append(pa.table({"n": pa.array([3], pa.int64())}))
    new = data_v1.incremental_append_scan(table, first, table.current_snapshot().snapshot_id)
    assert new.column("n").to_pylist() == [3]
    with pytest.raises(ValueError, match="out of order"):
        data_v1.incremental_append_scan(table, table.current_snapshot().snapshot_id, first)
    with pytest.raises(ValueError, match="is not a snapshot of table default.t"):
        data_v1.incremental_append_scan(table, 12345, first)


def test_a_postgresql_connection(world: World, data_v1: ModuleType) -> None:
    psycopg = pytest.importorskip("psycopg")
    try:
        psycopg.connect(host=POSTGRES, user="postgres", dbname="test", connect_timeout=3).close()
    except psycopg.OperationalError:
        pytest.skip("no PostgreSQL at 127.0.0.1:5432")
    world.api(world.alice).post(
        f"/projects/{world.project.id}/data/connections",
        json={
            "name": "pg",
            "type": "postgresql",
            "options": {"host": POSTGRES, "user": "postgres", "database": "test"},
        },
    )
    connection = data_v1.get_connection("pg")
    frame = connection.get_pandas_dataframe("SELECT 1 AS one, 'a' AS letter")
    assert frame.to_dict("records") == [{"one": 1, "letter": "a"}]
    connection.get_base_connection().close()


def test_aliasing_resolves_unknown_names_to_spark_when_the_site_asks(
    world: World, data_v1: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    platform = world.platform
    platform.settings = platform.settings.model_copy(update={"data_connection_aliasing": True})
    connection = data_v1.get_connection("prod-hive-from-another-workspace")
    assert isinstance(connection, data_v1.SparkConnection)
    assert "using the built-in 'spark' connection" in capsys.readouterr().err
