"""The entities' own behaviour: what a recipient is told, role ranks, CRNs, durations, the
last value of each tracked metric, measure labels, key usability, and that entities are frozen
values (a service cannot change one behind the store's back)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from lakeworks.entities.amps import AmpTask, TaskStatus
from lakeworks.entities.data import SITE_SCOPE, ConnectionType, DataConnection
from lakeworks.entities.datasets import (
    RECORD_COUNT,
    Aggregate,
    Dataset,
    DatasetField,
    FieldRole,
    FieldType,
    Measure,
)
from lakeworks.entities.jobs import (
    Job,
    JobKind,
    JobRun,
    Recipient,
    RunStatus,
    ScheduleKind,
    Trigger,
)
from lakeworks.entities.legacy_experiments import LegacyRun, TrackedMetric
from lakeworks.entities.models import CRN_PREFIX, BuildStatus, ModelBuild, crn, crn_id
from lakeworks.entities.projects import COLLABORATOR_ROLES, Collaborator, Role
from lakeworks.entities.users import ApiKey, ApiKeyKind

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _job(**values: object) -> Job:
    fields: dict[str, object] = {
        "id": "job-1",
        "project_id": "p",
        "name": "a comment",
        "script": "train.py",
        "arguments": "",
        "runtime_identifier": "",
        "cpu": 1.0,
        "memory_mb": 2048,
        "environment": {},
        "timeout_seconds": 0,
        "kill_on_timeout": True,
        "schedule_kind": ScheduleKind.MANUAL,
        "schedule": "",
        "timezone": "UTC",
        "parent_id": None,
        "paused": False,
        "kind": JobKind.EXPERIMENT,
    }
    return Job(**{**fields, **values})  # type: ignore[arg-type]


def _run(**values: object) -> JobRun:
    fields: dict[str, object] = {
        "id": "run-1",
        "job_id": "job-1",
        "project_id": "p",
        "status": RunStatus.RUNNING,
        "trigger": Trigger.API,
        "user_id": 1,
        "username": "alice",
        "arguments": "--lr 0.1",
        "environment": {},
        "workload_id": None,
        "parent_run_id": None,
        "scheduled_for": None,
        "created_at": T0,
        "starting_at": None,
        "running_at": None,
        "finished_at": None,
        "exit_code": None,
        "reason": "",
        "cpu": 1.0,
        "memory_mb": 2048,
    }
    return JobRun(**{**fields, **values})  # type: ignore[arg-type]


# Job recipients ---------------------------------------------------------------------------------

_DEFAULT_WANTS = {
    RunStatus.SUCCEEDED: False,
    RunStatus.FAILED: True,
    RunStatus.TIMEDOUT: True,
    RunStatus.STOPPED: False,
}


@pytest.mark.parametrize("status", list(RunStatus), ids=str)
def test_a_default_recipient_hears_of_failures_and_timeouts(status: RunStatus) -> None:
    assert Recipient("ops@example.org").wants(status) is _DEFAULT_WANTS.get(status, False)


@pytest.mark.parametrize(
    ("flag", "status"),
    [
        ("on_success", RunStatus.SUCCEEDED),
        ("on_failure", RunStatus.FAILED),
        ("on_timeout", RunStatus.TIMEDOUT),
        ("on_stop", RunStatus.STOPPED),
    ],
)
def test_each_flag_governs_its_own_ending(flag: str, status: RunStatus) -> None:
    flags = {name: name == flag for name in ("on_success", "on_failure", "on_timeout", "on_stop")}
    only = Recipient("x@example.org", **flags)
    assert [s for s in RunStatus if only.wants(s)] == [status]


# Roles ------------------------------------------------------------------------------------------


def test_roles_rank_lowest_first_and_owner_is_no_collaborator_role() -> None:
    ranked = sorted(Role, key=lambda r: r.rank)
    assert ranked == [Role.VIEWER, Role.OPERATOR, Role.CONTRIBUTOR, Role.ADMIN, Role.OWNER]
    assert [r.rank for r in ranked] == [0, 1, 2, 3, 4]
    assert Role.OWNER not in COLLABORATOR_ROLES
    assert set(COLLABORATOR_ROLES) == set(Role) - {Role.OWNER}


@pytest.mark.parametrize(("user_id", "team_id", "is_team"), [(1, None, False), (None, 7, True)])
def test_a_collaborator_is_a_user_or_a_team(
    user_id: int | None, team_id: int | None, is_team: bool
) -> None:
    collaborator = Collaborator("p", Role.VIEWER, user_id, team_id, "n", "N", "", T0)
    assert collaborator.is_team is is_team


# CRNs -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "object_id"),
    [
        (CRN_PREFIX + "abc", "abc"),
        ("abc", "abc"),
        ("crn:cdp:ml:us-west-1:acct:workspace:ws/model-9", "model-9"),
        ("", ""),
    ],
)
def test_crn_id_takes_the_trailing_id(value: str, object_id: str) -> None:
    assert crn_id(value) == object_id


def test_a_crn_names_the_local_workspace() -> None:
    assert crn("id-1") == (
        "crn:cdp:ml:local:00000000-0000-0000-0000-000000000000:workspace:"
        "00000000-0000-0000-0000-000000000001/id-1"
    )
    assert crn_id(crn("id-1")) == "id-1"


@pytest.mark.parametrize(("version_id", "from_registry"), [("", False), ("mv-3", True)])
def test_a_build_from_the_registry_names_its_model_version(
    version_id: str, from_registry: bool
) -> None:
    build = ModelBuild(  # type: ignore[call-arg]
        id="b",
        model_id="m",
        project_id="p",
        creator_id=1,
        comment="",
        file_path="",
        function_name="",
        runtime_identifier="",
        registered_model_version_id=version_id,
        build_script_path="cdsw-build.sh",
        status=BuildStatus.PENDING,
    )
    assert build.from_registry is from_registry
    assert build.crn == crn("b")


# Durations --------------------------------------------------------------------------------------


def _task(started: datetime | None, finished: datetime | None) -> AmpTask:
    return AmpTask(
        "p", 0, "run_job", "t", 1, {}, TaskStatus.RUNNING, started_at=started, finished_at=finished
    )


def test_an_amp_task_lasts_from_its_start_to_its_end() -> None:
    assert _task(None, None).duration_seconds is None
    assert _task(T0, T0 + timedelta(seconds=90)).duration_seconds == 90.0
    assert _task(T0, T0 - timedelta(seconds=5)).duration_seconds == 0.0, "never negative"


def test_an_unfinished_amp_task_lasts_until_now() -> None:
    started = datetime.now(UTC) - timedelta(hours=1)
    duration = _task(started, None).duration_seconds
    assert duration is not None and 3600 <= duration < 7200


# Legacy experiment runs ---------------------------------------------------------------------------


def test_a_legacy_run_reads_its_fields_from_its_job_and_run() -> None:
    legacy = LegacyRun(job=_job(), run=_run())
    assert (legacy.id, legacy.project_id, legacy.script, legacy.arguments) == (
        "run-1",
        "p",
        "train.py",
        "--lr 0.1",
    )
    assert (legacy.comment, legacy.status, legacy.created_at) == (
        "a comment",
        RunStatus.RUNNING,
        T0,
    )
    assert legacy.metrics == {}


def test_a_legacy_runs_metrics_are_each_keys_last_value_in_first_tracked_order() -> None:
    history = [
        TrackedMetric("loss", 0.9, 1),
        TrackedMetric("model", "resnet", 2),
        TrackedMetric("loss", 0.5, 3),
        TrackedMetric("extra", {"a": [1]}, 4),
        TrackedMetric("loss", 0.2, 5),
    ]
    metrics = LegacyRun(job=_job(), run=_run(), history=history).metrics
    assert metrics == {"loss": 0.2, "model": "resnet", "extra": {"a": [1]}}
    assert list(metrics) == ["loss", "model", "extra"]


# Datasets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("measure", "label"),
    [
        (Measure("amount"), "sum(amount)"),
        (Measure("amount", Aggregate.AVG), "avg(amount)"),
        (Measure("id", Aggregate.COUNT), "count(id)"),
        (Measure(RECORD_COUNT, Aggregate.COUNT), RECORD_COUNT),
        (Measure(RECORD_COUNT, Aggregate.SUM), RECORD_COUNT),
    ],
)
def test_a_measure_is_labelled_by_its_aggregate(measure: Measure, label: str) -> None:
    assert measure.label == label


def test_a_dataset_finds_fields_by_exact_name() -> None:
    fields = [
        DatasetField("Region", "region", FieldType.STRING, FieldRole.DIMENSION),
        DatasetField("Amount", "amount", FieldType.REAL, FieldRole.MEASURE, "DOUBLE"),
    ]
    dataset = Dataset(1, "p", "d", "SELECT 1", fields, 1, T0, T0)
    assert dataset.field("Amount") is fields[1]
    assert dataset.field("amount") is None
    assert dataset.field("") is None


# Keys and connections -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expires", "revoked", "usable"),
    [
        (None, None, True),
        (T0 + timedelta(seconds=1), None, True),
        (T0, None, False),  # expiring at this instant: no longer usable
        (T0 - timedelta(days=1), None, False),
        (None, T0 - timedelta(days=1), False),
        (T0 + timedelta(days=1), T0 - timedelta(days=1), False),
    ],
)
def test_an_api_key_is_usable_until_it_expires_or_is_revoked(
    expires: datetime | None, revoked: datetime | None, usable: bool
) -> None:
    key = ApiKey(1, 1, ApiKeyKind.V2, "k", "lwk_", T0, expires, revoked, None, None)
    assert key.is_usable(T0) is usable


@pytest.mark.parametrize(("scope", "is_site"), [(SITE_SCOPE, True), ("0001-aaaa", False)])
def test_a_connection_is_the_sites_or_a_projects(scope: str, is_site: bool) -> None:
    connection = DataConnection(1, "db", ConnectionType.DUCKDB, scope)
    assert connection.is_site is is_site
    assert (connection.options, connection.has_secret, connection.builtin) == ({}, False, False)


# Frozen values ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "entity",
    [
        _job(),
        _run(),
        Recipient("x@example.org"),
        Measure("a"),
        ApiKey(1, 1, ApiKeyKind.V1, "k", "p", T0, None, None, None, None),
        DataConnection(1, "db", ConnectionType.DUCKDB, SITE_SCOPE),
    ],
    ids=lambda e: type(e).__name__,
)
def test_entities_are_frozen(entity: object) -> None:
    first = dataclasses.fields(entity)[0].name  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(entity, first, "changed")
