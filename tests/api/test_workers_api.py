"""The workers routes refuse bad input and strangers with a 4xx, before anything starts
(compat §12; the running cases are in ``tests/sdk/test_workers.py``)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from lakeworks.entities.users import User
from lakeworks.services import projects
from lakeworks.services.platform import Platform, Principal


def test_workers_routes_answer_bad_input_and_strangers_with_4xx(
    client: TestClient,
    platform: Platform,
    make_user: Callable[..., User],
    api_headers: Callable[[User], dict[str, str]],
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    project = projects.create(
        platform,
        Principal(user=alice, via="session"),
        name="Workers",
        source=projects.parse_source("", ""),
    )
    url = f"/api/v2/projects/{project.id}/workers"
    body = {"parent_id": "a" * 16, "n": 1, "cpu": 1, "memory": 1, "code": "!true"}
    mine, theirs = api_headers(alice), api_headers(bob)

    assert client.post(url, json=body).status_code == 401
    assert client.post(url, json=body, headers=theirs).status_code == 404
    assert client.post(url, json=body, headers=mine).status_code == 404  # no such parent
    for bad in (
        {"n": 0},
        {"n": 33},
        {"cpu": -1},
        {"memory": "lots"},
        {"code": ""},
        {"nvidia_gpu": 1},
        {"env": {"A=B": "x"}},
        {"env": "not json"},
        {"parent_id": None},
    ):
        answer = client.post(url, json=body | bad, headers=mine)
        assert answer.status_code in (400, 422), (bad, answer.status_code, answer.text)
        assert "message" in answer.json() or "detail" in answer.json()
    assert client.post(url, content=b"{not json", headers=mine).status_code in (400, 422)
    assert client.get(url, headers=mine).status_code in (400, 422)  # which parent?
    listed = client.get(url, params={"parent_id": "b" * 16}, headers=theirs)
    assert listed.status_code == 404
    stop = client.post(f"{url}:stop", json={"parent_id": "a" * 16}, headers=mine)
    assert stop.status_code == 404
