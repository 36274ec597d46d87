"""UserRepo on the test backend: users (unique usernames, search, admins, session generations),
teams and their members, and API keys (unique hashes, per-kind listing that leaves workload keys
out, revocation that keeps the first time), with the cascades when a user or team goes."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import delete
from tests.store.factories import at
from tests.store.test_projects_store import add_project, add_team, add_user

from lakeworks.entities.users import ApiKey, ApiKeyKind, User
from lakeworks.errors import Conflict
from lakeworks.store.tables import UserRow
from lakeworks.store.uow import Store, UnitOfWork


def _key(
    uow: UnitOfWork,
    user: User,
    key_hash: str,
    kind: ApiKeyKind = ApiKeyKind.V2,
    project_id: str | None = None,
    expires_at: datetime | None = None,
) -> ApiKey:
    return uow.users.add_api_key(
        user_id=user.id,
        kind=kind,
        name=f"key {key_hash}",
        prefix=key_hash[:8],
        key_hash=key_hash,
        expires_at=expires_at,
        project_id=project_id,
    )


# Users ---------------------------------------------------------------------------------------


def test_a_user_reads_back_by_id_and_username(store: Store) -> None:
    with store.transaction() as uow:
        made = uow.users.add(
            username="alice",
            name="Alice Liddell",
            email="alice@example.org",
            password_hash="$argon2id$x",
            is_admin=True,
        )
    with store.transaction() as uow:
        by_id = uow.users.get(made.id)
        by_name = uow.users.by_username("alice")
        hashed = uow.users.password_hash(made.id)
    assert by_id == by_name == made
    assert (made.name, made.email, made.is_admin, made.is_active) == (
        "Alice Liddell",
        "alice@example.org",
        True,
        True,
    )
    assert made.session_generation == 0 and made.created_at.tzinfo is not None
    assert hashed == "$argon2id$x"


def test_unknown_users_are_none(store: Store) -> None:
    with store.transaction() as uow:
        assert uow.users.get(999_999) is None
        assert uow.users.by_username("nobody") is None
        assert uow.users.password_hash(999_999) is None
        assert uow.users.update(999_999, name="x") is None
        assert uow.users.get_team(999_999) is None
        assert uow.users.team_by_name("nobody") is None
        assert uow.users.get_api_key(999_999) is None
        assert uow.users.api_key_by_hash("nope") is None


def test_a_username_is_unique(store: Store) -> None:
    add_user(store, "alice")
    with pytest.raises(Conflict), store.transaction() as uow:
        uow.users.add(username="alice", name="Other", email="", password_hash=None, is_admin=False)
    with store.transaction() as uow:
        assert [u.name for u in uow.users.search()] == ["Alice"]


def test_username_lookup_is_exact(store: Store) -> None:
    add_user(store, "alice")
    with store.transaction() as uow:
        assert uow.users.by_username("ALICE") is None
        assert uow.users.by_username("alic") is None


def test_search_matches_username_or_name_ignoring_case(store: Store) -> None:
    add_user(store, "carol", name="Carol Danvers")
    add_user(store, "alice", name="Alice Liddell")
    add_user(store, "bob", name="Robert DANIELS")
    with store.transaction() as uow:
        every = [u.username for u in uow.users.search()]
        dan = [u.username for u in uow.users.search(search="DAN")]
        by_username = [u.username for u in uow.users.search(search="Ali")]
        none = uow.users.search(search="zzz")
    assert every == ["alice", "bob", "carol"], "ordered by username"
    assert dan == ["bob", "carol"]
    assert by_username == ["alice"]
    assert none == []


def test_update_password_and_session_generation(store: Store) -> None:
    alice = add_user(store, "alice")
    with store.transaction() as uow:
        updated = uow.users.update(alice.id, name="Alice L.", is_active=False)
        uow.users.set_password_hash(alice.id, "new-hash")
        uow.users.end_sessions(alice.id)
        uow.users.end_sessions(alice.id)
    with store.transaction() as uow:
        found = uow.users.get(alice.id)
        hashed = uow.users.password_hash(alice.id)
    assert updated is not None and (updated.name, updated.is_active) == ("Alice L.", False)
    assert found is not None and found.session_generation == 2
    assert hashed == "new-hash"


def test_count_admins_counts_active_admins_only(store: Store) -> None:
    with store.transaction() as uow:
        assert uow.users.count_admins() == 0
        for name, admin in (("root", True), ("ops", True), ("alice", False)):
            uow.users.add(username=name, name=name, email="", password_hash=None, is_admin=admin)
        ops = uow.users.by_username("ops")
        assert ops is not None
        uow.users.update(ops.id, is_active=False)
        assert uow.users.count_admins() == 1


# Teams ----------------------------------------------------------------------------------------


def test_teams_are_unique_by_name_and_listed_by_name(store: Store) -> None:
    with store.transaction() as uow:
        red = uow.users.add_team(name="red", description="the red team")
        uow.users.add_team(name="blue", description="")
    with pytest.raises(Conflict), store.transaction() as uow:
        uow.users.add_team(name="red", description="again")
    with store.transaction() as uow:
        assert [t.name for t in uow.users.list_teams()] == ["blue", "red"]
        assert uow.users.team_by_name("red") == red == uow.users.get_team(red.id)
    assert red.description == "the red team"


def test_team_members_their_roles_and_teams_of_a_user(store: Store) -> None:
    alice, bob, carol = (add_user(store, n) for n in ("alice", "bob", "carol"))
    red = add_team(store, "red")
    blue = add_team(store, "blue")
    with store.transaction() as uow:
        uow.users.set_team_member(red.id, carol.id, "viewer")
        uow.users.set_team_member(red.id, alice.id, "contributor")
        uow.users.set_team_member(blue.id, alice.id, "admin")
        # Setting again changes the role, never adds a second membership.
        uow.users.set_team_member(red.id, carol.id, "operator")
    with store.transaction() as uow:
        members = [(m.user.username, m.role) for m in uow.users.team_members(red.id)]
        assert uow.users.team_role(red.id, carol.id) == "operator"
        assert uow.users.team_role(red.id, bob.id) is None
        assert uow.users.team_ids_of(alice.id) == {red.id, blue.id}
        assert uow.users.team_ids_of(bob.id) == set()
    assert members == [("alice", "contributor"), ("carol", "operator")]


def test_removing_a_member(store: Store) -> None:
    alice = add_user(store, "alice")
    red = add_team(store, "red", alice)
    with store.transaction() as uow:
        assert uow.users.remove_team_member(red.id, alice.id) is True
        assert uow.users.remove_team_member(red.id, alice.id) is False
        assert uow.users.team_members(red.id) == []


def test_deleting_a_team_removes_its_memberships_not_its_members(store: Store) -> None:
    alice = add_user(store, "alice")
    red = add_team(store, "red", alice)
    blue = add_team(store, "blue", alice)
    with store.transaction() as uow:
        uow.users.delete_team(red.id)
    with store.transaction() as uow:
        assert uow.users.get_team(red.id) is None
        assert uow.users.get(alice.id) is not None
        assert uow.users.team_ids_of(alice.id) == {blue.id}


def test_a_team_that_owns_a_project_cannot_be_deleted(store: Store) -> None:
    alice = add_user(store, "alice")
    red = add_team(store, "red", alice)
    with store.transaction() as uow:
        add_project(uow, "Owned", team=red, creator=alice)
        assert uow.projects.count_owned_by_team(red.id) == 1
    with pytest.raises(Conflict), store.transaction() as uow:
        uow.users.delete_team(red.id)
    with store.transaction() as uow:
        assert uow.users.get_team(red.id) is not None


# API keys ---------------------------------------------------------------------------------


def test_an_api_key_reads_back_by_hash_and_id(store: Store) -> None:
    alice = add_user(store, "alice")
    with store.transaction() as uow:
        made = _key(uow, alice, "h" * 64, expires_at=at(60))
    with store.transaction() as uow:
        by_hash = uow.users.api_key_by_hash("h" * 64)
        by_id = uow.users.get_api_key(made.id)
    assert by_hash == by_id == made
    assert (made.kind, made.name, made.prefix, made.expires_at) == (
        ApiKeyKind.V2,
        f"key {'h' * 64}",
        "hhhhhhhh",
        at(60),
    )
    assert made.revoked_at is None and made.last_used_at is None and made.project_id is None


def test_a_key_hash_is_unique(store: Store) -> None:
    alice, bob = add_user(store, "alice"), add_user(store, "bob")
    with store.transaction() as uow:
        _key(uow, alice, "same")
    with pytest.raises(Conflict), store.transaction() as uow:
        _key(uow, bob, "same")
    with store.transaction() as uow:
        assert uow.users.api_keys_of(bob.id) == []


def test_listing_leaves_workload_keys_out_and_filters_by_kind(store: Store) -> None:
    alice = add_user(store, "alice")
    with store.transaction() as uow:
        project = add_project(uow, "P", owner=alice)
        _key(uow, alice, "v2-a")
        _key(uow, alice, "v1-a", kind=ApiKeyKind.V1)
        _key(uow, alice, "workload", project_id=project)
        _key(uow, alice, "v2-b")
    with store.transaction() as uow:
        every = [k.name for k in uow.users.api_keys_of(alice.id)]
        v2 = [k.name for k in uow.users.api_keys_of(alice.id, ApiKeyKind.V2)]
        v1 = [k.name for k in uow.users.api_keys_of(alice.id, ApiKeyKind.V1)]
    assert every == ["key v2-a", "key v1-a", "key v2-b"]
    assert v2 == ["key v2-a", "key v2-b"]
    assert v1 == ["key v1-a"]


def test_add_api_keys_inserts_several_in_order(store: Store) -> None:
    alice = add_user(store, "alice")
    with store.transaction() as uow:
        project = add_project(uow, "P", owner=alice)
        keys = uow.users.add_api_keys(
            [
                {
                    "user_id": alice.id,
                    "kind": ApiKeyKind.V2,
                    "name": f"workload {n}",
                    "prefix": f"lwk_{n}",
                    "key_hash": f"hash-{n}",
                    "expires_at": None,
                    "project_id": project,
                }
                for n in range(3)
            ]
        )
    assert [(k.name, k.kind, k.project_id) for k in keys] == [
        (f"workload {n}", ApiKeyKind.V2, project) for n in range(3)
    ]
    assert keys[0].id < keys[1].id < keys[2].id
    with store.transaction() as uow:
        assert uow.users.api_key_by_hash("hash-2") == keys[2]


def test_revocation_keeps_the_first_time(store: Store) -> None:
    alice = add_user(store, "alice")
    with store.transaction() as uow:
        key = _key(uow, alice, "k")
        uow.users.revoke_api_key(key.id, at(1))
        uow.users.revoke_api_key(key.id, at(2))
        uow.users.touch_api_key(key.id, at(3))
        found = uow.users.get_api_key(key.id)
    assert found is not None and (found.revoked_at, found.last_used_at) == (at(1), at(3))
    assert not found.is_usable(at(0))


def test_revoking_all_of_a_kind_spares_other_kinds_and_workload_keys(store: Store) -> None:
    alice, bob = add_user(store, "alice"), add_user(store, "bob")
    with store.transaction() as uow:
        project = add_project(uow, "P", owner=alice)
        ids = {
            name: _key(uow, user, name, kind, project_id).id
            for name, user, kind, project_id in [
                ("a-v2", alice, ApiKeyKind.V2, None),
                ("a-v1", alice, ApiKeyKind.V1, None),
                ("a-workload", alice, ApiKeyKind.V2, project),
                ("b-v2", bob, ApiKeyKind.V2, None),
            ]
        }
        uow.users.revoke_api_key(ids["a-v2"], at(0))
        uow.users.revoke_api_keys_of(alice.id, ApiKeyKind.V2, at(5))
        revoked = {
            name: uow.users.get_api_key(key_id).revoked_at  # type: ignore[union-attr]
            for name, key_id in ids.items()
        }
    assert revoked == {"a-v2": at(0), "a-v1": None, "a-workload": None, "b-v2": None}


@pytest.mark.parametrize(
    ("expires", "revoked", "usable"),
    [(None, None, True), (at(10), None, True), (at(0), None, False), (None, at(-5), False)],
)
def test_a_key_is_usable_until_it_expires_or_is_revoked(
    store: Store, expires: datetime | None, revoked: datetime | None, usable: bool
) -> None:
    alice = add_user(store, "alice")
    with store.transaction() as uow:
        key = _key(uow, alice, "k", expires_at=expires)
        if revoked is not None:
            uow.users.revoke_api_key(key.id, revoked)
        found = uow.users.get_api_key(key.id)
    assert found is not None and found.is_usable(at(0)) is usable


def test_deleting_a_user_deletes_their_keys_and_memberships(store: Store) -> None:
    alice, bob = add_user(store, "alice"), add_user(store, "bob")
    red = add_team(store, "red", alice, bob)
    with store.transaction() as uow:
        key = _key(uow, bob, "bobs")
        kept = _key(uow, alice, "alices")
    with store.transaction() as uow:
        uow.session.execute(delete(UserRow).where(UserRow.id == bob.id))
    with store.transaction() as uow:
        assert uow.users.get_api_key(key.id) is None
        assert uow.users.get_api_key(kept.id) is not None
        assert [m.user.username for m in uow.users.team_members(red.id)] == ["alice"]
