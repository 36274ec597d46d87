"""Signing in and out, CSRF on forms, and the first-admin setup page."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient

from conftest import PASSWORD, login
from lakeworks.entities.users import User
from lakeworks.services import users
from lakeworks.services.platform import Platform


def form_token(client: TestClient, path: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found, f"{path} has a form with a CSRF token"
    return found.group(1)


def test_wrong_password_says_so_and_keeps_the_username(
    client: TestClient, make_user: Callable[..., User]
) -> None:
    make_user("alice")
    token = form_token(client, "/login")
    response = client.post(
        "/login", data={"csrf_token": token, "username": "alice", "password": "not it at all"}
    )
    assert response.status_code == 401
    assert "Wrong username or password." in response.text
    assert 'value="alice"' in response.text
    assert client.get("/projects", follow_redirects=False).status_code == 303


def test_deactivated_user_cannot_sign_in(
    client: TestClient, platform: Platform, admin: User, make_user: Callable[..., User]
) -> None:
    make_user("gone")
    users.update_user(platform, None, "gone", is_active=False)
    token = form_token(client, "/login")
    response = client.post(
        "/login", data={"csrf_token": token, "username": "gone", "password": PASSWORD}
    )
    assert response.status_code == 401


def test_pages_send_strangers_to_login_and_back(
    client: TestClient, make_user: Callable[..., User]
) -> None:
    make_user("alice")
    response = client.get("/settings/api-keys", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fsettings%2Fapi-keys"
    token = form_token(client, "/login?next=/settings/api-keys")
    response = client.post(
        "/login",
        data={
            "csrf_token": token,
            "username": "alice",
            "password": PASSWORD,
            "next": "/settings/api-keys",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/settings/api-keys"


def test_login_never_redirects_off_site(client: TestClient, make_user: Callable[..., User]) -> None:
    make_user("alice")
    token = form_token(client, "/login")
    response = client.post(
        "/login",
        data={"csrf_token": token, "username": "alice", "password": PASSWORD, "next": "//evil"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/projects"


def test_login_form_without_csrf_token_is_refused(
    client: TestClient, make_user: Callable[..., User]
) -> None:
    make_user("alice")
    response = client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 403
    assert "CSRF" in response.text


def test_form_post_without_csrf_token_is_refused(
    client: TestClient, make_user: Callable[..., User]
) -> None:
    make_user("alice")
    login(client, "alice")
    response = client.post("/projects/new", data={"name": "Sneaky", "source": "blank"})
    assert response.status_code == 403
    assert "CSRF token" in response.text
    response = client.post(
        "/projects/new", data={"name": "Sneaky", "source": "blank", "csrf_token": "forged"}
    )
    assert response.status_code == 403
    assert "Sneaky" not in client.get("/projects").text


def test_a_form_posted_after_the_login_expired_leads_back_to_its_page(
    client: TestClient,
) -> None:
    response = client.post(
        "/projects/new",
        data={"name": "x"},
        headers={"referer": "http://testserver/projects/new?source=git"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fprojects%2Fnew%3Fsource%3Dgit"


def test_sign_out(client: TestClient, make_user: Callable[..., User]) -> None:
    make_user("alice")
    token = login(client, "alice")
    response = client.post("/logout", data={"csrf_token": token})
    assert response.url.path == "/login"
    assert "You are signed out." in response.text
    assert client.get("/projects", follow_redirects=False).status_code == 303


def test_setup_creates_the_first_admin_once(client: TestClient, app: FastAPI) -> None:
    assert app.state.setup_token.active
    assert client.get("/", follow_redirects=False).headers["location"] == "/setup"
    assert "Create the first administrator" in client.get("/login").text
    secret = app.state.setup_token.issue()  # the one printed at start-up is not captured here
    token = form_token(client, "/setup")
    form = {
        "csrf_token": token,
        "secret": secret,
        "username": "ada",
        "name": "Ada Lovelace",
        "email": "ada@example.org",
        "password": PASSWORD,
        "password_again": PASSWORD,
    }

    # Bad input is reported without spending the secret.
    response = client.post("/setup", data=form | {"password": "short", "password_again": "short"})
    assert response.status_code == 400
    assert "at least 10 characters" in response.text
    assert 'value="Ada Lovelace"' in response.text
    response = client.post("/setup", data=form | {"secret": "wrong"})
    assert response.status_code == 403
    assert "setup secret is wrong" in response.text
    assert app.state.setup_token.active

    response = client.post("/setup", data=form)
    assert response.url.path == "/projects"
    assert "first administrator" in response.text
    assert "Site administration" in response.text  # signed in, as an admin
    assert not app.state.setup_token.active
    assert client.get("/setup").status_code == 404
    assert client.post("/setup", data=form).status_code == 404


def test_setup_is_gone_once_an_admin_exists(client: TestClient, admin: User) -> None:
    response = client.get("/setup")
    assert response.status_code == 404
    assert "already set up" in response.text
