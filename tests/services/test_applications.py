"""Applications as real workloads in the real runtime: start, readiness, failures, restarts,
subdomain rules and access decisions."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable

import pytest
from tests.proxy import fixtures

from lakeworks.entities.applications import Application, AppStatus
from lakeworks.entities.projects import Project
from lakeworks.entities.workloads import WorkloadStatus
from lakeworks.errors import Conflict, InvalidInput, NotFound, QuotaExceeded, Unauthenticated
from lakeworks.services import app_access, applications, users
from lakeworks.services.applications import AppFields
from lakeworks.services.platform import Platform, Principal

# Fixtures shared by the application tests (see tests/proxy/fixtures.py).
app_owner = fixtures.app_owner
app_platform = fixtures.app_platform
app_principal = fixtures.app_principal
app_project = fixtures.app_project
app_scheduler = fixtures.app_scheduler
app_settings = fixtures.app_settings
wait_app = fixtures.wait_app


Wait = Callable[..., Application]


def fetch(target: str, path: str = "/") -> dict[str, object]:
    with urllib.request.urlopen(f"http://{target}{path}", timeout=10) as response:
        data: dict[str, object] = json.loads(response.read())
        return data


def make(
    platform: Platform, principal: Principal, project: Project, **values: object
) -> Application:
    fields = {"name": "Web", "subdomain": "web", "script": "web.py"} | values
    return applications.create(platform, principal, project.id, AppFields(**fields))  # type: ignore[arg-type]


def test_an_app_starts_serves_on_its_port_and_stops(
    app_platform: Platform, app_principal: Principal, app_project: Project, wait_app: Wait
) -> None:
    app = make(app_platform, app_principal, app_project, environment={"GREETING": "hi"})
    assert app.status is AppStatus.STARTING
    running = wait_app(app.id, {AppStatus.RUNNING, AppStatus.FAILED})
    assert running.status is AppStatus.RUNNING, running.reason
    assert running.port_name == "CDSW_APP_PORT"
    seen = fetch(running.target)
    assert seen["engine"] == running.workload_id
    assert seen["greeting"] == "hi"  # the app's variables win over the project's
    log, _ = applications.logs(app_platform, app_principal, app_project.id, app.id)
    assert b"serving on" in log
    listed = applications.list_applications(
        app_platform, app_principal, app_project.id, [AppStatus.RUNNING]
    )
    assert [a.id for a in listed] == [app.id]

    applications.stop(app_platform, app_principal, app_project.id, app.id)
    stopped = wait_app(app.id, {AppStatus.STOPPED})
    assert stopped.target == ""
    with app_platform.read() as uow:
        workload = uow.workloads.get(running.workload_id or "")
    assert workload is not None and workload.status is WorkloadStatus.STOPPED


def test_readonly_port_is_used_when_the_app_opens_it(
    app_platform: Platform, app_principal: Principal, app_project: Project, wait_app: Wait
) -> None:
    app = make(
        app_platform, app_principal, app_project, environment={"PORT_VAR": "CDSW_READONLY_PORT"}
    )
    running = wait_app(app.id, {AppStatus.RUNNING, AppStatus.FAILED})
    assert running.port_name == "CDSW_READONLY_PORT"
    assert fetch(running.target)["engine"] == running.workload_id
    applications.stop(app_platform, app_principal, app_project.id, app.id)
    wait_app(app.id, {AppStatus.STOPPED})


def test_restart_gives_a_new_engine_behind_the_same_subdomain(
    app_platform: Platform, app_principal: Principal, app_project: Project, wait_app: Wait
) -> None:
    app = make(app_platform, app_principal, app_project, cpu=1.0, memory_mb=1024)
    first = wait_app(app.id, {AppStatus.RUNNING, AppStatus.FAILED})
    # A quota the running app fills exactly: a second app is refused (and not recorded), a
    # restart is not, since it replaces the engine that holds the room.
    with app_platform.store.transaction() as uow:
        uow.workloads.set_quota(app_principal.user.id, 1.0, 1024)
    with pytest.raises(QuotaExceeded, match=r"1 of 1 vCPU and 1024 of 1024 MiB"):
        make(app_platform, app_principal, app_project, subdomain="second", memory_mb=512)
    assert [a.subdomain for a in applications.list_applications(
        app_platform, app_principal, app_project.id
    )] == ["web"]  # fmt: skip
    applications.restart(app_platform, app_principal, app_project.id, app.id)
    second = wait_app(app.id, {AppStatus.RUNNING, AppStatus.FAILED})
    assert second.status is AppStatus.RUNNING, second.reason
    assert second.workload_id != first.workload_id
    assert second.subdomain == "web"
    route = app_access.authorize_access(app_platform, app_principal, "web")
    assert fetch(route.target)["engine"] == second.workload_id
    applications.stop(app_platform, app_principal, app_project.id, app.id)
    wait_app(app.id, {AppStatus.STOPPED})


def test_a_script_that_exits_at_once_fails_with_its_last_output(
    app_platform: Platform, app_principal: Principal, app_project: Project, wait_app: Wait
) -> None:
    app = make(app_platform, app_principal, app_project, script="exit_now.py")
    failed = wait_app(app.id, {AppStatus.FAILED, AppStatus.RUNNING})
    assert failed.status is AppStatus.FAILED
    assert "code 2" in failed.reason
    assert "before opening CDSW_APP_PORT" in failed.reason
    assert "missing configuration: DATABASE_URL" in failed.reason


def test_a_script_that_never_binds_is_stopped_after_the_bounded_wait(
    app_platform: Platform, app_principal: Principal, app_project: Project, wait_app: Wait
) -> None:
    app_platform.settings.app_start_timeout_seconds = 3.0
    app = make(app_platform, app_principal, app_project, script="never_binds.py")
    failed = wait_app(app.id, {AppStatus.FAILED, AppStatus.RUNNING})
    assert failed.status is AppStatus.FAILED
    assert "did not open CDSW_APP_PORT or CDSW_READONLY_PORT" in failed.reason
    assert "within 3 s" in failed.reason
    deadline_workload = failed.workload_id or ""
    for _ in range(100):
        wait_app(app.id, {AppStatus.FAILED})
        with app_platform.read() as uow:
            workload = uow.workloads.get(deadline_workload)
        assert workload is not None
        if workload.status.is_final:
            break
    assert workload.status is WorkloadStatus.STOPPED


def test_a_crashing_app_is_restarted_a_bounded_number_of_times(
    app_platform: Platform, app_principal: Principal, app_project: Project, wait_app: Wait
) -> None:
    app = make(app_platform, app_principal, app_project)
    engines = []
    for attempt in range(3):  # app_max_restarts is 2: the third crash is final
        running = wait_app(app.id, {AppStatus.RUNNING, AppStatus.FAILED})
        assert running.status is AppStatus.RUNNING, running.reason
        engines.append(running.workload_id)
        with pytest.raises(OSError):
            fetch(running.target, "/crash")
        after = wait_app(
            app.id, {AppStatus.STARTING, AppStatus.FAILED} if attempt < 2 else {AppStatus.FAILED}
        )
        if attempt < 2:
            assert after.status is AppStatus.STARTING
            assert f"restart {attempt + 1} of 2" in after.reason
    assert len(set(engines)) == 3
    final = wait_app(app.id, {AppStatus.FAILED})
    assert "crashed" in final.reason and "not restarted" in final.reason


@pytest.mark.parametrize(
    ("subdomain", "message"),
    [
        ("Sales", "lowercase"),
        ("sales_dash", "not a DNS label"),
        ("-sales", "not a DNS label"),
        ("a" * 64, "not a DNS label"),
        ("", "needs a subdomain"),
        ("modelservice", "reserved"),
        ("abcdefgh12345678", "engine address"),
        ("read-only-abcdefgh12345678", "engine address"),
    ],
)
def test_invalid_subdomains_are_refused(
    app_platform: Platform,
    app_principal: Principal,
    app_project: Project,
    subdomain: str,
    message: str,
) -> None:
    with pytest.raises(InvalidInput, match=message):
        make(app_platform, app_principal, app_project, subdomain=subdomain)
    assert applications.list_applications(app_platform, app_principal, app_project.id) == []


def test_a_subdomain_is_unique_across_the_workspace(
    app_platform: Platform, app_principal: Principal, app_project: Project, wait_app: Wait
) -> None:
    first = make(app_platform, app_principal, app_project, script="never_binds.py")
    with pytest.raises(Conflict, match="already used"):
        make(app_platform, app_principal, app_project, name="Other")
    other = make(
        app_platform, app_principal, app_project, subdomain="web-2", script="never_binds.py"
    )
    with pytest.raises(Conflict):
        applications.update(
            app_platform, app_principal, app_project.id, other.id, {"subdomain": "web"}
        )
    for app in (first, other):
        applications.stop(app_platform, app_principal, app_project.id, app.id)
        wait_app(app.id, {AppStatus.STOPPED})


def test_bad_scripts_are_refused(
    app_platform: Platform, app_principal: Principal, app_project: Project
) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        make(app_platform, app_principal, app_project, script="missing.py")
    with pytest.raises(InvalidInput, match="not a script"):
        make(app_platform, app_principal, app_project, script="dashboard.txt")


def test_access_needs_project_membership_unless_the_app_is_public(
    app_platform: Platform, app_principal: Principal, app_project: Project, wait_app: Wait
) -> None:
    outsider = users.create_user(
        app_platform,
        None,
        username="bob",
        password="correct horse battery",
        email="bob@example.org",
    )
    outsider_principal = Principal(user=outsider, via="session")
    app = make(app_platform, app_principal, app_project, script="never_binds.py")
    assert app_access.authorize_access(app_platform, app_principal, "web").project_id == (
        app_project.id
    )
    with pytest.raises(NotFound):
        app_access.authorize_access(app_platform, outsider_principal, "web")
    with pytest.raises(Unauthenticated):
        app_access.authorize_access(app_platform, None, "web")
    with pytest.raises(NotFound, match="No application"):
        app_access.authorize_access(app_platform, app_principal, "nothing-here")

    applications.update(
        app_platform, app_principal, app_project.id, app.id, {"bypass_authentication": True}
    )
    assert app_access.authorize_access(app_platform, None, "web").public
    assert app_access.authorize_access(app_platform, outsider_principal, "web").public
    app_platform.settings.allow_unauthenticated_apps = False
    app_platform.proxy_routes.forget()
    with pytest.raises(Unauthenticated):
        app_access.authorize_access(app_platform, None, "web")
    applications.stop(app_platform, app_principal, app_project.id, app.id)
    wait_app(app.id, {AppStatus.STOPPED})
