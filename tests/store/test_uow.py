"""Units of work and the audit trail, on the test backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import StatementError

from lakeworks.entities.audit import Outcome
from lakeworks.errors import Conflict, InvalidInput, NotFound
from lakeworks.store.tables import TeamRow
from lakeworks.store.uow import Store


def test_an_exception_rolls_back_everything_in_the_transaction(store: Store) -> None:
    with pytest.raises(NotFound), store.transaction() as uow:
        user = uow.users.add(
            username="ghost", name="", email="", password_hash=None, is_admin=False
        )
        team = uow.users.add_team(name="ghosts", description="")
        uow.users.set_team_member(team.id, user.id, "viewer")
        raise NotFound("something later failed")

    with store.transaction() as uow:
        assert uow.users.by_username("ghost") is None
        assert uow.users.list_teams() == []


def test_a_non_lakeworks_exception_also_rolls_back(store: Store) -> None:
    with pytest.raises(KeyError), store.transaction() as uow:
        uow.users.add(username="ghost", name="", email="", password_hash=None, is_admin=False)
        raise KeyError("boom")
    with store.transaction() as uow:
        assert uow.users.by_username("ghost") is None


def test_a_constraint_violation_is_a_conflict_and_keeps_earlier_commits(store: Store) -> None:
    with store.transaction() as uow:
        uow.users.add(username="alice", name="", email="", password_hash=None, is_admin=False)

    with pytest.raises(Conflict), store.transaction() as uow:
        uow.users.add(username="bob", name="", email="", password_hash=None, is_admin=False)
        uow.users.add(username="alice", name="", email="", password_hash=None, is_admin=False)

    with store.transaction() as uow:
        assert [u.username for u in uow.users.search()] == ["alice"], "bob was rolled back too"


def test_flush_reports_a_conflict_inside_the_transaction(store: Store) -> None:
    with store.transaction() as uow:
        uow.users.add_team(name="red", description="")
    with store.transaction() as uow:
        uow.session.add(TeamRow(name="red", description=""))
        with pytest.raises(Conflict, match="already exists"):
            uow.flush()
        uow.session.rollback()
    with store.transaction() as uow:
        assert [t.name for t in uow.users.list_teams()] == ["red"]


def test_datetimes_come_back_timezone_aware_in_utc(store: Store) -> None:
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    with store.transaction() as uow:
        uow.audit.add(
            at=at.astimezone(timezone(timedelta(hours=-5))),  # any zone in, UTC out
            actor_id=None,
            actor="system",
            action="test.tz",
            target="",
            project_id=None,
            outcome=Outcome.SUCCESS,
            detail={},
        )
    with store.transaction() as uow:
        [event], _ = uow.audit.query()
    assert event.at == at
    assert event.at.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(StatementError, match="naive datetime"), store.transaction() as uow:
        uow.audit.add(
            at=datetime(2030, 1, 1),
            actor_id=None,
            actor="system",
            action="test.naive",
            target="",
            project_id=None,
            outcome=Outcome.SUCCESS,
            detail={},
        )
        uow.flush()


# Audit trail --------------------------------------------------------------------------


def _record(store: Store, *events: tuple[str, str, str | None]) -> None:
    with store.transaction() as uow:
        for actor, action, project_id in events:
            uow.audit.add(
                at=datetime.now(UTC),
                actor_id=None,
                actor=actor,
                action=action,
                target=f"{actor}:{action}",
                project_id=project_id,
                outcome=Outcome.SUCCESS,
                detail={"n": 1, "nested": {"ok": True}},
            )


def test_audit_query_is_newest_first_with_the_total(store: Store) -> None:
    _record(
        store,
        ("alice", "project.create", "p1"),
        ("bob", "file.write", "p1"),
        ("alice", "file.write", "p2"),
        ("alice", "user.login", None),
        ("carol", "file.delete", "p1"),
    )
    with store.transaction() as uow:
        page, total = uow.audit.query(limit=2)
        second, _ = uow.audit.query(offset=2, limit=2)
    assert total == 5
    assert [e.target for e in page] == ["carol:file.delete", "alice:user.login"]
    assert [e.target for e in second] == ["alice:file.write", "bob:file.write"]
    assert page[0].detail == {"n": 1, "nested": {"ok": True}}
    assert page[0].outcome is Outcome.SUCCESS


def test_audit_query_filters_and_counts_only_matches(store: Store) -> None:
    _record(
        store,
        ("alice", "project.create", "p1"),
        ("bob", "file.write", "p1"),
        ("alice", "file.write", "p2"),
        ("alice", "filesystem.odd", None),
        ("carol", "file.delete", "p1"),
    )
    with store.transaction() as uow:
        by_project, project_total = uow.audit.query(project_id="p1")
        by_actor, actor_total = uow.audit.query(actor="alice", limit=1)
        by_prefix, prefix_total = uow.audit.query(action_prefix="file.")
        combined, combined_total = uow.audit.query(project_id="p1", action_prefix="file.")
    assert project_total == 3
    assert [e.actor for e in by_project] == ["carol", "bob", "alice"]
    assert actor_total == 3 and len(by_actor) == 1
    assert prefix_total == 3, "the prefix is literal: filesystem.odd does not match 'file.'"
    assert {e.action for e in by_prefix} == {"file.write", "file.delete"}
    assert combined_total == 2
    assert [e.actor for e in combined] == ["carol", "bob"]


def test_values_postgresql_cannot_store_are_invalid_input(store: Store) -> None:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite stores NUL bytes and ignores VARCHAR lengths")
    for username in ("x" * 65, "nul\x00byte"):
        with pytest.raises(InvalidInput, match="cannot be stored"), store.transaction() as uow:
            uow.users.add(username=username, name="", email="", password_hash=None, is_admin=False)
    with store.transaction() as uow:
        assert uow.users.search() == []
