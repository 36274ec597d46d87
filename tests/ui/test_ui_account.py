"""User settings (password, API keys) and the navigation pages of features still to come."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from conftest import PASSWORD, login
from lakeworks.entities.users import User


@pytest.fixture
def alice(make_user: Callable[..., User]) -> User:
    return make_user("alice")


def test_api_key_secret_is_shown_once(client: TestClient, alice: User) -> None:
    token = login(client, "alice")
    assert "No API keys yet" in client.get("/settings/api-keys").text
    response = client.post(
        "/settings/api-keys",
        data={"csrf_token": token, "name": "laptop", "expires": "2999-12-31"},
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    found = re.search(r"data-secret>(lwk_[A-Za-z0-9_\-]+)<", response.text)
    assert found, "the new key is on the page"
    secret = found.group(1)

    # The key works for the API, and is never shown again.
    me = client.get("/api/v2/users/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.json()["username"] == "alice"
    listing = client.get("/settings/api-keys").text
    assert secret not in listing
    assert secret[:8] in listing and "laptop" in listing and "2999-12-31" in listing
    assert "active" in listing

    key_id = re.search(r"/settings/api-keys/(\d+)/revoke", listing)
    assert key_id
    response = client.post(key_id.group(0), data={"csrf_token": token})
    assert "was revoked" in response.text
    assert ">revoked<" in response.text
    again = client.get("/api/v2/users/me", headers={"Authorization": f"Bearer {secret}"})
    assert again.status_code == 401


def test_api_key_expiry_must_be_a_future_date(client: TestClient, alice: User) -> None:
    token = login(client, "alice")
    response = client.post(
        "/settings/api-keys", data={"csrf_token": token, "name": "old", "expires": "2001-01-01"}
    )
    assert response.status_code == 400
    assert "The expiry must be in the future." in response.text
    assert 'value="old"' in response.text
    response = client.post(
        "/settings/api-keys", data={"csrf_token": token, "expires": "next tuesday"}
    )
    assert response.status_code == 400
    assert "is not a date" in response.text


def test_change_password(client: TestClient, alice: User) -> None:
    token = login(client, "alice")
    new = "a much better passphrase"
    response = client.post(
        "/settings/password",
        data={"csrf_token": token, "current": "wrong one!", "new": new, "new_again": new},
    )
    assert response.status_code == 403
    assert "The current password is wrong." in response.text
    response = client.post(
        "/settings/password",
        data={"csrf_token": token, "current": PASSWORD, "new": new, "new_again": new + "x"},
    )
    assert response.status_code == 400
    response = client.post(
        "/settings/password",
        data={"csrf_token": token, "current": PASSWORD, "new": new, "new_again": new},
    )
    assert "Your password was changed." in response.text
    client.post("/logout", data={"csrf_token": token})
    login(client, "alice", new)


# /experiments (MLflow-backed) is covered in tests/tracking/test_pages.py with MLflow migrated.
@pytest.mark.parametrize("page", ["sessions", "models", "applications"])
def test_every_navigation_entry_is_a_working_page(
    client: TestClient, alice: User, page: str
) -> None:
    login(client, "alice")
    response = client.get(f"/{page}")
    assert response.status_code == 200
    assert 'aria-current="page"' in response.text


def test_profile_self_edit(client: TestClient, make_user: Callable[..., User]) -> None:
    make_user("alice")
    token = login(client, "alice")
    saved = client.post(
        "/settings/profile",
        data={"name": "Alice Liddell", "email": "alice@wonder.land", "csrf_token": token},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    page = client.get("/settings").text
    assert "Alice Liddell" in page and "alice@wonder.land" in page
    bad = client.post("/settings/profile", data={"name": "A", "email": "nope", "csrf_token": token})
    assert bad.status_code == 400 and "not an email address" in bad.text
