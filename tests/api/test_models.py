"""API v2 models, builds and deployments: CML shapes, lenient bodies, 409 on a duplicate name,
key regeneration, permissions, snapshot refusals. No processes start here (the scheduler is
off); tests/serving runs real builds and replicas."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from lakeworks.entities.users import User

Headers = dict[str, str]
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture
def alice(make_user: Callable[..., User], api_headers: Callable[[User], Headers]) -> Headers:
    return api_headers(make_user("alice"))


@pytest.fixture
def bob(make_user: Callable[..., User], api_headers: Callable[[User], Headers]) -> Headers:
    return api_headers(make_user("bob"))


@pytest.fixture
def project(client: TestClient, alice: Headers) -> str:
    pid = client.post("/api/v2/projects", headers=alice, json={"name": "Models"}).json()["id"]
    client.put(
        f"/api/v2/projects/{pid}/files/predict.py",
        headers=alice,
        content=b"def predict(args):\n    return args\n",
    )
    return str(pid)


def test_create_model_shape_and_stable_key(
    client: TestClient, alice: Headers, project: str
) -> None:
    body = {
        "project_id": project,
        "name": "Churn",
        "description": "predicts churn",
        "disable_authentication": "true",
        "cpu": "2",
        "unknown": [1],
    }
    created = client.post(f"/api/v2/projects/{project}/models", headers=alice, json=body)
    assert created.status_code == 200, created.text
    model = created.json()
    assert UUID.match(model["id"])
    assert model["crn"].startswith("crn:cdp:ml:") and model["crn"].endswith("/" + model["id"])
    assert re.fullmatch(r"[a-z0-9]{32}", model["access_key"])
    assert model["auth_enabled"] is False
    assert model["deletion_status"] == ""
    assert model["default_replication_policy"] == {"type": "fixed", "num_replicas": 1}
    again = client.get(f"/api/v2/projects/{project}/models/{model['id']}", headers=alice).json()
    assert again["access_key"] == model["access_key"]

    duplicate = client.post(
        f"/api/v2/projects/{project}/models", headers=alice, json={"name": "Churn"}
    )
    assert duplicate.status_code == 409

    listed = client.get(f"/api/v2/projects/{project}/models", headers=alice).json()
    assert [m["name"] for m in listed["models"]] == ["Churn"]
    assert listed["next_page_token"] == ""
    everywhere = client.get("/api/v2/models", headers=alice).json()["models"]
    assert [m["id"] for m in everywhere] == [model["id"]]
    by_key = client.get(
        "/api/v2/models",
        headers=alice,
        params={"search_filter": f'{{"access_key": "{model["access_key"]}"}}'},
    ).json()["models"]
    assert len(by_key) == 1


def test_update_regenerate_and_delete(client: TestClient, alice: Headers, project: str) -> None:
    url = f"/api/v2/projects/{project}/models"
    model = client.post(url, headers=alice, json={"name": "A"}).json()
    assert model["auth_enabled"] is True
    patched = client.patch(
        f"{url}/{model['id']}",
        headers=alice,
        json={**model, "description": "new", "auth_enabled": False},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["description"] == "new"
    assert patched.json()["auth_enabled"] is False
    assert patched.json()["access_key"] == model["access_key"]
    regenerated = client.post(f"{url}/{model['id']}:regenerateAccessKey", headers=alice).json()
    assert regenerated["access_key"] != model["access_key"]
    assert client.delete(f"{url}/{model['id']}", headers=alice).status_code == 200
    assert client.get(f"{url}/{model['id']}", headers=alice).status_code == 404


def test_outsiders_see_nothing_and_viewers_cannot_create(
    client: TestClient, alice: Headers, bob: Headers, project: str
) -> None:
    url = f"/api/v2/projects/{project}/models"
    model = client.post(url, headers=alice, json={"name": "A"}).json()
    assert client.get(f"{url}/{model['id']}", headers=bob).status_code == 404
    assert client.get("/api/v2/models", headers=bob).json()["models"] == []
    client.put(
        f"/api/v2/projects/{project}/collaborators/bob", headers=alice, json={"permission": "read"}
    )
    assert client.get(f"{url}/{model['id']}", headers=bob).status_code == 200
    assert client.post(url, headers=bob, json={"name": "B"}).status_code == 403


def test_builds_are_queued_and_bad_builds_refused(
    client: TestClient, alice: Headers, project: str
) -> None:
    model = client.post(
        f"/api/v2/projects/{project}/models", headers=alice, json={"name": "A"}
    ).json()
    url = f"/api/v2/projects/{project}/models/{model['id']}/builds"
    build = client.post(
        url,
        headers=alice,
        json={
            "file_path": "predict.py",
            "function_name": "predict",
            "kernel": "python3",
            "comment": "first",
            "cpu": 1,
            "example_input": '{"x": 1}',
        },
    )
    assert build.status_code == 200, build.text
    assert build.json()["status"] == "pending"
    assert build.json()["examples"] == [{"request": {"x": 1}}]
    assert UUID.match(build.json()["id"])
    listed = client.get(url, headers=alice).json()["model_builds"]
    assert [b["id"] for b in listed] == [build.json()["id"]]

    missing = client.post(url, headers=alice, json={"file_path": "nope.py", "function_name": "f"})
    assert missing.status_code == 400 and "does not exist" in missing.json()["message"]
    bad_fn = client.post(
        url, headers=alice, json={"file_path": "predict.py", "function_name": "1x"}
    )
    assert bad_fn.status_code == 400
    # A build still pending is deployed once built, as in CML (issue 14 #4): queued, not 409.
    deploy = client.post(
        f"{url}/{build.json()['id']}/deployments",
        headers=alice,
        json={"cpu": "1", "memory": "2", "replicas": "2"},
    )
    assert deploy.status_code == 200, deploy.text
    assert deploy.json()["status"] == "pending" and deploy.json()["failure_reason"] == ""


def test_a_snapshot_over_the_size_limit_is_refused(
    client: TestClient, alice: Headers, project: str, app: object
) -> None:
    from fastapi import FastAPI

    assert isinstance(app, FastAPI)
    platform = app.state.platform
    platform.settings = platform.settings.model_copy(update={"model_build_max_bytes": 1000})
    client.put(f"/api/v2/projects/{project}/files/data.csv", headers=alice, content=b"x" * 5000)
    model = client.post(
        f"/api/v2/projects/{project}/models", headers=alice, json={"name": "A"}
    ).json()
    url = f"/api/v2/projects/{project}/models/{model['id']}/builds"
    refused = client.post(
        url, headers=alice, json={"file_path": "predict.py", "function_name": "predict"}
    )
    assert refused.status_code == 400
    assert ".gitignore" in refused.json()["message"]
    client.put(f"/api/v2/projects/{project}/files/.gitignore", headers=alice, content=b"*.csv\n")
    accepted = client.post(
        url, headers=alice, json={"file_path": "predict.py", "function_name": "predict"}
    )
    assert accepted.status_code == 200, accepted.text
