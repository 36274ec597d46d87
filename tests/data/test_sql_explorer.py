"""The Data page's SQL explorer, datasets and dashboards through their services: real DuckDB
over a real project's files, on the test database (SQLite, or PostgreSQL when set)."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakeworks.data import explorer
from lakeworks.data.explorer import QueryCancelled, QueryTimedOut
from lakeworks.data.sources import TableSource
from lakeworks.entities.audit import Outcome
from lakeworks.entities.datasets import RECORD_COUNT, FieldRole, FieldType, QueryStatus
from lakeworks.entities.projects import Project
from lakeworks.entities.users import User
from lakeworks.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    RateLimited,
)
from lakeworks.services import data_queries, datasets, projects
from lakeworks.services.datasets import VisualSpec
from lakeworks.services.platform import Platform, Principal

CHURN_CSV = (
    Path(str(resources.files("lakeworks.project_templates")))
    / "churn-demo/data/telco-customer-churn.csv"
)
WORKSHOP_SQL = """SELECT
    COUNT(DISTINCT internetservice) as 'internetservice',
    COUNT(DISTINCT multiplelines) as 'multiplelines',
    COUNT(DISTINCT contract) as 'contract',
    COUNT(DISTINCT paymentmethod) as 'paymentmethod'
FROM churn_prototype;"""
SENIORS_SQL = "SELECT * FROM churn_prototype WHERE seniorcitizen = 1"


def churn_csv(target: Path) -> None:
    """The telco churn CSV (7043 customers) the churn-demo template ships."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(CHURN_CSV, target)


@pytest.fixture
def owner(make_user: Callable[..., User]) -> Principal:
    return Principal(user=make_user("dana"), via="session")


@pytest.fixture
def project(platform: Platform, owner: Principal) -> Project:
    made = projects.create(
        platform,
        owner,
        name="Churn",
        source=projects.ProjectSourceSpec(projects.ProjectSource.BLANK),
    )
    churn_csv(platform.settings.projects_dir / made.id / "data" / "churn_prototype.csv")
    return made


def member(
    platform: Platform,
    owner: Principal,
    project: Project,
    make_user: Callable[..., User],
    role: str,
) -> Principal:
    user = make_user(f"{role}1")
    projects.set_collaborator(platform, owner, project.id, user.username, role)
    return Principal(user=user, via="session")


def test_the_workshop_sql_runs_over_the_project_csv_and_lands_in_history(
    platform: Platform, owner: Principal, project: Project
) -> None:
    tables = data_queries.tables(platform, owner, project.id)
    assert [(t.name, t.description) for t in tables] == [
        ("churn_prototype", "data/churn_prototype.csv")
    ]

    answer = data_queries.run_query(platform, owner, project.id, WORKSHOP_SQL)

    assert [c.name for c in answer.page.columns] == [
        "internetservice",
        "multiplelines",
        "contract",
        "paymentmethod",
    ]
    assert answer.page.rows == [[3, 3, 3, 4]]
    assert answer.page.has_more is False
    history = data_queries.history(platform, owner, project.id)
    assert [(h.sql, h.status, h.rows) for h in history] == [
        (WORKSHOP_SQL, QueryStatus.SUCCEEDED, 1)
    ]


def test_columns_of_a_table_are_listed(
    platform: Platform, owner: Principal, project: Project
) -> None:
    _source, columns = data_queries.columns(platform, owner, project.id, "CHURN_PROTOTYPE")
    names = {c.name: c.type for c in columns}
    assert names["SeniorCitizen"] == "BIGINT"
    assert names["Contract"] == "VARCHAR"
    with pytest.raises(NotFound):
        data_queries.columns(platform, owner, project.id, "nope")


