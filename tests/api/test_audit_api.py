"""Audit events: every mutating action, with outcome, readable by site admins only."""

from __future__ import annotations

import json
from collections.abc import Callable

from fastapi.testclient import TestClient

from lakeworks.entities.users import User

Headers = dict[str, str]


def test_audit_trail(
    client: TestClient, make_user: Callable[..., User], api_headers: Callable[[User], Headers]
) -> None:
    alice = api_headers(make_user("alice"))
    make_user("viewer")
    viewer = api_headers(make_user("vera"))
    admin = api_headers(make_user("boss", is_admin=True))
    project = client.post("/api/v2/projects", headers=alice, json={"name": "Audited"}).json()
    pid = project["id"]
    client.put(
        f"/api/v2/projects/{pid}/collaborators/vera", headers=alice, json={"permission": "read"}
    ).raise_for_status()
    client.put(f"/api/v2/projects/{pid}/files/a.txt", headers=alice, content=b"a")
    assert (
        client.put(f"/api/v2/projects/{pid}/files/b.txt", headers=viewer, content=b"b").status_code
        == 403
    )

    assert client.get("/api/v2/audit_events", headers=alice).status_code == 403
    events = client.get(
        "/api/v2/audit_events",
        headers=admin,
        params={"search_filter": json.dumps({"project_id": pid})},
    ).json()
    seen = [(e["actor"], e["action"], e["outcome"]) for e in events["audit_events"]]
    # Newest first.
    assert seen[:4] == [
        ("vera", "file.write", "denied"),
        ("alice", "file.write", "success"),
        ("alice", "project.collaborator.set", "success"),
        ("alice", "project.create", "success"),
    ]
    denied = events["audit_events"][0]
    assert "viewer" in denied["detail"]["error"] and denied["target"] == "b.txt"
    assert denied["at"].endswith("Z")
