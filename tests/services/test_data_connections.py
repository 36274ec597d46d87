"""Data connections (services/data_connections.py) called directly: names, types, options and
secrets checked; project and site scopes; who may manage and who gets a secret back; audit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tests.services.conftest import Members, account

from lakeworks.entities.audit import AuditEvent, Outcome
from lakeworks.entities.data import SITE_SCOPE, ConnectionType
from lakeworks.errors import InvalidInput, NotFound, PermissionDenied
from lakeworks.services import data_connections as conns
from lakeworks.services.platform import Platform, Principal

Audit = Callable[[Platform, str], list[AuditEvent]]
PG = {"host": "db.example.org", "port": "5432", "database": "sales", "user": "reader"}


@pytest.fixture
def root(fake_platform: Platform) -> Principal:
    return Principal(user=account(fake_platform, "root", is_admin=True), via="session")


def workload_key(members: Members, role: str = "viewer") -> Principal:
    """A principal as a workload of the project presents it (its CDSW_APIV2_KEY)."""
    return Principal(user=members[role].user, via="api_key", project_scope=members.project_id)


def add_pg(platform: Platform, principal: Principal, project_id: str | None, **kw: Any) -> Any:
    kw.setdefault("name", "warehouse")
    kw.setdefault("options", dict(PG))
    kw.setdefault("secret", "hunter2-secret")
    return conns.create(platform, principal, project_id, type="postgresql", **kw)


# Creation ------------------------------------------------------------------------------------


def test_a_project_connection_is_stored_without_its_secret_and_audited(
    fake_platform: Platform, members: Members, audit_rows: Audit
) -> None:
    created = add_pg(fake_platform, members["admin"], members.project_id, description="  Sales ")
    assert created.name == "warehouse" and created.type is ConnectionType.POSTGRESQL
    assert created.scope == members.project_id and not created.is_site
    assert created.options == {
        "host": "db.example.org",
        "port": 5432,
        "database": "sales",
        "user": "reader",
    }
    assert created.description == "Sales" and created.has_secret
    (event,) = audit_rows(fake_platform, "data.connection.create")
    assert event.target == f"{members.project_id}/warehouse" and event.actor == "admin"
    assert event.detail == {
        "type": "postgresql",
        "options": ["database", "host", "port", "user"],
        "secret": True,
    }
    assert "hunter2" not in str(event.detail)
    with fake_platform.read() as uow:
        sealed = uow.data_connections.sealed_secret(members.project_id, "warehouse")
    assert sealed and "hunter2" not in sealed


BAD: list[tuple[dict[str, Any], str]] = [
    ({"name": ""}, "'' is not a connection name"),
    ({"name": "9lives"}, "'9lives' is not a connection name"),
    ({"name": "a" * 65}, "at most 64 characters"),
    ({"name": "has space"}, "is not a connection name"),
    ({"name": "Spark"}, "'Spark' is the name of a built-in connection"),
    ({"name": "iceberg"}, "is the name of a built-in connection"),
    ({"type": "oracle"}, "'oracle' is not a connection type; use one of: "),
    ({"options": {"port": 5432}}, "postgresql connections need the option 'host'."),
    ({"options": {**PG, "hostname": "x"}}, "postgresql connections have no option 'hostname'"),
    ({"options": {**PG, "port": "http"}}, "Option 'port' must be a whole number."),
    ({"options": {**PG, "port": 0}}, "Option 'port' must be a port number (1-65535)."),
    ({"options": {**PG, "port": 70000}}, "must be a port number"),
    ({"options": {**PG, "host": "x" * 2001}}, "Option 'host' is too long or holds a NUL"),
    ({"options": {**PG, "user": "a\x00b"}}, "Option 'user' is too long or holds a NUL"),
    ({"secret": "s" * 4097}, "The secret is over 4096 characters or holds a NUL."),
    ({"type": "duckdb", "options": {}, "secret": "pw"}, "duckdb connections take no secret."),
    (
        {"type": "duckdb", "options": {"read_only": "maybe"}, "secret": ""},
        "Option 'read_only' must be true or false.",
    ),
    (
        {"type": "spark", "options": {"conf": "x"}, "secret": ""},
        "Option 'conf' must be an object of settings.",
    ),
    (
        {"type": "spark", "options": {"conf": {"executor.memory": "1g"}}, "secret": ""},
        "Spark settings start with 'spark.': executor.memory.",
    ),
    ({"type": "iceberg", "options": {}, "secret": ""}, "iceberg connections need the option 'uri'"),
]


@pytest.mark.parametrize(("fields", "message"), BAD)
def test_bad_connections_are_refused_saying_what_is_wrong(
    fake_platform: Platform,
    members: Members,
    audit_rows: Audit,
    fields: dict[str, Any],
    message: str,
) -> None:
    kw: dict[str, Any] = {"name": "warehouse", "type": "postgresql", "options": dict(PG)}
    kw["secret"] = "pw"
    kw.update(fields)
    with pytest.raises(InvalidInput) as caught:
        conns.create(fake_platform, members["owner"], members.project_id, **kw)
    assert message in caught.value.message
    assert conns.list_own(fake_platform, members["owner"], members.project_id) == []
    (event,) = audit_rows(fake_platform, "data.connection.create")
    assert event.outcome is Outcome.FAILED


@pytest.mark.parametrize(
    ("kind", "options", "stored"),
    [
        ("duckdb", {"database": "local.duckdb", "read_only": "yes"}, {"read_only": True}),
        ("duckdb", {"read_only": "off"}, {"read_only": False}),
        ("mysql", {"host": "m", "port": 3306, "charset": "utf8mb4"}, {"port": 3306}),
        (
            "spark",
            {"conf": {"spark.sql.shuffle.partitions": 8}},
            {"conf": {"spark.sql.shuffle.partitions": "8"}},
        ),
        ("iceberg", {"uri": "http://cat:8181", "warehouse": ""}, {"uri": "http://cat:8181"}),
        (" PostgreSQL ", {"host": "h", "port": None}, {"host": "h"}),
    ],
)
def test_options_are_coerced_to_their_types(
    fake_platform: Platform,
    members: Members,
    kind: str,
    options: dict[str, Any],
    stored: dict[str, Any],
) -> None:
    created = conns.create(
        fake_platform, members["owner"], members.project_id, name="c1", type=kind, options=options
    )
    for key, value in stored.items():
        assert created.options[key] == value
    assert "" not in created.options.values() and None not in created.options.values()


def test_a_name_is_unique_within_its_scope_only(
    fake_platform: Platform, members: Members, root: Principal
) -> None:
    add_pg(fake_platform, members["owner"], members.project_id)
    with pytest.raises(InvalidInput, match="named 'warehouse' already exists here"):
        add_pg(fake_platform, members["owner"], members.project_id)
    site = add_pg(fake_platform, root, None)
    assert site.scope == SITE_SCOPE and site.is_site


# Scopes ----------------------------------------------------------------------------------------


def test_a_project_connection_hides_the_site_one_of_that_name(
    fake_platform: Platform, members: Members, root: Principal
) -> None:
    add_pg(fake_platform, root, None, name="shared", secret="site-secret")
    add_pg(fake_platform, root, None, name="warehouse", secret="site-pw")
    add_pg(fake_platform, members["owner"], members.project_id, secret="project-pw")
    listed = conns.list_for_project(fake_platform, members["viewer"], members.project_id)
    assert [(c.name, c.scope) for c in listed] == [
        ("iceberg", SITE_SCOPE),
        ("spark", SITE_SCOPE),
        ("shared", SITE_SCOPE),
        ("warehouse", members.project_id),
    ]
    assert listed[0].builtin and not listed[2].builtin
    own = conns.list_own(fake_platform, members["viewer"], members.project_id)
    assert [c.name for c in own] == ["warehouse"]
    site = conns.list_site(fake_platform, root)
    assert sorted(c.name for c in site) == ["shared", "warehouse"]
    got = conns.get(fake_platform, members["viewer"], members.project_id, "warehouse")
    assert got.scope == members.project_id
    creds = conns.credentials(fake_platform, workload_key(members), members.project_id, "warehouse")
    assert creds.secret == "project-pw"
    shared = conns.credentials(fake_platform, workload_key(members), members.project_id, "shared")
    assert shared.secret == "site-secret" and shared.warning == ""


def test_an_unknown_name_lists_the_connections_there_are(
    fake_platform: Platform, members: Members
) -> None:
    add_pg(fake_platform, members["owner"], members.project_id)
    with pytest.raises(NotFound) as caught:
        conns.get(fake_platform, members["viewer"], members.project_id, "nope")
    assert caught.value.message == (
        "There is no data connection named 'nope' in this project. "
        "Connections: iceberg, spark, warehouse."
    )


def test_builtin_connections_have_no_secret(fake_platform: Platform, members: Members) -> None:
    creds = conns.credentials(fake_platform, workload_key(members), members.project_id, "spark")
    assert creds.connection.builtin and creds.secret == "" and creds.warning == ""


def test_aliasing_answers_an_unknown_name_with_spark_and_a_warning(
    fake_platform: Platform, members: Members
) -> None:
    fake_platform.settings = fake_platform.settings.model_copy(
        update={"data_connection_aliasing": True}
    )
    creds = conns.credentials(fake_platform, workload_key(members), members.project_id, "cdw")
    assert creds.connection.name == "spark" and creds.secret == ""
    assert "There is no data connection named 'cdw'; using the built-in 'spark'" in creds.warning


# Who gets what -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "admin", "contributor", "operator", "viewer"])
def test_secrets_go_to_the_projects_own_workloads_only(
    fake_platform: Platform, members: Members, root: Principal, role: str
) -> None:
    add_pg(fake_platform, members["owner"], members.project_id)
    for person in (members[role], root):
        with pytest.raises(PermissionDenied, match="given to the project's own workloads only"):
            conns.credentials(fake_platform, person, members.project_id, "warehouse")
    creds = conns.credentials(
        fake_platform, workload_key(members, role), members.project_id, "warehouse"
    )
    assert creds.secret == "hunter2-secret"


def test_a_workload_key_of_another_project_gets_no_secret(
    fake_platform: Platform, members: Members
) -> None:
    add_pg(fake_platform, members["owner"], members.project_id)
    stranger = Principal(user=members["owner"].user, via="api_key", project_scope="other")
    with pytest.raises(PermissionDenied):
        conns.credentials(fake_platform, stranger, members.project_id, "warehouse")


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("owner", None),
        ("admin", None),
        ("contributor", PermissionDenied),
        ("operator", PermissionDenied),
        ("viewer", PermissionDenied),
        ("outsider", NotFound),
    ],
)
def test_project_admins_manage_project_connections(
    fake_platform: Platform,
    members: Members,
    audit_rows: Audit,
    role: str,
    expected: type[Exception] | None,
) -> None:
    principal = members[role]
    add_pg(fake_platform, members["owner"], members.project_id, name="existing")
    actions = (
        lambda: add_pg(fake_platform, principal, members.project_id, name="fresh"),
        lambda: conns.update(
            fake_platform, principal, members.project_id, "existing", description="changed"
        ),
        lambda: conns.delete(fake_platform, principal, members.project_id, "existing"),
    )
    if expected is None:
        for act in actions:
            act()
        names = [
            c.name for c in conns.list_own(fake_platform, members["owner"], members.project_id)
        ]
        assert names == ["fresh"]
        for action in ("create", "update", "delete"):
            event = audit_rows(fake_platform, f"data.connection.{action}")[-1]
            assert event.outcome is Outcome.SUCCESS and event.actor == role
        return
    for act in actions:
        with pytest.raises(expected):
            act()
    (kept,) = conns.list_own(fake_platform, members["owner"], members.project_id)
    assert kept.name == "existing" and kept.description == ""
    outcome = Outcome.DENIED if expected is PermissionDenied else Outcome.FAILED
    for action in ("update", "delete"):
        assert [e.outcome for e in audit_rows(fake_platform, f"data.connection.{action}")] == [
            outcome
        ]


def test_only_site_admins_manage_site_connections(
    fake_platform: Platform, members: Members, root: Principal
) -> None:
    message = "Only site administrators manage site-wide data connections."
    for call in (
        lambda: add_pg(fake_platform, members["owner"], None),
        lambda: conns.list_site(fake_platform, members["owner"]),
        lambda: conns.get_site(fake_platform, members["owner"], "warehouse"),
        lambda: conns.delete(fake_platform, members["owner"], None, "warehouse"),
    ):
        with pytest.raises(PermissionDenied, match=message):
            call()
    add_pg(fake_platform, root, None)
    assert conns.get_site(fake_platform, root, "warehouse").has_secret
    with pytest.raises(NotFound, match="no site-wide data connection named 'other'"):
        conns.get_site(fake_platform, root, "other")
    # A project-scoped key of a site admin is no site admin.
    scoped = Principal(user=root.user, via="api_key", project_scope=members.project_id)
    with pytest.raises(PermissionDenied, match=message):
        conns.list_site(fake_platform, scoped)


# Updates ------------------------------------------------------------------------------------------


def test_an_update_replaces_options_and_keeps_or_removes_the_secret(
    fake_platform: Platform, members: Members, audit_rows: Audit
) -> None:
    owner, project_id = members["owner"], members.project_id
    add_pg(fake_platform, owner, project_id)
    changed = conns.update(
        fake_platform, owner, project_id, "warehouse", options={"host": "new-host"}
    )
    assert changed.options == {"host": "new-host"} and changed.has_secret
    creds = conns.credentials(fake_platform, workload_key(members), project_id, "warehouse")
    assert creds.secret == "hunter2-secret"  # None kept it
    rotated = conns.update(fake_platform, owner, project_id, "warehouse", secret="rotated-pw")
    assert rotated.has_secret
    creds = conns.credentials(fake_platform, workload_key(members), project_id, "warehouse")
    assert creds.secret == "rotated-pw"
    removed = conns.update(fake_platform, owner, project_id, "warehouse", secret="")
    assert not removed.has_secret
    creds = conns.credentials(fake_platform, workload_key(members), project_id, "warehouse")
    assert creds.secret == ""
    details = [e.detail for e in audit_rows(fake_platform, "data.connection.update")]
    assert details == [{"changed": ["options"]}, {"changed": ["secret"]}, {"changed": ["secret"]}]
    assert "rotated" not in str(details)


def test_an_update_is_checked_against_the_connections_type(
    fake_platform: Platform, members: Members
) -> None:
    owner, project_id = members["owner"], members.project_id
    conns.create(fake_platform, owner, project_id, name="local", type="duckdb")
    with pytest.raises(InvalidInput, match="duckdb connections have no option 'host'"):
        conns.update(fake_platform, owner, project_id, "local", options={"host": "x"})
    with pytest.raises(InvalidInput, match="duckdb connections take no secret."):
        conns.update(fake_platform, owner, project_id, "local", secret="pw")
    assert conns.get(fake_platform, owner, project_id, "local").options == {}


@pytest.mark.parametrize("action", ["update", "delete"])
def test_changing_a_missing_connection_is_not_found(
    fake_platform: Platform, members: Members, action: str
) -> None:
    with pytest.raises(NotFound, match="There is no data connection named 'ghost' here."):
        if action == "update":
            conns.update(fake_platform, members["owner"], members.project_id, "ghost")
        else:
            conns.delete(fake_platform, members["owner"], members.project_id, "ghost")
