"""API v2 users, teams, key validation, browser sessions and the audit log: each answer's
shape, the 4xx with its message for bad input, and 403 for people who are not site admins."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from lakeworks.entities.users import User

Headers = dict[str, str]
USER_FIELDS = {"id", "username", "name", "email", "is_admin", "is_active", "created_at"}
TEAM_FIELDS = {"id", "name", "username", "description", "created_at"}


@pytest.fixture
def root(admin: User, api_headers: Callable[[User], Headers]) -> Headers:
    return api_headers(admin)


@pytest.fixture
def alice(make_user: Callable[..., User], api_headers: Callable[[User], Headers]) -> Headers:
    return api_headers(make_user("alice"))


@pytest.fixture
def bob(make_user: Callable[..., User], api_headers: Callable[[User], Headers]) -> Headers:
    return api_headers(make_user("bob"))


def _error(response: object, status: int, code: str) -> str:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["lakeworks_code"] == code and body["error"] == body["message"]
    return str(body["message"])


# Users ----------------------------------------------------------------------------------------


def test_users_are_listed_and_searched(client: TestClient, root: Headers, alice: Headers) -> None:
    listed = client.get("/api/v2/users", headers=alice)
    assert listed.status_code == 200
    people = listed.json()["users"]
    assert [u["username"] for u in people] == ["alice", "root"]
    assert set(people[0]) == USER_FIELDS
    assert people[0]["email"] == "alice@example.org" and people[0]["is_admin"] is False
    assert people[0]["created_at"].endswith("Z")
    found = client.get("/api/v2/users", headers=root, params={"search": "ROO"}).json()["users"]
    assert [u["username"] for u in found] == ["root"]
    none = client.get("/api/v2/users", headers=root, params={"search": "zzz"}).json()
    assert none == {"users": []}


def test_an_admin_creates_a_user_who_can_then_be_fetched(client: TestClient, root: Headers) -> None:
    made = client.post(
        "/api/v2/users",
        headers=root,
        json={
            "username": "carol",
            "password": "correct horse battery",
            "name": "Carol D",
            "email": "carol@example.org",
        },
    )
    assert made.status_code == 200, made.text
    assert set(made.json()) == USER_FIELDS
    assert (made.json()["username"], made.json()["name"], made.json()["is_active"]) == (
        "carol",
        "Carol D",
        True,
    )
    fetched = client.get("/api/v2/users/carol", headers=root).json()
    assert fetched == made.json()


def test_only_admins_create_or_change_users(
    client: TestClient, alice: Headers, bob: Headers
) -> None:
    message = _error(
        client.post("/api/v2/users", headers=alice, json={"username": "mallory"}),
        403,
        "permission_denied",
    )
    assert message == "Only site administrators can do this."
    for body in ({"name": "Bobby"}, {"is_admin": True}):
        _error(
            client.patch("/api/v2/users/bob", headers=alice, json=body), 403, "permission_denied"
        )
    # Not even on oneself: a person cannot make themselves an admin.
    _error(
        client.patch("/api/v2/users/alice", headers=alice, json={"is_admin": True}),
        403,
        "permission_denied",
    )
    assert client.get("/api/v2/users/bob", headers=bob).json()["name"] == "Bob"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"username": "bad name!"}, 400, "'bad name!' is not a valid username"),
        ({"username": ""}, 400, "'' is not a valid username"),
        ({"username": "9lives"}, 400, "'9lives' is not a valid username"),
        ({"username": "dave", "password": "short"}, 400, "Passwords need at least 10 characters."),
        ({"username": "alice"}, 409, "The name 'alice' is already taken by a user or team."),
    ],
)
def test_a_bad_new_user_is_refused_with_the_reason(
    client: TestClient,
    root: Headers,
    alice: Headers,
    body: dict[str, str],
    status: int,
    message: str,
) -> None:
    response = client.post("/api/v2/users", headers=root, json=body)
    assert response.status_code == status, response.text
    assert response.json()["message"].startswith(message)


def test_a_body_that_is_not_json_is_a_400(client: TestClient, root: Headers) -> None:
    response = client.post(
        "/api/v2/users",
        headers={**root, "Content-Type": "application/json"},
        content=b"{not json",
    )
    assert response.status_code == 400, response.text


def test_an_unknown_user_is_a_404(client: TestClient, root: Headers) -> None:
    assert _error(client.get("/api/v2/users/nobody", headers=root), 404, "not_found") == (
        "User 'nobody' not found."
    )
    _error(client.patch("/api/v2/users/nobody", headers=root, json={"name": "x"}), 404, "not_found")


def test_an_admin_updates_and_deactivates_a_user(
    client: TestClient, root: Headers, alice: Headers
) -> None:
    updated = client.patch(
        "/api/v2/users/alice", headers=root, json={"name": "Alice L", "email": "al@example.org"}
    )
    assert updated.status_code == 200, updated.text
    assert (updated.json()["name"], updated.json()["email"]) == ("Alice L", "al@example.org")
    off = client.patch("/api/v2/users/alice", headers=root, json={"is_active": False})
    assert off.json()["is_active"] is False
    refused = client.get("/api/v2/users/me", headers=alice)
    assert _error(refused, 401, "unauthenticated") == "The API key's user is deactivated."


def test_the_last_admin_cannot_be_demoted(client: TestClient, root: Headers) -> None:
    message = _error(
        client.patch("/api/v2/users/root", headers=root, json={"is_admin": False}), 409, "conflict"
    )
    assert message == "This is the last site administrator; promote another one first."
    assert client.get("/api/v2/users/root", headers=root).json()["is_admin"] is True


# Keys and sessions -----------------------------------------------------------------------------


@pytest.mark.parametrize("key_id", ["abc", "1.5", "-"])
def test_a_key_id_that_is_no_number_is_a_400(
    client: TestClient, alice: Headers, key_id: str
) -> None:
    message = _error(
        client.delete(f"/api/v2/users/alice/v2_keys/{key_id}", headers=alice), 400, "invalid_input"
    )
    assert message == f"{key_id!r} is not an API key id."


def test_revoking_every_key_signs_the_api_out(client: TestClient, alice: Headers) -> None:
    second = client.post("/api/v2/users/alice/v2_keys", headers=alice, json={"name": "two"})
    other = {"Authorization": f"Bearer {second.json()['key']}"}
    assert client.delete("/api/v2/users/alice/v2_keys", headers=alice).status_code == 204
    for headers in (alice, other):
        assert client.get("/api/v2/users/me", headers=headers).status_code == 401


def test_someone_elses_keys_and_sessions_are_out_of_reach(
    client: TestClient, alice: Headers, bob: Headers
) -> None:
    for response in (
        client.get("/api/v2/users/bob/v2_keys", headers=alice),
        client.delete("/api/v2/users/bob/v2_keys", headers=alice),
        client.delete("/api/v2/users/bob/sessions", headers=alice),
        client.post("/api/v2/users/bob/v1_key", headers=alice),
    ):
        assert response.status_code == 403, response.text
    assert client.get("/api/v2/users/me", headers=bob).status_code == 200


def test_ending_ones_browser_sessions_keeps_api_keys(client: TestClient, bob: Headers) -> None:
    assert client.delete("/api/v2/users/bob/sessions", headers=bob).status_code == 204
    assert client.get("/api/v2/users/me", headers=bob).json()["username"] == "bob"


def test_a_v1_key_is_shown_once_and_not_listed_with_v2_keys(
    client: TestClient, bob: Headers
) -> None:
    first = client.post("/api/v2/users/bob/v1_key", headers=bob)
    assert first.status_code == 200, first.text
    key = first.json()["api_key"]
    assert key["kind"] == "v1" and key["key"] == first.json()["key"]
    assert (key["expiry"], key["revoked_at"], key["last_used_at"]) == ("", "", "")
    second = client.post("/api/v2/users/bob/v1_key", headers=bob).json()
    assert second["key"] != first.json()["key"]
    listed = client.get("/api/v2/users/bob/v2_keys", headers=bob).json()["api_keys"]
    assert all(k["kind"] == "v2" for k in listed), "v1 keys are not listed with v2 keys"


@pytest.mark.parametrize(
    ("body", "answer"),
    [
        ({"key": "nonsense"}, {"valid": False, "message": "The API key is not valid."}),
        ({}, {"valid": False, "message": "No API key given."}),
        ({"key": ""}, {"valid": False, "message": "No API key given."}),
    ],
)
def test_validate_key_says_why_a_key_is_not_valid(
    client: TestClient, body: dict[str, str], answer: dict[str, object]
) -> None:
    response = client.post("/api/v2/auth/validate_key", json=body)
    assert response.status_code == 200
    assert response.json() == answer


def test_validate_key_names_a_valid_keys_user(client: TestClient, bob: Headers) -> None:
    key = bob["Authorization"].removeprefix("Bearer ")
    response = client.post("/api/v2/auth/validate_key", json={"key": key})
    assert response.json() == {"valid": True, "username": "bob"}


# Teams ------------------------------------------------------------------------------------------


def test_a_teams_life_through_the_api(client: TestClient, root: Headers, bob: Headers) -> None:
    made = client.post(
        "/api/v2/teams", headers=root, json={"name": "red", "description": "Red team"}
    )
    assert made.status_code == 200, made.text
    assert set(made.json()) == TEAM_FIELDS | {"members"}
    assert (made.json()["name"], made.json()["username"], made.json()["members"]) == (
        "red",
        "red",
        [],
    )
    joined = client.put("/api/v2/teams/red/members/bob", headers=root, json={"role": "viewer"})
    assert joined.json()["members"] == [{"username": "bob", "name": "Bob", "role": "viewer"}]
    promoted = client.put("/api/v2/teams/red/members/bob", headers=root, json={})
    assert promoted.json()["members"] == [
        {"username": "bob", "name": "Bob", "role": "contributor"}
    ], "the default role, replacing the old one"
    listed = client.get("/api/v2/teams", headers=bob).json()["teams"]
    assert [set(t) for t in listed] == [TEAM_FIELDS], "the list leaves members out"
    fetched = client.get("/api/v2/teams/red", headers=bob).json()
    assert fetched["members"] == promoted.json()["members"]
    assert client.delete("/api/v2/teams/red/members/bob", headers=root).status_code == 204
    gone = client.delete("/api/v2/teams/red/members/bob", headers=root)
    assert _error(gone, 404, "not_found") == "'bob' is not a member of team 'red'."
    assert client.delete("/api/v2/teams/red", headers=root).status_code == 204
    assert _error(client.get("/api/v2/teams/red", headers=root), 404, "not_found") == (
        "Team 'red' not found."
    )


def test_only_admins_change_teams(client: TestClient, root: Headers, bob: Headers) -> None:
    client.post("/api/v2/teams", headers=root, json={"name": "red"})
    for response in (
        client.post("/api/v2/teams", headers=bob, json={"name": "blue"}),
        client.put("/api/v2/teams/red/members/bob", headers=bob, json={}),
        client.delete("/api/v2/teams/red/members/root", headers=bob),
        client.delete("/api/v2/teams/red", headers=bob),
    ):
        assert _error(response, 403, "permission_denied") == "Only site administrators can do this."
    assert [t["name"] for t in client.get("/api/v2/teams", headers=root).json()["teams"]] == ["red"]


@pytest.mark.parametrize(
    ("name", "status", "message"),
    [
        ("red", 409, "The name 'red' is already taken by a user or team."),
        ("bob", 409, "The name 'bob' is already taken by a user or team."),
        ("bad name!", 400, "'bad name!' is not a valid username"),
    ],
)
def test_a_team_name_must_be_valid_and_free(
    client: TestClient, root: Headers, bob: Headers, name: str, status: int, message: str
) -> None:
    client.post("/api/v2/teams", headers=root, json={"name": "red"})
    response = client.post("/api/v2/teams", headers=root, json={"name": name})
    assert response.status_code == status, response.text
    assert response.json()["message"].startswith(message)


@pytest.mark.parametrize("role", ["owner", "boss", ""])
def test_a_team_role_must_be_a_collaborator_role(
    client: TestClient, root: Headers, bob: Headers, role: str
) -> None:
    client.post("/api/v2/teams", headers=root, json={"name": "red"})
    response = client.put("/api/v2/teams/red/members/bob", headers=root, json={"role": role})
    assert _error(response, 400, "invalid_input") == (
        f"{role!r} is not a team role; use one of viewer, operator, contributor, admin."
    )
    assert client.get("/api/v2/teams/red", headers=root).json()["members"] == []


def test_members_must_exist(client: TestClient, root: Headers) -> None:
    client.post("/api/v2/teams", headers=root, json={"name": "red"})
    response = client.put("/api/v2/teams/red/members/nobody", headers=root, json={})
    assert _error(response, 404, "not_found") == "User 'nobody' not found."
    missing_team = client.put("/api/v2/teams/blue/members/root", headers=root, json={})
    assert _error(missing_team, 404, "not_found") == "Team 'blue' not found."


# The audit log ---------------------------------------------------------------------------------


def test_the_audit_log_pages_without_overlap(client: TestClient, root: Headers) -> None:
    for n in range(5):
        client.post("/api/v2/teams", headers=root, json={"name": f"team{n}"})
    seen: list[int] = []
    token = ""
    pages = 0
    while True:
        params = {"page_size": 2, "search_filter": json.dumps({"action": "team."})}
        if token:
            params["page_token"] = token
        page = client.get("/api/v2/audit_events", headers=root, params=params).json()
        assert page["total"] == 5
        seen += [e["id"] for e in page["audit_events"]]
        pages += 1
        token = page["next_page_token"]
        if not token:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 5
    assert seen == sorted(seen, reverse=True), "newest first"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"page_token": "garbage"}, "page_token is not a token this server issued."),
        (
            {"page_token": base64.urlsafe_b64encode(b'{"o": -1, "s": 2}').decode()},
            "page_token is not a token this server issued.",
        ),
        ({"page_size": "-1"}, "page_size must be at least 1."),
        ({"page_size": "ten"}, "page_size must be a whole number, not 'ten'."),
        (
            {"search_filter": '{"user": "x"}'},
            "Audit events cannot be filtered by ['user']; use project_id, actor, action.",
        ),
        ({"search_filter": "notjson"}, "search_filter must be a JSON object string"),
    ],
)
def test_bad_audit_listing_parameters_are_400s(
    client: TestClient, root: Headers, params: dict[str, str], message: str
) -> None:
    response = client.get("/api/v2/audit_events", headers=root, params=params)
    assert _error(response, 400, "invalid_input").startswith(message)


def test_a_huge_page_size_is_capped(client: TestClient, root: Headers) -> None:
    client.post("/api/v2/teams", headers=root, json={"name": "red"})
    page = client.get("/api/v2/audit_events", headers=root, params={"page_size": 100_000}).json()
    assert page["next_page_token"] == "" and len(page["audit_events"]) == page["total"] >= 1
    event = page["audit_events"][0]
    assert (event["actor"], event["action"], event["target"], event["outcome"]) == (
        "root",
        "team.create",
        "red",
        "success",
    )
