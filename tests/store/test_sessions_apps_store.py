"""SessionRepo and ApplicationRepo on the test backend: records, lookups by workload and
subdomain (unique), listings, activity that only moves forwards, the application's attach that
only links the start it belongs to, and cascades with the project."""

from __future__ import annotations

import pytest
from tests.store.factories import add_application, add_session, at
from tests.store.test_projects_store import add_project

from lakeworks.entities.applications import AppStatus
from lakeworks.entities.sessions import Editor, SessionStatus
from lakeworks.entities.users import User
from lakeworks.errors import Conflict
from lakeworks.store.uow import Store

# Sessions ----------------------------------------------------------------------------------


def test_a_session_reads_back_with_every_field(store: Store, alice: User, project: str) -> None:
    with store.transaction() as uow:
        add_session(
            uow,
            "s-1",
            project,
            alice.id,
            name="Explore",
            editor=Editor.WORKBENCH.value,
            runtime_identifier="py311",
            cpu=0.5,
            memory_mb=1024,
            spark=True,
            idle_timeout_minutes=30,
            workload_id="w-1",
            kernel_key_sealed="sealed",
            created_at=at(0),
            last_activity_at=at(1),
        )
    with store.transaction() as uow:
        session = uow.sessions.get("s-1")
        by_workload = uow.sessions.for_workload("w-1")
    assert session is not None and by_workload == session
    assert (session.name, session.editor, session.runtime_identifier) == (
        "Explore",
        Editor.WORKBENCH,
        "py311",
    )
    assert (session.cpu, session.memory_mb, session.spark, session.idle_timeout_minutes) == (
        0.5,
        1024,
        True,
        30,
    )
    assert (session.status, session.kernel_key_sealed, session.reason) == (
        SessionStatus.STARTING,
        "sealed",
        "",
    )
    assert (session.created_at, session.last_activity_at, session.finished_at) == (
        at(0),
        at(1),
        None,
    )
    assert session.is_active


def test_unknown_sessions_and_applications_are_none(store: Store) -> None:
    with store.transaction() as uow:
        assert uow.sessions.get("nope") is None
        assert uow.sessions.for_workload("nope") is None
        assert uow.applications.get("nope") is None
        assert uow.applications.for_workload("nope") is None
        assert uow.applications.by_subdomain("nope") is None


def test_sessions_of_a_project_newest_first_and_bounded(
    store: Store, alice: User, project: str
) -> None:
    with store.transaction() as uow:
        other = add_project(uow, "Other", owner=alice)
        for n in (2, 0, 3, 1):
            add_session(uow, f"s{n}", project, alice.id, created_at=at(n))
        add_session(uow, "elsewhere", other, alice.id)
    with store.transaction() as uow:
        assert [s.id for s in uow.sessions.of_project(project)] == ["s3", "s2", "s1", "s0"]
        assert [s.id for s in uow.sessions.of_project(project, limit=2)] == ["s3", "s2"]
        assert [s.id for s in uow.sessions.of_project(other)] == ["elsewhere"]


def test_sessions_with_status(store: Store, alice: User, project: str) -> None:
    with store.transaction() as uow:
        for status in SessionStatus:
            add_session(uow, f"s-{status.value}", project, alice.id, status=status.value)
        active = uow.sessions.with_status(
            SessionStatus.STARTING, SessionStatus.RUNNING, SessionStatus.STOPPING
        )
        stopped = uow.sessions.with_status(SessionStatus.STOPPED)
        none = uow.sessions.with_status()
    assert {s.id for s in active} == {"s-starting", "s-running", "s-stopping"}
    assert all(s.is_active for s in active)
    assert [s.id for s in stopped] == ["s-stopped"] and not stopped[0].is_active
    assert none == []


def test_touch_only_moves_activity_forwards(store: Store, alice: User, project: str) -> None:
    with store.transaction() as uow:
        add_session(uow, "old", project, alice.id, last_activity_at=at(0))
        add_session(uow, "recent", project, alice.id, last_activity_at=at(10))
        add_session(uow, "untouched", project, alice.id, last_activity_at=at(0))
        uow.sessions.touch(["old", "recent"], at(5))
        uow.sessions.touch([], at(50))
    with store.transaction() as uow:
        times = {s: uow.sessions.get(s).last_activity_at for s in ("old", "recent", "untouched")}  # type: ignore[union-attr]
    assert times == {"old": at(5), "recent": at(10), "untouched": at(0)}


