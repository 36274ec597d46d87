"""The scheduler's first question (``store.activity``): with nothing in flight a tick is one
statement; any work in flight, or a cron fire due, makes it a full tick, which runs the steps
of the kinds of work in flight only; and the statuses counted as in flight cover every status
a tick's steps look for."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from tests.services.conftest import Members, make_job

from lakeworks.entities.amps import SetupStatus
from lakeworks.entities.applications import AppStatus
from lakeworks.entities.jobs import RunStatus
from lakeworks.entities.models import BuildStatus, DeploymentStatus
from lakeworks.entities.sessions import SessionStatus
from lakeworks.entities.workloads import Resources, WorkloadKind, WorkloadStatus
from lakeworks.scheduler.loop import Scheduler
from lakeworks.services import job_runs
from lakeworks.services.platform import Platform
from lakeworks.store.activity import IN_FLIGHT, Activity, ActivityRepo, Work


@pytest.fixture
def scheduler(fake_platform: Platform) -> Iterator[Scheduler]:
    sched = Scheduler(fake_platform)
    yield sched
    sched.stop(wait=True)


@pytest.fixture
def project_id(fake_platform: Platform, members: Members) -> str:
    (fake_platform.settings.projects_dir / members.project_id / "train.py").write_text("pass\n")
    return members.project_id


def _statements(platform: Platform, scheduler: Scheduler) -> tuple[bool, list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def note(conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        seen.append((statement, parameters))

    event.listen(platform.store.engine, "before_cursor_execute", note)
    try:
        worked = scheduler.tick(wait=True)
    finally:
        event.remove(platform.store.engine, "before_cursor_execute", note)
    return worked, seen


def test_an_idle_tick_is_one_statement(fake_platform: Platform, scheduler: Scheduler) -> None:
    worked, seen = _statements(fake_platform, scheduler)
    assert not worked
    assert len(seen) == 1


@pytest.mark.parametrize(
    "status", [s for s in WorkloadStatus if not s.is_final], ids=lambda s: s.value
)
def test_a_workload_in_flight_makes_a_full_tick(
    fake_platform: Platform, scheduler: Scheduler, members: Members, status: WorkloadStatus
) -> None:
    path = [WorkloadStatus.STARTING, WorkloadStatus.RUNNING, WorkloadStatus.STOPPING]
    with fake_platform.store.transaction() as uow:
        uow.workloads.add(
            workload_id="w1",
            project_id=members.project_id,
            user_id=members["owner"].user.id,
            executor="fake",
            log_path="",
            resources=Resources(cpu=0.25, memory_mb=512),
            status=status if status is WorkloadStatus.PENDING else WorkloadStatus.STARTING,
            kind=WorkloadKind.SESSION,
        )
        if status in path:
            for before, after in itertools.pairwise(path[: path.index(status) + 1]):
                assert uow.workloads.move("w1", before, after)
    with fake_platform.read() as uow:
        assert uow.activity.now().in_flight == {Work.WORKLOADS}
    assert scheduler.tick()


def test_a_triggered_run_is_started_by_the_next_tick(
    fake_platform: Platform, scheduler: Scheduler, members: Members, project_id: str
) -> None:
    job = make_job(fake_platform, members["owner"], project_id)
    run = job_runs.trigger(fake_platform, members["owner"], project_id, job.id)
    assert scheduler.tick(wait=True)
    with fake_platform.read() as uow:
        started = uow.jobs.get_run(run.id)
    assert started is not None and started.status is RunStatus.RUNNING, started


def test_a_due_cron_fire_makes_a_full_tick(
    fake_platform: Platform, scheduler: Scheduler, members: Members, project_id: str
) -> None:
    job = make_job(
        fake_platform, members["owner"], project_id, schedule="*/10 * * * *", timezone="UTC"
    )
    now = datetime.now(UTC)
    with fake_platform.store.transaction() as uow:
        uow.jobs.update(job.id, next_fire_at=now + timedelta(minutes=5))
    assert not scheduler.tick(now=now, wait=True)  # not due yet: nothing in flight
    assert scheduler.tick(now=now + timedelta(minutes=6), wait=True)
    with fake_platform.read() as uow:
        fired = uow.jobs.runs_with_status(*RunStatus)
    assert [run.job_id for run in fired] == [job.id]


_STATUS_FILTER = re.compile(r"FROM (\w+)\b.*?WHERE \1\.status (?:IN|=)", re.S)


def test_in_flight_statuses_cover_what_every_step_looks_for(
    fake_platform: Platform,
    scheduler: Scheduler,
    members: Members,
    project_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A full tick (every kind of work said to be in flight) on a platform with a run in
    # flight: each statement filtering a table by status asks only for statuses counted as in
    # flight, and every kind's table is filtered by its steps.
    job = make_job(fake_platform, members["owner"], project_id)
    job_runs.trigger(fake_platform, members["owner"], project_id, job.id)
    _report_in_flight(monkeypatch, *Work)
    _, seen = _statements(fake_platform, scheduler)
    in_flight = {work.value: set(statuses) for work, (_, statuses) in IN_FLIGHT.items()}
    checked = set()
    for table, asked in _status_filters(seen):
        assert table in in_flight, f"the tick filters {table} by status; store.activity does not"
        assert asked <= in_flight[table], (table, asked - in_flight[table])
        checked.add(table)
    assert checked == {work.value for work in Work}
    assert all(row.__tablename__ == work.value for work, (row, _) in IN_FLIGHT.items())


# The tables a kind of work's steps filter by status, beside workloads' (whose steps run for
# any work: every kind runs in workloads). A build that ends may deploy itself, so builds in
# flight run the deployments' step too.
_STEPS_OF = {
    Work.RUNS: {"job_runs"},
    Work.WORKLOADS: set(),
    Work.BUILDS: {"model_builds", "model_deployments"},
    Work.DEPLOYMENTS: {"model_deployments"},
    Work.APPLICATIONS: {"applications"},
    Work.SESSIONS: {"sessions"},
    Work.AMP_SETUPS: {"amp_setups"},
}


@pytest.mark.parametrize("work", list(Work), ids=lambda w: w.value)
def test_a_tick_runs_the_steps_of_the_work_in_flight_only(
    fake_platform: Platform, scheduler: Scheduler, monkeypatch: pytest.MonkeyPatch, work: Work
) -> None:
    _report_in_flight(monkeypatch, work)
    worked, seen = _statements(fake_platform, scheduler)
    assert worked
    assert {table for table, _ in _status_filters(seen)} == {"workloads"} | _STEPS_OF[work]


def _report_in_flight(monkeypatch: pytest.MonkeyPatch, *works: Work) -> None:
    """Make ``store.activity`` report ``works`` in flight (and no cron fire due)."""
    activity = Activity(in_flight=frozenset(works), earliest_fire=None)
    monkeypatch.setattr(ActivityRepo, "now", lambda self: activity)


def _status_filters(seen: list[tuple[str, Any]]) -> Iterator[tuple[str, set[str]]]:
    """(table, statuses asked for) of each statement filtering a table by status."""
    for statement, parameters in seen:
        match = _STATUS_FILTER.search(statement)
        if match is None or "EXISTS" in statement:
            continue
        values = parameters.values() if isinstance(parameters, dict) else parameters or ()
        yield match.group(1), {v for v in values if isinstance(v, str)} & _all_statuses()


def _all_statuses() -> set[str]:
    """Every status value of every kind of work (what a status filter may ask for)."""
    kinds = (RunStatus, WorkloadStatus, BuildStatus, DeploymentStatus, AppStatus, SessionStatus)
    return {s.value for kind in kinds for s in kind} | {s.value for s in SetupStatus}
