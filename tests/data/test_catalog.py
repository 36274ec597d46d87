"""The platform's Iceberg catalog through its REST catalog (pyiceberg's ``RestCatalog`` against
a real server) and API v2: isolation between projects, roles, bad input, and the server's
FileIO refusing what a workload could plant in its warehouse."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import pyarrow as pa
import pytest
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.exceptions import (
    BadRequestError,
    ForbiddenError,
    NoSuchTableError,
    RESTError,
    UnauthorizedError,
)
from pyiceberg.table.update import SetLocationUpdate
from sqlalchemy import text
from tests.tracking.live import LiveServer, live_server

from lakeworks.config import Settings
from lakeworks.data.iceberg import SafeFileIO
from lakeworks.entities.projects import Project
from lakeworks.entities.users import ApiKeyKind, User
from lakeworks.errors import InvalidInput, NotFound
from lakeworks.safe_paths import UnsafePath
from lakeworks.services import audit, auth, data_catalog, projects, users
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.uow import Store

SCHEMA = pa.schema([("id", pa.int64()), ("amount", pa.float64())])


@dataclass
class World:
    server: LiveServer
    platform: Platform
    alice: User  # owns project a
    bob: User  # viewer of project a
    carol: User  # owns project b, nothing on a
    a: Project
    b: Project
    clients: list[httpx.Client] = field(default_factory=list)

    def key(self, user: User, project: Project | None = None) -> str:
        if project is None:
            return auth.create_api_key(self.platform, _as(user), user.username).secret
        made = auth.create_workload_key(
            self.platform, user, project.id, timedelta(hours=1), ApiKeyKind.V2
        )
        return made.secret

    def catalog(self, key: str, project: Project) -> RestCatalog:
        uri = f"{self.server.url}/api/iceberg/projects/{project.id}"
        return RestCatalog("lakeworks", uri=uri, token=key)

    def api(self, key: str) -> httpx.Client:
        client = httpx.Client(
            base_url=f"{self.server.url}/api/v2", headers={"Authorization": f"Bearer {key}"}
        )
        self.clients.append(client)
        return client


def _as(user: User) -> Principal:
    return Principal(user=user, via="cli")


@pytest.fixture
def world(settings: Settings, store: Store) -> Iterator[World]:
    with live_server(settings, store) as server:
        platform: Platform = server.platform

        def user(name: str) -> User:
            return users.create_user(
                platform, None, username=name, password="correct horse battery"
            )

        alice, bob, carol = user("alice"), user("bob"), user("carol")
        a = projects.create(platform, _as(alice), name="A", source=projects.parse_source("", ""))
        b = projects.create(platform, _as(carol), name="B", source=projects.parse_source("", ""))
        projects.set_collaborator(platform, _as(alice), a.id, "bob", "read")
        made = World(server, platform, alice, bob, carol, a, b)
        yield made
        for client in made.clients:
            client.close()


def _audited(platform: Platform, action: str) -> list[str]:
    """Outcomes of the audit events of ``action``, oldest first."""
    admin = Principal(user=users_admin(platform), via="cli")
    found, _total = audit.list_audit(platform, admin, action_prefix=action)
    return [event.outcome.value for event in reversed(found) if event.action == action]


def users_admin(platform: Platform) -> User:
    with platform.read() as uow:
        existing = uow.users.by_username("root")
    return existing or users.create_user(
        platform, None, username="root", password="correct horse battery", is_admin=True
    )


def test_a_workload_creates_appends_and_reads_back_with_time_travel(world: World) -> None:
    catalog = world.catalog(world.key(world.alice, world.a), world.a)
    assert catalog.list_namespaces() == [("default",)]
    table = catalog.create_table("default.orders", SCHEMA)
    table.append(pa.table({"id": [1, 2], "amount": [1.0, 2.5]}, schema=SCHEMA))
    first = table.current_snapshot().snapshot_id
    table.append(pa.table({"id": [3], "amount": [9.0]}, schema=SCHEMA))
    second = table.current_snapshot().snapshot_id

    again = catalog.load_table("default.orders")
    assert again.scan().to_arrow().num_rows == 3
    assert again.scan(snapshot_id=first).to_arrow().num_rows == 2
    # The files are in the project's warehouse, where its workloads see them too.
    warehouse = world.platform.iceberg.warehouse(world.a.id)
    assert again.location() == f"file://{warehouse}/default.db/orders"

    api = world.api(world.key(world.alice))
    listed = api.get(f"/projects/{world.a.id}/data/tables").json()
    assert listed == {
        "tables": [{"identifier": "default.orders", "namespace": "default", "name": "orders"}]
    }
    detail = api.get(f"/projects/{world.a.id}/data/tables/default.orders").json()
    assert [s["snapshot_id"] for s in detail["snapshots"]] == [str(first), str(second)]
    assert detail["current_snapshot_id"] == str(second)
    assert [f["name"] for f in detail["schema"]["fields"]] == ["id", "amount"]
    assert [h["snapshot_id"] for h in detail["history"]] == [str(first), str(second)]
    assert detail["snapshots"][1]["operation"] == "append"
    assert detail["snapshots"][1]["parent_id"] == str(first)
    rows = api.get(
        f"/projects/{world.a.id}/data/tables/default.orders/rows", params={"snapshot_id": first}
    ).json()
    assert sorted(r[0] for r in rows["rows"]) == [1, 2]

    # The server's own read helper, at a snapshot and at the current one.
    alice = _as(world.alice)
    read = data_catalog.read_table(world.platform, alice, world.a.id, "default.orders")
    assert sorted(read.column("id").to_pylist()) == [1, 2, 3]
    at_first = data_catalog.read_table(
        world.platform, alice, world.a.id, "orders", snapshot_id=first, limit=1
    )
    assert at_first.num_rows == 1
    first_ms = again.snapshot_by_id(first).timestamp_ms
    as_of = data_catalog.read_table(world.platform, alice, world.a.id, "orders", as_of=first_ms)
    assert as_of.num_rows == 2
    with pytest.raises(NotFound, match="no snapshot 42"):
        data_catalog.read_table(world.platform, alice, world.a.id, "orders", snapshot_id=42)
    with pytest.raises(NotFound, match="no snapshot as of"):
        data_catalog.read_table(
            world.platform, alice, world.a.id, "orders", as_of=first_ms - 3_600_000
        )

    assert _audited(world.platform, "data.table.create") == ["success"]
    assert _audited(world.platform, "data.table.commit") == ["success", "success"]


def test_another_projects_tables_are_neither_listed_nor_reachable(world: World) -> None:
    theirs = world.catalog(world.key(world.carol, world.b), world.b)
    theirs.create_table("default.secret", SCHEMA).append(
        pa.table({"id": [7], "amount": [7.0]}, schema=SCHEMA)
    )

    # A's catalog does not list B's table, whatever the key.
    ours = world.catalog(world.key(world.alice, world.a), world.a)
    assert ours.list_tables("default") == []
    with pytest.raises(NoSuchTableError):
        ours.load_table("default.secret")
    # A's workload key at B's catalog: as if B did not exist (B's owner's key would reach it).
    with pytest.raises(RESTError, match="not found"):
        world.catalog(world.key(world.alice, world.a), world.b)
    wrong = httpx.get(
        f"{world.server.url}/api/iceberg/projects/{world.b.id}/v1/namespaces/default/tables/secret",
        headers={"Authorization": f"Bearer {world.key(world.alice, world.a)}"},
    )
    assert wrong.status_code == 404
    assert wrong.json()["error"]["type"] == "NoSuchTableException"
    # B's owner has no role on A: her own key does not reach A's catalog either.
    with pytest.raises(RESTError, match="not found"):
        world.catalog(world.key(world.carol), world.a)
    # And B's workloads, with their key, see B's table.
    assert theirs.list_tables("default") == [("default", "secret")]

    api = world.api(world.key(world.alice))
    assert api.get(f"/projects/{world.b.id}/data/tables").status_code == 404
    assert api.get(f"/projects/{world.b.id}/data/tables/default.secret").status_code == 404
    assert api.get(f"/projects/{world.a.id}/data/tables/default.secret").status_code == 404
    # An unknown key is no key.
    with pytest.raises(UnauthorizedError):
        world.catalog("not-a-key", world.a)


def test_a_viewer_reads_but_cannot_write(world: World) -> None:
    owner = world.catalog(world.key(world.alice, world.a), world.a)
    owner.create_table("default.orders", SCHEMA).append(
        pa.table({"id": [1], "amount": [1.0]}, schema=SCHEMA)
    )
    viewer = world.catalog(world.key(world.bob), world.a)
    table = viewer.load_table("default.orders")
    assert table.scan().to_arrow().num_rows == 1
    with pytest.raises(ForbiddenError):
        viewer.create_table("default.mine", SCHEMA)
    with pytest.raises(ForbiddenError):
        table.append(pa.table({"id": [2], "amount": [2.0]}, schema=SCHEMA))
    with pytest.raises(ForbiddenError):
        viewer.drop_table("default.orders")
    with pytest.raises(ForbiddenError):
        viewer.create_namespace("more")

    api = world.api(world.key(world.bob))
    assert api.delete(f"/projects/{world.a.id}/data/tables/default.orders").status_code == 403
    made = api.post(f"/projects/{world.a.id}/data/namespaces", json={"name": "more"})
    assert made.status_code == 403
    assert "contributor" in made.json()["message"]
    assert len(owner.load_table("default.orders").snapshots()) == 1
    assert "denied" in _audited(world.platform, "data.table.commit")


def test_an_append_with_a_mismatched_schema_is_refused_and_changes_nothing(world: World) -> None:
    catalog = world.catalog(world.key(world.alice, world.a), world.a)
    table = catalog.create_table("default.orders", SCHEMA)
    table.append(pa.table({"id": [1], "amount": [1.0]}, schema=SCHEMA))
    with pytest.raises(ValueError, match="Mismatch in fields"):
        table.append(pa.table({"id": ["one"], "amount": ["x"]}))
    again = catalog.load_table("default.orders")
    assert len(again.snapshots()) == 1
    assert again.scan().to_arrow().num_rows == 1


def test_unsafe_locations_and_properties_are_refused(world: World) -> None:
    catalog = world.catalog(world.key(world.alice, world.a), world.a)
    with pytest.raises(BadRequestError, match="outside the project's warehouse"):
        catalog.create_table("default.t", SCHEMA, location="/etc")
    other = world.platform.iceberg.warehouse(world.b.id)
    with pytest.raises(BadRequestError, match="outside the project's warehouse"):
        catalog.create_table("default.t", SCHEMA, location=f"file://{other}/x")
    with pytest.raises(BadRequestError, match="cannot be set"):
        catalog.create_table("default.t", SCHEMA, properties={"py-io-impl": "os.System"})
    with pytest.raises(BadRequestError, match="not a valid table name"):
        catalog.create_table("default.`x y`", SCHEMA)
    with pytest.raises(BadRequestError, match="outside the project's warehouse"):
        catalog.create_namespace("elsewhere", {"location": "/tmp"})
    table = catalog.create_table("default.t", SCHEMA)
    unsafe = pytest.raises(BadRequestError, match="outside the project's warehouse")
    with unsafe, table.transaction() as tx:
        tx._apply((SetLocationUpdate(location="/var/tmp/t"),))
    assert catalog.load_table("default.t").location().endswith("/default.db/t")
    with pytest.raises(BadRequestError):  # nested namespaces are not supported
        catalog.create_namespace(("a", "b"))


def test_the_server_never_follows_a_planted_symlink(world: World, tmp_path: Path) -> None:
    catalog = world.catalog(world.key(world.alice, world.a), world.a)
    table = catalog.create_table("default.orders", SCHEMA)
    table.append(pa.table({"id": [1], "amount": [1.0]}, schema=SCHEMA))
    [data_file] = [t.file.file_path for t in table.scan().plan_files()]
    secret = tmp_path / "server-secret.parquet"
    secret.write_bytes(Path(data_file.removeprefix("file://")).read_bytes())
    # The workload swaps its data file for a link to a file of the server's.
    path = Path(data_file.removeprefix("file://"))
    path.unlink()
    path.symlink_to(secret)
    alice = _as(world.alice)
    with pytest.raises(UnsafePath, match="link"):
        data_catalog.read_table(world.platform, alice, world.a.id, "default.orders")
    api = world.api(world.key(world.alice))
    preview = api.get(f"/projects/{world.a.id}/data/tables/default.orders/rows")
    assert preview.status_code == 400 and "link" in preview.json()["message"]

    # A link in place of the metadata folder: loading the table is refused, not followed.
    metadata = path.parent.parent / "metadata"
    moved = tmp_path / "metadata"
    metadata.rename(moved)
    metadata.symlink_to(moved)
    with pytest.raises(UnsafePath):
        data_catalog.load_table(world.platform, alice, world.a.id, "default.orders")
    assert api.get(f"/projects/{world.a.id}/data/tables/default.orders").status_code == 400


def test_safe_file_io_stays_in_its_warehouse(tmp_path: Path) -> None:
    root = tmp_path / "warehouse"
    (root / "t").mkdir(parents=True)
    io = SafeFileIO({"lakeworks.warehouse": str(root)})
    assert io.relative(f"file://{root}/t/x.json") == "t/x.json"
    assert io.relative(f"{root}/t/x.json") == "t/x.json"
    for bad in (
        "/etc/passwd",
        f"file://{root}/../x",
        f"{root}-other/x",
        f"s3://bucket{root}/x",
        f"file://host{root}/x",
        "relative/path",
        str(root),
    ):
        with pytest.raises(UnsafePath):
            io.relative(bad)
    with io.new_output(f"{root}/t/new/file.bin").create() as out:
        out.write(b"data")
    with io.new_input(f"{root}/t/new/file.bin").open() as stream:
        assert stream.read() == b"data"
    with pytest.raises(FileExistsError):
        io.new_output(f"{root}/t/new/file.bin").create()
    os.mkfifo(root / "t" / "fifo")
    with pytest.raises(UnsafePath, match="not a plain file"):
        io.new_input(f"{root}/t/fifo").open()
    (root / "t" / "link").symlink_to("/etc/hostname")
    with pytest.raises(UnsafePath, match="link"):
        io.new_input(f"{root}/t/link").open()
    # Writing through a link to a folder is refused too.
    (root / "t" / "dirlink").symlink_to(tmp_path)
    with pytest.raises(UnsafePath):
        io.new_output(f"{root}/t/dirlink/evil").create()
    assert not (tmp_path / "evil").exists()


def test_namespaces_through_api_v2(world: World) -> None:
    api = world.api(world.key(world.alice))
    base = f"/projects/{world.a.id}/data/namespaces"
    assert api.get(base).json() == {
        "namespaces": [{"name": "default", "properties": {"exists": "true"}}]
    }
    made = api.post(base, json={"name": "sales", "properties": {"owner": "alice"}})
    assert made.status_code == 200, made.text
    assert made.json() == {"name": "sales", "properties": {"owner": "alice"}}
    assert api.post(base, json={"name": "sales"}).status_code == 409
    assert api.post(base, json={"name": "no such"}).status_code == 400
    assert [n["name"] for n in api.get(base).json()["namespaces"]] == ["default", "sales"]
    assert api.delete(f"{base}/sales").status_code == 204
    assert api.delete(f"{base}/sales").status_code == 404
    missing = api.get(f"/projects/{world.a.id}/data/tables/default.nothing")
    assert missing.status_code == 404 and "nothing" in missing.json()["message"]
    bad = api.get(f"/projects/{world.a.id}/data/tables/a.b.c")
    assert bad.status_code == 400


def test_a_deleted_projects_catalog_and_warehouse_go_with_it(world: World) -> None:
    catalog = world.catalog(world.key(world.carol, world.b), world.b)
    catalog.create_table("default.t", SCHEMA).append(
        pa.table({"id": [1], "amount": [1.0]}, schema=SCHEMA)
    )
    warehouse = world.platform.iceberg.warehouse(world.b.id)
    assert (warehouse / "default.db" / "t").is_dir()
    projects.delete(world.platform, _as(world.carol), world.b.id)
    assert not warehouse.exists()
    with world.platform.read() as uow:
        query = text("SELECT count(*) FROM iceberg_tables WHERE catalog_name = :p")
        rows = uow.session.execute(query, {"p": world.b.id}).scalar()
    assert rows == 0
    with pytest.raises(NotFound):
        data_catalog.list_tables(world.platform, _as(world.carol), world.b.id)


def test_identifiers_are_checked() -> None:
    assert data_catalog.parse_identifier("orders").identifier == "default.orders"
    assert data_catalog.parse_identifier(("sales", "orders")).identifier == "sales.orders"
    for bad in ("a.b.c", "default.", "1abc", "default.x-y", ""):
        with pytest.raises(InvalidInput):
            data_catalog.parse_identifier(bad)


def test_the_rest_catalog_answers_bad_requests_with_the_specs_errors(world: World) -> None:
    key = world.key(world.alice, world.a)
    base = f"{world.server.url}/api/iceberg/projects/{world.a.id}/v1"
    headers = {"Authorization": f"Bearer {key}"}
    world.catalog(key, world.a).create_table("default.t", SCHEMA)
    cases = [
        ("POST", "/namespaces", b"{not json"),
        ("POST", "/namespaces", b'{"namespace": "flat"}'),
        ("POST", "/namespaces/default/tables", b'{"name": "x"}'),
        ("POST", "/namespaces/default/tables/t", b'{"updates": [{"action": "no-such"}]}'),
        ("POST", "/namespaces/default/tables/t", b"[" * 5000),
        ("POST", "/tables/rename", b'{"source": 1}'),
    ]
    with httpx.Client(headers=headers) as http:
        for method, path, body in cases:
            answer = http.request(method, base + path, content=body)
            assert answer.status_code == 400, (path, body[:40], answer.text)
            assert answer.json()["error"]["type"] == "BadRequestException"
        assert http.get(base + "/namespaces", headers={"Authorization": ""}).status_code == 401
        assert http.head(base + "/namespaces/default/tables/nope").status_code == 404
        assert http.head(base + "/namespaces/default/tables/t").status_code == 204


def test_the_data_page_queries_the_projects_iceberg_tables(world: World) -> None:
    """Iceberg tables are tables of the Data page's SQL explorer (``"<namespace>".<table>``),
    for the project's members only."""
    ours = world.catalog(world.key(world.alice, world.a), world.a)
    table = ours.create_table("default.sales", SCHEMA)
    table.append(pa.table({"id": [1, 2], "amount": [2.5, 4.0]}, schema=SCHEMA))
    table.append(pa.table({"id": [3], "amount": [10.0]}, schema=SCHEMA))

    viewer = world.api(world.key(world.bob))
    sources = viewer.get(f"/projects/{world.a.id}/data/sources").json()["tables"]
    assert any(s["name"] == "default.sales" and s["kind"] == "iceberg" for s in sources)
    sql = 'SELECT count(*) AS n, sum(amount) AS total FROM "default".sales'
    answer = viewer.post(f"/projects/{world.a.id}/data/query", json={"sql": sql})
    assert answer.status_code == 200, answer.text
    assert answer.json()["rows"] == [[3, 16.5]]

    # Not a member of project a: neither listed nor queried.
    outsider = world.api(world.key(world.carol))
    assert outsider.get(f"/projects/{world.a.id}/data/sources").status_code == 404
    refused = outsider.post(f"/projects/{world.a.id}/data/query", json={"sql": sql})
    assert refused.status_code == 404
