"""Job definitions (services/jobs.py) called directly: validation of every field, schedules and
parents (cycles included), PATCH semantics, deletion, who may do what, and the audit trail."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from tests.services.conftest import Members
from tests.services.conftest import make_job as make

from lakeworks.entities.audit import AuditEvent, Outcome
from lakeworks.entities.jobs import Recipient, RunStatus, ScheduleKind
from lakeworks.errors import InvalidInput, LakeworksError, NotFound, PermissionDenied
from lakeworks.services import job_runs, jobs
from lakeworks.services.platform import Platform

Audit = Callable[[Platform, str], list[AuditEvent]]


@pytest.fixture
def project_id(fake_platform: Platform, members: Members) -> str:
    root = fake_platform.settings.projects_dir / members.project_id
    (root / "train.py").write_text("print('train')\n")
    (root / "report.ipynb").write_text("{}\n")
    (root / "jobs").mkdir()
    (root / "jobs" / "nightly.sh").write_text("echo nightly\n")
    (root / "notes.txt").write_text("not a script\n")
    return members.project_id


# Creation: what is stored ---------------------------------------------------------------


def test_a_manual_job_stores_its_fields(
    fake_platform: Platform, members: Members, project_id: str
) -> None:
    job = make(
        fake_platform,
        members["owner"],
        project_id,
        name="  Nightly train  ",
        script="/home/cdsw/./jobs//nightly.sh",
        arguments="--fast",
        cpu=2,
        memory_mb=4096,
        environment={"EPOCHS": 3, "DEBUG": False},
        timeout_seconds=600,
        kill_on_timeout=False,
    )
    assert job.name == "Nightly train"
    assert job.script == "jobs/nightly.sh"  # a path copied from a workload is the project's
    assert job.arguments == "--fast"
    assert (job.cpu, job.memory_mb) == (2.0, 4096)
    assert job.environment == {"EPOCHS": "3", "DEBUG": "False"}
    assert (job.timeout_seconds, job.kill_on_timeout) == (600, False)
    assert job.schedule_kind is ScheduleKind.MANUAL and job.schedule == ""
    assert job.next_fire_at is None and job.parent_id is None
    assert job.creator_id == members["owner"].user.id
    assert jobs.get(fake_platform, members["viewer"], project_id, job.id) == job


def test_a_cron_job_gets_its_next_fire_time(
    fake_platform: Platform, members: Members, project_id: str
) -> None:
    before = datetime.now(UTC)
    job = make(
        fake_platform,
        members["owner"],
        project_id,
        schedule="  0   9 * * 1-5 ",
        timezone="Europe/Madrid",
    )
    assert job.schedule_kind is ScheduleKind.CRON
    assert job.schedule == "0 9 * * 1-5"  # whitespace normalised
    assert job.timezone == "Europe/Madrid"
    assert job.next_fire_at is not None
    fire = job.next_fire_at.replace(tzinfo=job.next_fire_at.tzinfo or UTC)
    assert fire > before
    local = fire.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Madrid"))
    assert (local.hour, local.minute) == (9, 0) and local.isoweekday() <= 5
    assert jobs.describe_schedule(job).startswith("At 09:00")


def test_a_dependent_job_follows_its_parent(
    fake_platform: Platform, members: Members, project_id: str
) -> None:
    parent = make(fake_platform, members["owner"], project_id, name="Extract")
    child = make(fake_platform, members["owner"], project_id, name="Load", parent_id=parent.id)
    assert child.schedule_kind is ScheduleKind.DEPENDENT and child.parent_id == parent.id
    assert jobs.describe_schedule(child) == "After its parent job succeeds"
    assert jobs.describe_schedule(parent) == "Manual"


def test_recipients_are_stored_with_their_choices(
    fake_platform: Platform, members: Members, project_id: str
) -> None:
    recipients = [Recipient("ops@example.org", on_success=True), Recipient("a@b.c", on_stop=True)]
    job = make(fake_platform, members["owner"], project_id, recipients=recipients)
    assert job.recipients == recipients


# Creation: what is refused ----------------------------------------------------------------

BAD_FIELDS: list[tuple[dict[str, Any], str]] = [
    ({"name": "   "}, "A job needs a name."),
    ({"name": "x" * 201}, "A job name is at most 200 characters"),
    ({"arguments": "a" * (64 * 1024 + 1)}, "arguments is at most"),
    ({"script": ""}, "A job needs a script"),
    ({"script": "/"}, "A job needs a script"),
    ({"script": "notes.txt"}, "'notes.txt' is not a script Lakeworks can run"),
    ({"script": "missing.py"}, "Script 'missing.py' does not exist in the project."),
    ({"script": "../other/train.py"}, "leaves the project"),
    ({"script": "/etc/passwd.py"}, "is an absolute path"),
    ({"cpu": 0}, "cpu (vCPU)"),
    ({"cpu": 2000}, "cpu (vCPU)"),
    ({"memory_mb": 0}, "memory (MiB)"),
    ({"timeout_seconds": -1}, "timeout must be between 0 (none) and 2100000 s."),
    ({"timeout_seconds": 2_100_001}, "timeout must be between 0 (none) and 2100000 s."),
    ({"schedule": "0 9 * *"}, "it needs 5 fields"),
    ({"schedule": "61 * * * *"}, "is not a valid cron schedule"),
    ({"schedule": "0 0 30 2 *"}, "never fires"),
    ({"timezone": "Mars/Olympus"}, "'Mars/Olympus' is not a time zone"),
    ({"parent_id": "nope"}, "Parent job 'nope' is not a job of this project."),
    ({"recipients": [Recipient("not-an-address")]}, "'not-an-address' is not an email address."),
    ({"recipients": [Recipient("a b@example.org")]}, "is not an email address."),
    ({"environment": {"1BAD": "x"}}, "'1BAD' is not a valid environment variable name"),
    ({"environment": {"A-B": "x"}}, "is not a valid environment variable name"),
]


@pytest.mark.parametrize(("fields", "message"), BAD_FIELDS)
def test_bad_fields_are_refused_with_what_was_wrong(
    fake_platform: Platform,
    members: Members,
    project_id: str,
    fields: dict[str, Any],
    message: str,
    audit_rows: Audit,
) -> None:
    with pytest.raises(InvalidInput) as caught:
        make(fake_platform, members["owner"], project_id, **fields)
    assert message in caught.value.message
    assert jobs.list_jobs(fake_platform, members["owner"], project_id) == []
    (failed,) = audit_rows(fake_platform, "job.create")
    assert failed.outcome is Outcome.FAILED and failed.detail["error"] == caught.value.message


def test_a_schedule_and_a_parent_together_are_refused(
    fake_platform: Platform, members: Members, project_id: str
) -> None:
    parent = make(fake_platform, members["owner"], project_id, name="Parent")
    with pytest.raises(InvalidInput, match="on a schedule or after a parent job, not both"):
        make(fake_platform, members["owner"], project_id, schedule="0 * * * *", parent_id=parent.id)


def test_a_parent_from_another_project_is_refused(
    fake_platform: Platform, members: Members, project_id: str
) -> None:
    from lakeworks.services import projects

    other = projects.create(
        fake_platform, members["owner"], name="Other", source=projects.parse_source("", "")
    )
    (fake_platform.settings.projects_dir / other.id / "train.py").write_text("pass\n")
    foreign = make(fake_platform, members["owner"], other.id, name="Foreign")
    with pytest.raises(InvalidInput, match=f"Parent job '{foreign.id}' is not a job"):
        make(fake_platform, members["owner"], project_id, parent_id=foreign.id)


# Cycles -------------------------------------------------------------------------------------


def test_a_parent_that_would_make_a_cycle_is_refused_naming_the_chain(
    fake_platform: Platform, members: Members, project_id: str
) -> None:
    owner = members["owner"]
    a = make(fake_platform, owner, project_id, name="A")
    b = make(fake_platform, owner, project_id, name="B", parent_id=a.id)
    c = make(fake_platform, owner, project_id, name="C", parent_id=b.id)
    with pytest.raises(InvalidInput) as caught:
        jobs.update(fake_platform, owner, project_id, a.id, {"parent_id": c.id})
    assert caught.value.message == "That parent would make a cycle: A → B → C → back to this job."
    assert jobs.get(fake_platform, owner, project_id, a.id).parent_id is None


def test_a_job_cannot_be_its_own_parent(
    fake_platform: Platform, members: Members, project_id: str
) -> None:
    job = make(fake_platform, members["owner"], project_id, name="Self")
    with pytest.raises(InvalidInput, match="That parent would make a cycle: Self → back"):
        jobs.update(fake_platform, members["owner"], project_id, job.id, {"parent_id": job.id})


def test_moving_a_job_within_a_chain_without_a_cycle_is_allowed(
    fake_platform: Platform, members: Members, project_id: str
) -> None:
    owner = members["owner"]
    a = make(fake_platform, owner, project_id, name="A")
    b = make(fake_platform, owner, project_id, name="B", parent_id=a.id)
    c = make(fake_platform, owner, project_id, name="C", parent_id=b.id)
    moved = jobs.update(fake_platform, owner, project_id, c.id, {"parent_id": a.id})
    assert moved.parent_id == a.id
    ancestors, children = job_runs.chain(fake_platform, owner, project_id, c.id)
    assert [j.name for j in ancestors] == ["A"] and children == []
    stages = job_runs.pipeline(fake_platform, owner, project_id, b.id)
    assert [[j.name for j in stage] for stage in stages] == [["A"], ["B", "C"]]


# Updates --------------------------------------------------------------------------------------


def test_an_update_changes_only_the_named_fields(
    fake_platform: Platform, members: Members, project_id: str, audit_rows: Audit
) -> None:
    owner = members["owner"]
    job = make(fake_platform, owner, project_id, arguments="--a", environment={"K": "v"})
    updated = jobs.update(
        fake_platform, owner, project_id, job.id, {"arguments": "--b", "cpu": 4.0}
    )
    assert (updated.arguments, updated.cpu) == ("--b", 4.0)
    assert (updated.name, updated.script, updated.environment) == ("Train", "train.py", {"K": "v"})
    assert updated.updated_at is not None and job.updated_at is not None
    assert updated.updated_at >= job.updated_at
    (event,) = audit_rows(fake_platform, "job.update")
    assert event.outcome is Outcome.SUCCESS and event.target == job.id
    assert event.detail == {"arguments": "--b", "cpu": "4.0"}


def test_an_update_with_an_unknown_field_is_refused(
    fake_platform: Platform, members: Members, project_id: str
) -> None:
    job = make(fake_platform, members["owner"], project_id)
    with pytest.raises(InvalidInput, match=r"Jobs have no field\(s\) \['colour', 'size'\]"):
        jobs.update(
            fake_platform, members["owner"], project_id, job.id, {"colour": "red", "size": 1}
        )


def test_an_update_never_hides_the_environment_in_the_audit_detail(
    fake_platform: Platform, members: Members, project_id: str, audit_rows: Audit
) -> None:
    job = make(fake_platform, members["owner"], project_id)
    jobs.update(
        fake_platform, members["owner"], project_id, job.id, {"environment": {"TOKEN": "s3cr3t"}}
    )
    (event,) = audit_rows(fake_platform, "job.update")
    assert "environment" not in event.detail and "s3cr3t" not in str(event.detail)


def test_a_schedule_replaces_a_parent_and_a_parent_replaces_a_schedule(
    fake_platform: Platform, members: Members, project_id: str
) -> None:
    owner = members["owner"]
    parent = make(fake_platform, owner, project_id, name="Parent")
    job = make(fake_platform, owner, project_id, name="Child", parent_id=parent.id)

    scheduled = jobs.update(fake_platform, owner, project_id, job.id, {"schedule": "*/5 * * * *"})
    assert scheduled.schedule_kind is ScheduleKind.CRON and scheduled.parent_id is None
    assert scheduled.next_fire_at is not None

    dependent = jobs.update(fake_platform, owner, project_id, job.id, {"parent_id": parent.id})
    assert dependent.schedule_kind is ScheduleKind.DEPENDENT and dependent.schedule == ""
    assert dependent.next_fire_at is None

    manual = jobs.update(fake_platform, owner, project_id, job.id, {"parent_id": None})
    assert manual.schedule_kind is ScheduleKind.MANUAL


def test_an_update_that_keeps_the_schedule_keeps_the_pending_fire(
    fake_platform: Platform, members: Members, project_id: str
) -> None:
    owner = members["owner"]
    job = make(fake_platform, owner, project_id, schedule="0 3 * * *", timezone="UTC")
    pending = datetime(2020, 1, 1, 3, 0, tzinfo=UTC)
    with fake_platform.store.transaction() as uow:
        uow.jobs.update(job.id, next_fire_at=pending)
    renamed = jobs.update(fake_platform, owner, project_id, job.id, {"name": "Renamed"})
    assert renamed.next_fire_at == pending
    moved = jobs.update(fake_platform, owner, project_id, job.id, {"schedule": "0 4 * * *"})
    assert moved.next_fire_at is not None and moved.next_fire_at > datetime.now(UTC)
    assert moved.next_fire_at.astimezone(UTC).hour == 4


def test_an_update_of_a_missing_job_is_not_found(
    fake_platform: Platform, members: Members, project_id: str
) -> None:
    with pytest.raises(NotFound, match="Job 'nope' not found in this project."):
        jobs.update(fake_platform, members["owner"], project_id, "nope", {"name": "X"})


# Deletion -------------------------------------------------------------------------------------


def test_deleting_a_parent_makes_its_children_manual(
    fake_platform: Platform, members: Members, project_id: str, audit_rows: Audit
) -> None:
    owner = members["owner"]
    parent = make(fake_platform, owner, project_id, name="Parent")
    child = make(fake_platform, owner, project_id, name="Child", parent_id=parent.id)
    jobs.delete(fake_platform, owner, project_id, parent.id)
    with pytest.raises(NotFound):
        jobs.get(fake_platform, owner, project_id, parent.id)
    orphan = jobs.get(fake_platform, owner, project_id, child.id)
    assert orphan.parent_id is None and orphan.schedule_kind is ScheduleKind.MANUAL
    (event,) = audit_rows(fake_platform, "job.delete")
    assert event.detail == {"name": "Parent"} and event.outcome is Outcome.SUCCESS


def test_deleting_a_job_with_a_waiting_run_removes_it_from_the_list(
    fake_platform: Platform, members: Members, project_id: str
) -> None:
    owner = members["owner"]
    job = make(fake_platform, owner, project_id)
    run = job_runs.trigger(fake_platform, owner, project_id, job.id)
    assert run.status is RunStatus.SCHEDULED
    jobs.delete(fake_platform, owner, project_id, job.id)
    assert jobs.list_jobs(fake_platform, owner, project_id) == []
    with pytest.raises(NotFound):
        job_runs.get_run(fake_platform, owner, project_id, job.id, run.id)


# Listing ----------------------------------------------------------------------------------------


def test_list_all_gathers_jobs_of_every_readable_project_oldest_first(
    fake_platform: Platform, members: Members, project_id: str
) -> None:
    from lakeworks.services import projects

    owner = members["owner"]
    first = make(fake_platform, owner, project_id, name="First")
    other = projects.create(
        fake_platform, owner, name="Second project", source=projects.parse_source("", "")
    )
    (fake_platform.settings.projects_dir / other.id / "train.py").write_text("pass\n")
    second = make(fake_platform, owner, other.id, name="Second")
    assert [j.id for j in jobs.list_all(fake_platform, owner)] == [first.id, second.id]
    # The viewer collaborates on the first project only; the outsider on none.
    assert [j.id for j in jobs.list_all(fake_platform, members["viewer"])] == [first.id]
    assert jobs.list_all(fake_platform, members["outsider"]) == []


def test_last_runs_maps_each_job_to_its_newest_run(
    fake_platform: Platform, members: Members, project_id: str
) -> None:
    owner = members["owner"]
    ran = make(fake_platform, owner, project_id, name="Ran")
    idle = make(fake_platform, owner, project_id, name="Idle")
    run = job_runs.trigger(fake_platform, owner, project_id, ran.id)
    last = jobs.last_runs(fake_platform, owner, project_id, [ran, idle])
    assert set(last) == {ran.id} and last[ran.id].id == run.id


# Roles ----------------------------------------------------------------------------------------

# Who may define jobs: contributors and above. Operators and viewers see them; outsiders do
# not even learn the project exists.
DEFINE_ALLOWED = {"owner": True, "admin": True, "contributor": True}
REFUSED = {"operator": PermissionDenied, "viewer": PermissionDenied, "outsider": NotFound}


@pytest.mark.parametrize(
    "role", ["owner", "admin", "contributor", "operator", "viewer", "outsider"]
)
@pytest.mark.parametrize("action", ["create", "update", "delete"])
def test_defining_jobs_needs_contributor(
    fake_platform: Platform,
    members: Members,
    project_id: str,
    audit_rows: Audit,
    role: str,
    action: str,
) -> None:
    existing = make(fake_platform, members["owner"], project_id, name="Existing")
    principal = members[role]

    def act() -> object:
        if action == "create":
            return make(fake_platform, principal, project_id, name="New")
        if action == "update":
            return jobs.update(fake_platform, principal, project_id, existing.id, {"cpu": 3.0})
        jobs.delete(fake_platform, principal, project_id, existing.id)
        return None

    if role in DEFINE_ALLOWED:
        act()
        (event,) = audit_rows(fake_platform, f"job.{action}")[-1:]
        assert event.outcome is Outcome.SUCCESS and event.actor == principal.user.username
        names = {j.name for j in jobs.list_jobs(fake_platform, members["owner"], project_id)}
        assert (
            names
            == {"create": {"Existing", "New"}, "update": {"Existing"}, "delete": set()}[action]
        )
        return
    error: type[LakeworksError] = REFUSED[role]
    with pytest.raises(error) as caught:
        act()
    if error is PermissionDenied:
        assert f"is {role}; you need contributor or above" in caught.value.message
    event = audit_rows(fake_platform, f"job.{action}")[-1]
    assert event.actor == principal.user.username
    assert event.outcome is (Outcome.DENIED if error is PermissionDenied else Outcome.FAILED)
    unchanged = jobs.get(fake_platform, members["owner"], project_id, existing.id)
    assert unchanged == existing
    assert len(jobs.list_jobs(fake_platform, members["owner"], project_id)) == 1


@pytest.mark.parametrize("role", ["owner", "admin", "contributor", "operator", "viewer"])
def test_every_member_reads_jobs(
    fake_platform: Platform, members: Members, project_id: str, role: str
) -> None:
    job = make(fake_platform, members["owner"], project_id)
    assert jobs.list_jobs(fake_platform, members[role], project_id) == [job]
    assert jobs.get(fake_platform, members[role], project_id, job.id) == job


def test_an_outsider_cannot_tell_the_project_exists(
    fake_platform: Platform, members: Members, project_id: str
) -> None:
    job = make(fake_platform, members["owner"], project_id)
    for call in (
        lambda: jobs.list_jobs(fake_platform, members["outsider"], project_id),
        lambda: jobs.get(fake_platform, members["outsider"], project_id, job.id),
        lambda: jobs.last_runs(fake_platform, members["outsider"], project_id, [job]),
    ):
        with pytest.raises(NotFound, match=f"Project '{project_id}' not found."):
            call()
