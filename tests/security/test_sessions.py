"""M2: browser sessions are revocable. The review replayed a cookie after ``POST /logout`` and
got 200 for 8 hours; logout, a password change, deactivation and an administrator's "end
sessions" must now end every earlier cookie of that user."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.conftest import PASSWORD, login

from lakeworks.entities.users import User
from lakeworks.web.auth import SESSION_COOKIE

Browser = Callable[[], TestClient]
NEW_PASSWORD = "a quite different phrase 7"


@pytest.fixture
def browser(app: FastAPI) -> Iterator[Browser]:
    """A fresh TestClient per call: each is a separate browser with its own cookie jar."""
    opened: list[TestClient] = []

    def open_browser() -> TestClient:
        client = TestClient(app, base_url="http://testserver")
        opened.append(client.__enter__())
        return client

    yield open_browser
    for client in opened:
        client.__exit__(None, None, None)


def replay(browser: Browser, cookie: str) -> TestClient:
    """Another browser holding a copy of ``cookie`` (the attacker's)."""
    thief = browser()
    thief.cookies.set(SESSION_COOKIE, cookie, domain="testserver.local")
    return thief


def signed_in(thief: TestClient) -> bool:
    me = thief.get("/api/v2/users/me")
    page = thief.get("/projects", follow_redirects=False)
    assert (me.status_code == 200) == (page.status_code == 200), (me.text, page.status_code)
    if me.status_code != 200:
        assert me.status_code == 401
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
    return me.status_code == 200


def test_a_cookie_replayed_after_logout_is_refused(
    browser: Browser, make_user: Callable[..., User]
) -> None:
    make_user("alice")
    alice = browser()
    csrf = login(alice, "alice")
    cookie = alice.cookies[SESSION_COOKIE]
    assert signed_in(replay(browser, cookie))  # a copied cookie works while signed in...

    out = alice.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303

    assert not signed_in(replay(browser, cookie))  # ...and not after the logout
    # Signing in again works and is a new session.
    again = browser()
    login(again, "alice")
    assert signed_in(again)
    assert not signed_in(replay(browser, cookie))


def test_logout_ends_the_users_sessions_in_every_browser(
    browser: Browser, make_user: Callable[..., User]
) -> None:
    make_user("alice")
    laptop, phone = browser(), browser()
    csrf = login(laptop, "alice")
    login(phone, "alice")
    laptop.post("/logout", data={"csrf_token": csrf})
    assert not signed_in(phone)


def test_a_password_change_ends_earlier_sessions_but_not_the_changing_one(
    browser: Browser, make_user: Callable[..., User]
) -> None:
    make_user("alice")
    alice, other = browser(), browser()
    csrf = login(alice, "alice")
    login(other, "alice")
    stolen = other.cookies[SESSION_COOKIE]
    changed = alice.post(
        "/settings/password",
        data={
            "csrf_token": csrf,
            "current": PASSWORD,
            "new": NEW_PASSWORD,
            "new_again": NEW_PASSWORD,
        },
        follow_redirects=False,
    )
    assert changed.status_code == 303
    assert signed_in(alice)
    assert not signed_in(other)
    assert not signed_in(replay(browser, stolen))


def test_deactivation_ends_sessions_and_reactivation_does_not_revive_them(
    browser: Browser,
    make_user: Callable[..., User],
    admin: User,
    api_headers: Callable[[User], dict[str, str]],
) -> None:
    make_user("alice")
    alice = browser()
    login(alice, "alice")
    cookie = alice.cookies[SESSION_COOKIE]
    root = browser()
    headers = api_headers(admin)
    assert root.patch("/api/v2/users/alice", json={"is_active": False}, headers=headers).is_success
    assert not signed_in(replay(browser, cookie))
    assert root.patch("/api/v2/users/alice", json={"is_active": True}, headers=headers).is_success
    assert not signed_in(replay(browser, cookie))


def test_an_admin_ends_a_users_sessions_through_api_v2(
    browser: Browser,
    make_user: Callable[..., User],
    admin: User,
    api_headers: Callable[[User], dict[str, str]],
) -> None:
    alice_user = make_user("alice")
    bob = make_user("bob")
    alice = browser()
    login(alice, "alice")
    api = browser()

    refused = api.delete("/api/v2/users/alice/sessions", headers=api_headers(bob))
    assert refused.status_code == 403
    assert signed_in(alice)

    ended = api.delete("/api/v2/users/alice/sessions", headers=api_headers(admin))
    assert ended.status_code == 204
    assert not signed_in(alice)
    # API keys are another credential: they stay valid.
    assert api.get("/api/v2/users/me", headers=api_headers(alice_user)).status_code == 200
    audit = api.get("/api/v2/audit_events", headers=api_headers(admin)).json()
    actions = [e["action"] for e in audit["audit_events"]]
    assert "user.sessions_end" in actions


def test_an_admin_ends_a_users_sessions_on_the_admin_user_page(
    browser: Browser, make_user: Callable[..., User], admin: User
) -> None:
    make_user("alice")
    alice = browser()
    login(alice, "alice")
    root = browser()
    csrf = login(root, "root")
    page = root.get("/admin/users")
    assert 'action="/admin/users/alice/end-sessions"' in page.text
    done = root.post(
        "/admin/users/alice/end-sessions", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert done.status_code == 303
    assert not signed_in(alice)
    assert signed_in(root)


def test_an_app_hosts_session_cookie_is_no_sign_in_on_the_main_host(
    browser: Browser, make_user: Callable[..., User]
) -> None:
    """The sign-in hop gives ``<app>.<domain>`` a session of its own; that cookie, were an
    app ever to obtain it, must not act on the main origin's API."""
    make_user("alice")
    alice = browser()
    login(alice, "alice")
    hop = alice.get(
        "/_lakeworks/authorize", params={"next": "http://demo.testserver/"}, follow_redirects=False
    )
    assert hop.status_code == 303 and hop.headers["location"].startswith("http://demo.testserver/")
    landed = alice.get(hop.headers["location"], follow_redirects=False)
    assert landed.status_code == 303
    app_cookie = landed.cookies[SESSION_COOKIE]
    assert not signed_in(replay(browser, app_cookie))