def test_parquet_files_are_tables_too_and_clashing_names_use_the_path(
    platform: Platform, owner: Principal, project: Project
) -> None:
    root = platform.settings.projects_dir / project.id
    pq.write_table(pa.table({"a": [1, 2, 3]}), root / "numbers.parquet")
    (root / "old").mkdir()
    pq.write_table(pa.table({"a": [4]}), root / "old" / "numbers.parquet")
    (root / ".hidden").mkdir()
    pq.write_table(pa.table({"a": [5]}), root / ".hidden" / "secret.parquet")

    names = {t.name: t.description for t in data_queries.tables(platform, owner, project.id)}

    assert names == {
        "churn_prototype": "data/churn_prototype.csv",
        "numbers": "numbers.parquet",
        "old_numbers": "old/numbers.parquet",
    }
    answer = data_queries.run_query(
        platform, owner, project.id, "SELECT sum(n.a + o.a) AS s FROM numbers n, old_numbers o"
    )
    assert answer.page.rows == [[18]]


def test_a_table_of_another_project_is_not_listed_and_not_read(
    platform: Platform, owner: Principal, project: Project, make_user: Callable[..., User]
) -> None:
    other_owner = Principal(user=make_user("olga"), via="session")
    other = projects.create(
        platform,
        other_owner,
        name="Other",
        source=projects.ProjectSourceSpec(projects.ProjectSource.BLANK),
    )
    pq.write_table(
        pa.table({"salary": [1]}), platform.settings.projects_dir / other.id / "payroll.parquet"
    )
    assert [t.name for t in data_queries.tables(platform, other_owner, other.id)] == ["payroll"]
    assert "payroll" not in [t.name for t in data_queries.tables(platform, owner, project.id)]
    with pytest.raises(InvalidInput) as caught:
        data_queries.run_query(platform, owner, project.id, "SELECT * FROM payroll")
    assert "does not exist" in caught.value.message
    with pytest.raises(NotFound):
        data_queries.run_query(platform, owner, other.id, "SELECT * FROM payroll")


def test_a_sql_error_shows_its_message_and_changes_nothing(
    platform: Platform, owner: Principal, project: Project
) -> None:
    csv = platform.settings.projects_dir / project.id / "data" / "churn_prototype.csv"
    before = csv.read_bytes()
    with pytest.raises(InvalidInput) as caught:
        data_queries.run_query(platform, owner, project.id, "SELECT nope FROM churn_prototype")
    assert 'Referenced column "nope" not found' in caught.value.message
    with pytest.raises(InvalidInput) as caught:
        data_queries.run_query(platform, owner, project.id, "SELECT * FROM churn")
    assert "Tables of this project: churn_prototype" in caught.value.message
    assert csv.read_bytes() == before
    history = data_queries.history(platform, owner, project.id)
    assert [h.status for h in history] == [QueryStatus.FAILED, QueryStatus.FAILED]
    assert "nope" in history[1].error


