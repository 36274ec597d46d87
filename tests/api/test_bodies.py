"""JSON bodies labelled as form data (curl's ``-d`` default) are read as JSON, as CML does;
anything else labelled so is still refused with a 400 that says what was wrong."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from lakeworks.entities.users import User

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_json_sent_as_form_data_is_read_as_json(
    client: TestClient,
    make_user: Callable[..., User],
    api_headers: Callable[[User], dict[str, str]],
) -> None:
    headers = api_headers(make_user("alice")) | FORM
    created = client.post("/api/v2/projects", content='{"name": "Churn"}', headers=headers)
    assert created.status_code == 200, created.text
    assert created.json()["name"] == "Churn"
    project_id = created.json()["id"]
    updated = client.patch(
        f"/api/v2/projects/{project_id}",
        content=' {"description": "as curl -d sends it"} ',
        headers=headers,
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["description"] == "as curl -d sends it"


def test_form_data_that_is_not_json_gets_a_clear_400(
    client: TestClient,
    make_user: Callable[..., User],
    api_headers: Callable[[User], dict[str, str]],
) -> None:
    headers = api_headers(make_user("alice")) | FORM
    for body in ("name=Churn", '{"name": "Churn"', ""):
        refused = client.post("/api/v2/projects", content=body, headers=headers)
        assert refused.status_code == 400, body
        assert refused.json()["message"].startswith("Invalid request: body"), body
