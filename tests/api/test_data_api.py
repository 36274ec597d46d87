"""API v2 of the Data page: queries, history, datasets and dashboards, with their refusals."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lakeworks.entities.users import User
from lakeworks.services.platform import Platform

Headers = dict[str, str]
CHURN_CSV = (
    Path(str(resources.files("lakeworks.project_templates")))
    / "churn-demo/data/telco-customer-churn.csv"
)


@pytest.fixture
def alice(make_user: Callable[..., User], api_headers: Callable[[User], Headers]) -> Headers:
    return api_headers(make_user("alice"))


@pytest.fixture
def pid(client: TestClient, alice: Headers, platform: Platform) -> str:
    project = client.post("/api/v2/projects", headers=alice, json={"name": "Churn"}).json()
    target = platform.settings.projects_dir / project["id"] / "data" / "churn_prototype.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(CHURN_CSV, target)
    return str(project["id"])


def test_query_tables_history_and_csv(client: TestClient, alice: Headers, pid: str) -> None:
    tables = client.get(f"/api/v2/projects/{pid}/data/sources", headers=alice).json()
    assert tables["tables"] == [
        {
            "name": "churn_prototype",
            "kind": "file",
            "description": "data/churn_prototype.csv",
            "columns": None,
        }
    ]
    table = client.get(f"/api/v2/projects/{pid}/data/sources/churn_prototype", headers=alice)
    assert {"name": "tenure", "type": "BIGINT"} in table.json()["columns"]

    sql = "SELECT Contract, count(*) AS n FROM churn_prototype GROUP BY 1 ORDER BY 1"
    answer = client.post(
        f"/api/v2/projects/{pid}/data/query", headers=alice, json={"sql": sql, "limit": 2}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["columns"] == [
        {"name": "Contract", "type": "VARCHAR"},
        {"name": "n", "type": "BIGINT"},
    ]
    assert body["rows"] == [["Month-to-month", 3875], ["One year", 1473]]
    assert body["has_more"] is True
    second = client.post(
        f"/api/v2/projects/{pid}/data/query",
        headers=alice,
        json={"sql": sql, "limit": 2, "offset": 2},
    ).json()
    assert second["rows"] == [["Two year", 1695]] and second["has_more"] is False

    csv = client.post(f"/api/v2/projects/{pid}/data/query/csv", headers=alice, json={"sql": sql})
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines() == [
        '"Contract","n"',
        '"Month-to-month",3875',
        '"One year",1473',
        '"Two year",1695',
    ]

    history = client.get(f"/api/v2/projects/{pid}/data/history", headers=alice).json()
    assert [(q["sql"], q["status"]) for q in history["queries"]] == [(sql, "succeeded")]


@pytest.mark.parametrize(
    ("sql", "status", "said"),
    [
        ("SELECT nope FROM churn_prototype", 400, "nope"),
        ("DELETE FROM churn_prototype", 400, "read-only"),
        ("SELECT * FROM read_csv('/etc/passwd')", 400, "reads only the project's tables"),
        ("", 400, "Write a SQL query"),
    ],
)
def test_bad_queries_answer_4xx_with_the_reason(
    client: TestClient, alice: Headers, pid: str, sql: str, status: int, said: str
) -> None:
    answer = client.post(f"/api/v2/projects/{pid}/data/query", headers=alice, json={"sql": sql})
    assert answer.status_code == status
    assert said in answer.json()["message"]


def test_a_slow_query_is_cancelled_at_the_time_limit(
    client: TestClient, alice: Headers, pid: str, platform: Platform
) -> None:
    client.app.state.platform.settings.data_query_timeout_seconds = 0.3  # type: ignore[attr-defined]
    slow = "SELECT count(*) FROM range(100000000) a, range(100000000) b WHERE a.range = b.range + 1"
    answer = client.post(f"/api/v2/projects/{pid}/data/query", headers=alice, json={"sql": slow})
    assert answer.status_code == 429
    assert "was cancelled" in answer.json()["message"]


def test_bad_paging_and_ids_are_refused(client: TestClient, alice: Headers, pid: str) -> None:
    url = f"/api/v2/projects/{pid}/data/query"
    assert client.post(url, headers=alice, json={"sql": "SELECT 1", "limit": 0}).status_code == 400
    assert (
        client.post(url, headers=alice, json={"sql": "SELECT 1", "limit": 10**6}).status_code == 400
    )
    assert (
        client.post(url, headers=alice, json={"sql": "SELECT 1", "offset": -1}).status_code == 400
    )
    bad_id = client.post(url, headers=alice, json={"sql": "SELECT 1", "query_id": "a b"})
    assert bad_id.status_code == 400
    assert client.post(url, headers=alice, json={"sql": 5}).status_code == 400
    cancel = client.post(f"/api/v2/projects/{pid}/data/queries/nothing/cancel", headers=alice)
    assert cancel.status_code == 404
    assert client.get(f"/api/v2/projects/{pid}/data/datasets/x", headers=alice).status_code == 400
    assert client.get(f"/api/v2/projects/{pid}/data/datasets/9", headers=alice).status_code == 404


def dashboard_body(dataset_id: int) -> dict[str, Any]:
    return {
        "title": "Senior customers",
        "subtitle": "Churn and payment",
        "visuals": [
            {
                "dataset_id": dataset_id,
                "kind": "horizontal_bar",
                "title": "Payment",
                "dimensions": ["PaymentMethod"],
                "measures": [{"field": "Record Count", "aggregate": "count"}],
            },
            {
                "dataset_id": dataset_id,
                "kind": "bar",
                "title": "Churned",
                "dimensions": ["Contract"],
                "measures": [{"field": "Copy of Churn", "aggregate": "sum"}],
            },
        ],
    }


def test_datasets_and_dashboards_round_trip(
    client: TestClient,
    alice: Headers,
    pid: str,
    make_user: Callable[..., User],
    api_headers: Callable[[User], Headers],
) -> None:
    base = f"/api/v2/projects/{pid}/data"
    made = client.post(
        f"{base}/datasets",
        headers=alice,
        json={"name": "Seniors", "sql": "SELECT * FROM churn_prototype WHERE seniorcitizen = 1;"},
    )
    assert made.status_code == 200, made.text
    dataset = made.json()
    assert dataset["sql"] == "SELECT * FROM churn_prototype WHERE seniorcitizen = 1"
    cloned = client.post(
        f"{base}/datasets/{dataset['id']}/clone_field", headers=alice, json={"field": "Churn"}
    ).json()
    fields = cloned["fields"]
    assert fields[-1] == {
        "name": "Copy of Churn",
        "source": "Churn",
        "type": "string",
        "role": "dimension",
        "source_type": "VARCHAR",
    }
    fields[-1].update(type="integer", role="measure")
    patched = client.patch(
        f"{base}/datasets/{dataset['id']}", headers=alice, json={"fields": fields}
    )
    assert patched.status_code == 200, patched.text
    rows = client.get(f"{base}/datasets/{dataset['id']}/rows", headers=alice, params={"limit": 5})
    churn_copy = [c["name"] for c in rows.json()["columns"]].index("Copy of Churn")
    assert {r[churn_copy] for r in rows.json()["rows"]} <= {0, 1}

    board = client.post(f"{base}/dashboards", headers=alice, json=dashboard_body(dataset["id"]))
    assert board.status_code == 200, board.text
    board_id = board.json()["id"]
    assert [v["kind"] for v in board.json()["visuals"]] == ["horizontal_bar", "bar"]
    drawn = client.get(f"{base}/dashboards/{board_id}/visuals/2/data", headers=alice).json()
    assert drawn["visual"]["measures"][0]["label"] == "sum(Copy of Churn)"
    assert sum(r[1] for r in drawn["rows"]) == 476

    # A viewer sees it, and cannot change it.
    vera = make_user("vera")
    client.put(
        f"/api/v2/projects/{pid}/collaborators/vera", headers=alice, json={"permission": "read"}
    ).raise_for_status()
    viewer = api_headers(vera)
    assert client.get(f"{base}/dashboards/{board_id}", headers=viewer).status_code == 200
    refused = client.patch(f"{base}/dashboards/{board_id}", headers=viewer, json={"title": "x"})
    assert refused.status_code == 403
    assert client.delete(f"{base}/datasets/{dataset['id']}", headers=viewer).status_code == 403
    # Someone else's project is not there at all.
    stranger = api_headers(make_user("sam"))
    assert client.get(f"{base}/dashboards", headers=stranger).status_code == 404
    assert (
        client.post(f"{base}/query", headers=stranger, json={"sql": "SELECT 1"}).status_code == 404
    )

    retitled = client.patch(
        f"{base}/dashboards/{board_id}", headers=alice, json={"title": "Seniors", "visuals": []}
    ).json()
    assert retitled["title"] == "Seniors" and retitled["visuals"] == []
    assert client.delete(f"{base}/dashboards/{board_id}", headers=alice).status_code == 200
    assert client.delete(f"{base}/datasets/{dataset['id']}", headers=alice).status_code == 200
    assert client.get(f"{base}/datasets", headers=alice).json() == {"datasets": []}


def test_bad_dashboards_are_refused_and_nothing_is_saved(
    client: TestClient, alice: Headers, pid: str
) -> None:
    base = f"/api/v2/projects/{pid}/data"
    dataset = client.post(
        f"{base}/datasets", headers=alice, json={"name": "All", "sql": "FROM churn_prototype"}
    ).json()
    body = dashboard_body(dataset["id"])  # "Copy of Churn" does not exist in this dataset
    answer = client.post(f"{base}/dashboards", headers=alice, json=body)
    assert answer.status_code == 400
    assert "Visual 2" in answer.json()["message"] and "Copy of Churn" in answer.json()["message"]
    assert client.post(f"{base}/dashboards", headers=alice, json={"title": ""}).status_code == 400
    assert client.get(f"{base}/dashboards", headers=alice).json() == {"dashboards": []}


def test_the_data_routes_are_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/api/v2/openapi.json").json()["paths"]
    assert "/api/v2/projects/{project_id}/data/query" in paths
    query = paths["/api/v2/projects/{project_id}/data/query"]["post"]
    assert query["operationId"] == "run_data_query"
    schema = query["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/QueryOut"}
    assert "/api/v2/projects/{project_id}/data/dashboards/{dashboard_id}" in paths


def test_broken_files_answer_400_not_500(
    client: TestClient, alice: Headers, pid: str, platform: Platform
) -> None:
    root = platform.settings.projects_dir / pid
    (root / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    (root / "latin.csv").write_bytes(b"name,n\n\xff\xfe\xfa,1\n")
    names = [
        t["name"]
        for t in client.get(f"/api/v2/projects/{pid}/data/sources", headers=alice).json()["tables"]
    ]
    assert names == ["broken", "churn_prototype", "latin"]
    url = f"/api/v2/projects/{pid}/data/query"
    broken = client.post(url, headers=alice, json={"sql": "FROM broken"})
    assert broken.status_code == 400
    assert "cannot be read as parquet" in broken.json()["message"]
    columns = client.get(f"/api/v2/projects/{pid}/data/sources/broken", headers=alice)
    assert columns.status_code == 400
    # Bytes that are no UTF-8 come back as binary, shown in base64.
    latin = client.post(url, headers=alice, json={"sql": "FROM latin"})
    assert latin.status_code == 200
    assert latin.json()["rows"][0][0].startswith("base64:")


def test_a_contributor_writes_an_iceberg_table_and_a_viewer_is_refused(
    client: TestClient,
    alice: Headers,
    pid: str,
    make_user: Callable[..., User],
    api_headers: Callable[[User], Headers],
) -> None:
    url = f"/api/v2/projects/{pid}/data/query"
    ctas = (
        'CREATE TABLE "default".contracts AS '
        "SELECT Contract, count(*) AS n FROM churn_prototype GROUP BY 1"
    )
    # Without asking for writes, a write is refused and says how to write.
    refused = client.post(url, headers=alice, json={"sql": ctas})
    assert refused.status_code == 400 and "turn writes on" in refused.json()["message"]

    bob = make_user("bob")
    client.put(
        f"/api/v2/projects/{pid}/collaborators/bob", headers=alice, json={"permission": "read"}
    )
    viewer = client.post(url, headers=api_headers(bob), json={"sql": ctas, "write": True})
    assert viewer.status_code == 403

    written = client.post(url, headers=alice, json={"sql": ctas, "write": True})
    assert written.status_code == 200, written.text
    body = written.json()
    assert [c["name"] for c in body["columns"]] == ["table", "rows_written", "snapshot_id"]
    assert body["rows"][0][:2] == ["default.contracts", 3]
    read = client.post(
        url,
        headers=api_headers(bob),
        json={"sql": 'SELECT sum(n) FROM "default".contracts'},
    )
    assert read.json()["rows"] == [[7043]]
    again = client.post(url, headers=alice, json={"sql": ctas, "write": True})
    assert again.status_code == 409 and "already exists" in again.json()["message"]