@pytest.mark.parametrize(
    ("sql", "said"),
    [
        ("CREATE TABLE t AS SELECT 1", "CREATE statement is refused"),
        ("DROP TABLE churn_prototype", "DROP statement is refused"),
        ("INSERT INTO churn_prototype VALUES (1)", "INSERT statement is refused"),
        ("COPY churn_prototype TO 'stolen.csv'", "COPY statement is refused"),
        ("ATTACH 'other.db'", "ATTACH statement is refused"),
        ("INSTALL httpfs", "statement is refused"),
        ("LOAD httpfs", "LOAD statement is refused"),
        ("SET enable_external_access = true", "SET statement is refused"),
        ("SELECT 1; DROP TABLE churn_prototype", "run one statement at a time"),
    ],
)
def test_writes_and_settings_through_the_explorer_are_refused(
    platform: Platform, owner: Principal, project: Project, sql: str, said: str
) -> None:
    root = platform.settings.projects_dir / project.id
    before = sorted(p.name for p in root.rglob("*"))
    with pytest.raises(InvalidInput) as caught:
        data_queries.run_query(platform, owner, project.id, sql)
    assert said in caught.value.message
    assert sorted(p.name for p in root.rglob("*")) == before


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('data/churn_prototype.csv')",
        "SELECT * FROM glob('/*')",
        "SELECT * FROM read_parquet('https://example.org/x.parquet')",
    ],
)
def test_files_named_in_sql_are_refused(
    platform: Platform, owner: Principal, project: Project, sql: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        data_queries.run_query(platform, owner, project.id, sql)
    assert "reads only the project's tables" in caught.value.message


def test_a_path_as_a_table_name_is_not_read(
    platform: Platform, owner: Principal, project: Project
) -> None:
    with pytest.raises(InvalidInput) as caught:
        data_queries.run_query(platform, owner, project.id, "SELECT * FROM '/etc/passwd'")
    assert "does not exist" in caught.value.message
    assert "root:" not in caught.value.message


def test_python_objects_of_the_server_are_not_tables() -> None:
    secret_rows = pa.table({"password": ["hunter2"]})  # a local DuckDB could otherwise scan
    connection = explorer.connect(explorer.Limits(timeout_seconds=5, memory_mb=128, threads=1))
    try:
        with pytest.raises(duckdb.CatalogException):
            connection.sql("SELECT * FROM secret_rows")
        with pytest.raises(duckdb.InvalidInputException):
            connection.sql("SET enable_external_access = true")
    finally:
        connection.close()
    assert secret_rows.num_rows == 1


def test_a_symlink_planted_by_a_workload_is_not_followed(
    platform: Platform, owner: Principal, project: Project, tmp_path: Path
) -> None:
    outside = tmp_path / "secret.csv"
    outside.write_text("secret\ntop secret value\n")
    root = platform.settings.projects_dir / project.id
    os.symlink(outside, root / "data" / "planted.csv")
    os.link(outside, root / "data" / "hardlinked.csv")

    names = [t.name for t in data_queries.tables(platform, owner, project.id)]
    assert names == ["churn_prototype"]
    with pytest.raises(InvalidInput):
        data_queries.run_query(platform, owner, project.id, "SELECT * FROM planted")


def test_a_file_swapped_for_a_link_after_it_was_listed_is_refused(
    platform: Platform, owner: Principal, project: Project, tmp_path: Path
) -> None:
    outside = tmp_path / "secret.csv"
    outside.write_text("secret\ntop secret value\n")
    csv = platform.settings.projects_dir / project.id / "data" / "churn_prototype.csv"
    sources = data_queries.project_sources(platform, project.id)
    csv.unlink()
    os.symlink(outside, csv)
    source = sources[0]
    with ExitStack() as stack, pytest.raises(InvalidInput) as caught:
        source.open(stack)
    assert "link" in caught.value.message


def test_a_query_over_the_time_limit_is_cancelled_and_recorded(
    platform: Platform, owner: Principal, project: Project
) -> None:
    platform.settings.data_query_timeout_seconds = 0.5
    slow = (
        "SELECT count(*) FROM range(100000000) a, range(100000000) b "
        "WHERE (a.range * 7) % 13 = b.range % 11"
    )
    with pytest.raises(QueryTimedOut) as caught:
        data_queries.run_query(platform, owner, project.id, slow)
    assert "longer than 0.5 s" in caught.value.message
    assert data_queries.history(platform, owner, project.id)[0].status is QueryStatus.TIMED_OUT
    assert platform.running_queries.count() == 0


def test_a_running_query_is_cancelled_by_its_author_only(
    platform: Platform,
    owner: Principal,
    project: Project,
    make_user: Callable[..., User],
) -> None:
    other = member(platform, owner, project, make_user, "viewer")
    slow = "SELECT count(*) FROM range(100000000) a, range(100000000) b WHERE a.range = b.range + 1"
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            data_queries.run_query(platform, owner, project.id, slow, query_id="q1")
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    while platform.running_queries.count() == 0 and worker.is_alive():
        worker.join(0.01)
    with pytest.raises(NotFound):
        data_queries.cancel(platform, other, project.id, "q1")
    # One at a time here: another query is refused while this one runs.
    platform.running_queries.max_running = 1
    with pytest.raises(RateLimited) as refused:
        data_queries.run_query(platform, other, project.id, "SELECT 1")
    assert "LAKEWORKS_DATA_MAX_RUNNING_QUERIES" in refused.value.message
    data_queries.cancel(platform, owner, project.id, "q1")
    worker.join(30)
    assert not worker.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], QueryCancelled)
    assert data_queries.history(platform, owner, project.id)[0].status is QueryStatus.CANCELLED


