"""Datasets and dashboards (services/datasets.py) on a project's CSV file, called directly:
fields from the query, their checks, edits that would break a dashboard, visuals and the rows
they draw, who may edit, and the audit trail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tests.services.conftest import Members

from lakeworks.entities.audit import AuditEvent, Outcome
from lakeworks.entities.datasets import RECORD_COUNT, Dataset, FieldRole, FieldType
from lakeworks.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from lakeworks.services import datasets
from lakeworks.services.datasets import VisualSpec
from lakeworks.services.platform import Platform

Audit = Callable[[Platform, str], list[AuditEvent]]
SALES = "region,product,units,price\nnorth,tea,3,2.5\nnorth,coffee,5,4.0\nsouth,tea,7,2.5\n"
SQL = "SELECT region, product, units, price FROM sales"


@pytest.fixture
def project_id(fake_platform: Platform, members: Members) -> str:
    data = fake_platform.settings.projects_dir / members.project_id / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "sales.csv").write_text(SALES)
    return members.project_id


@pytest.fixture
def dataset(fake_platform: Platform, members: Members, project_id: str) -> Dataset:
    return datasets.create_dataset(fake_platform, members["contributor"], project_id, "Sales", SQL)


def bar(dataset_id: int, **kw: Any) -> VisualSpec:
    kw.setdefault("kind", "bar")
    kw.setdefault("title", "Units by region")
    kw.setdefault("dimensions", ("region",))
    kw.setdefault("measures", (("units", "sum"),))
    return VisualSpec(dataset_id=dataset_id, **kw)


# Datasets ----------------------------------------------------------------------------------


def test_a_dataset_takes_its_fields_from_the_query(
    fake_platform: Platform, members: Members, project_id: str, dataset: Dataset, audit_rows: Audit
) -> None:
    assert dataset.name == "Sales"
    fields = {f.name: (f.type, f.role) for f in dataset.fields}
    assert fields == {
        "region": (FieldType.STRING, FieldRole.DIMENSION),
        "product": (FieldType.STRING, FieldRole.DIMENSION),
        "units": (FieldType.INTEGER, FieldRole.MEASURE),
        "price": (FieldType.REAL, FieldRole.MEASURE),
    }
    listed = datasets.list_datasets(fake_platform, members["viewer"], project_id)
    assert [d.id for d in listed] == [dataset.id]
    (event,) = audit_rows(fake_platform, "data.dataset.create")
    assert event.target == str(dataset.id) and event.detail == {"name": "Sales", "fields": 4}
    page = datasets.preview_dataset(fake_platform, members["viewer"], project_id, dataset.id)
    assert [c.name for c in page.columns] == ["region", "product", "units", "price"]
    assert page.rows == [
        ["north", "tea", 3, 2.5],
        ["north", "coffee", 5, 4.0],
        ["south", "tea", 7, 2.5],
    ]
    second = datasets.preview_dataset(
        fake_platform, members["viewer"], project_id, dataset.id, offset=2, limit=5
    )
    assert second.rows == [["south", "tea", 7, 2.5]]


@pytest.mark.parametrize(
    ("name", "sql", "error", "message"),
    [
        ("  ", SQL, InvalidInput, "Give the dataset a name."),
        ("x" * 201, SQL, InvalidInput, "A dataset name is at most 200 characters"),
        ("Bad", "SELECT nope FROM sales", InvalidInput, "nope"),
        ("Bad", "SELECT * FROM missing_table", InvalidInput, "missing_table"),
        ("Dup", "SELECT units, units FROM sales", InvalidInput, "must have distinct names"),
        ("Write", "DELETE FROM sales", InvalidInput, ""),
    ],
)
def test_bad_datasets_are_refused(
    fake_platform: Platform,
    members: Members,
    project_id: str,
    name: str,
    sql: str,
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error) as caught:
        datasets.create_dataset(fake_platform, members["owner"], project_id, name, sql)
    assert message in str(caught.value)
    assert datasets.list_datasets(fake_platform, members["owner"], project_id) == []
    assert (
        fake_platform.settings.projects_dir / project_id / "data" / "sales.csv"
    ).read_text() == (SALES)


def test_dataset_names_are_unique_in_a_project(
    fake_platform: Platform, members: Members, project_id: str, dataset: Dataset
) -> None:
    with pytest.raises(Conflict, match="The project already has a dataset named 'Sales'."):
        datasets.create_dataset(fake_platform, members["owner"], project_id, "Sales", SQL)
    other = datasets.create_dataset(fake_platform, members["owner"], project_id, "Other", SQL)
    with pytest.raises(Conflict, match="already has a dataset named 'Sales'"):
        datasets.update_dataset(fake_platform, members["owner"], project_id, other.id, name="Sales")


def test_a_new_query_keeps_the_fields_it_still_reads(
    fake_platform: Platform, members: Members, project_id: str, dataset: Dataset, audit_rows: Audit
) -> None:
    renamed = datasets.update_dataset(
        fake_platform,
        members["owner"],
        project_id,
        dataset.id,
        fields=[
            {"name": "Region", "source": "region", "type": "string", "role": "dimension"},
            {"name": "Units", "source": "units", "type": "real", "role": "measure"},
        ],
    )
    assert [(f.name, f.type) for f in renamed.fields] == [
        ("Region", FieldType.STRING),
        ("Units", FieldType.REAL),
    ]
    requery = datasets.update_dataset(
        fake_platform,
        members["owner"],
        project_id,
        dataset.id,
        sql="SELECT region, units, price * units AS revenue FROM sales",
    )
    # The edited fields stay as edited; the new column arrives with its default field.
    assert [(f.name, f.source) for f in requery.fields] == [
        ("Region", "region"),
        ("Units", "units"),
        ("revenue", "revenue"),
    ]
    assert "revenue" in requery.sql
    events = audit_rows(fake_platform, "data.dataset.update")
    assert [e.detail["sql_changed"] for e in events] == [False, True]


BAD_FIELDS: list[tuple[list[Any], str]] = [
    ([], "A dataset needs at least one field."),
    (["region"], "Each field is an object with name, source, type and role."),
    ([{"name": "", "type": "string", "role": "dimension"}], "Every field needs a name."),
    (
        [{"name": RECORD_COUNT, "source": "units", "type": "integer", "role": "measure"}],
        "'Record Count' is the built-in row count",
    ),
    (
        [
            {"name": "a", "source": "units", "type": "integer", "role": "measure"},
            {"name": "a", "source": "price", "type": "real", "role": "measure"},
        ],
        "Two fields are named 'a'.",
    ),
    (
        [{"name": "x", "source": "colour", "type": "string", "role": "dimension"}],
        "The field 'x' reads 'colour', which the query lacks.",
    ),
    (
        [{"name": "units", "type": "money", "role": "measure"}],
        "The field 'units' has type 'money'; use one of string, integer",
    ),
    (
        [{"name": "units", "type": "integer", "role": "axis"}],
        "The field 'units' has role 'axis'; use dimension or measure.",
    ),
]


@pytest.mark.parametrize(("fields", "message"), BAD_FIELDS)
def test_bad_fields_are_refused(
    fake_platform: Platform,
    members: Members,
    project_id: str,
    dataset: Dataset,
    fields: list[Any],
    message: str,
) -> None:
    with pytest.raises(InvalidInput) as caught:
        datasets.update_dataset(
            fake_platform, members["owner"], project_id, dataset.id, fields=fields
        )
    assert message in caught.value.message
    assert datasets.get_dataset(fake_platform, members["owner"], project_id, dataset.id) == dataset


def test_cloning_a_field_numbers_the_copies(
    fake_platform: Platform, members: Members, project_id: str, dataset: Dataset, audit_rows: Audit
) -> None:
    owner = members["owner"]
    once = datasets.clone_field(fake_platform, owner, project_id, dataset.id, "units")
    twice = datasets.clone_field(fake_platform, owner, project_id, dataset.id, "units")
    assert [f.name for f in once.fields][-1] == "Copy of units"
    assert [f.name for f in twice.fields][-2:] == ["Copy of units", "Copy of units (2)"]
    assert twice.fields[-1].source == "units" and twice.fields[-1].role is FieldRole.MEASURE
    with pytest.raises(InvalidInput, match="The dataset 'Sales' has no field 'colour'."):
        datasets.clone_field(fake_platform, owner, project_id, dataset.id, "colour")
    details = [e.detail for e in audit_rows(fake_platform, "data.dataset.clone_field")]
    assert details[:2] == [
        {"field": "units", "copy": "Copy of units"},
        {"field": "units", "copy": "Copy of units (2)"},
    ]


def test_a_dataset_of_another_project_is_not_found(
    fake_platform: Platform, members: Members, project_id: str, dataset: Dataset
) -> None:
    from lakeworks.services import projects

    other = projects.create(
        fake_platform, members["owner"], name="Other", source=projects.parse_source("", "")
    )
    with pytest.raises(NotFound, match=f"The project has no dataset {dataset.id}."):
        datasets.get_dataset(fake_platform, members["owner"], other.id, dataset.id)
    with pytest.raises(NotFound):
        datasets.delete_dataset(fake_platform, members["owner"], other.id, dataset.id)
    assert datasets.get_dataset(fake_platform, members["owner"], project_id, dataset.id)


# Dashboards ----------------------------------------------------------------------------------


def test_a_dashboard_draws_its_visuals_from_the_dataset(
    fake_platform: Platform, members: Members, project_id: str, dataset: Dataset, audit_rows: Audit
) -> None:
    board = datasets.create_dashboard(
        fake_platform,
        members["contributor"],
        project_id,
        "  Sales board ",
        subtitle=" weekly ",
        visual_specs=[
            bar(dataset.id),
            bar(
                dataset.id,
                kind="table",
                title="Rows per product",
                dimensions=("product",),
                measures=((RECORD_COUNT, "count"),),
            ),
        ],
    )
    assert (board.title, board.subtitle) == ("Sales board", "weekly")
    assert [v.position for v in board.visuals] == [1, 2]
    visual, page = datasets.visual_data(fake_platform, members["viewer"], project_id, board.id, 1)
    assert visual.title == "Units by region"
    assert sorted(map(tuple, page.rows)) == [("north", 8), ("south", 7)]
    _, counted = datasets.visual_data(fake_platform, members["viewer"], project_id, board.id, 2)
    assert sorted(map(tuple, counted.rows)) == [("coffee", 1), ("tea", 2)]
    with pytest.raises(NotFound, match="The dashboard has no visual 3."):
        datasets.visual_data(fake_platform, members["viewer"], project_id, board.id, 3)
    (event,) = audit_rows(fake_platform, "data.dashboard.create")
    assert event.detail == {"title": "Sales board", "visuals": 2}
    assert [
        d.id for d in datasets.list_dashboards(fake_platform, members["viewer"], project_id)
    ] == [board.id]


BAD_VISUALS: list[tuple[dict[str, Any], str]] = [
    ({"dataset_id": 999}, "Visual 1: the project has no dataset 999."),
    ({"kind": "pie"}, "Visual 1: 'pie' is not a visual type; use one of bar"),
    ({"measures": (("units", "median"),)}, "Visual 1: 'median' is not an aggregate"),
    ({"dimensions": ("colour",)}, "Visual 1: The dataset 'Sales' has no field 'colour'."),
    ({"measures": (("cost", "sum"),)}, "Visual 1: The dataset 'Sales' has no field 'cost'."),
    ({"dimensions": ("region", "region")}, "A field is on the dimensions shelf twice."),
    ({"measures": (("units", "sum"), ("units", "sum"))}, "A measure is on the measures shelf"),
    ({"dimensions": tuple(f"d{i}" for i in range(9))}, "a shelf holds at most 8 fields."),
    ({"kind": "histogram", "measures": ((RECORD_COUNT, "count"),)}, "A histogram shows one"),
    ({"kind": "scatter"}, "A scatter plot needs two measures: x and y."),
    ({"title": "t" * 201}, "A visual's title is at most 200 characters"),
]


@pytest.mark.parametrize(("changes", "message"), BAD_VISUALS)
def test_bad_visuals_are_refused_naming_the_visual(
    fake_platform: Platform,
    members: Members,
    project_id: str,
    dataset: Dataset,
    changes: dict[str, Any],
    message: str,
) -> None:
    spec = bar(dataset.id, **{k: v for k, v in changes.items() if k != "dataset_id"})
    if "dataset_id" in changes:
        spec = bar(changes["dataset_id"])
    with pytest.raises(InvalidInput) as caught:
        datasets.create_dashboard(
            fake_platform, members["owner"], project_id, "Board", visual_specs=[spec]
        )
    assert message in caught.value.message
    assert datasets.list_dashboards(fake_platform, members["owner"], project_id) == []


@pytest.mark.parametrize(
    ("title", "subtitle", "message"),
    [(" ", "", "Give the dashboard a title."), ("T", "s" * 1001, "The subtitle is at most 1000")],
)
def test_bad_dashboard_titles_are_refused(
    fake_platform: Platform,
    members: Members,
    project_id: str,
    title: str,
    subtitle: str,
    message: str,
) -> None:
    with pytest.raises(InvalidInput, match=message):
        datasets.create_dashboard(fake_platform, members["owner"], project_id, title, subtitle)


def test_too_many_visuals_are_refused(
    fake_platform: Platform, members: Members, project_id: str, dataset: Dataset
) -> None:
    with pytest.raises(InvalidInput, match="A dashboard holds at most 24 visuals."):
        datasets.create_dashboard(
            fake_platform,
            members["owner"],
            project_id,
            "Crowded",
            visual_specs=[bar(dataset.id)] * 25,
        )


def test_visuals_are_added_and_removed_by_position(
    fake_platform: Platform, members: Members, project_id: str, dataset: Dataset
) -> None:
    owner = members["owner"]
    board = datasets.create_dashboard(fake_platform, owner, project_id, "Board")
    assert board.visuals == []
    one = datasets.add_visual(fake_platform, owner, project_id, board.id, bar(dataset.id))
    two = datasets.add_visual(
        fake_platform, owner, project_id, board.id, bar(dataset.id, title="Second", kind="line")
    )
    assert [(v.position, v.title) for v in two.visuals] == [(1, "Units by region"), (2, "Second")]
    assert datasets.spec_of(one.visuals[0]) == bar(dataset.id)
    left = datasets.remove_visual(fake_platform, owner, project_id, board.id, 1)
    assert [(v.position, v.title) for v in left.visuals] == [(1, "Second")]
    with pytest.raises(NotFound, match="The dashboard has no visual 5."):
        datasets.remove_visual(fake_platform, owner, project_id, board.id, 5)
    retitled = datasets.update_dashboard(
        fake_platform, owner, project_id, board.id, title="Renamed", subtitle="sub"
    )
    assert (retitled.title, retitled.subtitle, len(retitled.visuals)) == ("Renamed", "sub", 1)


def test_a_used_dataset_cannot_be_deleted_nor_lose_used_fields(
    fake_platform: Platform, members: Members, project_id: str, dataset: Dataset, audit_rows: Audit
) -> None:
    owner = members["owner"]
    board = datasets.create_dashboard(
        fake_platform, owner, project_id, "Board", visual_specs=[bar(dataset.id)]
    )
    with pytest.raises(Conflict) as caught:
        datasets.delete_dataset(fake_platform, owner, project_id, dataset.id)
    assert caught.value.message == (
        "The dataset 'Sales' is used by the dashboards 'Board'; remove those visuals first."
    )
    with pytest.raises(Conflict) as dropped:
        datasets.update_dataset(
            fake_platform,
            owner,
            project_id,
            dataset.id,
            fields=[{"name": "region", "type": "string", "role": "dimension"}],
        )
    assert dropped.value.message == (
        "The dashboard 'Board' uses the fields 'units'; keep them or change that visual."
    )
    datasets.delete_dashboard(fake_platform, owner, project_id, board.id)
    datasets.delete_dataset(fake_platform, owner, project_id, dataset.id)
    assert datasets.list_datasets(fake_platform, owner, project_id) == []
    assert datasets.list_dashboards(fake_platform, owner, project_id) == []
    assert [e.outcome for e in audit_rows(fake_platform, "data.dataset.delete")] == [
        Outcome.FAILED,
        Outcome.SUCCESS,
    ]
    (event,) = audit_rows(fake_platform, "data.dashboard.delete")
    assert event.detail == {"title": "Board"}


# Roles -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("owner", None),
        ("admin", None),
        ("contributor", None),
        ("operator", PermissionDenied),
        ("viewer", PermissionDenied),
        ("outsider", NotFound),
    ],
)
def test_contributors_and_above_edit_data(
    fake_platform: Platform,
    members: Members,
    project_id: str,
    dataset: Dataset,
    audit_rows: Audit,
    role: str,
    expected: type[Exception] | None,
) -> None:
    principal = members[role]
    board = datasets.create_dashboard(fake_platform, members["owner"], project_id, "Board")
    edits = [
        lambda: datasets.create_dataset(fake_platform, principal, project_id, "Mine", SQL),
        lambda: datasets.update_dataset(fake_platform, principal, project_id, dataset.id, name="X"),
        lambda: datasets.clone_field(fake_platform, principal, project_id, dataset.id, "units"),
        lambda: datasets.create_dashboard(fake_platform, principal, project_id, "Mine"),
        lambda: datasets.update_dashboard(
            fake_platform, principal, project_id, board.id, title="Y"
        ),
        lambda: datasets.delete_dashboard(fake_platform, principal, project_id, board.id),
    ]
    if expected is None:
        for edit in edits:
            edit()
        names = {
            d.name for d in datasets.list_datasets(fake_platform, members["owner"], project_id)
        }
        assert names == {"X", "Mine"}
        event = audit_rows(fake_platform, "data.dashboard.delete")[-1]
        assert event.actor == role and event.outcome is Outcome.SUCCESS
        return
    for edit in edits:
        with pytest.raises(expected):
            edit()
    if expected is PermissionDenied:
        # Reading stays open to every member.
        assert datasets.list_datasets(fake_platform, principal, project_id) == [dataset]
        datasets.preview_dataset(fake_platform, principal, project_id, dataset.id)
    assert datasets.get_dataset(fake_platform, members["owner"], project_id, dataset.id) == dataset
    assert datasets.get_dashboard(fake_platform, members["owner"], project_id, board.id) == board
    outcome = Outcome.DENIED if expected is PermissionDenied else Outcome.FAILED
    for action in ("dataset.clone_field", "dashboard.update", "dashboard.delete"):
        events = audit_rows(fake_platform, f"data.{action}")
        assert [e.outcome for e in events] == [outcome]
    # Creating and changing a dataset check the role before running the query (a refusal
    # there is not audited); nothing succeeded either way.
    assert audit_rows(fake_platform, "data.dataset.update") == []
