"""Credentials: password hashes, logins, API keys (hashed, revocable, scoped), the setup token."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from lakeworks.entities.audit import Outcome
from lakeworks.entities.projects import Role
from lakeworks.entities.users import ApiKeyKind, User
from lakeworks.errors import Conflict, InvalidInput, NotFound, PermissionDenied, Unauthenticated
from lakeworks.services import audit, auth, projects, users
from lakeworks.services.permissions import effective_role
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.tables import ApiKeyRow, UserRow, utcnow

PASSWORD = "correct horse battery"  # what make_user (tests/conftest.py) gives everyone


def as_(user: User) -> Principal:
    return Principal(user=user, via="session")


@pytest.fixture
def alice(make_user: Callable[..., User]) -> User:
    return make_user("alice")


@pytest.fixture
def bob(make_user: Callable[..., User]) -> User:
    return make_user("bob")


def stored_password_hash(platform: Platform, username: str) -> str | None:
    with platform.read() as uow:
        return uow.session.scalar(select(UserRow.password_hash).where(UserRow.username == username))


# Passwords and logins -----------------------------------------------------------------


def test_passwords_are_stored_as_argon2_hashes(platform: Platform, alice: User) -> None:
    stored = stored_password_hash(platform, "alice")
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert auth.verify_password(stored, PASSWORD)
    assert not auth.verify_password(stored, PASSWORD + "x")


def test_the_same_password_hashes_differently_each_time() -> None:
    assert auth.hash_password(PASSWORD) != auth.hash_password(PASSWORD)


def test_short_passwords_are_refused(platform: Platform) -> None:
    with pytest.raises(InvalidInput, match="at least 10 characters"):
        users.create_user(platform, None, username="shorty", password="123456789")
    with platform.read() as uow:
        assert uow.users.by_username("shorty") is None


def test_an_account_without_password_cannot_log_in(platform: Platform) -> None:
    users.create_user(platform, None, username="robot", password=None)
    assert stored_password_hash(platform, "robot") is None
    assert not auth.verify_password(None, "")
    with pytest.raises(Unauthenticated):
        auth.login(platform, "robot", "")


def test_login_with_the_right_password(platform: Platform, alice: User, admin: User) -> None:
    assert auth.login(platform, "alice", PASSWORD).id == alice.id
    assert auth.login(platform, "  ALICE ", PASSWORD).id == alice.id, "usernames are lowercase"

    events, _ = audit.list_audit(platform, as_(admin), action_prefix="user.login")
    assert [(e.actor, e.outcome) for e in events] == [
        ("alice", Outcome.SUCCESS),
        ("alice", Outcome.SUCCESS),
    ]


@pytest.mark.parametrize(
    ("username", "password"),
    [("alice", "wrong password"), ("alice", ""), ("nobody", PASSWORD)],
)
def test_a_wrong_login_says_the_same_thing_either_way(
    platform: Platform, alice: User, admin: User, username: str, password: str
) -> None:
    with pytest.raises(Unauthenticated, match="^Wrong username or password.$"):
        auth.login(platform, username, password)
    events, _ = audit.list_audit(platform, as_(admin), action_prefix="user.login")
    assert [(e.actor, e.target, e.outcome) for e in events] == [
        ("system", username, Outcome.DENIED)
    ]


def test_a_deactivated_user_cannot_log_in(platform: Platform, alice: User, admin: User) -> None:
    users.update_user(platform, as_(admin), "alice", is_active=False)
    with pytest.raises(Unauthenticated, match="Wrong username or password"):
        auth.login(platform, "alice", PASSWORD)
    users.update_user(platform, as_(admin), "alice", is_active=True)
    assert auth.login(platform, "alice", PASSWORD).username == "alice"


def test_change_password(platform: Platform, alice: User) -> None:
    with pytest.raises(PermissionDenied, match="current password is wrong"):
        auth.change_password(platform, as_(alice), "not it at all", "brand new password")
    with pytest.raises(InvalidInput):
        auth.change_password(platform, as_(alice), PASSWORD, "short")
    auth.change_password(platform, as_(alice), PASSWORD, "brand new password")
    with pytest.raises(Unauthenticated):
        auth.login(platform, "alice", PASSWORD)
    assert auth.login(platform, "alice", "brand new password").id == alice.id


def test_the_last_admin_cannot_be_demoted(platform: Platform, admin: User, alice: User) -> None:
    with pytest.raises(Conflict, match="last site administrator"):
        users.update_user(platform, as_(admin), admin.username, is_admin=False)
    with pytest.raises(Conflict):
        users.update_user(platform, as_(admin), admin.username, is_active=False)
    users.update_user(platform, as_(admin), "alice", is_admin=True)
    users.update_user(platform, as_(admin), admin.username, is_admin=False)
    assert not users.get_user(platform, as_(alice), admin.username).is_admin


def test_only_admins_manage_users(platform: Platform, alice: User) -> None:
    with pytest.raises(PermissionDenied):
        users.create_user(platform, as_(alice), username="eve", password=PASSWORD)
    with pytest.raises(PermissionDenied):
        users.update_user(platform, as_(alice), "alice", is_admin=True)
    assert not users.get_user(platform, as_(alice), "alice").is_admin


# API keys -----------------------------------------------------------------------------


def key_rows(platform: Platform) -> list[ApiKeyRow]:
    with platform.read() as uow:
        return list(uow.session.scalars(select(ApiKeyRow)))


def test_api_keys_are_hashed_at_rest(platform: Platform, alice: User) -> None:
    new = auth.create_api_key(platform, as_(alice), "alice", name="laptop")

    assert new.secret.startswith("lwk_") and len(new.secret) > 40
    [row] = key_rows(platform)
    assert new.secret not in (row.key_hash, row.prefix, row.name)
    assert new.secret[8:] not in row.key_hash
    assert row.prefix == new.secret[:8]
    assert row.key_hash == auth.hash_key(new.secret)

    principal = auth.authenticate_key(platform, new.secret, ApiKeyKind.V2)
    assert principal.user.id == alice.id
    assert principal.via == "api_key" and principal.project_scope is None
    listed = auth.list_api_keys(platform, as_(alice), "alice")
    assert [(k.name, k.prefix) for k in listed] == [("laptop", new.secret[:8])]
    assert listed[0].last_used_at is not None, "use is recorded"


@pytest.mark.parametrize("secret", ["", "lwk_not-a-real-key", "x" * 40])
def test_unknown_keys_are_refused(platform: Platform, alice: User, secret: str) -> None:
    auth.create_api_key(platform, as_(alice), "alice")
    with pytest.raises(Unauthenticated, match="No API key given|not valid"):
        auth.authenticate_key(platform, secret, ApiKeyKind.V2)


def test_a_key_only_works_as_its_own_kind(platform: Platform, alice: User) -> None:
    v1 = auth.create_api_key(platform, as_(alice), "alice", kind=ApiKeyKind.V1)
    v2 = auth.create_api_key(platform, as_(alice), "alice")
    assert len(v1.secret) == 40 and v1.secret.isalnum() and v1.secret.islower()
    assert auth.authenticate_key(platform, v1.secret, ApiKeyKind.V1).via == "v1_key"
    with pytest.raises(Unauthenticated, match="not valid"):
        auth.authenticate_key(platform, v1.secret, ApiKeyKind.V2)
    with pytest.raises(Unauthenticated, match="not valid"):
        auth.authenticate_key(platform, v2.secret, ApiKeyKind.V1)


def test_revoked_and_expired_keys_are_refused_with_distinct_messages(
    platform: Platform, alice: User
) -> None:
    revoked = auth.create_api_key(platform, as_(alice), "alice", name="revoked")
    expiring = auth.create_api_key(
        platform, as_(alice), "alice", name="expiring", expires_at=utcnow() + timedelta(days=1)
    )
    fine = auth.create_api_key(platform, as_(alice), "alice", name="fine")
    assert auth.authenticate_key(platform, expiring.secret, ApiKeyKind.V2).user.id == alice.id

    auth.revoke_api_key(platform, as_(alice), "alice", revoked.key.id)
    # Move the expiry into the past rather than waiting for it.
    with platform.store.transaction() as uow:
        uow.session.execute(
            update(ApiKeyRow)
            .where(ApiKeyRow.id == expiring.key.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )

    with pytest.raises(Unauthenticated, match="has been revoked"):
        auth.authenticate_key(platform, revoked.secret, ApiKeyKind.V2)
    with pytest.raises(Unauthenticated, match="has expired"):
        auth.authenticate_key(platform, expiring.secret, ApiKeyKind.V2)
    assert auth.authenticate_key(platform, fine.secret, ApiKeyKind.V2).user.id == alice.id


def test_an_expiry_in_the_past_is_refused(platform: Platform, alice: User) -> None:
    with pytest.raises(InvalidInput, match="in the future"):
        auth.create_api_key(
            platform, as_(alice), "alice", expires_at=utcnow() - timedelta(minutes=1)
        )
    assert key_rows(platform) == []


def test_a_deactivated_users_keys_stop_working(
    platform: Platform, alice: User, admin: User
) -> None:
    key = auth.create_api_key(platform, as_(alice), "alice")
    users.update_user(platform, as_(admin), "alice", is_active=False)
    with pytest.raises(Unauthenticated, match="deactivated"):
        auth.authenticate_key(platform, key.secret, ApiKeyKind.V2)


def test_a_new_v1_key_replaces_the_old_one(platform: Platform, alice: User) -> None:
    first = auth.create_api_key(platform, as_(alice), "alice", kind=ApiKeyKind.V1)
    v2 = auth.create_api_key(platform, as_(alice), "alice")
    second = auth.create_api_key(platform, as_(alice), "alice", kind=ApiKeyKind.V1)

    with pytest.raises(Unauthenticated, match="revoked"):
        auth.authenticate_key(platform, first.secret, ApiKeyKind.V1)
    assert auth.authenticate_key(platform, second.secret, ApiKeyKind.V1).user.id == alice.id
    assert auth.authenticate_key(platform, v2.secret, ApiKeyKind.V2).user.id == alice.id, (
        "v2 keys are not affected"
    )


def test_revoke_all(platform: Platform, alice: User) -> None:
    keys = [
        auth.create_api_key(platform, as_(alice), "alice"),
        auth.create_api_key(platform, as_(alice), "alice", kind=ApiKeyKind.V1),
    ]
    auth.revoke_all_api_keys(platform, as_(alice), "alice")
    for new in keys:
        with pytest.raises(Unauthenticated, match="revoked"):
            auth.authenticate_key(platform, new.secret, new.key.kind)


def test_a_user_cannot_manage_another_users_keys(
    platform: Platform, alice: User, bob: User
) -> None:
    bobs = auth.create_api_key(platform, as_(bob), "bob")
    with pytest.raises(PermissionDenied, match="your own API keys"):
        auth.create_api_key(platform, as_(alice), "bob")
    with pytest.raises(PermissionDenied):
        auth.list_api_keys(platform, as_(alice), "bob")
    with pytest.raises(PermissionDenied):
        auth.revoke_api_key(platform, as_(alice), "bob", bobs.key.id)
    with pytest.raises(PermissionDenied):
        auth.revoke_all_api_keys(platform, as_(alice), "bob")
    # Nor reach it through their own name.
    with pytest.raises(NotFound):
        auth.revoke_api_key(platform, as_(alice), "alice", bobs.key.id)

    assert auth.authenticate_key(platform, bobs.secret, ApiKeyKind.V2).user.id == bob.id
    assert len(key_rows(platform)) == 1


def test_site_admins_manage_anyones_keys(platform: Platform, admin: User, alice: User) -> None:
    made = auth.create_api_key(platform, as_(admin), "alice", name="by admin")
    assert made.key.user_id == alice.id
    assert [k.name for k in auth.list_api_keys(platform, as_(admin), "alice")] == ["by admin"]
    auth.revoke_api_key(platform, as_(admin), "alice", made.key.id)
    with pytest.raises(Unauthenticated, match="revoked"):
        auth.authenticate_key(platform, made.secret, ApiKeyKind.V2)
    with pytest.raises(NotFound):
        auth.create_api_key(platform, as_(admin), "nobody")


# Workload keys ------------------------------------------------------------------------


def test_a_workload_key_is_scoped_to_its_project(
    platform: Platform, alice: User, admin: User
) -> None:
    # LAKEWORKS_WORKLOAD_KEY_SCOPE=project; the CML default (user-wide) is tested below.
    strict = platform.settings.model_copy(update={"workload_key_scope": "project"})
    platform = Platform(strict, platform.store)
    blank = projects.parse_source("", "")
    mine = projects.create(platform, as_(alice), name="Mine", source=blank)
    other = projects.create(platform, as_(alice), name="Other", source=blank, visibility="public")
    admins = projects.create(platform, as_(admin), name="Admins", source=blank)

    new = auth.create_workload_key(platform, alice, mine.id, timedelta(hours=1), ApiKeyKind.V2)
    principal = auth.authenticate_key(platform, new.secret, ApiKeyKind.V2)

    assert principal.project_scope == mine.id
    with platform.read() as uow:
        assert effective_role(uow, principal, mine) is not None
        assert effective_role(uow, principal, other) is None, "even a public project"
        assert effective_role(uow, principal, admins) is None
    views, _ = projects.list_projects(platform, principal, include_public=True)
    assert [v.project.id for v in views] == [mine.id]
    # Workload keys are neither listed with the user's keys nor able to manage keys.
    assert auth.list_api_keys(platform, as_(alice), "alice") == []
    with pytest.raises(PermissionDenied, match="Workload keys"):
        auth.create_api_key(platform, principal, "alice")


def test_a_workload_key_acts_with_its_users_rights_except_on_keys(
    platform: Platform, alice: User, bob: User, admin: User
) -> None:
    blank = projects.parse_source("", "")
    mine = projects.create(platform, as_(alice), name="Mine", source=blank)
    private = projects.create(platform, as_(alice), name="Private", source=blank)
    bobs = projects.create(platform, as_(bob), name="Bobs", source=blank)
    new = auth.create_workload_key(platform, alice, mine.id, timedelta(hours=1), ApiKeyKind.V2)
    principal = auth.authenticate_key(platform, new.secret, ApiKeyKind.V2)

    assert principal.project_scope == mine.id and principal.user_wide
    with platform.read() as uow:
        assert effective_role(uow, principal, private) is Role.OWNER
        assert effective_role(uow, principal, bobs) is None, "only what its user may reach"
    made = projects.create(platform, principal, name="From a job", source=blank)
    assert made.owner.id == alice.id
    views, _ = projects.list_projects(platform, principal)
    assert {v.project.name for v in views} == {"Mine", "Private", "From a job"}
    events, _ = audit.list_audit(platform, as_(admin), project_id=made.id)
    [event] = [e for e in events if e.action == "project.create"]
    assert event.actor == "alice" and event.outcome is Outcome.SUCCESS
    # Never key management, profiles or browser sessions.
    with pytest.raises(PermissionDenied, match="Workload keys"):
        auth.create_api_key(platform, principal, "alice")
    with pytest.raises(PermissionDenied, match="Workload keys"):
        auth.revoke_all_api_keys(platform, principal, "alice")
    with pytest.raises(PermissionDenied, match="Workload keys"):
        users.update_profile(platform, principal, name="Mallory")


def test_a_workload_key_of_an_admin_is_no_admin(
    platform: Platform, admin: User, alice: User
) -> None:
    blank = projects.parse_source("", "")
    theirs = projects.create(platform, as_(admin), name="Theirs", source=blank)
    alices = projects.create(platform, as_(alice), name="Alices", source=blank)
    new = auth.create_workload_key(platform, admin, theirs.id, timedelta(hours=1), ApiKeyKind.V2)
    principal = auth.authenticate_key(platform, new.secret, ApiKeyKind.V2)

    assert not principal.is_admin
    with platform.read() as uow:
        assert effective_role(uow, principal, alices) is None
    with pytest.raises(PermissionDenied):
        users.create_user(platform, principal, username="eve", password=PASSWORD)
    with pytest.raises(PermissionDenied):
        audit.list_audit(platform, principal)


def test_a_workload_key_expires(platform: Platform, alice: User) -> None:
    mine = projects.create(platform, as_(alice), name="Mine", source=projects.parse_source("", ""))
    new = auth.create_workload_key(platform, alice, mine.id, timedelta(seconds=-1), ApiKeyKind.V2)
    with pytest.raises(Unauthenticated, match="expired"):
        auth.authenticate_key(platform, new.secret, ApiKeyKind.V2)


# First-admin setup ----------------------------------------------------------------------


def test_the_setup_token_works_once() -> None:
    token = auth.SetupToken()
    assert not token.active
    with pytest.raises(PermissionDenied):
        token.consume("")

    secret = token.issue()
    assert token.active and len(secret) >= 20
    with pytest.raises(PermissionDenied, match="wrong or was already used"):
        token.consume(secret + "x")
    assert token.active, "a wrong guess does not burn the token"

    token.consume(secret)
    assert not token.active
    with pytest.raises(PermissionDenied, match="wrong or was already used"):
        token.consume(secret)


def test_a_new_setup_token_replaces_the_old_one() -> None:
    token = auth.SetupToken()
    old = token.issue()
    new = token.issue()
    with pytest.raises(PermissionDenied):
        token.consume(old)
    token.consume(new)


def test_admin_exists(platform: Platform, alice: User) -> None:
    assert not users.admin_exists(platform)
    users.create_user(platform, None, username="boss", password=PASSWORD, is_admin=True)
    assert users.admin_exists(platform)


def test_the_first_admin_is_created_with_the_setup_secret(platform: Platform) -> None:
    token = auth.SetupToken()
    secret = token.issue()

    with pytest.raises(PermissionDenied):
        users.setup_first_admin(platform, token, "guess", username="root", password=PASSWORD)
    with pytest.raises(InvalidInput):
        users.setup_first_admin(platform, token, secret, username="root", password="short")
    assert token.active, "neither a wrong secret nor a bad form spends the secret"
    assert not users.admin_exists(platform)

    first = users.setup_first_admin(platform, token, secret, username="root", password=PASSWORD)
    assert first.is_admin and not token.active
    with pytest.raises(Conflict, match="exists already"):
        users.setup_first_admin(platform, token, secret, username="eve", password=PASSWORD)
    assert [u.username for u in users.list_users(platform, as_(first))] == ["root"]
