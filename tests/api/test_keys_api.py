"""API keys: shown once, hashed at rest, listable, revocable, expiring; the legacy v1 key."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import text

from lakeworks.entities.users import User
from lakeworks.store.uow import Store

Headers = dict[str, str]


def test_key_lifecycle(
    client: TestClient,
    make_user: Callable[..., User],
    api_headers: Callable[[User], Headers],
    store: Store,
) -> None:
    alice = api_headers(make_user("alice"))
    created = client.post("/api/v2/users/alice/v2_keys", headers=alice, json={"name": "laptop"})
    assert created.status_code == 200, created.text
    secret = created.json()["key"]
    key_id = created.json()["api_key"]["key_id"]
    mine = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v2/users/me", headers=mine).json()["username"] == "alice"

    with store.engine.connect() as conn:
        stored = [row[0] for row in conn.execute(text("SELECT key_hash FROM api_keys"))]
    assert secret not in stored and all(len(h) == 64 for h in stored)

    listing = client.get("/api/v2/users/alice/v2_keys", headers=alice).json()["api_keys"]
    assert key_id in [k["key_id"] for k in listing]
    assert all("key" not in k for k in listing)  # the secret is never listed again
    assert next(k for k in listing if k["key_id"] == key_id)["last_used_at"]

    revoked = client.delete(f"/api/v2/users/alice/v2_keys/{key_id}", headers=alice)
    assert revoked.status_code == 204
    refused = client.get("/api/v2/users/me", headers=mine)
    assert refused.status_code == 401
    assert "revoked" in refused.json()["message"]


def test_expired_key(
    client: TestClient,
    make_user: Callable[..., User],
    api_headers: Callable[[User], Headers],
    store: Store,
) -> None:
    alice = api_headers(make_user("alice"))
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    created = client.post("/api/v2/users/alice/v2_keys", headers=alice, json={"expiry": soon})
    assert created.json()["api_key"]["expiry"]
    secret = created.json()["key"]
    past = datetime.now(UTC) - timedelta(minutes=1)
    with store.engine.begin() as conn:
        conn.execute(
            text("UPDATE api_keys SET expires_at = :t WHERE id = :i"),
            {"t": past, "i": int(created.json()["api_key"]["key_id"])},
        )
    response = client.get("/api/v2/users/me", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 401 and "expired" in response.json()["message"]
    in_past = client.post(
        "/api/v2/users/alice/v2_keys", headers=alice, json={"expiry": past.isoformat()}
    )
    assert in_past.status_code == 400 and "future" in in_past.json()["message"]


def test_keys_of_others(
    client: TestClient, make_user: Callable[..., User], api_headers: Callable[[User], Headers]
) -> None:
    alice = api_headers(make_user("alice"))
    make_user("bob")
    admin = api_headers(make_user("boss", is_admin=True))
    assert client.get("/api/v2/users/bob/v2_keys", headers=alice).status_code == 403
    assert client.post("/api/v2/users/bob/v2_keys", headers=alice, json={}).status_code == 403
    assert client.post("/api/v2/users/bob/v2_keys", headers=admin, json={}).status_code == 200
    assert client.get("/api/v2/users/nobody/v2_keys", headers=admin).status_code == 404


def test_v1_key_basic_auth(
    client: TestClient, make_user: Callable[..., User], api_headers: Callable[[User], Headers]
) -> None:
    alice = api_headers(make_user("alice"))
    client.post("/api/v2/projects", headers=alice, json={"name": "Env", "environment": {"A": "1"}})
    first = client.post("/api/v2/users/alice/v1_key", headers=alice).json()["key"]
    basic = {"Authorization": "Basic " + base64.b64encode(f"{first}:".encode()).decode()}
    url = "/api/v1/projects/alice/env/environment"
    assert client.get(url, headers=basic).json() == {"A": "1"}
    put = client.put(url, headers=basic, json={"A": "1", "B": "two"})
    assert put.status_code == 204 and put.content == b""
    assert client.get(url, headers=basic).json() == {"A": "1", "B": "two"}
    # A v2 key is not a v1 key, and a new v1 key replaces the old one.
    v2_as_basic = {
        "Authorization": "Basic "
        + base64.b64encode((alice["Authorization"].split()[1] + ":").encode()).decode()
    }
    assert client.get(url, headers=v2_as_basic).status_code == 401
    client.post("/api/v2/users/alice/v1_key", headers=alice).raise_for_status()
    assert client.get(url, headers=basic).status_code == 401
    malformed = client.get(url, headers={"Authorization": "Basic %%%"})
    assert malformed.status_code == 401 and "malformed" in malformed.json()["message"]
    bad_body = client.put(url, headers=alice, json=["not", "an", "object"])
    assert bad_body.status_code == 400


def test_validate_key(
    client: TestClient, make_user: Callable[..., User], api_headers: Callable[[User], Headers]
) -> None:
    alice = api_headers(make_user("alice"))
    key = alice["Authorization"].split()[1]
    assert client.post("/api/v2/auth/validate_key", json={"key": key}).json() == {
        "valid": True,
        "username": "alice",
    }
    assert client.post("/api/v2/auth/validate_key", json={"key": "x"}).json()["valid"] is False


def test_deactivated_user_keys_stop_working(
    client: TestClient, make_user: Callable[..., User], api_headers: Callable[[User], Headers]
) -> None:
    alice = api_headers(make_user("alice"))
    admin = api_headers(make_user("boss", is_admin=True))
    assert (
        client.patch("/api/v2/users/alice", headers=admin, json={"is_active": "false"}).status_code
        == 200
    )
    response = client.get("/api/v2/users/me", headers=alice)
    assert response.status_code == 401 and "deactivated" in response.json()["message"]