def test_many_rows_come_a_page_at_a_time(
    platform: Platform, owner: Principal, project: Project
) -> None:
    platform.settings.data_query_page_rows = 100
    sql = "SELECT range AS n FROM range(10000000)"
    first = data_queries.run_query(platform, owner, project.id, sql)
    assert len(first.page.rows) == 100 and first.page.has_more
    later = data_queries.run_query(platform, owner, project.id, sql, offset=9_999_950)
    assert later.page.rows[0] == [9_999_950]
    assert len(later.page.rows) == 50 and not later.page.has_more
    with pytest.raises(InvalidInput):
        data_queries.run_query(platform, owner, project.id, sql, limit=101)
    # Only first pages go into the history.
    assert len(data_queries.history(platform, owner, project.id)) == 1


def test_csv_download_holds_every_row_up_to_the_limit(
    platform: Platform, owner: Principal, project: Project
) -> None:
    sink, rows = data_queries.download_csv(
        platform,
        owner,
        project.id,
        "SELECT contract, count(*) AS n FROM churn_prototype GROUP BY 1 ORDER BY 1",
    )
    with sink:
        text = sink.read().decode()
    assert rows == 3
    assert text.splitlines()[0] == '"Contract","n"'
    assert text.splitlines()[1] == '"Month-to-month",3875'
    platform.settings.data_download_max_rows = 10
    sink, rows = data_queries.download_csv(platform, owner, project.id, "FROM range(1000)")
    with sink:
        assert rows == 10 and len(sink.read().decode().splitlines()) == 11