def test_a_session_stops_with_its_reason_and_time(store: Store, alice: User, project: str) -> None:
    with store.transaction() as uow:
        add_session(uow, "s", project, alice.id)
        uow.sessions.set("s", workload_id="w-2")
        assert uow.sessions.move("s", SessionStatus.STARTING, SessionStatus.RUNNING)
        assert uow.sessions.move(
            "s",
            SessionStatus.RUNNING,
            SessionStatus.STOPPED,
            reason="idle timeout",
            finished_at=at(9),
        )
        assert not uow.sessions.move("s", SessionStatus.RUNNING, SessionStatus.STOPPING)
        session = uow.sessions.get("s")
    assert session is not None
    assert (session.status, session.reason, session.finished_at, session.workload_id) == (
        SessionStatus.STOPPED,
        "idle timeout",
        at(9),
        "w-2",
    )
    assert not session.is_active


@pytest.mark.parametrize(
    ("status", "engine"),
    [
        (SessionStatus.STARTING, "ENGINE_STARTING"),
        (SessionStatus.RUNNING, "ENGINE_RUNNING"),
        (SessionStatus.STOPPING, "ENGINE_STOPPING"),
        (SessionStatus.STOPPED, "ENGINE_STOPPED"),
        (SessionStatus.SUCCEEDED, "ENGINE_SUCCEEDED"),
        (SessionStatus.FAILED, "ENGINE_FAILED"),
    ],
)
def test_session_statuses_as_cml_engine_statuses(status: SessionStatus, engine: str) -> None:
    assert status.engine_status == engine


def test_session_ids_are_unique(store: Store, alice: User, project: str) -> None:
    with store.transaction() as uow:
        add_session(uow, "s", project, alice.id)
    with pytest.raises(Conflict), store.transaction() as uow:
        add_session(uow, "s", project, alice.id, name="again")
    with store.transaction() as uow:
        session = uow.sessions.get("s")
    assert session is not None and session.name == "s"


# Applications ------------------------------------------------------------------------------


def test_an_application_reads_back_by_id_subdomain_and_workload(
    store: Store, alice: User, project: str
) -> None:
    with store.transaction() as uow:
        add_application(
            uow,
            "a-1",
            project,
            alice.id,
            name="Dashboard",
            description="sales",
            subdomain="sales-dash",
            environment={"PORT_NAME": "x"},
            bypass_authentication=True,
            gpu=1,
            workload_id="w-1",
            restarts=["2026-01-01T12:00:00+00:00"],
        )
    with store.transaction() as uow:
        app = uow.applications.get("a-1")
        by_sub = uow.applications.by_subdomain("sales-dash")
        by_workload = uow.applications.for_workload("w-1")
    assert app is not None and app == by_sub == by_workload
    assert (app.name, app.description, app.subdomain, app.script) == (
        "Dashboard",
        "sales",
        "sales-dash",
        "app.py",
    )
    assert (app.environment, app.bypass_authentication, app.gpu) == ({"PORT_NAME": "x"}, True, 1)
    assert (app.status, app.target, app.port_name, app.reason) == (AppStatus.STARTING, "", "", "")
    assert app.restarts == ["2026-01-01T12:00:00+00:00"]


def test_a_subdomain_is_unique_across_projects(store: Store, alice: User, project: str) -> None:
    with store.transaction() as uow:
        other = add_project(uow, "Other", owner=alice)
        add_application(uow, "a-1", project, alice.id, subdomain="taken")
    with pytest.raises(Conflict), store.transaction() as uow:
        add_application(uow, "a-2", other, alice.id, subdomain="taken")
    with store.transaction() as uow:
        assert uow.applications.of_project(other) == []


def test_applications_of_a_project_in_creation_order(
    store: Store, alice: User, project: str
) -> None:
    with store.transaction() as uow:
        other = add_project(uow, "Other", owner=alice)
        for n in (1, 0, 2):
            add_application(uow, f"a{n}", project, alice.id, created_at=at(n))
        add_application(uow, "x", other, alice.id)
    with store.transaction() as uow:
        assert [a.id for a in uow.applications.of_project(project)] == ["a0", "a1", "a2"]


