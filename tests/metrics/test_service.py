"""The metrics service: read_metrics semantics, delayed merges, aggregates, permissions,
audit, and the monitoring aggregates."""

from __future__ import annotations

import uuid

import pytest
from tests.metrics.support import Deployed, make_deployment, make_project

from lakeworks.entities.metrics import PredictionRecord, RequestSample
from lakeworks.entities.models import crn
from lakeworks.entities.users import User
from lakeworks.errors import InvalidInput, NotFound, PermissionDenied
from lakeworks.metrics.queries import record_json
from lakeworks.metrics.writer import MetricsWriter
from lakeworks.services import model_metrics, projects
from lakeworks.services.platform import Platform, Principal


def as_(user: User, scope: str | None = None) -> Principal:
    return Principal(user=user, via="api_key", project_scope=scope)


def put(platform: Platform, *records: PredictionRecord) -> None:
    writer = MetricsWriter(platform.store)
    for r in records:
        writer.submit_prediction(r)
    writer.flush()


def rec(
    d: Deployed, start: int, end: int, uuid_: str | None = None, **m: object
) -> PredictionRecord:
    return PredictionRecord(
        d.deployment_id, d.build_id, d.model_id, uuid_ or str(uuid.uuid4()), start, end, m
    )


def test_read_filters_by_time_and_orders_by_start_then_insertion(
    platform: Platform, alice: User, deployed: Deployed
) -> None:
    put(
        platform,
        rec(deployed, 300, 310, n="c"),
        rec(deployed, 100, 110, n="a"),
        rec(deployed, 200, 210, n="b1"),
        rec(deployed, 200, 205, n="b2"),
        rec(deployed, 400, 900, n="late end"),
        rec(deployed, 50, 60, n="early"),
    )
    records = model_metrics.read_metrics(
        platform,
        as_(alice),
        model_deployment_crn=crn(deployed.deployment_id),
        start_timestamp_ms=100,
        end_timestamp_ms=500,
    )
    assert [r.metrics()["n"] for r in records] == ["a", "b1", "b2", "c"]

    everything = model_metrics.read_metrics(
        platform, as_(alice), model_deployment_crn=crn(deployed.deployment_id)
    )
    assert len(everything) == 6  # start 0, end now


def test_records_have_exactly_the_compat_keys_and_crns(
    platform: Platform, alice: User, deployed: Deployed
) -> None:
    put(platform, rec(deployed, 1, 2, "u-1", input_data={"age": 37, "gender": "f"}))
    (record,) = model_metrics.read_metrics(platform, as_(alice), model_crn=crn(deployed.model_id))
    assert record_json(record) == {
        "modelDeploymentCrn": crn(deployed.deployment_id),
        "modelBuildCrn": crn(deployed.build_id),
        "modelCrn": crn(deployed.model_id),
        "startTimeStampMs": 1,
        "endTimeStampMs": 2,
        "predictionUuid": "u-1",
        "metrics": {"input_data": {"age": 37, "gender": "f"}},
    }
    assert crn(deployed.model_id).startswith("crn:cdp:ml:")


def test_read_by_build_or_model_and_other_deployments_excluded(
    platform: Platform, alice: User, deployed: Deployed
) -> None:
    other = make_deployment(platform, alice, deployed.project, name="other")
    put(platform, rec(deployed, 1, 2, n=1), rec(other, 1, 2, n=2))
    by_build = model_metrics.read_metrics(
        platform, as_(alice), model_build_crn=crn(deployed.build_id)
    )
    assert [r.metrics()["n"] for r in by_build] == [1]
    with pytest.raises(InvalidInput, match="different models"):
        model_metrics.read_metrics(
            platform,
            as_(alice),
            model_deployment_crn=crn(deployed.deployment_id),
            model_crn=crn(other.model_id),
        )
    with pytest.raises(InvalidInput, match="deployment CRN"):
        model_metrics.read_metrics(platform, as_(alice))
    with pytest.raises(NotFound):
        model_metrics.read_metrics(platform, as_(alice), model_deployment_crn=crn("nope"))