def test_the_workshop_dataset_field_clone_and_a_dashboard_of_two_bar_charts(
    platform: Platform, owner: Principal, project: Project
) -> None:
    dataset = datasets.create_dataset(platform, owner, project.id, "Seniors", SENIORS_SQL)
    kinds = {f.name: (f.type, f.role) for f in dataset.fields}
    assert kinds["Churn"] == (FieldType.STRING, FieldRole.DIMENSION)
    assert kinds["MonthlyCharges"] == (FieldType.REAL, FieldRole.MEASURE)

    cloned = datasets.clone_field(platform, owner, project.id, dataset.id, "Churn")
    assert cloned.fields[-1].name == "Copy of Churn"
    assert cloned.fields[-1].source == "Churn"
    fields = [
        {"name": f.name, "source": f.source, "type": f.type.value, "role": f.role.value}
        for f in cloned.fields
    ]
    fields[-1].update(type="integer", role="measure")
    updated = datasets.update_dataset(platform, owner, project.id, dataset.id, fields=fields)
    assert updated.field("Copy of Churn") is not None
    assert updated.field("Copy of Churn").role is FieldRole.MEASURE  # type: ignore[union-attr]

    dashboard = datasets.create_dashboard(
        platform,
        owner,
        project.id,
        "Senior customers",
        "Who churns, and how they pay",
        [
            VisualSpec(
                dataset.id,
                "horizontal_bar",
                "By payment method",
                ("PaymentMethod",),
                ((RECORD_COUNT, "count"),),
            ),
            VisualSpec(dataset.id, "bar", "Churned", ("Contract",), (("Copy of Churn", "sum"),)),
        ],
    )
    assert [v.kind.value for v in dashboard.visuals] == ["horizontal_bar", "bar"]

    _visual, by_payment = datasets.visual_data(platform, owner, project.id, dashboard.id, 1)
    counts = {row[0]: row[1] for row in by_payment.rows}
    assert sum(counts.values()) == 1142  # senior citizens in the telco data
    _visual, churned = datasets.visual_data(platform, owner, project.id, dashboard.id, 2)
    assert [c.name for c in churned.columns] == ["Contract", "sum(Copy of Churn)"]
    assert sum(row[1] for row in churned.rows) == 476  # seniors who churned

    with platform.store.transaction() as uow:
        trail, _total = uow.audit.query(
            project_id=project.id, actor=None, action_prefix="data.", offset=0, limit=50
        )
    events = [e.action for e in trail]
    assert set(events) >= {
        "data.dataset.create",
        "data.dataset.clone_field",
        "data.dataset.update",
        "data.dashboard.create",
    }


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        (VisualSpec(0, "pie", "", ("Contract",), ((RECORD_COUNT, "count"),)), "not a visual type"),
        (VisualSpec(0, "bar", "", ("Nope",), ((RECORD_COUNT, "count"),)), "no field 'Nope'"),
        (VisualSpec(0, "bar", "", ("Contract",), (("tenure", "median"),)), "not an aggregate"),
        (VisualSpec(0, "bar", "", (), ((RECORD_COUNT, "count"),)), "needs one dimension"),
        (VisualSpec(0, "histogram", "", (), ((RECORD_COUNT, "count"),)), "one measure field"),
        (VisualSpec(0, "scatter", "", (), (("tenure", "sum"),)), "two measures"),
        (VisualSpec(999, "bar", "", ("Contract",), ((RECORD_COUNT, "count"),)), "no dataset"),
    ],
)
def test_bad_visuals_are_refused_with_what_is_wrong(
    platform: Platform, owner: Principal, project: Project, spec: VisualSpec, said: str
) -> None:
    dataset = datasets.create_dataset(platform, owner, project.id, "All", "FROM churn_prototype")
    if spec.dataset_id == 0:
        spec = VisualSpec(dataset.id, spec.kind, spec.title, spec.dimensions, spec.measures)
    with pytest.raises(InvalidInput) as caught:
        datasets.create_dashboard(platform, owner, project.id, "D", "", [spec])
    assert said in caught.value.message
    assert datasets.list_dashboards(platform, owner, project.id) == []


def test_histogram_scatter_line_and_table_visuals_draw(
    platform: Platform, owner: Principal, project: Project
) -> None:
    dataset = datasets.create_dataset(platform, owner, project.id, "All", "FROM churn_prototype")
    dashboard = datasets.create_dashboard(
        platform,
        owner,
        project.id,
        "Shapes",
        "",
        [
            VisualSpec(dataset.id, "histogram", "", (), (("MonthlyCharges", "sum"),)),
            VisualSpec(
                dataset.id, "scatter", "", (), (("tenure", "sum"), ("MonthlyCharges", "sum"))
            ),
            VisualSpec(dataset.id, "line", "", ("tenure",), (("MonthlyCharges", "avg"),)),
            VisualSpec(dataset.id, "table", "", ("Contract", "gender"), ()),
        ],
    )
    _v, histogram = datasets.visual_data(platform, owner, project.id, dashboard.id, 1)
    assert len(histogram.rows) <= 20 and sum(r[1] for r in histogram.rows) == 7043
    _v, scatter = datasets.visual_data(platform, owner, project.id, dashboard.id, 2)
    assert len(scatter.rows) == platform.settings.data_query_page_rows  # points are bounded
    _v, line = datasets.visual_data(platform, owner, project.id, dashboard.id, 3)
    assert [r[0] for r in line.rows] == sorted(r[0] for r in line.rows)
    _v, table = datasets.visual_data(platform, owner, project.id, dashboard.id, 4)
    assert len(table.rows) == 6