def test_applications_with_status(store: Store, alice: User, project: str) -> None:
    with store.transaction() as uow:
        for status in AppStatus:
            add_application(uow, status.short, project, alice.id, status=status.value)
        active = {
            a.id for a in uow.applications.with_status(*[s for s in AppStatus if s.is_active])
        }
        failed = [a.id for a in uow.applications.with_status(AppStatus.FAILED)]
    assert active == {"starting", "running", "stopping"}
    assert failed == ["failed"]


def test_attach_links_a_workload_only_to_the_start_it_belongs_to(
    store: Store, alice: User, project: str
) -> None:
    with store.transaction() as uow:
        add_application(uow, "a", project, alice.id, starting_at=at(0))
        # A launcher of an older start loses.
        assert not uow.applications.attach("a", at(-1), "w-old")
        assert uow.applications.attach("a", at(0), "w-1")
        # Once attached, a second attach of the same start does not replace it.
        assert not uow.applications.attach("a", at(0), "w-2")
        app = uow.applications.get("a")
    assert app is not None and app.workload_id == "w-1"


def test_attach_refuses_an_application_no_longer_starting(
    store: Store, alice: User, project: str
) -> None:
    with store.transaction() as uow:
        add_application(uow, "a", project, alice.id, starting_at=at(0))
        assert uow.applications.move("a", AppStatus.STARTING, AppStatus.STOPPING)
        assert not uow.applications.attach("a", at(0), "w-1")
        app = uow.applications.get("a")
    assert app is not None and app.workload_id is None


def test_an_application_restarts_through_starting_with_new_times(
    store: Store, alice: User, project: str
) -> None:
    with store.transaction() as uow:
        add_application(uow, "a", project, alice.id, starting_at=at(0))
        assert uow.applications.attach("a", at(0), "w-1")
        assert uow.applications.move(
            "a", AppStatus.STARTING, AppStatus.RUNNING, running_at=at(1), target="127.0.0.1:9"
        )
        assert uow.applications.move(
            "a", AppStatus.RUNNING, AppStatus.FAILED, reason="exit 1", stopped_at=at(2)
        )
        assert uow.applications.move(
            "a", AppStatus.FAILED, AppStatus.STARTING, starting_at=at(3), workload_id=None
        )
        assert uow.applications.attach("a", at(3), "w-2")
        uow.applications.set("a", restarts=[at(3).isoformat()])
        app = uow.applications.get("a")
    assert app is not None
    assert (app.status, app.workload_id, app.starting_at, app.reason) == (
        AppStatus.STARTING,
        "w-2",
        at(3),
        "exit 1",
    )
    assert app.restarts == [at(3).isoformat()]


def test_deleting_an_application_frees_its_subdomain(
    store: Store, alice: User, project: str
) -> None:
    with store.transaction() as uow:
        add_application(uow, "a", project, alice.id, subdomain="reuse")
        uow.applications.delete("a")
        add_application(uow, "b", project, alice.id, subdomain="reuse")
        found = uow.applications.by_subdomain("reuse")
    assert found is not None and found.id == "b"


def test_deleting_the_project_deletes_its_sessions_and_applications(
    store: Store, alice: User, project: str
) -> None:
    with store.transaction() as uow:
        add_session(uow, "s", project, alice.id)
        add_application(uow, "a", project, alice.id)
        uow.projects.delete(project)
    with store.transaction() as uow:
        assert uow.sessions.get("s") is None
        assert uow.applications.get("a") is None


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("running", AppStatus.RUNNING),
        ("RUNNING", AppStatus.RUNNING),
        ("  stopped ", AppStatus.STOPPED),
        ("APPLICATION_FAILED", AppStatus.FAILED),
        ("application_unknown", AppStatus.UNKNOWN),
        ("runnin", None),
        ("", None),
        ("APPLICATION_", None),
    ],
)
def test_app_status_parses_short_and_long_forms(text: str, parsed: AppStatus | None) -> None:
    assert AppStatus.parse(text) is parsed
    if parsed is not None:
        assert AppStatus.parse(parsed.short) is parsed