def test_delayed_metrics_merge_into_the_same_record(
    platform: Platform, alice: User, deployed: Deployed
) -> None:
    put(platform, rec(deployed, 1, 2, "u-1", prediction=1, input={"x": 1}))
    merged = model_metrics.track_delayed(platform, as_(alice), "u-1", {"actual": 0})
    assert merged.metrics() == {"prediction": 1, "input": {"x": 1}, "actual": 0}
    records = model_metrics.read_metrics(
        platform, as_(alice), model_deployment_crn=deployed.deployment_id
    )
    assert len(records) == 1  # merged, not appended
    assert records[0].metrics()["actual"] == 0
    assert records[0].seq == merged.seq


def test_delayed_metrics_for_a_queued_record_flush_it_first(
    platform: Platform, alice: User, deployed: Deployed
) -> None:
    writer = MetricsWriter(platform.store)  # not started: the record waits in the queue
    writer.submit_prediction(rec(deployed, 1, 2, "queued", p=1))
    model_metrics.track_delayed(platform, as_(alice), "queued", {"actual": 1}, writer=writer)
    (record,) = model_metrics.read_metrics(platform, as_(alice), model_crn=deployed.model_id)
    assert record.metrics() == {"p": 1, "actual": 1}


def test_an_unknown_uuid_is_not_found(platform: Platform, alice: User, deployed: Deployed) -> None:
    with pytest.raises(NotFound, match="no-such-uuid"):
        model_metrics.track_delayed(platform, as_(alice), "no-such-uuid", {"actual": 1})
    with pytest.raises(InvalidInput):
        model_metrics.track_delayed(platform, as_(alice), "u", ["not", "a", "dict"])


def test_aggregate_records_resolve_the_crns_and_have_an_empty_uuid(
    platform: Platform, alice: User, deployed: Deployed
) -> None:
    model_metrics.track_aggregate(
        platform,
        as_(alice),
        model_deployment_crn=crn(deployed.deployment_id),
        metrics={"accuracy": 0.79},
        start_timestamp_ms=1000,
        end_timestamp_ms=2000,
    )
    (record,) = model_metrics.read_metrics(
        platform, as_(alice), model_deployment_crn=crn(deployed.deployment_id)
    )
    assert record_json(record) == {
        "modelDeploymentCrn": crn(deployed.deployment_id),
        "modelBuildCrn": crn(deployed.build_id),
        "modelCrn": crn(deployed.model_id),
        "startTimeStampMs": 1000,
        "endTimeStampMs": 2000,
        "predictionUuid": "",
        "metrics": {"accuracy": 0.79},
    }
    with pytest.raises(InvalidInput, match="before"):
        model_metrics.track_aggregate(
            platform,
            as_(alice),
            model_deployment_crn=deployed.deployment_id,
            metrics={},
            start_timestamp_ms=5,
            end_timestamp_ms=1,
        )


def test_another_projects_user_and_key_are_refused(
    platform: Platform, alice: User, bob: User, deployed: Deployed
) -> None:
    put(platform, rec(deployed, 1, 2, "u-1", p=1))
    bobs = make_project(platform, bob, "Bobs")
    target = crn(deployed.deployment_id)
    for principal in (as_(bob), as_(bob, scope=bobs.id), as_(alice, scope=bobs.id)):
        with pytest.raises(NotFound):  # a private project does not exist for them
            model_metrics.read_metrics(platform, principal, model_deployment_crn=target)
        with pytest.raises(NotFound):
            model_metrics.track_delayed(platform, principal, "u-1", {"actual": 1})
        with pytest.raises(NotFound):
            model_metrics.track_aggregate(
                platform,
                principal,
                model_deployment_crn=target,
                metrics={"a": 1},
                start_timestamp_ms=1,
                end_timestamp_ms=2,
            )


def test_viewers_read_but_track_only_through_the_projects_workload_key(
    platform: Platform, alice: User, bob: User, deployed: Deployed
) -> None:
    put(platform, rec(deployed, 1, 2, "u-1", p=1))
    projects.set_collaborator(
        platform, Principal(user=alice, via="cli"), deployed.project.id, "bob", "viewer"
    )
    assert model_metrics.read_metrics(platform, as_(bob), model_crn=deployed.model_id)
    with pytest.raises(PermissionDenied, match="contributor"):
        model_metrics.track_delayed(platform, as_(bob), "u-1", {"actual": 1})
    # The project's workload key (a job of this project run by bob) may.
    model_metrics.track_delayed(platform, as_(bob, scope=deployed.project.id), "u-1", {"a": 1})


