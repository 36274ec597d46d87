"""ProjectRepo on the test backend (SQLite, or PostgreSQL with LAKEWORKS_TEST_DATABASE_URL)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from tests.store.factories import at

from lakeworks.entities.audit import Outcome
from lakeworks.entities.projects import CreationStatus, EnvVar, ProjectSource, Role, Visibility
from lakeworks.entities.users import ApiKeyKind, Team, User
from lakeworks.errors import Conflict
from lakeworks.store.projects import ProjectQuery
from lakeworks.store.tables import (
    ApiKeyRow,
    AuditEventRow,
    ProjectEnvRow,
    ProjectMemberRow,
    UserRow,
    utcnow,
)
from lakeworks.store.uow import Store, UnitOfWork

_ids = itertools.count(1)


def add_user(store: Store, username: str, name: str = "", email: str = "") -> User:
    with store.transaction() as uow:
        return uow.users.add(
            username=username,
            name=name or username.title(),
            email=email or f"{username}@example.org",
            password_hash=None,
            is_admin=False,
        )


def add_team(store: Store, name: str, *members: User) -> Team:
    with store.transaction() as uow:
        team = uow.users.add_team(name=name, description="")
        for member in members:
            uow.users.set_team_member(team.id, member.id, "contributor")
        return team


def add_project(
    uow: UnitOfWork,
    name: str,
    *,
    owner: User | None = None,
    team: Team | None = None,
    creator: User | None = None,
    slug: str = "",
    visibility: Visibility = Visibility.PRIVATE,
    description: str = "",
) -> str:
    project_id = f"{next(_ids):04d}-aaaa-bbbb-cccc"
    creator = creator or owner
    assert creator is not None
    uow.projects.add(
        project_id=project_id,
        name=name,
        slug=slug or name.lower().replace(" ", "-"),
        description=description,
        visibility=visibility,
        owner_user_id=owner.id if owner else None,
        owner_team_id=team.id if team else None,
        creator_id=creator.id,
        source=ProjectSource.BLANK,
        git_url="",
        shared_memory_limit=64,
        default_engine_type="ml_runtime",
    )
    return project_id


def names(store: Store, query: ProjectQuery) -> list[str]:
    with store.transaction() as uow:
        projects, _more = uow.projects.query(query)
        return [p.name for p in projects]


# Uniqueness and deletion --------------------------------------------------------------


def test_a_slug_is_unique_per_owner(store: Store) -> None:
    alice, bob = add_user(store, "alice"), add_user(store, "bob")
    with store.transaction() as uow:
        add_project(uow, "Churn", owner=alice, slug="churn")

    with pytest.raises(Conflict), store.transaction() as uow:
        add_project(uow, "Churn again", owner=alice, slug="churn")

    with store.transaction() as uow:
        add_project(uow, "Churn", owner=bob, slug="churn")  # another owner: fine
        assert uow.projects.slug_taken(owner_user_id=alice.id, owner_team_id=None, slug="churn")
        assert not uow.projects.slug_taken(owner_user_id=alice.id, owner_team_id=None, slug="other")
        found = uow.projects.by_owner_slug("bob", "churn")
        assert found is not None and found.owner.username == "bob"


def test_a_slug_is_unique_per_owning_team(store: Store) -> None:
    alice = add_user(store, "alice")
    red, blue = add_team(store, "red"), add_team(store, "blue")
    with store.transaction() as uow:
        add_project(uow, "Shared", team=red, creator=alice, slug="shared")
        add_project(uow, "Shared", team=blue, creator=alice, slug="shared")
        add_project(uow, "Shared", owner=alice, slug="shared")

    with pytest.raises(Conflict), store.transaction() as uow:
        add_project(uow, "Shared", team=red, creator=alice, slug="shared")

    with store.transaction() as uow:
        project = uow.projects.by_owner_slug("red", "shared")
        assert project is not None and project.owner.is_team


def test_a_project_has_exactly_one_owner(store: Store) -> None:
    alice = add_user(store, "alice")
    red = add_team(store, "red")
    with pytest.raises(Conflict), store.transaction() as uow:
        add_project(uow, "Both", owner=alice, team=red)
    with pytest.raises(Conflict), store.transaction() as uow:
        add_project(uow, "Neither", creator=alice)


def _rows(store: Store, column: Any, project_id: str) -> int:
    with store.transaction() as uow:
        return uow.session.scalar(select(func.count()).where(column == project_id)) or 0


def test_deleting_a_project_cascades_to_its_rows_only(store: Store) -> None:
    alice, bob = add_user(store, "alice"), add_user(store, "bob")
    with store.transaction() as uow:
        doomed = add_project(uow, "Doomed", owner=alice)
        kept = add_project(uow, "Kept", owner=alice)
        for project_id in (doomed, kept):
            uow.projects.set_member(project_id, user_id=bob.id, team_id=None, role=Role.VIEWER)
            uow.projects.replace_env(project_id, [EnvVar("TOKEN", "x", True)], utcnow())
            uow.users.add_api_key(
                user_id=alice.id,
                kind=ApiKeyKind.V2,
                name="workload",
                prefix="lwk_abcd",
                key_hash=f"hash-{project_id}",
                expires_at=None,
                project_id=project_id,
            )
            uow.audit.add(
                at=utcnow(),
                actor_id=alice.id,
                actor="alice",
                action="project.create",
                target=project_id,
                project_id=project_id,
                outcome=Outcome.SUCCESS,
                detail={},
            )
    per_project = (ProjectMemberRow.project_id, ProjectEnvRow.project_id, ApiKeyRow.project_id)
    assert [_rows(store, column, doomed) for column in per_project] == [1, 1, 1]

    with store.transaction() as uow:
        uow.projects.delete(doomed)

    with store.transaction() as uow:
        assert uow.projects.get(doomed) is None
        assert uow.projects.get(kept) is not None
        assert uow.users.get(bob.id) is not None, "collaborators are not deleted with it"
    assert [_rows(store, column, doomed) for column in per_project] == [0, 0, 0]
    assert [_rows(store, column, kept) for column in per_project] == [1, 1, 1]
    # The audit trail outlives the project.
    assert _rows(store, AuditEventRow.project_id, doomed) == 1


def test_a_user_who_owns_projects_cannot_be_deleted_from_under_them(store: Store) -> None:
    alice = add_user(store, "alice")
    with store.transaction() as uow:
        add_project(uow, "Mine", owner=alice)
    with pytest.raises(Conflict), store.transaction() as uow:
        uow.session.execute(delete(UserRow).where(UserRow.id == alice.id))
    with store.transaction() as uow:
        assert uow.users.get(alice.id) is not None


# Visibility ---------------------------------------------------------------------------


@pytest.fixture
def world(store: Store) -> dict[str, object]:
    """alice and carol share team "red"; bob shares nothing; dave is a collaborator."""
    alice, bob = add_user(store, "alice"), add_user(store, "bob")
    carol, dave = add_user(store, "carol"), add_user(store, "dave")
    red = add_team(store, "red", alice, carol)
    with store.transaction() as uow:
        add_project(uow, "Alice private", owner=alice)
        add_project(uow, "Alice team", owner=alice, visibility=Visibility.TEAM)
        add_project(uow, "Alice public", owner=alice, visibility=Visibility.PUBLIC)
        add_project(uow, "Bob team", owner=bob, visibility=Visibility.TEAM)
        add_project(uow, "Bob public", owner=bob, visibility=Visibility.PUBLIC)
        shared = add_project(uow, "Bob shared", owner=bob)
        uow.projects.set_member(shared, user_id=dave.id, team_id=None, role=Role.VIEWER)
        add_project(uow, "Red owned", team=red, creator=alice)
        red_collab = add_project(uow, "Bob with red", owner=bob)
        uow.projects.set_member(red_collab, user_id=None, team_id=red.id, role=Role.OPERATOR)
    return {"alice": alice, "bob": bob, "carol": carol, "dave": dave, "red": red}


def visible(store: Store, user: User, team_ids: list[int], include_visible: bool) -> set[str]:
    query = ProjectQuery(
        visible_to_user=user.id,
        user_team_ids=team_ids,
        include_visible=include_visible,
        limit=100,
    )
    return set(names(store, query))


def test_by_default_only_memberships_are_listed(store: Store, world: dict) -> None:
    red = world["red"].id
    assert visible(store, world["alice"], [red], False) == {
        "Alice private",
        "Alice team",
        "Alice public",
        "Red owned",
        "Bob with red",
    }
    assert visible(store, world["carol"], [red], False) == {"Red owned", "Bob with red"}
    assert visible(store, world["dave"], [], False) == {"Bob shared"}
    assert visible(store, world["bob"], [], False) == {
        "Bob team",
        "Bob public",
        "Bob shared",
        "Bob with red",
    }


def test_include_visible_adds_public_and_teammates_team_projects(store: Store, world: dict) -> None:
    red = world["red"].id
    # carol is alice's teammate: she sees alice's team project, never her private one.
    assert visible(store, world["carol"], [red], True) == {
        "Red owned",
        "Bob with red",
        "Alice team",
        "Alice public",
        "Bob public",
    }
    # dave shares no team with anyone: public projects and his membership only.
    assert visible(store, world["dave"], [], True) == {"Bob shared", "Alice public", "Bob public"}


def test_no_visibility_filter_lists_everything(store: Store, world: dict) -> None:
    assert len(names(store, ProjectQuery(limit=100))) == 8


def test_only_project_restricts_to_one(store: Store, world: dict) -> None:
    with store.transaction() as uow:
        target = uow.projects.by_owner_slug("alice", "alice-public")
    assert target is not None
    query = ProjectQuery(
        visible_to_user=world["dave"].id, include_visible=True, only_project=target.id
    )
    assert names(store, query) == ["Alice public"]


# Filtering, sorting, paging ----------------------------------------------------------


def test_substring_filters_ignore_case_and_treat_wildcards_literally(store: Store) -> None:
    alice = add_user(store, "alice", name="Alice Liddell", email="alice@wonder.land")
    bob = add_user(store, "bob", name="Bob Builder")
    with store.transaction() as uow:
        add_project(uow, "Telco CHURN model", owner=alice)
        add_project(uow, "churn by region", owner=bob, description="Quarterly 100% sample")
        add_project(uow, "Fraud", owner=bob, description="100 percent")
        add_project(uow, "Under_score", owner=bob)
        add_project(uow, "Ross", owner=bob)

    def matching(**substring: str) -> set[str]:
        query = ProjectQuery(substring=dict(substring), limit=100)
        return set(names(store, query))

    assert matching(name="ChUrN") == {"Telco CHURN model", "churn by region"}
    assert matching(description="100%") == {"churn by region"}
    assert matching(name="r_s") == {"Under_score"}
    assert matching(**{"owner.name": "liddell"}) == {"Telco CHURN model"}
    assert matching(**{"owner.email": "WONDER"}) == {"Telco CHURN model"}
    assert matching(**{"creator.name": "builder"}) == {
        "churn by region",
        "Fraud",
        "Under_score",
        "Ross",
    }
    assert matching(name="churn", description="sample") == {"churn by region"}


def test_exact_filters_match_whole_values(store: Store) -> None:
    alice, alicia = add_user(store, "alice"), add_user(store, "alicia")
    team = add_team(store, "ali")
    with store.transaction() as uow:
        add_project(uow, "A1", owner=alice, visibility=Visibility.PUBLIC)
        add_project(uow, "A2", owner=alice)
        add_project(uow, "B1", owner=alicia, visibility=Visibility.PUBLIC)
        add_project(uow, "T1", team=team, creator=alice)

    def matching(**exact: str) -> set[str]:
        return set(names(store, ProjectQuery(exact=dict(exact), limit=100)))

    assert matching(**{"owner.username": "alice"}) == {"A1", "A2"}
    assert matching(**{"owner.username": "ali"}) == {"T1"}, "a team owner matches by name"
    assert matching(**{"owner.username": "ALICE"}) == set()
    assert matching(**{"creator.username": "alice"}) == {"A1", "A2", "T1"}
    assert matching(visibility="public") == {"A1", "B1"}
    assert matching(slug="a2") == {"A2"}


def test_sorting(store: Store) -> None:
    alice = add_user(store, "alice")
    with store.transaction() as uow:
        for name in ("beta", "alpha", "gamma"):
            add_project(uow, name, owner=alice)
    assert names(store, ProjectQuery(sort=[("name", True)])) == ["alpha", "beta", "gamma"]
    assert names(store, ProjectQuery(sort=[("name", False)])) == ["gamma", "beta", "alpha"]
    # No sort: creation order.
    assert names(store, ProjectQuery()) == ["beta", "alpha", "gamma"]


def test_pages_never_overlap_even_when_sort_keys_tie(store: Store) -> None:
    alice = add_user(store, "alice")
    with store.transaction() as uow:
        for i in range(11):
            # Only three distinct names, so most rows tie on the sort key.
            add_project(uow, f"name {i % 3}", owner=alice, slug=f"p{i}")

    seen: list[str] = []
    offset, pages = 0, 0
    while True:
        with store.transaction() as uow:
            page, more = uow.projects.query(
                ProjectQuery(sort=[("name", True)], offset=offset, limit=4)
            )
        seen += [p.slug for p in page]
        pages += 1
        offset += 4
        if not more:
            break
    assert pages == 3
    assert sorted(seen) == sorted(f"p{i}" for i in range(11)), "each project exactly once"
    with store.transaction() as uow:
        last, more = uow.projects.query(ProjectQuery(offset=8, limit=4))
        beyond, more_beyond = uow.projects.query(ProjectQuery(offset=12, limit=4))
    assert (len(last), more) == (3, False)
    assert (beyond, more_beyond) == ([], False)


def test_exactly_a_full_page_reports_no_more(store: Store) -> None:
    alice = add_user(store, "alice")
    with store.transaction() as uow:
        for i in range(4):
            add_project(uow, f"p{i}", owner=alice)
        page, more = uow.projects.query(ProjectQuery(limit=4))
    assert len(page) == 4
    assert more is False


# Collaborators, environment, updates --------------------------------------------------


def test_collaborators_in_the_order_they_were_added_with_their_roles(store: Store) -> None:
    alice, bob = add_user(store, "alice"), add_user(store, "bob", name="Bob B", email="b@x.org")
    red = add_team(store, "red")
    with store.transaction() as uow:
        project = add_project(uow, "P", owner=alice)
        uow.projects.set_member(project, user_id=bob.id, team_id=None, role=Role.VIEWER)
        uow.projects.set_member(project, user_id=None, team_id=red.id, role=Role.OPERATOR)
        # Setting again changes the role in place.
        uow.projects.set_member(project, user_id=bob.id, team_id=None, role=Role.ADMIN)
        found = uow.projects.collaborators(project)
    assert [(c.name, c.display_name, c.email, c.role, c.is_team) for c in found] == [
        ("bob", "Bob B", "b@x.org", Role.ADMIN, False),
        ("red", "red", "", Role.OPERATOR, True),
    ]
    assert (found[0].user_id, found[0].team_id, found[1].user_id, found[1].team_id) == (
        bob.id,
        None,
        None,
        red.id,
    )


def test_member_roles_are_direct_or_through_a_team(store: Store) -> None:
    alice, bob = add_user(store, "alice"), add_user(store, "bob")
    red, blue = add_team(store, "red", bob), add_team(store, "blue")
    with store.transaction() as uow:
        project = add_project(uow, "P", owner=alice)
        uow.projects.set_member(project, user_id=bob.id, team_id=None, role=Role.VIEWER)
        uow.projects.set_member(project, user_id=None, team_id=red.id, role=Role.CONTRIBUTOR)
        uow.projects.set_member(project, user_id=None, team_id=blue.id, role=Role.ADMIN)
        via_red = uow.projects.member_roles(project, bob.id, [red.id])
        direct = uow.projects.member_roles(project, bob.id, [])
        none = uow.projects.member_roles(project, alice.id, [])
    assert sorted(via_red, key=lambda r: r.rank) == [Role.VIEWER, Role.CONTRIBUTOR]
    assert direct == [Role.VIEWER]
    assert none == [], "the owner is no stored member"


def test_removing_a_member(store: Store) -> None:
    alice, bob = add_user(store, "alice"), add_user(store, "bob")
    red = add_team(store, "red")
    with store.transaction() as uow:
        project = add_project(uow, "P", owner=alice)
        uow.projects.set_member(project, user_id=bob.id, team_id=None, role=Role.VIEWER)
        uow.projects.set_member(project, user_id=None, team_id=red.id, role=Role.VIEWER)
        assert uow.projects.remove_member(project, user_id=bob.id, team_id=None) is True
        assert uow.projects.remove_member(project, user_id=bob.id, team_id=None) is False
        assert [c.name for c in uow.projects.collaborators(project)] == ["red"]
        assert uow.projects.remove_member(project, user_id=None, team_id=red.id) is True
        assert uow.projects.collaborators(project) == []


def test_a_user_or_team_is_a_member_once(store: Store) -> None:
    alice, bob = add_user(store, "alice"), add_user(store, "bob")
    with store.transaction() as uow:
        project = add_project(uow, "P", owner=alice)
        uow.projects.set_member(project, user_id=bob.id, team_id=None, role=Role.VIEWER)
    with pytest.raises(Conflict), store.transaction() as uow:
        uow.session.add(ProjectMemberRow(project_id=project, user_id=bob.id, role="admin"))
    with store.transaction() as uow:
        assert [c.role for c in uow.projects.collaborators(project)] == [Role.VIEWER]


def test_replacing_the_environment_replaces_every_variable(store: Store) -> None:
    alice = add_user(store, "alice")
    with store.transaction() as uow:
        project = add_project(uow, "P", owner=alice)
        before = uow.projects.get(project)
        uow.projects.replace_env(
            project, [EnvVar("B", "2", False), EnvVar("A", "s3cret", True)], at(1)
        )
        first = uow.projects.env(project)
        uow.projects.replace_env(project, [EnvVar("C", "", False)], at(2))
        second = uow.projects.env(project)
        after = uow.projects.get(project)
        uow.projects.replace_env(project, [], at(3))
        cleared = uow.projects.env(project)
    assert first == [EnvVar("A", "s3cret", True), EnvVar("B", "2", False)], "by name"
    assert second == [EnvVar("C", "", False)]
    assert cleared == []
    assert before is not None and after is not None and after.updated_at == at(2)


def test_update_and_creation_status(store: Store) -> None:
    alice = add_user(store, "alice")
    with store.transaction() as uow:
        project = add_project(uow, "P", owner=alice)
        updated = uow.projects.update(project, description="new", visibility=Visibility.PUBLIC)
        uow.projects.set_creation_status(project, CreationStatus.FAILURE, "git clone failed")
        found = uow.projects.get(project)
        missing = uow.projects.update("0000-none", description="x")
    assert updated is not None
    assert (updated.description, updated.visibility) == ("new", Visibility.PUBLIC)
    assert found is not None
    assert (found.creation_status, found.creation_message) == (
        CreationStatus.FAILURE,
        "git clone failed",
    )
    assert missing is None


def test_owner_shares_team_with(store: Store) -> None:
    alice, bob = add_user(store, "alice"), add_user(store, "bob")
    red, blue = add_team(store, "red", alice), add_team(store, "blue", bob)
    with store.transaction() as uow:
        mine = uow.projects.get(add_project(uow, "Mine", owner=alice))
        teams = uow.projects.get(add_project(uow, "Red's", team=red, creator=alice))
        assert mine is not None and teams is not None
        assert uow.projects.owner_shares_team_with(mine, [red.id]) is True
        assert uow.projects.owner_shares_team_with(mine, [blue.id]) is False
        assert uow.projects.owner_shares_team_with(mine, []) is False
        assert uow.projects.owner_shares_team_with(teams, [red.id]) is False, "team-owned"