def test_viewers_see_dashboards_and_contributors_edit_them(
    platform: Platform,
    owner: Principal,
    project: Project,
    make_user: Callable[..., User],
) -> None:
    viewer = member(platform, owner, project, make_user, "viewer")
    contributor = member(platform, owner, project, make_user, "contributor")
    dataset = datasets.create_dataset(
        platform, contributor, project.id, "All", "FROM churn_prototype"
    )
    dashboard = datasets.create_dashboard(
        platform,
        contributor,
        project.id,
        "Team view",
        "",
        [VisualSpec(dataset.id, "bar", "", ("Contract",), ((RECORD_COUNT, "count"),))],
    )

    assert [d.title for d in datasets.list_dashboards(platform, viewer, project.id)] == [
        "Team view"
    ]
    datasets.visual_data(platform, viewer, project.id, dashboard.id, 1)
    data_queries.run_query(platform, viewer, project.id, "SELECT 1")
    with pytest.raises(PermissionDenied):
        datasets.update_dashboard(platform, viewer, project.id, dashboard.id, title="Mine")
    with pytest.raises(PermissionDenied):
        datasets.create_dataset(platform, viewer, project.id, "Mine", "SELECT 1 AS x")
    with pytest.raises(PermissionDenied):
        datasets.delete_dashboard(platform, viewer, project.id, dashboard.id)

    stranger = Principal(user=make_user("stranger"), via="session")
    with pytest.raises(NotFound):
        datasets.list_dashboards(platform, stranger, project.id)
    with pytest.raises(NotFound):
        data_queries.run_query(platform, stranger, project.id, "SELECT 1")
    with platform.store.transaction() as uow:
        denied = uow.audit.query(
            project_id=project.id,
            actor="viewer1",
            action_prefix="data.",
            offset=0,
            limit=10,
        )[0]
    assert {e.outcome for e in denied} == {Outcome.DENIED}


def test_a_dataset_in_use_is_not_deleted_and_bad_fields_are_refused(
    platform: Platform, owner: Principal, project: Project
) -> None:
    dataset = datasets.create_dataset(platform, owner, project.id, "All", "FROM churn_prototype")
    with pytest.raises(Conflict):
        datasets.create_dataset(platform, owner, project.id, "All", "SELECT 1 AS x")
    with pytest.raises(InvalidInput) as caught:
        datasets.create_dataset(platform, owner, project.id, "Broken", "SELECT nope")
    assert "nope" in caught.value.message
    with pytest.raises(InvalidInput) as caught:
        datasets.create_dataset(platform, owner, project.id, "Twice", "SELECT 1 AS a, 2 AS a")
    assert "distinct names" in caught.value.message
    dashboard = datasets.create_dashboard(
        platform,
        owner,
        project.id,
        "Uses it",
        "",
        [VisualSpec(dataset.id, "bar", "", ("Contract",), ((RECORD_COUNT, "count"),))],
    )
    with pytest.raises(Conflict) as caught:
        datasets.delete_dataset(platform, owner, project.id, dataset.id)
    assert "Uses it" in caught.value.message
    fields = [{"name": "x", "source": "nope", "type": "string", "role": "dimension"}]
    with pytest.raises(InvalidInput):
        datasets.update_dataset(platform, owner, project.id, dataset.id, fields=fields)
    fields = [{"name": "x", "source": "gender", "type": "colour", "role": "dimension"}]
    with pytest.raises(InvalidInput):
        datasets.update_dataset(platform, owner, project.id, dataset.id, fields=fields)
    # Dropping the field a visual uses is refused, saying which dashboard.
    fields = [{"name": "gender", "source": "gender", "type": "string", "role": "dimension"}]
    with pytest.raises(Conflict) as caught:
        datasets.update_dataset(platform, owner, project.id, dataset.id, fields=fields)
    assert "Uses it" in caught.value.message
    assert len(datasets.get_dataset(platform, owner, project.id, dataset.id).fields) == 21
    datasets.delete_dashboard(platform, owner, project.id, dashboard.id)
    datasets.delete_dataset(platform, owner, project.id, dataset.id)
    assert datasets.list_datasets(platform, owner, project.id) == []