def test_writes_by_people_are_audited(platform: Platform, alice: User, deployed: Deployed) -> None:
    put(platform, rec(deployed, 1, 2, "u-1", p=1))
    model_metrics.track_delayed(platform, as_(alice), "u-1", {"actual": 1})
    with platform.read() as uow:
        events, _ = uow.audit.query(project_id=deployed.project.id, action_prefix="model.")
    assert [(e.action, e.actor, e.target) for e in events] == [
        ("model.metrics.track_delayed", "alice", "u-1")
    ]  # the gateway's own records (put above) are traffic, not audited actions


def test_monitoring_aggregates_requests_metrics_and_accuracy(
    platform: Platform, alice: User, deployed: Deployed
) -> None:
    end = 10 * 60_000 * 1000  # a fixed "now"
    t0 = end - 30 * 60_000
    writer = MetricsWriter(platform.store)
    for i in range(20):
        at = t0 + i * 60_000
        status = 429 if i == 5 else 500 if i == 6 else 200
        writer.submit_request(
            RequestSample(deployed.model_id, deployed.deployment_id, "r", at, 10.0 + i, status)
        )
        writer.submit_prediction(
            rec(deployed, at, at + 10, f"u{i}", prediction=i % 2, probability=0.1 * (i % 10))
        )
    writer.flush()
    for i in range(10):  # ground truth for half: right for even i only
        model_metrics.track_delayed(platform, as_(alice), f"u{i}", {"actual": 0})

    view = model_metrics.monitoring(
        platform, as_(alice), deployed.model_id, window="1h", end_ms=end
    )
    assert view.requests.total == 20
    assert view.requests.total_throttled == 1
    assert view.requests.total_errors == 1
    assert view.requests.p50_all_ms == 19.0  # nearest rank of 10..29
    assert "probability" in view.metric_keys and "actual" in view.metric_keys
    assert view.prediction_key == "prediction" and view.truth_key == "actual"
    # The chart shows a key the model tracked, not the ground truth ("actual" sorts first).
    assert view.metric_key == "prediction"
    assert view.accuracy is not None
    assert (view.accuracy.labelled, view.accuracy.correct) == (10, 5)

    chosen = model_metrics.monitoring(
        platform,
        as_(alice),
        deployed.model_id,
        window="1h",
        end_ms=end,
        metric_key="probability",
    )
    assert len(chosen.metric_points) == 20
    assert chosen.recent[0]["predictionUuid"] == "u19"


def test_a_busy_window_draws_a_sample_of_dots_but_averages_every_value(
    platform: Platform, alice: User, deployed: Deployed
) -> None:
    end = 100 * 60_000
    n = model_metrics.MAX_CHART_POINTS * 2
    put(platform, *(rec(deployed, end - 50_000 + i, end - 50_000 + i, v=1.0) for i in range(n)))
    view = model_metrics.monitoring(
        platform, as_(alice), deployed.model_id, window="15m", end_ms=end, metric_key="v"
    )
    assert view.records_in_window == n
    assert len(view.metric_points) == model_metrics.MAX_CHART_POINTS
    assert [m for _, m in view.metric_means if m is not None] == [1.0]


def test_deleting_a_model_or_its_project_deletes_its_records(
    platform: Platform, alice: User, deployed: Deployed
) -> None:
    from lakeworks.services import models, projects

    kept = make_deployment(platform, alice, make_project(platform, alice, name="kept"))
    gone_with_project = make_deployment(platform, alice, deployed.project, name="second")
    put(platform, rec(deployed, 1, 2), rec(gone_with_project, 1, 2), rec(kept, 1, 2))

    def count(d: Deployed) -> int:
        with platform.read() as uow:
            return uow.model_metrics.count(model_id=d.model_id)

    assert [count(deployed), count(gone_with_project), count(kept)] == [1, 1, 1]
    models.delete(platform, as_(alice), deployed.project.id, deployed.model_id)
    assert [count(deployed), count(gone_with_project), count(kept)] == [0, 1, 1]
    projects.delete(platform, as_(alice), deployed.project.id)
    assert [count(gone_with_project), count(kept)] == [0, 1]
