"""Resource profiles and quotas: admins manage them, everyone can read profiles."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from lakeworks.entities.users import User

Headers = dict[str, str]


def test_profiles_and_quotas(
    client: TestClient, make_user: Callable[..., User], api_headers: Callable[[User], Headers]
) -> None:
    alice = api_headers(make_user("alice"))
    admin = api_headers(make_user("boss", is_admin=True))
    defaults = client.get("/api/v2/resource_profiles", headers=alice).json()["resource_profiles"]
    assert [(p["name"], p["cpu"], p["memory"]) for p in defaults] == [
        ("small", 1.0, 2.0),
        ("medium", 2.0, 4.0),
        ("large", 4.0, 8.0),
    ]
    body = {"name": "huge", "cpu": "16", "memory": "64"}
    assert client.post("/api/v2/resource_profiles", headers=alice, json=body).status_code == 403
    created = client.post("/api/v2/resource_profiles", headers=admin, json=body).json()
    assert created["cpu"] == 16.0 and created["memory"] == 64.0
    bad = client.post(
        "/api/v2/resource_profiles", headers=admin, json={"name": "zero", "cpu": 0, "memory": 1}
    )
    assert bad.status_code == 400
    assert (
        client.delete(f"/api/v2/resource_profiles/{created['id']}", headers=admin).status_code
        == 204
    )
    assert client.delete("/api/v2/resource_profiles/9999", headers=admin).status_code == 404

    mine = client.get("/api/v2/users/alice/quota", headers=alice).json()
    assert mine == {"username": "alice", "cpu": 8.0, "memory": 16.0, "is_default": True}
    assert (
        client.put(
            "/api/v2/users/alice/quota", headers=alice, json={"cpu": 100, "memory": 100}
        ).status_code
        == 403
    )
    set_ = client.put("/api/v2/users/alice/quota", headers=admin, json={"cpu": 2, "memory": "4"})
    assert set_.json() == {"username": "alice", "cpu": 2.0, "memory": 4.0, "is_default": False}
    assert client.get("/api/v2/users/boss/quota", headers=alice).status_code == 403
