"""The SQL explorer's service (services/data_queries.py) called directly, with every project
role: who reads, the page bounds and paging, what goes into each person's history (and what
does not), writes refused with nothing changed, and errors recorded with their message. Real
DuckDB over a small CSV in the project; the explorer's own SQL rules are tested in
tests/data/test_sql_explorer.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.services.conftest import ROLES, Members

from lakeworks.config import Settings
from lakeworks.entities.datasets import QueryStatus
from lakeworks.errors import HTTP_STATUS, InvalidInput, NotFound, PermissionDenied
from lakeworks.services import data_queries
from lakeworks.services.platform import Platform

PAGE_ROWS = 50
DOWNLOAD_ROWS = 120
ORDERS = 130  # rows of orders.csv
READERS = [r for r in ROLES if r != "outsider"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"data_query_page_rows": PAGE_ROWS, "data_download_max_rows": DOWNLOAD_ROWS}
    )


@pytest.fixture
def orders(fake_platform: Platform, members: Members) -> Path:
    """``data/orders.csv``: 130 orders, ids 1 to 130, amount ten times the id."""
    path = fake_platform.settings.projects_dir / members.project_id / "data" / "orders.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "id,customer,amount\n" + "".join(f"{i},c{i % 7},{i * 10}\n" for i in range(1, ORDERS + 1))
    )
    return path


def run(
    platform: Platform, members: Members, role: str, sql: str, **kw: Any
) -> data_queries.QueryAnswer:
    return data_queries.run_query(platform, members[role], members.project_id, sql, **kw)


def history_of(platform: Platform, members: Members, role: str) -> list[tuple[str, QueryStatus]]:
    found = data_queries.history(platform, members[role], members.project_id)
    return [(h.sql, h.status) for h in found]


@pytest.mark.parametrize("role", READERS)
def test_every_member_reads_the_project_tables_and_gets_their_own_history(
    fake_platform: Platform, members: Members, orders: Path, role: str
) -> None:
    names = [t.name for t in data_queries.tables(fake_platform, members[role], members.project_id)]
    assert names == ["orders"]

    answer = run(fake_platform, members, role, "SELECT SUM(amount) AS total FROM orders")

    assert answer.page.rows == [[sum(i * 10 for i in range(1, ORDERS + 1))]]
    assert [c.name for c in answer.page.columns] == ["total"]
    assert answer.record is not None and answer.record.user_id == members[role].user.id
    assert answer.record.status is QueryStatus.SUCCEEDED and answer.record.rows == 1
    assert history_of(fake_platform, members, role) == [
        ("SELECT SUM(amount) AS total FROM orders", QueryStatus.SUCCEEDED)
    ]
    # Nobody else's history holds it.
    other = "viewer" if role != "viewer" else "owner"
    assert history_of(fake_platform, members, other) == []


def test_an_outsider_reads_nothing_and_leaves_no_history(
    fake_platform: Platform, members: Members, orders: Path
) -> None:
    outsider = members["outsider"]
    calls: list[Callable[[], object]] = [
        lambda: data_queries.tables(fake_platform, outsider, members.project_id),
        lambda: data_queries.columns(fake_platform, outsider, members.project_id, "orders"),
        lambda: run(fake_platform, members, "outsider", "SELECT 1"),
        lambda: data_queries.download_csv(
            fake_platform, outsider, members.project_id, "SELECT * FROM orders"
        ),
        lambda: data_queries.history(fake_platform, outsider, members.project_id),
        lambda: data_queries.cancel(fake_platform, outsider, members.project_id, "q1"),
    ]
    for call in calls:
        # The project is private: to an outsider it does not exist.
        with pytest.raises(NotFound) as hidden:
            call()
        assert hidden.value.message == f"Project {members.project_id!r} not found."
        assert HTTP_STATUS[hidden.value.code] == 404
    with fake_platform.read() as uow:
        assert uow.data.queries(members.project_id, outsider.user.id, 50) == []


def test_columns_of_a_table_and_an_unknown_table(
    fake_platform: Platform, members: Members, orders: Path
) -> None:
    source, columns = data_queries.columns(
        fake_platform, members["viewer"], members.project_id, "ORDERS"
    )
    assert source.name == "orders"
    assert [c.name for c in columns] == ["id", "customer", "amount"]
    with pytest.raises(NotFound) as missing:
        data_queries.columns(fake_platform, members["viewer"], members.project_id, "refunds")
    assert missing.value.message == "The project has no table 'refunds'."


def test_rows_come_a_page_at_a_time_and_only_the_first_page_is_remembered(
    fake_platform: Platform, members: Members, orders: Path
) -> None:
    sql = "SELECT id FROM orders ORDER BY id"
    first = run(fake_platform, members, "contributor", sql, query_id="paging-1")
    assert first.query_id == "paging-1"
    assert [r[0] for r in first.page.rows] == list(range(1, PAGE_ROWS + 1))
    assert first.page.has_more and first.page.offset == 0

    ids: list[int] = [r[0] for r in first.page.rows]
    offset = PAGE_ROWS
    while True:
        page = run(fake_platform, members, "contributor", sql, offset=offset).page
        assert page.offset == offset
        ids += [r[0] for r in page.rows]
        if not page.has_more:
            break
        offset += len(page.rows)
    assert ids == list(range(1, ORDERS + 1))

    small = run(fake_platform, members, "contributor", sql, limit=7, offset=125).page
    assert [r[0] for r in small.rows] == [126, 127, 128, 129, 130] and not small.has_more

    # Only the first page of the first query made a history entry, with its row count.
    found = data_queries.history(fake_platform, members["contributor"], members.project_id)
    assert [(h.sql, h.rows) for h in found] == [(sql, PAGE_ROWS)]


def test_remember_false_keeps_a_first_page_out_of_the_history(
    fake_platform: Platform, members: Members, orders: Path
) -> None:
    answer = run(fake_platform, members, "viewer", "SELECT 1", remember=False)
    assert answer.record is None and answer.page.rows == [[1]]
    assert history_of(fake_platform, members, "viewer") == []


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"limit": 0}, f"A page holds 1 to {PAGE_ROWS} rows."),
        ({"limit": PAGE_ROWS + 1}, f"A page holds 1 to {PAGE_ROWS} rows."),
        ({"offset": -1}, "The offset cannot be negative."),
        ({"query_id": "no spaces allowed"}, "A query id is 1 to 64 letters, digits, '-' or '_'."),
        ({"query_id": "x" * 65}, "A query id is 1 to 64 letters, digits, '-' or '_'."),
    ],
)
def test_bad_paging_is_refused_before_anything_runs_or_is_remembered(
    fake_platform: Platform, members: Members, orders: Path, kw: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        run(fake_platform, members, "owner", "SELECT * FROM orders", **kw)
    assert refused.value.message == message
    assert HTTP_STATUS[refused.value.code] == 400
    assert history_of(fake_platform, members, "owner") == []


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM orders",
        "DROP TABLE orders",
        "COPY orders TO 'data/orders.csv'",
        "CREATE TABLE copy AS SELECT * FROM orders",
        "SELECT 1; DELETE FROM orders",
    ],
)
def test_a_write_through_the_read_only_explorer_is_refused_recorded_and_changes_nothing(
    fake_platform: Platform, members: Members, orders: Path, sql: str
) -> None:
    before = orders.read_bytes()
    with pytest.raises(InvalidInput) as refused:
        run(fake_platform, members, "owner", sql)
    assert HTTP_STATUS[refused.value.code] == 400

    assert orders.read_bytes() == before
    [entry] = data_queries.history(fake_platform, members["owner"], members.project_id)
    assert (entry.sql, entry.status, entry.rows) == (sql, QueryStatus.FAILED, 0)
    assert entry.error == refused.value.message
    # The table still answers with every row.
    assert run(fake_platform, members, "owner", "SELECT COUNT(*) FROM orders").page.rows == [
        [ORDERS]
    ]


def test_a_sql_error_is_recorded_with_duckdbs_message(
    fake_platform: Platform, members: Members, orders: Path
) -> None:
    sql = "SELECT no_such_column FROM orders"
    with pytest.raises(InvalidInput) as failed:
        run(fake_platform, members, "viewer", sql)
    assert "no_such_column" in failed.value.message

    [entry] = data_queries.history(fake_platform, members["viewer"], members.project_id)
    assert entry.status is QueryStatus.FAILED and entry.error == failed.value.message
    assert entry.sql == sql and entry.rows == 0


def test_an_empty_query_is_refused_with_what_to_do(
    fake_platform: Platform, members: Members, orders: Path
) -> None:
    with pytest.raises(InvalidInput) as refused:
        run(fake_platform, members, "viewer", "   ")
    assert refused.value.message == "Write a SQL query first."


def test_history_is_newest_first_bounded_and_cleaned(
    fake_platform: Platform, members: Members, orders: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(data_queries, "HISTORY_KEPT", 3)
    for n in range(1, 6):
        run(fake_platform, members, "operator", f"SELECT {n} AS n")

    found = data_queries.history(fake_platform, members["operator"], members.project_id)
    assert [h.sql for h in found] == ["SELECT 5 AS n", "SELECT 4 AS n", "SELECT 3 AS n"]
    one = data_queries.history(fake_platform, members["operator"], members.project_id, limit=0)
    assert [h.sql for h in one] == ["SELECT 5 AS n"]

    monkeypatch.setattr(data_queries, "HISTORY_SQL_CHARS", 40)
    long_sql = "SELECT 1 AS a -- " + "x" * 100
    run(fake_platform, members, "operator", long_sql)
    newest = data_queries.history(fake_platform, members["operator"], members.project_id)[0]
    assert newest.sql == long_sql[:40]

    # A NUL is refused, and the history entry of the refusal holds none.
    with pytest.raises(InvalidInput) as refused:
        run(fake_platform, members, "operator", "SELECT\x00 2")
    assert refused.value.message == "The query holds a NUL character."
    newest = data_queries.history(fake_platform, members["operator"], members.project_id)[0]
    assert (newest.sql, newest.status) == ("SELECT 2", QueryStatus.FAILED)


def test_csv_download_holds_every_row_up_to_the_limit_and_refuses_writes(
    fake_platform: Platform, members: Members, orders: Path
) -> None:
    sink, rows = data_queries.download_csv(
        fake_platform, members["viewer"], members.project_id, "SELECT id FROM orders ORDER BY id"
    )
    with sink:
        lines = sink.read().decode().splitlines()
    assert rows == DOWNLOAD_ROWS
    assert lines[0] == '"id"' and lines[1:] == [str(i) for i in range(1, DOWNLOAD_ROWS + 1)]

    before = orders.read_bytes()
    with pytest.raises(InvalidInput):
        data_queries.download_csv(
            fake_platform, members["owner"], members.project_id, "DELETE FROM orders"
        )
    assert orders.read_bytes() == before
    # Downloads are not history entries.
    assert history_of(fake_platform, members, "viewer") == []


@pytest.mark.parametrize("role", ["operator", "viewer", "outsider"])
def test_only_contributors_and_above_may_ask_for_a_write(
    fake_platform: Platform, members: Members, orders: Path, role: str
) -> None:
    error = NotFound if role == "outsider" else PermissionDenied
    with pytest.raises(error):
        data_queries.run_write(
            fake_platform,
            members[role],
            members.project_id,
            "CREATE TABLE analytics.big AS SELECT * FROM orders",
        )
    with fake_platform.read() as uow:
        assert uow.data.queries(members.project_id, members[role].user.id, 50) == []


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM orders",
        "DELETE FROM orders",
        "CREATE TABLE big AS SELECT * FROM orders",
        "INSERT INTO analytics.big (id) SELECT id FROM orders",
    ],
)
def test_a_write_that_is_not_one_of_the_two_forms_is_refused_and_recorded(
    fake_platform: Platform, members: Members, orders: Path, sql: str
) -> None:
    before = orders.read_bytes()
    with pytest.raises(InvalidInput) as refused:
        data_queries.run_write(fake_platform, members["contributor"], members.project_id, sql)
    assert orders.read_bytes() == before
    [entry] = data_queries.history(fake_platform, members["contributor"], members.project_id)
    assert (entry.sql, entry.status) == (sql, QueryStatus.FAILED)
    assert entry.error == refused.value.message
    names = [
        t.name
        for t in data_queries.tables(fake_platform, members["contributor"], members.project_id)
    ]
    assert names == ["orders"]