@dataclass(frozen=True)
class ArrowTable:
    """A TableSource as the Iceberg catalog plugs in: a qualified name and an Arrow table."""

    name: str
    table: pa.Table
    kind: str = "iceberg"
    description: str = "an Iceberg table"

    def open(self, stack: ExitStack) -> pa.Table:
        return self.table


@dataclass(frozen=True)
class Provider:
    tables: list[ArrowTable]

    def sources(self, project_id: str) -> list[TableSource]:
        return list(self.tables)


def test_other_providers_plug_in_with_qualified_names(
    platform: Platform, owner: Principal, project: Project
) -> None:
    platform.table_providers.append(
        Provider(
            [
                ArrowTable("fraud.transactions", pa.table({"amount": [5.0, 7.5], "batch": [1, 2]})),
                ArrowTable("churn_prototype", pa.table({"shadowed": [1]})),
            ]
        )
    )
    names = [(t.name, t.kind) for t in data_queries.tables(platform, owner, project.id)]
    # The project's own file keeps its name; a later provider's clash is not offered.
    assert names == [("churn_prototype", "file"), ("fraud.transactions", "iceberg")]
    answer = data_queries.run_query(
        platform,
        owner,
        project.id,
        "SELECT sum(t.amount) AS total, count(c.customerID) > 0 AS joined FROM "
        'fraud.transactions t, "FRAUD".transactions, churn_prototype c WHERE t.batch = 2',
    )
    assert answer.page.rows == [[7.5 * 7043 * 2, True]]


# Writes (contributors ask for them): CREATE TABLE … AS / INSERT INTO … SELECT into Iceberg ----

SENIORS_CTAS = (
    'CREATE TABLE "default".seniors AS '
    "SELECT customerID, tenure, MonthlyCharges FROM churn_prototype WHERE seniorcitizen = 1"
)
SENIORS_COUNT = 1142  # of the 7043 customers


def _count(platform: Platform, who: Principal, project: Project, table: str) -> int:
    answer = data_queries.run_query(platform, who, project.id, f"SELECT count(*) FROM {table}")
    return int(answer.page.rows[0][0])


def _snapshots(platform: Platform, project: Project, table: str) -> int:
    loaded = platform.iceberg.catalog(project.id).load_table(("default", table))
    return len(loaded.snapshots())


def test_a_contributor_writes_a_query_into_a_new_iceberg_table_then_appends(
    platform: Platform, owner: Principal, project: Project, make_user: Callable[..., User]
) -> None:
    writer = member(platform, owner, project, make_user, "contributor")
    made = data_queries.run_write(platform, writer, project.id, SENIORS_CTAS)
    assert [c.name for c in made.page.columns] == ["table", "rows_written", "snapshot_id"]
    table, rows, snapshot = made.page.rows[0]
    assert (table, rows) == ("default.seniors", SENIORS_COUNT)
    assert isinstance(snapshot, int)
    # A table of the explorer at once, readable by anyone who reads the project.
    viewer = member(platform, owner, project, make_user, "viewer")
    names = [t.name for t in data_queries.tables(platform, viewer, project.id)]
    assert "default.seniors" in names
    assert _count(platform, viewer, project, '"default".seniors') == SENIORS_COUNT

    appended = data_queries.run_write(
        platform,
        writer,
        project.id,
        'INSERT INTO "default".seniors SELECT customerID, tenure, MonthlyCharges '
        "FROM churn_prototype WHERE seniorcitizen = 1 AND tenure > 70",
    )
    added = appended.page.rows[0][1]
    assert 0 < added < SENIORS_COUNT
    assert appended.page.rows[0][2] != snapshot
    assert _count(platform, viewer, project, '"default".seniors') == SENIORS_COUNT + added
    assert _snapshots(platform, project, "seniors") == 2

    history = data_queries.history(platform, writer, project.id)
    assert history[0].sql.startswith("INSERT INTO") and history[0].rows == added
    with platform.store.transaction() as uow:
        trail, _total = uow.audit.query(
            project_id=project.id,
            actor="contributor1",
            action_prefix="data.table.",
            offset=0,
            limit=10,
        )
    assert [(e.action, e.outcome) for e in reversed(trail)] == [
        ("data.table.create_as", Outcome.SUCCESS),
        ("data.table.append", Outcome.SUCCESS),
    ]
    assert trail[0].detail["rows"] == added


