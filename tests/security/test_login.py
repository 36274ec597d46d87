"""M3: login throttling, bounded password hashing, and a password policy for new passwords.

The review sent 100 wrong passwords (all answered 401, each costing a 64 MiB argon2 hash) and
had ``1234567890`` accepted as a password."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.conftest import PASSWORD

from lakeworks.app import create_app
from lakeworks.config import Settings
from lakeworks.entities.users import User
from lakeworks.errors import InvalidInput, LakeworksError
from lakeworks.services import auth, users
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.uow import Store

WINDOW = 60


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "login_max_failures_per_account": 5,
            "login_max_failures_per_address": 8,
            "login_failure_window_seconds": WINDOW,
        }
    )


def try_login(client: TestClient, username: str, password: str) -> Any:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    return client.post(
        "/login",
        data={"csrf_token": token.group(1), "username": username, "password": password},
        follow_redirects=False,
    )


def test_guessing_one_accounts_password_is_throttled(
    client: TestClient, make_user: Callable[..., User]
) -> None:
    make_user("alice")
    statuses = [try_login(client, "alice", f"guess number {i}").status_code for i in range(12)]
    assert statuses[:5] == [401] * 5
    assert set(statuses[5:]) == {429}
    refused = try_login(client, "alice", "guess number 99")
    assert refused.status_code == 429
    retry_after = int(refused.headers["retry-after"])
    assert 1 <= retry_after <= WINDOW
    assert "Too many failed sign-ins" in refused.text
    # While throttled even the right password is not checked.
    assert try_login(client, "alice", PASSWORD).status_code == 429


def test_the_account_opens_again_after_the_window(
    settings: Settings, store: Store, make_user: Callable[..., User]
) -> None:
    make_user("alice")
    short = {"login_max_failures_per_account": 2, "login_failure_window_seconds": 4}
    with TestClient(create_app(settings.model_copy(update=short), store)) as client:
        assert [try_login(client, "alice", f"guess {i}").status_code for i in range(2)] == [401] * 2
        refused = try_login(client, "alice", PASSWORD)
        assert refused.status_code == 429
        time.sleep(int(refused.headers["retry-after"]) + 0.2)
        assert try_login(client, "alice", PASSWORD).status_code == 303


def test_guessing_across_accounts_from_one_address_is_throttled(
    client: TestClient, make_user: Callable[..., User]
) -> None:
    for name in ("alice", "bob", "carol"):
        make_user(name)
    statuses = []
    for i in range(10):
        name = ("alice", "bob", "carol", "nobody")[i % 4]
        statuses.append(try_login(client, name, f"spray {i}").status_code)
    assert statuses[:8] == [401] * 8
    assert statuses[8:] == [429, 429]
    # A fresh account from the same address is refused too, before any hash is computed.
    refused = try_login(client, "carol", PASSWORD)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1


def test_throttled_attempts_are_audited(
    client: TestClient,
    make_user: Callable[..., User],
    admin: User,
    api_headers: Callable[[User], dict[str, str]],
) -> None:
    make_user("alice")
    for i in range(6):
        try_login(client, "alice", f"wrong {i}")
    events = client.get(
        "/api/v2/audit_events",
        params={"search_filter": '{"action": "user.login"}'},
        headers=api_headers(admin),
    ).json()["audit_events"]
    assert any("Too many failed sign-ins" in e["detail"].get("error", "") for e in events)


def test_a_success_clears_the_accounts_failures(
    client: TestClient, make_user: Callable[..., User]
) -> None:
    make_user("alice")
    # 7 failures in all (the account allows 5), but a success between them starts over.
    for round_, typos in enumerate((4, 3)):
        for i in range(typos):
            assert try_login(client, "alice", f"typo {round_}.{i}").status_code == 401
        assert try_login(client, "alice", PASSWORD).status_code == 303
        client.cookies.clear()


@pytest.fixture
def counting_hasher(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """Wraps the real argon2 check, recording the most hashes that ran at the same time."""
    seen = {"now": 0, "most": 0}
    lock = threading.Lock()
    real_verify = auth.verify_password

    def verify(stored: str | None, password: str) -> bool:
        with lock:
            seen["now"] += 1
            seen["most"] = max(seen["most"], seen["now"])
        try:
            time.sleep(0.05)  # widen the overlap a real burst of logins has
            return real_verify(stored, password)
        finally:
            with lock:
                seen["now"] -= 1

    monkeypatch.setattr(auth, "verify_password", verify)
    yield seen


def test_password_hashing_runs_at_most_n_at_once(
    settings: Settings,
    store: Store,
    make_user: Callable[..., User],
    counting_hasher: dict[str, int],
) -> None:
    make_user("alice")
    app: FastAPI = create_app(
        settings.model_copy(
            update={
                "password_hash_concurrency": 2,
                "login_max_failures_per_address": 1000,
                "login_max_failures_per_account": 1000,
            }
        ),
        store,
    )
    platform: Platform = app.state.platform
    results: list[str] = []

    def attempt(i: int) -> None:
        try:
            auth.login(platform, "alice", PASSWORD if i % 2 else "wrong one", f"10.0.0.{i}")
            results.append("ok")
        except LakeworksError as exc:
            results.append(type(exc).__name__)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["Unauthenticated"] * 4 + ["ok"] * 4
    assert counting_hasher["most"] == 2


# --- the password policy ----------------------------------------------------------------


WEAK = {
    "1234567890": "most common",
    "zyxwvutsrqp": "run of consecutive",
    "0987654321": "common",
    "aaaaaaaaaaaa": "too few characters",
    "abababababab": "too few characters",
    "password123": "most common",
    "Password123!": "most common",
    "qwertyuiop": "common",
    "abcdefghijk": "run of consecutive",
    "alice-the-great": "must not contain the username",
}


@pytest.mark.parametrize(("password", "why"), WEAK.items())
def test_weak_new_passwords_are_refused_with_a_reason(
    platform: Platform, admin: User, password: str, why: str
) -> None:
    with pytest.raises(InvalidInput, match=why):
        users.create_user(
            platform, Principal(user=admin, via="cli"), username="alice", password=password
        )


def test_the_api_refuses_a_weak_password_with_400(
    client: TestClient, admin: User, api_headers: Callable[[User], dict[str, str]]
) -> None:
    created = client.post(
        "/api/v2/users",
        json={"username": "alice", "password": "1234567890"},
        headers=api_headers(admin),
    )
    assert created.status_code == 400
    assert "most common" in created.json()["message"]
    reset = client.patch(
        "/api/v2/users/root", json={"password": "aaaaaaaaaaaa"}, headers=api_headers(admin)
    )
    assert reset.status_code == 400 and "too few characters" in reset.json()["message"]


def test_changing_to_a_weak_password_is_refused_but_old_passwords_still_sign_in(
    platform: Platform, make_user: Callable[..., User]
) -> None:
    alice = make_user("alice")
    principal = Principal(user=alice, via="session")
    with pytest.raises(InvalidInput, match="most common"):
        auth.change_password(platform, principal, PASSWORD, "password1234")
    # The policy is for new passwords: what alice has keeps working.
    assert auth.login(platform, "alice", PASSWORD).id == alice.id
    auth.change_password(platform, principal, PASSWORD, "seven orange kites over Oslo")
