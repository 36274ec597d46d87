"""Issue 12, M5: no workload is left running owned by nothing.

Deleting an application right after creating it (0-200 ms apart) could leave its engine
running forever, holding quota. The reconciler now stops every live workload that no job
run, session, application, model build or replica records, once it is past the short grace
its launcher has to record it. Real applications and processes on the local executor.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from tests.proxy import fixtures
from tests.workload_cleanup import stop_live_workloads

from lakeworks.entities.applications import Application, AppStatus
from lakeworks.entities.projects import Project
from lakeworks.entities.users import User
from lakeworks.entities.workloads import Resources, Workload, WorkloadKind, WorkloadStatus
from lakeworks.scheduler.loop import Scheduler
from lakeworks.services import applications, workloads
from lakeworks.services.applications import AppFields
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.tables import utcnow

app_owner = fixtures.app_owner
app_platform = fixtures.app_platform
app_principal = fixtures.app_principal
app_project = fixtures.app_project
app_scheduler = fixtures.app_scheduler
app_settings = fixtures.app_settings
wait_app = fixtures.wait_app

LATER = workloads.ORPHAN_GRACE + timedelta(seconds=1)


def _all_workloads(platform: Platform) -> list[Workload]:
    with platform.read() as uow:
        return uow.workloads.with_status(*WorkloadStatus)


def _process_ended(platform: Platform, workload: Workload) -> bool:
    return not workload.handle or platform.executor.poll(workload.handle) is not None


def _settle(platform: Platform, scheduler: Scheduler, *, later: bool, timeout: float = 60) -> None:
    """Tick (as if ``LATER`` had passed when ``later``) until no workload is live."""
    deadline = time.monotonic() + timeout
    while True:
        now = utcnow() + (LATER if later else timedelta(0))
        scheduler.tick(now, wait=True)
        live = [w for w in _all_workloads(platform) if not w.status.is_final]
        if not live:
            return
        assert time.monotonic() < deadline, [(w.id, w.status) for w in live]
        time.sleep(0.2)


def _boots_done(timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while any(t.name.startswith("app-") for t in threading.enumerate()):
        assert time.monotonic() < deadline, "application start threads still running"
        time.sleep(0.05)


def test_apps_deleted_right_after_creation_leave_no_workload_running(
    app_platform: Platform,
    app_principal: Principal,
    app_project: Project,
    app_scheduler: Scheduler,
) -> None:
    for cycle in range(20):
        app = applications.create(
            app_platform,
            app_principal,
            app_project.id,
            AppFields(name=f"Race {cycle}", subdomain=f"race{cycle}", script="never_binds.py"),
        )
        # 0-1000 ms, spread over the cycles: a start that finds its app already deleted
        # launches nothing; the later deletions meet engines that are launched or launching.
        time.sleep((cycle * 37 % 21) / 20)
        applications.delete(app_platform, app_principal, app_project.id, app.id)
        app_scheduler.tick(wait=True)  # ended engines give their quota back
    _boots_done()
    _settle(app_platform, app_scheduler, later=True)

    engines = [w for w in _all_workloads(app_platform) if w.kind is WorkloadKind.APPLICATION]
    assert engines, "no application engine was launched at all"
    assert all(w.status.is_final for w in engines)
    assert all(_process_ended(app_platform, w) for w in engines)


def test_a_workload_nobody_recorded_is_stopped_after_the_grace_and_owned_ones_are_not(
    app_platform: Platform,
    app_principal: Principal,
    app_owner: User,
    app_project: Project,
    app_scheduler: Scheduler,
    wait_app: Callable[..., Application],
) -> None:
    owned = applications.create(
        app_platform,
        app_principal,
        app_project.id,
        AppFields(name="Kept", subdomain="kept", script="web.py"),
    )
    running = wait_app(owned.id, {AppStatus.RUNNING, AppStatus.FAILED})
    assert running.status is AppStatus.RUNNING, running.reason
    # What a launcher that died between launching and recording leaves: a workload row and a
    # process, and no job run, session, application or model naming it.
    stray = workloads.spawn(
        app_platform,
        kind=WorkloadKind.SESSION,
        project=app_project,
        user=app_owner,
        resources=Resources(cpu=0.1, memory_mb=256),
        build=lambda ctx: (["/bin/sleep", "600"], {"PATH": "/usr/bin:/bin"}),
        runtime_dir=None,
    )
    assert stray.status is WorkloadStatus.RUNNING, stray.reason
    try:
        app_scheduler.tick(wait=True)  # within the grace: left alone
        assert workloads.get(app_platform, stray.id).status is WorkloadStatus.RUNNING

        deadline = time.monotonic() + 60
        while not workloads.get(app_platform, stray.id).status.is_final:
            assert time.monotonic() < deadline, workloads.get(app_platform, stray.id)
            app_scheduler.tick(utcnow() + LATER, wait=True)
            time.sleep(0.2)
        ended = workloads.get(app_platform, stray.id)
        assert ended.status is WorkloadStatus.STOPPED
        assert ended.reason == workloads.ORPHAN_REASON
        assert _process_ended(app_platform, ended)

        kept = applications.get(app_platform, app_principal, app_project.id, owned.id)
        assert kept.status is AppStatus.RUNNING and kept.workload_id == running.workload_id
        engine = workloads.get(app_platform, kept.workload_id or "")
        assert engine.status is WorkloadStatus.RUNNING
    finally:
        stop_live_workloads(app_platform)


def test_a_workload_stopped_while_it_starts_does_not_keep_running(
    app_platform: Platform, app_owner: User, app_project: Project
) -> None:
    # Its owner is deleted while the executor starts it: the stop finds no process yet.
    def build(ctx: workloads.LaunchContext) -> tuple[list[str], dict[str, str]]:
        assert workloads.request_stop(app_platform, ctx.engine_id, "its owner was deleted")
        return ["/bin/sleep", "600"], {"PATH": "/usr/bin:/bin"}

    workload = workloads.spawn(
        app_platform,
        kind=WorkloadKind.SESSION,
        project=app_project,
        user=app_owner,
        resources=Resources(cpu=0.1, memory_mb=256),
        build=build,
        runtime_dir=None,
    )
    assert workload.status is WorkloadStatus.STOPPED
    assert workload.handle, "the process was started and recorded"
    deadline = time.monotonic() + 30
    while not _process_ended(app_platform, workload):
        assert time.monotonic() < deadline, "the process outlived its stopped workload"
        time.sleep(0.1)


def test_a_launch_that_fails_before_starting_leaves_no_pending_record(
    app_platform: Platform,
    app_owner: User,
    app_project: Project,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("the key store is down")

    monkeypatch.setattr(workloads.auth, "add_workload_keys_many", broken)
    with pytest.raises(RuntimeError):
        workloads.spawn(
            app_platform,
            kind=WorkloadKind.SESSION,
            project=app_project,
            user=app_owner,
            resources=Resources(cpu=0.1, memory_mb=256),
            build=lambda ctx: (["/bin/true"], {}),
            runtime_dir=None,
        )
    # The record and its keys are written in one transaction: the failure leaves neither
    # (a pending or starting record would hold its user's quota forever).
    assert _all_workloads(app_platform) == []
