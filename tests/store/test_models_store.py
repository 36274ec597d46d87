"""ModelRepo and ModelMetricsRepo on the test backend: models (unique name per project),
builds, deployments and replica slots, their listings and cascades; prediction records and
request samples with their filters and order."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select
from tests.store.factories import add_build, add_deployment, add_model, at, backdate
from tests.store.test_projects_store import add_project, add_user

from lakeworks.entities.metrics import PredictionRecord, RequestSample
from lakeworks.entities.models import BuildStatus, DeploymentStatus, crn, crn_id
from lakeworks.entities.users import User
from lakeworks.errors import Conflict
from lakeworks.store.model_metrics import StoredPrediction, dump_metrics
from lakeworks.store.tables import (
    ModelBuildRow,
    ModelDeploymentRow,
    ModelReplicaRow,
    ModelRow,
    UserRow,
)
from lakeworks.store.uow import Store

# Models -----------------------------------------------------------------------------------


def test_a_model_reads_back_by_id_name_and_key_hash(
    store: Store, alice: User, project: str
) -> None:
    with store.transaction() as uow:
        made = add_model(
            uow,
            "m-1",
            project,
            alice.id,
            name="Churn",
            description="predicts churn",
            auth_enabled=False,
            access_key_hash="k" * 64,
            access_key_sealed="sealed",
            registered_model_id="reg-1",
            default_cpu=0.5,
            default_memory_mb=1024,
            default_replicas=2,
        )
    assert made.created_at == made.updated_at
    with store.transaction() as uow:
        by_id = uow.models.get("m-1")
        by_name = uow.models.by_name(project, "Churn")
        by_key = uow.models.by_key_hash("k" * 64)
    assert by_id is not None and by_id.creator_username == "alice"
    assert (by_id.name, by_id.description, by_id.auth_enabled) == ("Churn", "predicts churn", False)
    assert (by_id.default_cpu, by_id.default_memory_mb, by_id.default_replicas) == (0.5, 1024, 2)
    assert (by_id.access_key_sealed, by_id.registered_model_id) == ("sealed", "reg-1")
    assert by_name is not None and by_name.id == "m-1"
    assert by_key is not None and by_key.id == "m-1"
    assert by_id.crn.endswith("/m-1") and crn_id(by_id.crn) == "m-1" == crn_id("m-1")
    assert crn("m-1") == by_id.crn


def test_unknown_models_are_none(store: Store, project: str) -> None:
    with store.transaction() as uow:
        assert uow.models.get("nope") is None
        assert uow.models.by_name(project, "nope") is None
        assert uow.models.by_key_hash("nope") is None
        assert uow.models.get_build("nope") is None
        assert uow.models.get_deployment("nope") is None
        assert uow.models.replica("nope") is None
        assert uow.models.build_for_workload("nope") is None


def test_a_model_name_is_unique_per_project(store: Store, alice: User, project: str) -> None:
    with store.transaction() as uow:
        other = add_project(uow, "Other", owner=alice)
        add_model(uow, "m-1", project, alice.id, name="Churn")
        add_model(uow, "m-2", other, alice.id, name="Churn")  # another project: fine
    with pytest.raises(Conflict), store.transaction() as uow:
        add_model(uow, "m-3", project, alice.id, name="Churn")
    with store.transaction() as uow:
        assert [m.id for m in uow.models.of_project(project)] == ["m-1"]
        assert uow.models.get("m-3") is None


def test_of_project_lists_in_creation_order_or_all_projects(
    store: Store, alice: User, project: str
) -> None:
    with store.transaction() as uow:
        other = add_project(uow, "Other", owner=alice)
        add_model(uow, "b", project, alice.id)
        add_model(uow, "a", other, alice.id)
        add_model(uow, "c", project, alice.id)
    with store.transaction() as uow:
        assert [m.id for m in uow.models.of_project(project)] == ["b", "c"]
        assert [m.id for m in uow.models.of_project(other)] == ["a"]
        everything = uow.models.of_project(None)
    assert [m.id for m in everything] == ["b", "a", "c"]
    assert {m.creator_username for m in everything} == {"alice"}


def test_update_moves_updated_at_and_the_named_columns(
    store: Store, alice: User, project: str
) -> None:
    with store.transaction() as uow:
        add_model(uow, "m", project, alice.id)
        backdate(uow, ModelRow, "m", at(0))
    with store.transaction() as uow:
        before = uow.models.get("m")
        uow.models.update("m", description="new", default_replicas=3)
        after = uow.models.get("m")
    assert before is not None and after is not None
    assert (after.description, after.default_replicas, after.name) == ("new", 3, "m")
    assert after.updated_at is not None and before.updated_at is not None
    assert after.updated_at > before.updated_at
    assert after.created_at == before.created_at


def test_deleting_a_model_deletes_its_builds_deployments_and_replicas(
    store: Store, alice: User, project: str
) -> None:
    with store.transaction() as uow:
        for model_id in ("doomed", "kept"):
            add_model(uow, model_id, project, alice.id)
            build = add_build(uow, f"b-{model_id}", model_id, project, alice.id)
            add_deployment(uow, f"d-{model_id}", build, alice.id)
            uow.models.add_replica(f"w-{model_id}", f"d-{model_id}", 0, 0, 0)
    with store.transaction() as uow:
        uow.models.delete("doomed")
        uow.models.delete("never-existed")  # nothing to do
    with store.transaction() as uow:
        assert uow.models.get("doomed") is None
        assert uow.models.get_build("b-doomed") is None
        assert uow.models.get_deployment("d-doomed") is None
        assert uow.models.replica("w-doomed") is None
        assert uow.models.get_build("b-kept") is not None
        assert uow.models.get_deployment("d-kept") is not None
        assert uow.models.replica("w-kept") is not None


def test_deleting_the_project_deletes_its_models(store: Store, alice: User, project: str) -> None:
    with store.transaction() as uow:
        add_model(uow, "m", project, alice.id)
        build = add_build(uow, "b", "m", project, alice.id)
        add_deployment(uow, "d", build, alice.id)
        uow.models.add_replica("w", "d", 0, 0, 0)
        uow.projects.delete(project)
    with store.transaction() as uow:
        assert uow.models.of_project(None) == []
        assert uow.models.get_deployment("d") is None
        assert uow.session.scalar(select(func.count()).select_from(ModelReplicaRow)) == 0


def test_a_deployer_cannot_be_deleted_from_under_a_deployment(
    store: Store, alice: User, project: str
) -> None:
    bob = add_user(store, "bob")
    with store.transaction() as uow:
        add_model(uow, "m", project, alice.id)
        build = add_build(uow, "b", "m", project, alice.id)
        add_deployment(uow, "d", build, bob.id)
    with pytest.raises(Conflict), store.transaction() as uow:
        uow.session.execute(delete(UserRow).where(UserRow.id == bob.id))
    with store.transaction() as uow:
        deployment = uow.models.get_deployment("d")
    assert deployment is not None and deployment.deployer_username == "bob"


# Builds ---------------------------------------------------------------------------------


def test_a_build_reads_back_with_its_creator_and_defaults(
    store: Store, alice: User, project: str
) -> None:
    with store.transaction() as uow:
        add_model(uow, "m", project, alice.id)
        add_build(
            uow,
            "b",
            "m",
            project,
            alice.id,
            comment="first",
            runtime_identifier="py311",
            examples=[{"request": {"x": 1}}],
            auto_deploy={"cpu": 1},
        )
        build = uow.models.get_build("b")
    assert build is not None
    assert build.creator_username == "alice" and build.status is BuildStatus.PENDING
    assert (build.comment, build.file_path, build.function_name) == (
        "first",
        "predict.py",
        "predict",
    )
    assert (build.examples, build.auto_deploy) == ([{"request": {"x": 1}}], {"cpu": 1})
    assert (build.build_script_path, build.env_hash, build.reason) == ("cdsw-build.sh", "", "")
    assert build.workload_id is None and build.built_at is None
    assert build.from_registry is False
    assert build.crn == crn("b")


def test_builds_of_and_builds_with_status(store: Store, alice: User, project: str) -> None:
    statuses = [BuildStatus.BUILT, BuildStatus.FAILED, BuildStatus.BUILDING, BuildStatus.BUILT]
    with store.transaction() as uow:
        add_model(uow, "m", project, alice.id)
        add_model(uow, "other", project, alice.id)
        for n, status in enumerate(statuses):
            add_build(uow, f"b{n}", "m", project, alice.id, status=status.value)
            backdate(uow, ModelBuildRow, f"b{n}", at(-n))
        add_build(uow, "x", "other", project, alice.id, status=BuildStatus.BUILT.value)
    with store.transaction() as uow:
        listed = [b.id for b in uow.models.builds_of("m")]
        built = {b.id for b in uow.models.builds_with_status(BuildStatus.BUILT)}
        active = {
            b.id for b in uow.models.builds_with_status(BuildStatus.PENDING, BuildStatus.BUILDING)
        }
    # builds_of orders by creation time, not by insertion
    assert listed == ["b3", "b2", "b1", "b0"]
    assert built == {"b0", "b3", "x"}
    assert active == {"b2"}


def test_a_build_is_found_by_its_workload_and_moves_with_updated_at(
    store: Store, alice: User, project: str
) -> None:
    with store.transaction() as uow:
        add_model(uow, "m", project, alice.id)
        add_build(uow, "b", "m", project, alice.id)
        backdate(uow, ModelBuildRow, "b", at(0))
        uow.models.set_build("b", workload_id="w-7", env_hash="abc")
        assert uow.models.move_build("b", BuildStatus.PENDING, BuildStatus.BUILDING)
        assert uow.models.move_build("b", BuildStatus.BUILDING, BuildStatus.BUILT, built_at=at(9))
        assert not uow.models.move_build("b", BuildStatus.BUILDING, BuildStatus.FAILED)
    with store.transaction() as uow:
        found = uow.models.build_for_workload("w-7")
    assert found is not None and found.id == "b"
    assert (found.status, found.env_hash, found.built_at) == (BuildStatus.BUILT, "abc", at(9))
    assert found.updated_at is not None and found.updated_at > at(0)


@pytest.mark.parametrize(
    ("status", "final"),
    [
        (BuildStatus.PENDING, False),
        (BuildStatus.BUILDING, False),
        (BuildStatus.BUILT, True),
        (BuildStatus.FAILED, True),
        (BuildStatus.STOPPED, True),
    ],
)
def test_build_statuses_that_are_final(status: BuildStatus, final: bool) -> None:
    assert status.is_final is final


# Deployments ------------------------------------------------------------------------------


def test_deployments_of_a_model_and_of_one_build(store: Store, alice: User, project: str) -> None:
    with store.transaction() as uow:
        add_model(uow, "m", project, alice.id)
        first = add_build(uow, "b1", "m", project, alice.id, status="built")
        second = add_build(uow, "b2", "m", project, alice.id, status="built")
        add_deployment(uow, "d2", second, alice.id, replicas=3)
        backdate(uow, ModelDeploymentRow, "d2", at(2))
        add_deployment(uow, "d1", first, alice.id, environment={"E": "1"})
        backdate(uow, ModelDeploymentRow, "d1", at(1))
        add_deployment(uow, "d3", second, alice.id)
        backdate(uow, ModelDeploymentRow, "d3", at(3))
    with store.transaction() as uow:
        every = uow.models.deployments_of("m")
        of_second = [d.id for d in uow.models.deployments_of("m", "b2")]
        of_none = uow.models.deployments_of("unknown")
    assert [d.id for d in every] == ["d1", "d2", "d3"]
    assert of_second == ["d2", "d3"]
    assert of_none == []
    d1, d2 = every[0], every[1]
    assert (d1.environment, d1.replicas, d1.cpu, d1.memory_mb) == ({"E": "1"}, 1, 1.0, 2048)
    assert (d2.replicas, d2.generation, d2.timeout_seconds, d2.reason) == (3, 0, 0.0, "")
    assert d1.deployer_username == "alice" and d1.crn == crn("d1")


def test_deployments_with_status_in_creation_order(store: Store, alice: User, project: str) -> None:
    with store.transaction() as uow:
        add_model(uow, "m", project, alice.id)
        build = add_build(uow, "b", "m", project, alice.id, status="built")
        for n, status in enumerate(
            [DeploymentStatus.DEPLOYED, DeploymentStatus.STOPPED, DeploymentStatus.DEPLOYING]
        ):
            add_deployment(uow, f"d{n}", build, alice.id, status=status.value)
            backdate(uow, ModelDeploymentRow, f"d{n}", at(-n))
    with store.transaction() as uow:
        live = uow.models.deployments_with_status(
            DeploymentStatus.DEPLOYED, DeploymentStatus.DEPLOYING
        )
        stopped = uow.models.deployments_with_status(DeploymentStatus.STOPPED)
    assert [d.id for d in live] == ["d2", "d0"]
    assert [d.id for d in stopped] == ["d1"]


def test_a_deployment_restarts_with_a_new_generation(
    store: Store, alice: User, project: str
) -> None:
    with store.transaction() as uow:
        add_model(uow, "m", project, alice.id)
        build = add_build(uow, "b", "m", project, alice.id, status="built")
        add_deployment(uow, "d", build, alice.id, status=DeploymentStatus.DEPLOYED.value)
        assert uow.models.move_deployment(
            "d", DeploymentStatus.DEPLOYED, DeploymentStatus.FAILED, reason="replicas never started"
        )
        uow.models.set_deployment("d", stopped_at=at(5))
        assert uow.models.move_deployment(
            "d", DeploymentStatus.FAILED, DeploymentStatus.PENDING, generation=1, reason=""
        )
        deployment = uow.models.get_deployment("d")
    assert deployment is not None
    assert (deployment.status, deployment.generation, deployment.reason) == (
        DeploymentStatus.PENDING,
        1,
        "",
    )
    assert deployment.stopped_at == at(5)


@pytest.mark.parametrize(
    ("status", "active"),
    [
        (s, s in {DeploymentStatus.PENDING, DeploymentStatus.DEPLOYING, DeploymentStatus.DEPLOYED})
        for s in DeploymentStatus
    ],
    ids=str,
)
def test_deployment_statuses_that_are_active(status: DeploymentStatus, active: bool) -> None:
    assert status.is_active is active


# Replicas ---------------------------------------------------------------------------------


def test_replicas_by_slot_live_or_retired(store: Store, alice: User, project: str) -> None:
    with store.transaction() as uow:
        add_model(uow, "m", project, alice.id)
        build = add_build(uow, "b", "m", project, alice.id, status="built")
        add_deployment(uow, "d", build, alice.id, replicas=2)
        uow.models.add_replica("w-slot1", "d", 1, 0, 0)
        uow.models.add_replica("w-slot0-old", "d", 0, 0, 0)
        uow.models.set_replica("w-slot0-old", retired=True)
        uow.models.add_replica("w-slot0-new", "d", 0, 1, 1)
        uow.models.set_replica("w-slot0-new", ready=True)
    with store.transaction() as uow:
        live = uow.models.replicas_of("d")
        every = uow.models.replicas_of("d", live=False)
        one = uow.models.replica("w-slot0-new")
    assert [r.workload_id for r in live] == ["w-slot0-new", "w-slot1"]
    assert [r.workload_id for r in every] == ["w-slot0-old", "w-slot0-new", "w-slot1"]
    assert one is not None
    assert (one.deployment_id, one.slot, one.generation, one.ready, one.retired, one.restarts) == (
        "d",
        0,
        1,
        True,
        False,
        1,
    )


def test_replicas_of_many_deployments_in_one_read(store: Store, alice: User, project: str) -> None:
    with store.transaction() as uow:
        add_model(uow, "m", project, alice.id)
        build = add_build(uow, "b", "m", project, alice.id, status="built")
        for deployment_id in ("d1", "d2", "d3"):
            add_deployment(uow, deployment_id, build, alice.id, replicas=2)
        uow.models.add_replica("w1-slot1", "d1", 1, 0, 0)
        uow.models.add_replica("w1-slot0", "d1", 0, 0, 0)
        uow.models.add_replica("w2-old", "d2", 0, 0, 0)
        uow.models.set_replica("w2-old", retired=True)
        uow.models.add_replica("w2-new", "d2", 0, 1, 0)
    with store.transaction() as uow:
        live = uow.models.replicas_of_many(["d1", "d2", "d3"])
        every = uow.models.replicas_of_many(["d2"], live=False)
        none = uow.models.replicas_of_many([])
    assert {d: [r.workload_id for r in rs] for d, rs in live.items()} == {
        "d1": ["w1-slot0", "w1-slot1"],
        "d2": ["w2-new"],
        "d3": [],
    }
    assert [r.workload_id for r in every["d2"]] == ["w2-old", "w2-new"]
    assert none == {}


def test_a_workload_fills_one_replica_slot_only(store: Store, alice: User, project: str) -> None:
    with store.transaction() as uow:
        add_model(uow, "m", project, alice.id)
        build = add_build(uow, "b", "m", project, alice.id, status="built")
        add_deployment(uow, "d", build, alice.id)
        uow.models.add_replica("w", "d", 0, 0, 0)
    with pytest.raises(Conflict), store.transaction() as uow:
        uow.models.add_replica("w", "d", 1, 0, 0)
    with store.transaction() as uow:
        assert [r.slot for r in uow.models.replicas_of("d")] == [0]


# Metrics ----------------------------------------------------------------------------------


def _record(
    n: int, *, model: str = "m", deployment: str = "d", build: str = "b", **kw: object
) -> PredictionRecord:
    values: dict[str, object] = {
        "deployment_id": deployment,
        "build_id": build,
        "model_id": model,
        "prediction_uuid": f"uuid-{n}",
        "start_ms": 1000 * n,
        "end_ms": 1000 * n + 10,
        "metrics": {"n": n},
    }
    return PredictionRecord(**{**values, **kw})  # type: ignore[arg-type]


def test_prediction_records_read_back_in_start_then_insertion_order(store: Store) -> None:
    with store.transaction() as uow:
        uow.model_metrics.add_predictions([])
        uow.model_metrics.add_predictions([_record(3), _record(1), _record(2)])
        # Same start as record 1, inserted later: after it.
        seq = uow.model_metrics.add_prediction(_record(1, prediction_uuid="", metrics={"agg": 1}))
    with store.transaction() as uow:
        records = uow.model_metrics.read()
        reverse = uow.model_metrics.read(newest_first=True)
    assert [(r.start_ms, r.prediction_uuid) for r in records] == [
        (1000, "uuid-1"),
        (1000, ""),
        (2000, "uuid-2"),
        (3000, "uuid-3"),
    ]
    assert reverse == list(reversed(records))
    aggregate = records[1]
    assert isinstance(aggregate, StoredPrediction)
    assert aggregate.seq == seq and aggregate.metrics() == {"agg": 1}
    assert (aggregate.deployment_id, aggregate.build_id, aggregate.model_id) == ("d", "b", "m")
    assert aggregate.end_ms == 1010


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, [1, 2, 3, 4]),
        ({"model_id": "m"}, [1, 2, 3]),
        ({"model_id": "m", "deployment_id": "d2"}, [3]),
        ({"build_id": "b2"}, [4]),
        ({"start_ms": 2000}, [2, 3, 4]),
        ({"end_ms": 2010}, [1, 2]),
        ({"start_ms": 2000, "end_ms": 3009}, [2]),
        ({"limit": 2}, [1, 2]),
        ({"limit": 2, "newest_first": True}, [4, 3]),
        ({"model_id": "none"}, []),
    ],
)
def test_read_filters_by_ids_and_time_window(
    store: Store, query: dict[str, object], expected: list[int]
) -> None:
    with store.transaction() as uow:
        uow.model_metrics.add_predictions(
            [
                _record(1),
                _record(2),
                _record(3, deployment="d2"),
                _record(4, model="m2", build="b2"),
            ]
        )
    with store.transaction() as uow:
        found = uow.model_metrics.read(**query)  # type: ignore[arg-type]
    assert [r.metrics()["n"] for r in found] == expected


def test_a_prediction_is_found_by_uuid_and_its_metrics_replaced(store: Store) -> None:
    with store.transaction() as uow:
        seq = uow.model_metrics.add_prediction(_record(1))
        assert uow.model_metrics.by_uuid("unknown") is None
    with store.transaction() as uow:
        found = uow.model_metrics.by_uuid("uuid-1", for_update=True)
        assert found is not None and found.seq == seq
        uow.model_metrics.set_metrics(seq, {**found.metrics(), "actual": True})
    with store.transaction() as uow:
        again = uow.model_metrics.by_uuid("uuid-1")
        assert uow.model_metrics.count(model_id="m") == 1
        assert uow.model_metrics.count(model_id="other") == 0
    assert again is not None and again.metrics() == {"n": 1, "actual": True}


@pytest.mark.parametrize(
    ("metrics", "stored"),
    [
        ({"a": 1, "b": [1, 2]}, '{"a":1,"b":[1,2]}'),
        ({"when": at(0)}, '{"when":"2026-01-01 12:00:00+00:00"}'),
        ({}, "{}"),
    ],
)
def test_metrics_are_stored_as_compact_json_text(metrics: dict[str, object], stored: str) -> None:
    assert dump_metrics(metrics) == stored  # type: ignore[arg-type]


def test_nan_cannot_be_stored_as_a_metric() -> None:
    with pytest.raises(ValueError, match="JSON compliant"):
        dump_metrics({"x": float("nan")})


@pytest.mark.parametrize("text", ["[1, 2]", "", "3"])
def test_stored_metrics_that_are_no_object_read_as_empty(text: str) -> None:
    record = StoredPrediction(1, "d", "b", "m", "", 0, 0, text)
    assert record.metrics() == {}


def test_request_samples_in_a_window_per_model_and_deployment(store: Store) -> None:
    samples = [
        RequestSample("m", "d1", "w1", 100, 5.5, 200),
        RequestSample("m", "d2", "w2", 200, 7.0, 429, "model.busy"),
        RequestSample("m", None, None, 300, 0.5, 404, "model.not_deployed"),
        RequestSample("other", "d9", "w9", 150, 1.0, 200),
        RequestSample("m", "d1", "w1", 50, 2.0, 500, "model.error"),
    ]
    with store.transaction() as uow:
        uow.model_metrics.add_requests([])
        uow.model_metrics.add_requests(samples)
    with store.transaction() as uow:
        every = uow.model_metrics.requests(model_id="m", start_ms=0, end_ms=1000)
        window = uow.model_metrics.requests(model_id="m", start_ms=100, end_ms=200)
        one = uow.model_metrics.requests(model_id="m", start_ms=0, end_ms=1000, deployment_id="d1")
    assert [r.at_ms for r in every] == [50, 100, 200, 300]
    busy = every[2]
    assert (busy.latency_ms, busy.status, busy.code, busy.deployment_id, busy.replica_id) == (
        7.0,
        429,
        "model.busy",
        "d2",
        "w2",
    )
    assert every[3].deployment_id is None and every[3].replica_id is None
    assert [r.at_ms for r in window] == [100, 200], "both ends included"
    assert [(r.at_ms, r.status) for r in one] == [(50, 500), (100, 200)]


def test_deleting_a_models_metrics_keeps_the_others(store: Store) -> None:
    with store.transaction() as uow:
        uow.model_metrics.add_predictions([_record(1), _record(2, model="kept")])
        uow.model_metrics.add_requests(
            [
                RequestSample("m", "d", "w", 1, 1.0, 200),
                RequestSample("kept", "d", "w", 1, 1.0, 200),
            ]
        )
        uow.model_metrics.delete_model([])
        uow.model_metrics.delete_model(iter(["m"]))
    with store.transaction() as uow:
        assert uow.model_metrics.count(model_id="m") == 0
        assert uow.model_metrics.count(model_id="kept") == 1
        assert uow.model_metrics.requests(model_id="m", start_ms=0, end_ms=10) == []
        assert len(uow.model_metrics.requests(model_id="kept", start_ms=0, end_ms=10)) == 1