def test_a_viewer_cannot_write_and_nothing_is_made(
    platform: Platform, owner: Principal, project: Project, make_user: Callable[..., User]
) -> None:
    viewer = member(platform, owner, project, make_user, "viewer")
    with pytest.raises(PermissionDenied):
        data_queries.run_write(platform, viewer, project.id, SENIORS_CTAS)
    names = [t.name for t in data_queries.tables(platform, owner, project.id)]
    assert "default.seniors" not in names


@pytest.mark.parametrize(
    ("sql", "error", "said"),
    [
        ("SELECT 1", InvalidInput, "read-only query"),
        ('DELETE FROM "default".seniors', InvalidInput, "DELETE statement is refused"),
        ("CREATE TABLE seniors2 AS SELECT 1 AS a", InvalidInput, "name the namespace"),
        ('INSERT INTO "default".seniors (customerID) SELECT 1', InvalidInput, "column list"),
        ('CREATE TABLE "default".seniors AS SELECT 1 AS a', Conflict, "already exists"),
        ('INSERT INTO "default".nothing SELECT 1 AS a', NotFound, "nothing"),
        ('INSERT INTO "default".seniors SELECT 1 AS a', InvalidInput, ""),
        (
            "INSERT INTO \"default\".seniors SELECT * FROM read_csv('/etc/passwd')",
            InvalidInput,
            "refused",
        ),
        ('INSERT INTO "default".seniors SELECT * FROM nope', InvalidInput, "Tables of this"),
    ],
)
def test_bad_writes_are_refused_and_the_table_is_left_as_it_was(
    platform: Platform,
    owner: Principal,
    project: Project,
    sql: str,
    error: type[Exception],
    said: str,
) -> None:
    data_queries.run_write(platform, owner, project.id, SENIORS_CTAS)
    with pytest.raises(error) as caught:  # type: ignore[var-annotated]
        data_queries.run_write(platform, owner, project.id, sql)
    assert said in str(caught.value)
    assert _count(platform, owner, project, '"default".seniors') == SENIORS_COUNT
    assert _snapshots(platform, project, "seniors") == 1


def test_a_write_over_the_row_limit_writes_nothing(
    platform: Platform, owner: Principal, project: Project
) -> None:
    platform.settings.data_write_max_rows = 1000
    with pytest.raises(QuotaExceeded) as caught:
        data_queries.run_write(platform, owner, project.id, SENIORS_CTAS)
    assert "LAKEWORKS_DATA_WRITE_MAX_ROWS" in caught.value.message
    names = [t.name for t in data_queries.tables(platform, owner, project.id)]
    assert "default.seniors" not in names


def test_a_write_in_read_only_mode_says_how_to_write(
    platform: Platform, owner: Principal, project: Project
) -> None:
    with pytest.raises(InvalidInput) as caught:
        data_queries.run_query(platform, owner, project.id, SENIORS_CTAS)
    assert "turn writes on" in caught.value.message


def test_writes_stay_in_the_project_catalog(
    platform: Platform, owner: Principal, project: Project
) -> None:
    other = projects.create(
        platform,
        owner,
        name="Other",
        source=projects.ProjectSourceSpec(projects.ProjectSource.BLANK),
    )
    data_queries.run_write(platform, owner, project.id, SENIORS_CTAS)
    # The same name in another project is another (missing) table.
    with pytest.raises(NotFound):
        data_queries.run_write(
            platform, owner, other.id, 'INSERT INTO "default".seniors SELECT 1 AS a'
        )
    assert "default.seniors" not in [t.name for t in data_queries.tables(platform, owner, other.id)]
