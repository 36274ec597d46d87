"""The Data page's repositories on the test backend: query history (trimmed per person and
project), datasets (unique name per project), dashboards and their visuals (a dataset in use
cannot be deleted), data connections per scope, and the Iceberg catalog's rows."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, insert, select
from tests.store.test_projects_store import add_project, add_user

from lakeworks.entities.data import SITE_SCOPE, ConnectionType
from lakeworks.entities.datasets import (
    RECORD_COUNT,
    Aggregate,
    DatasetField,
    FieldRole,
    FieldType,
    Measure,
    QueryStatus,
    VisualKind,
)
from lakeworks.entities.users import User
from lakeworks.errors import Conflict
from lakeworks.store.data import IcebergNamespacePropertyRow, IcebergTableRow
from lakeworks.store.uow import Store, UnitOfWork

FIELDS = [
    DatasetField("region", "region", FieldType.STRING, FieldRole.DIMENSION, "VARCHAR"),
    DatasetField("amount", "amount", FieldType.REAL, FieldRole.MEASURE, "DOUBLE"),
    DatasetField("amount (int)", "amount", FieldType.INTEGER, FieldRole.MEASURE),
]


def _query(uow: UnitOfWork, project: str, user: User, sql: str, keep: int = 10) -> int:
    return uow.data.add_query(
        project_id=project,
        user_id=user.id,
        sql=sql,
        status=QueryStatus.SUCCEEDED,
        rows=1,
        elapsed_ms=3,
        error="",
        keep=keep,
    ).id


def _dataset(uow: UnitOfWork, project: str, user: User, name: str) -> int:
    return uow.data.add_dataset(
        project_id=project, name=name, sql="SELECT 1", fields=FIELDS, creator_id=user.id
    ).id


def _visual(dataset_id: int, title: str, **values: Any) -> dict[str, Any]:
    return {
        "dataset_id": dataset_id,
        "title": title,
        "kind": VisualKind.BAR.value,
        "dimensions": ["region"],
        "measures": [{"field": "amount", "aggregate": "avg"}],
        **values,
    }


# Query history -------------------------------------------------------------------------------


def test_a_query_record_reads_back_newest_first(store: Store, alice: User, project: str) -> None:
    with store.transaction() as uow:
        failed = uow.data.add_query(
            project_id=project,
            user_id=alice.id,
            sql="SELECT nope",
            status=QueryStatus.FAILED,
            rows=0,
            elapsed_ms=12,
            error="column nope not found",
            keep=10,
        )
        _query(uow, project, alice, "SELECT 2")
    with store.transaction() as uow:
        history = uow.data.queries(project, alice.id, limit=10)
    assert [q.sql for q in history] == ["SELECT 2", "SELECT nope"]
    old = history[1]
    assert old.id == failed.id
    assert (old.status, old.rows, old.elapsed_ms, old.error) == (
        QueryStatus.FAILED,
        0,
        12,
        "column nope not found",
    )
    assert old.created_at.tzinfo is not None


def test_each_person_keeps_their_newest_queries_per_project(
    store: Store, alice: User, project: str
) -> None:
    bob = add_user(store, "bob")
    with store.transaction() as uow:
        other = add_project(uow, "Other", owner=alice)
        for n in range(5):
            _query(uow, project, alice, f"SELECT {n}", keep=3)
        _query(uow, project, bob, "SELECT 'bob'", keep=3)
        _query(uow, other, alice, "SELECT 'other'", keep=3)
    with store.transaction() as uow:
        mine = [q.sql for q in uow.data.queries(project, alice.id, limit=10)]
        limited = [q.sql for q in uow.data.queries(project, alice.id, limit=2)]
        bobs = [q.sql for q in uow.data.queries(project, bob.id, limit=10)]
        elsewhere = [q.sql for q in uow.data.queries(other, alice.id, limit=10)]
    assert mine == ["SELECT 4", "SELECT 3", "SELECT 2"]
    assert limited == ["SELECT 4", "SELECT 3"]
    assert bobs == ["SELECT 'bob'"], "another person's history is not trimmed by mine"
    assert elsewhere == ["SELECT 'other'"]


# Datasets ------------------------------------------------------------------------------------


def test_a_dataset_keeps_its_typed_fields(store: Store, alice: User, project: str) -> None:
    with store.transaction() as uow:
        dataset_id = _dataset(uow, project, alice, "Sales")
    with store.transaction() as uow:
        found = uow.data.dataset(project, dataset_id)
        named = uow.data.dataset_named(project, "Sales")
    assert found is not None and named is not None and named.id == dataset_id
    assert found.fields == FIELDS
    assert (found.name, found.sql, found.creator_id) == ("Sales", "SELECT 1", alice.id)
    assert found.field("amount (int)") == FIELDS[2]
    assert found.field("missing") is None


def test_a_dataset_is_only_found_in_its_own_project(
    store: Store, alice: User, project: str
) -> None:
    with store.transaction() as uow:
        other = add_project(uow, "Other", owner=alice)
        dataset_id = _dataset(uow, project, alice, "Sales")
    with store.transaction() as uow:
        assert uow.data.dataset(other, dataset_id) is None
        assert uow.data.dataset_named(other, "Sales") is None
        assert uow.data.dataset(project, 999_999) is None


def test_a_dataset_name_is_unique_per_project(store: Store, alice: User, project: str) -> None:
    with store.transaction() as uow:
        other = add_project(uow, "Other", owner=alice)
        _dataset(uow, project, alice, "Sales")
        _dataset(uow, other, alice, "Sales")
    with pytest.raises(Conflict), store.transaction() as uow:
        _dataset(uow, project, alice, "Sales")
    with store.transaction() as uow:
        assert [d.name for d in uow.data.datasets(project)] == ["Sales"]


def test_datasets_are_listed_by_name(store: Store, alice: User, project: str) -> None:
    with store.transaction() as uow:
        for name in ("b", "c", "a"):
            _dataset(uow, project, alice, name)
        assert [d.name for d in uow.data.datasets(project)] == ["a", "b", "c"]


def test_updating_a_dataset_replaces_its_query_and_fields(
    store: Store, alice: User, project: str
) -> None:
    with store.transaction() as uow:
        dataset_id = _dataset(uow, project, alice, "Sales")
    new_fields = [DatasetField("n", "n", FieldType.INTEGER, FieldRole.MEASURE)]
    with store.transaction() as uow:
        before = uow.data.dataset(project, dataset_id)
        after = uow.data.update_dataset(
            dataset_id, name="Sales 2", sql="SELECT 2 AS n", fields=new_fields
        )
    assert before is not None
    assert (after.name, after.sql, after.fields) == ("Sales 2", "SELECT 2 AS n", new_fields)
    assert after.updated_at >= before.updated_at and after.created_at == before.created_at


# Dashboards ----------------------------------------------------------------------------------


def test_a_dashboard_gets_its_visuals_in_order_and_replaces_them(
    store: Store, alice: User, project: str
) -> None:
    with store.transaction() as uow:
        dataset_id = _dataset(uow, project, alice, "Sales")
        made = uow.data.add_dashboard(
            project_id=project, title="Overview", subtitle="Q1", creator_id=alice.id
        )
        assert made.visuals == []
        updated = uow.data.update_dashboard(
            made.id,
            title="Overview",
            subtitle="Q1",
            visuals=[
                _visual(dataset_id, "By region"),
                _visual(
                    dataset_id,
                    "Count",
                    kind=VisualKind.TABLE.value,
                    dimensions=[],
                    measures=[{"field": RECORD_COUNT, "aggregate": "count"}],
                ),
            ],
        )
    assert [(v.position, v.title, v.kind) for v in updated.visuals] == [
        (1, "By region", VisualKind.BAR),
        (2, "Count", VisualKind.TABLE),
    ]
    first, second = updated.visuals
    assert first.measures == [Measure("amount", Aggregate.AVG)]
    assert first.measures[0].label == "avg(amount)"
    assert second.measures[0].label == RECORD_COUNT
    assert (first.dimensions, first.dataset_id, first.dashboard_id) == (
        ["region"],
        dataset_id,
        made.id,
    )
    with store.transaction() as uow:
        # Title only: the visuals stay.
        renamed = uow.data.update_dashboard(made.id, title="Renamed", subtitle="", visuals=None)
        assert [v.title for v in renamed.visuals] == ["By region", "Count"]
        # An empty list clears them.
        cleared = uow.data.update_dashboard(made.id, title="Renamed", subtitle="", visuals=[])
        assert cleared.visuals == []
    with store.transaction() as uow:
        found = uow.data.dashboard(project, made.id)
    assert found is not None and (found.title, found.subtitle, found.visuals) == ("Renamed", "", [])


def test_dashboards_list_by_title_and_stay_in_their_project(
    store: Store, alice: User, project: str
) -> None:
    with store.transaction() as uow:
        other = add_project(uow, "Other", owner=alice)
        ids = {
            title: uow.data.add_dashboard(
                project_id=project, title=title, subtitle="", creator_id=alice.id
            ).id
            for title in ("Zeta", "Alpha")
        }
        uow.data.add_dashboard(
            project_id=other, title="Elsewhere", subtitle="", creator_id=alice.id
        )
    with store.transaction() as uow:
        assert [d.title for d in uow.data.dashboards(project)] == ["Alpha", "Zeta"]
        assert uow.data.dashboard(other, ids["Alpha"]) is None


def test_a_dataset_on_a_dashboard_cannot_be_deleted(
    store: Store, alice: User, project: str
) -> None:
    with store.transaction() as uow:
        used = _dataset(uow, project, alice, "Used")
        unused = _dataset(uow, project, alice, "Unused")
        for title in ("Board B", "Board A"):
            board = uow.data.add_dashboard(
                project_id=project, title=title, subtitle="", creator_id=alice.id
            )
            uow.data.update_dashboard(
                board.id,
                title=title,
                subtitle="",
                visuals=[_visual(used, "one"), _visual(used, "two")],
            )
        assert uow.data.dashboards_using(used) == ["Board A", "Board B"]
        assert uow.data.dashboards_using(unused) == []
        uow.data.delete_dataset(unused)
    with pytest.raises(Conflict), store.transaction() as uow:
        uow.data.delete_dataset(used)
    with store.transaction() as uow:
        assert uow.data.dataset(project, used) is not None
        assert uow.data.dataset(project, unused) is None


def test_deleting_a_dashboard_frees_its_datasets(store: Store, alice: User, project: str) -> None:
    with store.transaction() as uow:
        used = _dataset(uow, project, alice, "Used")
        board = uow.data.add_dashboard(
            project_id=project, title="Board", subtitle="", creator_id=alice.id
        )
        uow.data.update_dashboard(
            board.id, title="Board", subtitle="", visuals=[_visual(used, "v")]
        )
    with store.transaction() as uow:
        uow.data.delete_dashboard(board.id)
        assert uow.data.dashboard(project, board.id) is None
        assert uow.data.dashboards_using(used) == []
        uow.data.delete_dataset(used)
    with store.transaction() as uow:
        assert uow.data.datasets(project) == []


def test_deleting_the_project_deletes_its_data_page_rows(
    store: Store, alice: User, project: str
) -> None:
    with store.transaction() as uow:
        used = _dataset(uow, project, alice, "Used")
        board = uow.data.add_dashboard(
            project_id=project, title="Board", subtitle="", creator_id=alice.id
        )
        uow.data.update_dashboard(
            board.id, title="Board", subtitle="", visuals=[_visual(used, "v")]
        )
        _query(uow, project, alice, "SELECT 1")
    with store.transaction() as uow:
        uow.projects.delete(project)
    with store.transaction() as uow:
        assert uow.data.datasets(project) == []
        assert uow.data.dashboards(project) == []
        assert uow.data.queries(project, alice.id, limit=10) == []


# Data connections ------------------------------------------------------------------------------


def _connection(
    uow: UnitOfWork, scope: str, name: str, project_id: str | None = None, secret: str = ""
) -> None:
    uow.data_connections.add(
        scope=scope,
        project_id=project_id,
        name=name,
        type=ConnectionType.POSTGRESQL,
        description=f"{name} db",
        options={"host": "db.example.org", "port": 5432},
        secret_sealed=secret,
    )


def test_a_connection_reads_back_without_its_secret(store: Store, project: str) -> None:
    with store.transaction() as uow:
        _connection(uow, SITE_SCOPE, "warehouse", secret="sealed-token")
        _connection(uow, project, "local", project_id=project)
    with store.transaction() as uow:
        site = uow.data_connections.get(SITE_SCOPE, "warehouse")
        local = uow.data_connections.get(project, "local")
        sealed = uow.data_connections.sealed_secret(SITE_SCOPE, "warehouse")
        no_secret = uow.data_connections.sealed_secret(project, "local")
        missing = uow.data_connections.sealed_secret(project, "missing")
    assert site is not None and local is not None
    assert (site.type, site.options, site.description) == (
        ConnectionType.POSTGRESQL,
        {"host": "db.example.org", "port": 5432},
        "warehouse db",
    )
    assert (site.has_secret, site.is_site, local.has_secret, local.is_site) == (
        True,
        True,
        False,
        False,
    )
    assert (sealed, no_secret, missing) == ("sealed-token", "", "")
    assert "sealed-token" not in repr(site)


def test_a_name_is_unique_per_scope(store: Store, project: str) -> None:
    with store.transaction() as uow:
        _connection(uow, SITE_SCOPE, "db")
        _connection(uow, project, "db", project_id=project)  # another scope: fine
    with pytest.raises(Conflict), store.transaction() as uow:
        _connection(uow, SITE_SCOPE, "db")
    with store.transaction() as uow:
        assert [c.scope for c in uow.data_connections.in_scopes(SITE_SCOPE, project)] == [
            SITE_SCOPE,
            project,
        ]


def test_in_scopes_lists_by_name(store: Store, alice: User, project: str) -> None:
    with store.transaction() as uow:
        other = add_project(uow, "Other", owner=alice)
        _connection(uow, SITE_SCOPE, "zeta")
        _connection(uow, project, "beta", project_id=project)
        _connection(uow, other, "alpha", project_id=other)
        _connection(uow, SITE_SCOPE, "alpha")
    with store.transaction() as uow:
        mine = [(c.scope, c.name) for c in uow.data_connections.in_scopes(SITE_SCOPE, project)]
        site = [c.name for c in uow.data_connections.in_scopes(SITE_SCOPE)]
        none = uow.data_connections.in_scopes()
    assert mine == [(SITE_SCOPE, "alpha"), (project, "beta"), (SITE_SCOPE, "zeta")]
    assert site == ["alpha", "zeta"]
    assert none == []


def test_update_and_delete_a_connection(store: Store, project: str) -> None:
    with store.transaction() as uow:
        _connection(uow, SITE_SCOPE, "db")
        before = uow.data_connections.get(SITE_SCOPE, "db")
    with store.transaction() as uow:
        after = uow.data_connections.update(
            SITE_SCOPE, "db", description="moved", options={"host": "new"}, secret_sealed="s"
        )
        assert uow.data_connections.update(SITE_SCOPE, "missing", description="x") is None
    assert before is not None and after is not None
    assert (after.description, after.options, after.has_secret) == ("moved", {"host": "new"}, True)
    assert after.updated_at is not None and before.updated_at is not None
    assert after.updated_at >= before.updated_at and after.created_at == before.created_at
    with store.transaction() as uow:
        assert uow.data_connections.delete(SITE_SCOPE, "db") is True
        assert uow.data_connections.delete(SITE_SCOPE, "db") is False
        assert uow.data_connections.get(SITE_SCOPE, "db") is None


def test_a_projects_connections_go_with_it(store: Store, project: str) -> None:
    with store.transaction() as uow:
        _connection(uow, project, "local", project_id=project)
        _connection(uow, SITE_SCOPE, "site")
        uow.projects.delete(project)
    with store.transaction() as uow:
        assert [c.name for c in uow.data_connections.in_scopes(SITE_SCOPE, project)] == ["site"]


# The Iceberg catalog's rows ------------------------------------------------------------------


def test_deleting_a_catalog_forgets_its_tables_and_namespaces_only(store: Store) -> None:
    with store.transaction() as uow:
        for catalog in ("doomed", "kept"):
            uow.session.execute(
                insert(IcebergTableRow).values(
                    catalog_name=catalog,
                    table_namespace="ns",
                    table_name="t",
                    metadata_location=f"/wh/{catalog}/t/v1.json",
                )
            )
            uow.session.execute(
                insert(IcebergNamespacePropertyRow).values(
                    catalog_name=catalog,
                    namespace="ns",
                    property_key="exists",
                    property_value="true",
                )
            )
        uow.iceberg.delete_catalog("doomed")
        uow.iceberg.delete_catalog("never-existed")
    with store.transaction() as uow:
        tables = uow.session.scalars(select(IcebergTableRow.catalog_name)).all()
        namespaces = uow.session.scalar(
            select(func.count()).select_from(IcebergNamespacePropertyRow)
        )
    assert tables == ["kept"]
    assert namespaces == 1
