"""Users and teams (services/users.py) called directly: usernames, the site-admin rule, the
last administrator, profiles, team roles and what a team role gives on the team's projects,
with the audit rows each change writes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.services.conftest import account

from lakeworks.entities.audit import AuditEvent, Outcome
from lakeworks.entities.projects import Role
from lakeworks.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from lakeworks.services import projects, users
from lakeworks.services.permissions import effective_role
from lakeworks.services.platform import Platform, Principal

Audit = Callable[[Platform, str], list[AuditEvent]]


@pytest.fixture
def root(fake_platform: Platform) -> Principal:
    return Principal(user=account(fake_platform, "root", is_admin=True), via="session")


@pytest.fixture
def alice(fake_platform: Platform) -> Principal:
    return Principal(user=account(fake_platform, "alice"), via="session")


# Accounts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [("Alice.Smith", "alice.smith"), ("  bob_2 ", "bob_2"), ("c-" + "x" * 62, "c-" + "x" * 62)],
)
def test_usernames_are_normalised(given: str, stored: str) -> None:
    assert users.validate_username(given) == stored


@pytest.mark.parametrize("bad", ["", "1abc", "-abc", "a b", "a/b", "é", "a" * 65, "a@b"])
def test_bad_usernames_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput, match="is not a valid username: use 1-64 lowercase"):
        users.validate_username(bad)


def test_an_account_is_created_by_an_admin_and_audited(
    fake_platform: Platform, root: Principal, audit_rows: Audit
) -> None:
    made = users.create_user(
        fake_platform, root, username="Carol", password=None, name=" ", email=" c@example.org "
    )
    assert (made.username, made.name, made.email) == ("carol", "carol", "c@example.org")
    assert not made.is_admin and made.is_active
    assert users.get_user(fake_platform, root, "carol") == made
    (event,) = [e for e in audit_rows(fake_platform, "user.create") if e.target == "carol"]
    assert event.actor == "root" and event.detail == {"is_admin": False}


def test_a_non_admin_creates_no_accounts(
    fake_platform: Platform, alice: Principal, audit_rows: Audit
) -> None:
    with pytest.raises(PermissionDenied, match="Only site administrators can do this."):
        users.create_user(fake_platform, alice, username="mallory", password=None)
    with pytest.raises(NotFound, match="User 'mallory' not found."):
        users.get_user(fake_platform, alice, "mallory")
    denied = [e for e in audit_rows(fake_platform, "user.create") if e.target == "mallory"]
    assert [e.outcome for e in denied] == [Outcome.DENIED]


def test_a_name_is_taken_by_a_user_or_a_team(
    fake_platform: Platform, root: Principal, alice: Principal
) -> None:
    users.create_team(fake_platform, root, "data")
    for name in ("alice", "data"):
        with pytest.raises(Conflict, match=f"The name '{name}' is already taken"):
            users.create_user(fake_platform, root, username=name, password=None)
        with pytest.raises(Conflict, match=f"The name '{name}' is already taken"):
            users.create_team(fake_platform, root, name)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "Passwords need at least 10 characters."),
        ("password123", "one of the most common ones"),
        ("aaaaaaaaaaaa", "repeats too few characters"),
        ("abcdefghijk", "a run of consecutive keys or characters"),
        ("my-dave-secret-phrase", "must not contain the username"),
    ],
)
def test_a_weak_password_is_refused_and_no_account_made(
    fake_platform: Platform, root: Principal, password: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        users.create_user(fake_platform, root, username="dave", password=password)
    assert [u.username for u in users.list_users(fake_platform, root)] == ["root"]


def test_list_users_searches(fake_platform: Platform, root: Principal, alice: Principal) -> None:
    account(fake_platform, "bob")
    assert [u.username for u in users.list_users(fake_platform, alice)] == ["alice", "bob", "root"]
    assert [u.username for u in users.list_users(fake_platform, alice, "bo")] == ["bob"]


# Admin changes ---------------------------------------------------------------------------


def test_an_admin_changes_an_account_and_the_detail_hides_the_password(
    fake_platform: Platform, root: Principal, alice: Principal, audit_rows: Audit
) -> None:
    changed = users.update_user(
        fake_platform,
        root,
        "alice",
        name=" Alice A ",
        email="a@example.org",
        is_admin=True,
        password="a long enough phrase",
    )
    assert (changed.name, changed.email, changed.is_admin) == ("Alice A", "a@example.org", True)
    assert changed.session_generation > alice.user.session_generation  # sessions ended
    (event,) = audit_rows(fake_platform, "user.update")
    assert event.detail == {"is_admin": True, "name": "Alice A", "email": "a@example.org"}


def test_an_empty_change_is_refused(
    fake_platform: Platform, root: Principal, alice: Principal
) -> None:
    with pytest.raises(InvalidInput, match="Nothing to change: send one or more of"):
        users.update_user(fake_platform, root, "alice")
    with pytest.raises(NotFound, match="User 'ghost' not found."):
        users.update_user(fake_platform, root, "ghost", name="x")


@pytest.mark.parametrize("change", [{"is_admin": False}, {"is_active": False}])
def test_the_last_administrator_stays(
    fake_platform: Platform, root: Principal, change: dict[str, bool]
) -> None:
    with pytest.raises(Conflict, match="This is the last site administrator"):
        users.update_user(fake_platform, root, "root", **change)
    assert users.get_user(fake_platform, root, "root").is_admin
    second = account(fake_platform, "second", is_admin=True)
    users.update_user(fake_platform, root, "root", **change)
    assert users.admin_exists(fake_platform) and second.is_admin


def test_a_deactivation_ends_the_accounts_sessions(
    fake_platform: Platform, root: Principal, alice: Principal
) -> None:
    off = users.update_user(fake_platform, root, "alice", is_active=False)
    assert not off.is_active and off.session_generation > alice.user.session_generation


def test_the_command_line_operator_acts_as_an_admin(fake_platform: Platform) -> None:
    made = users.create_user(fake_platform, None, username="first", password=None, is_admin=True)
    assert made.is_admin and users.admin_exists(fake_platform)


# Profiles ---------------------------------------------------------------------------------------


def test_people_edit_their_own_profile(
    fake_platform: Platform, alice: Principal, audit_rows: Audit
) -> None:
    updated = users.update_profile(fake_platform, alice, name=" Alice ", email=" a@b.org ")
    assert (updated.name, updated.email) == ("Alice", "a@b.org")
    cleared = users.update_profile(fake_platform, alice, email="")
    assert cleared.email == "" and cleared.name == "Alice"
    (first, second) = audit_rows(fake_platform, "user.profile")
    assert first.detail == {"name": "Alice", "email": "a@b.org"} and second.detail == {"email": ""}


def test_a_profile_email_must_be_an_address(fake_platform: Platform, alice: Principal) -> None:
    with pytest.raises(InvalidInput, match="'not-mail' is not an email address."):
        users.update_profile(fake_platform, alice, email="not-mail")


def test_workload_keys_change_no_profile(fake_platform: Platform, alice: Principal) -> None:
    key = Principal(user=alice.user, via="api_key", project_scope="some-project")
    with pytest.raises(PermissionDenied, match="Workload keys cannot change profiles."):
        users.update_profile(fake_platform, key, name="Forged")
    assert users.get_user(fake_platform, alice, "alice").name == "Alice"


# Teams ---------------------------------------------------------------------------------------


def test_team_members_get_their_team_role_on_the_teams_projects(
    fake_platform: Platform, root: Principal, alice: Principal, audit_rows: Audit
) -> None:
    team = users.create_team(fake_platform, root, " Analytics ", " The analysts ")
    assert (team.name, team.description) == ("analytics", "The analysts")
    users.set_team_member(fake_platform, root, "analytics", "alice", "contributor")
    project = projects.create(
        fake_platform,
        root,
        name="Team work",
        source=projects.parse_source("", ""),
        team_name="analytics",
    )
    with fake_platform.read() as uow:
        assert effective_role(uow, alice, project) is Role.CONTRIBUTOR
    users.set_team_member(fake_platform, root, "analytics", "alice", "viewer")
    with fake_platform.read() as uow:
        assert effective_role(uow, alice, project) is Role.VIEWER
    found, members = users.get_team(fake_platform, alice, "analytics")
    assert found.id == team.id and [(m.user.username, m.role) for m in members] == [
        ("alice", "viewer")
    ]
    details = [e.detail for e in audit_rows(fake_platform, "team.set_member")]
    assert details == [{"role": "contributor"}, {"role": "viewer"}]

    with pytest.raises(Conflict, match="Team 'analytics' still owns projects"):
        users.delete_team(fake_platform, root, "analytics")
    users.remove_team_member(fake_platform, root, "analytics", "alice")
    with fake_platform.read() as uow:
        assert effective_role(uow, alice, project) is None


@pytest.mark.parametrize("role", ["owner", "boss", ""])
def test_a_team_role_must_be_a_collaborator_role(
    fake_platform: Platform, root: Principal, alice: Principal, role: str
) -> None:
    users.create_team(fake_platform, root, "ops")
    with pytest.raises(InvalidInput, match="is not a team role; use one of viewer, operator"):
        users.set_team_member(fake_platform, root, "ops", "alice", role)
    assert users.get_team(fake_platform, root, "ops")[1] == []


def test_team_lookups_say_what_is_missing(
    fake_platform: Platform, root: Principal, alice: Principal
) -> None:
    users.create_team(fake_platform, root, "ops")
    with pytest.raises(NotFound, match="Team 'nope' not found."):
        users.get_team(fake_platform, root, "nope")
    with pytest.raises(NotFound, match="User 'ghost' not found."):
        users.set_team_member(fake_platform, root, "ops", "ghost", "viewer")
    with pytest.raises(NotFound, match="'alice' is not a member of team 'ops'."):
        users.remove_team_member(fake_platform, root, "ops", "alice")


def test_only_admins_manage_teams(
    fake_platform: Platform, root: Principal, alice: Principal, audit_rows: Audit
) -> None:
    users.create_team(fake_platform, root, "ops")
    for act in (
        lambda: users.create_team(fake_platform, alice, "mine"),
        lambda: users.set_team_member(fake_platform, alice, "ops", "alice", "admin"),
        lambda: users.remove_team_member(fake_platform, alice, "ops", "alice"),
        lambda: users.delete_team(fake_platform, alice, "ops"),
    ):
        with pytest.raises(PermissionDenied, match="Only site administrators can do this."):
            act()
    assert [t.name for t in users.list_teams(fake_platform, alice)] == ["ops"]
    for action in ("team.create", "team.set_member", "team.remove_member", "team.delete"):
        refused = [e for e in audit_rows(fake_platform, action) if e.actor == "alice"]
        assert [e.outcome for e in refused] == [Outcome.DENIED]
    users.delete_team(fake_platform, root, "ops")
    assert users.list_teams(fake_platform, root) == []
