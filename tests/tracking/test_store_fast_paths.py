"""The embedded tracking store's own statements for MLflow's heaviest calls (``tracking.bulk``)
do what MLflow's code does, on this run's database (SQLite or PostgreSQL):

- metric writes (``TrackingStore._log_metrics_once``): every sequence of ``log_metric`` and
  ``log_batch`` calls leaves the same rows, history and latest values, and bad calls are
  refused with MLflow's messages;
- ``search_runs`` (``TrackingStore._search_runs``): the same runs, pages and contents for
  filters, orderings, view types, datasets and logged models;
- concurrent writers of one run keep every value and each key's newest.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from mlflow.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelOutput,
    Metric,
    Param,
    RunTag,
    ViewType,
)
from mlflow.exceptions import MlflowException
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as StockStore
from mlflow.utils.proto_json_utils import message_to_json
from sqlalchemy import text

from lakeworks.services.platform import Platform
from lakeworks.tracking.embedded import tracking_for
from lakeworks.tracking.stores import TrackingStore


def _m(key: str, value: float, timestamp: int, step: int) -> Metric:
    return Metric(key, value, timestamp, step)


# Each item is one call: a list of metrics (a log_batch; one metric is a log_metric).
CALLS: list[list[Metric]] = [
    # Steps out of order within a batch, a metric given twice, NaN and both infinities.
    [
        _m("loss", 0.9, 1000, 0),
        _m("loss", 0.5, 1003, 3),
        _m("loss", 0.7, 1001, 1),
        _m("loss", 0.7, 1001, 1),
        _m("acc", math.nan, 1000, 0),
        _m("big", math.inf, 1000, 0),
        _m("small", -math.inf, 1000, 0),
    ],
    [_m("loss", 0.1, 999, 0)],  # older than the stored latest: history only
    [_m("acc", 0.8, 1005, 5)],  # newer than the stored NaN
    # Same step and timestamp, larger value: it becomes the latest (MLflow's tie-break).
    [_m("loss", 0.6, 1003, 3), _m("new", 1.0, 1000, 2), _m("new", 2.0, 1000, 1)],
    # One metric stored already (a retried call): the rest is still written.
    [_m("loss", 0.9, 1000, 0), _m("loss", 0.05, 1010, 10), _m("acc", 0.9, 1010, 10)],
    # More keys than one batch of MLflow's latest-value reads (500).
    [_m(f"k{i:03d}", float(i), 2000, 0) for i in range(620)],
    [_m(f"k{i:03d}", float(i) + 0.5, 2001, 1) for i in range(0, 620, 3)],
    [_m("small", -1.0, 1000, 0)],  # same step and time, larger than -inf
]


def _rows(tracking: TrackingStore, run_id: str) -> tuple[list[Any], list[Any]]:
    with tracking.engine.connect() as conn:
        history = conn.execute(
            text(
                "SELECT key, value, timestamp, step, is_nan FROM metrics WHERE run_uuid = :r "
                "ORDER BY key, step, timestamp, value"
            ),
            {"r": run_id},
        ).all()
        latest = conn.execute(
            text(
                "SELECT key, value, timestamp, step, is_nan FROM latest_metrics "
                "WHERE run_uuid = :r ORDER BY key"
            ),
            {"r": run_id},
        ).all()
    return [tuple(row) for row in history], [tuple(row) for row in latest]


@pytest.fixture
def tracking(platform: Platform) -> TrackingStore:
    store = tracking_for(platform).store
    assert isinstance(store, TrackingStore)
    return store


def test_metric_writes_leave_what_mlflows_own_code_leaves(tracking: TrackingStore) -> None:
    experiment = tracking.create_experiment("metric-writes")
    ours = tracking.create_run(experiment, "u", 0, [], "ours").info.run_id
    stock = tracking.create_run(experiment, "u", 0, [], "stock").info.run_id
    for call in CALLS:
        if len(call) == 1:
            tracking.log_metric(ours, call[0])
        else:
            tracking.log_batch(ours, metrics=call, params=[], tags=[])
        StockStore._log_metrics_once(tracking, stock, call)
        assert _rows(tracking, ours) == _rows(tracking, stock)
    history, latest = _rows(tracking, ours)
    assert len(latest) == 5 + 620
    assert ("loss", 0.05, 1010, 10, False) in latest
    assert ("acc", 0.9, 1010, 10, False) in latest
    assert ("small", -1.0, 1000, 0, False) in latest
    assert ("k003", 3.5, 2001, 1, False) in latest and ("k004", 4.0, 2000, 0, False) in latest
    assert ("acc", 0.0, 1000, 0, True) in history  # NaN, as MLflow stores it
    assert ("big", 1.7976931348623157e308, 1000, 0, False) in history
    run = tracking.get_run(ours)
    assert run.data.metrics["loss"] == 0.05 and run.data.metrics["new"] == 1.0
    loss = sorted(m.value for m in tracking.get_metric_history(ours, "loss"))
    assert loss == [0.05, 0.1, 0.5, 0.6, 0.7, 0.9]


@pytest.mark.parametrize(
    ("metrics", "message"),
    [
        ([_m("ok", 1.0, 1, 0), Metric("bad", "x", 1, 0)], "metrics[1]"),
        ([_m("ok", 1.0, 1, 0), _m("ok", 1.0, 1, "s")], "metrics[1]"),
        ([Metric("v", 1.0, "t", 0)], "timestamp"),
    ],
)
def test_a_bad_metric_is_refused_with_mlflows_message_and_nothing_written(
    tracking: TrackingStore, metrics: list[Metric], message: str
) -> None:
    experiment = tracking.create_experiment("bad-metrics")
    ours = tracking.create_run(experiment, "u", 0, [], "ours").info.run_id
    stock = tracking.create_run(experiment, "u", 0, [], "stock").info.run_id
    with pytest.raises(MlflowException) as refused:
        tracking._log_metrics_once(ours, metrics)
    with pytest.raises(MlflowException) as stock_refused:
        StockStore._log_metrics_once(tracking, stock, metrics)
    assert message in refused.value.message
    assert refused.value.message == stock_refused.value.message
    assert refused.value.error_code == stock_refused.value.error_code == "INVALID_PARAMETER_VALUE"
    assert _rows(tracking, ours) == ([], [])


def test_metrics_of_a_deleted_run_are_refused(tracking: TrackingStore) -> None:
    experiment = tracking.create_experiment("deleted-run")
    run_id = tracking.create_run(experiment, "u", 0, [], "gone").info.run_id
    tracking.log_metric(run_id, _m("before", 1.0, 1, 0))
    tracking.delete_run(run_id)
    for call in ([_m("after", 1.0, 2, 0)], [_m("after", 1.0, 2, 0), _m("more", 2.0, 2, 0)], []):
        with pytest.raises(MlflowException, match="must be in the 'active' state"):
            tracking.log_batch(run_id, metrics=call, params=[], tags=[])
    assert _rows(tracking, run_id)[1] == [("before", 1.0, 1, 0, False)]


def test_the_sqlite_store_runs_in_wal_mode(tracking: TrackingStore) -> None:
    if tracking.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's journal; this run's MLflow database is PostgreSQL")
    with tracking.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL


def _searchable(tracking: TrackingStore) -> str:
    """An experiment of eight runs with what a search can return or look at."""
    experiment = tracking.create_experiment("searched")
    ids = []
    for index in range(8):
        run_id = tracking.create_run(
            experiment, "u", 1000 + index, [RunTag("team", "a" if index % 2 else "b")], f"r{index}"
        ).info.run_id
        metrics = [_m("acc", index / 10, 1, 0), _m("loss", 1 - index / 10, 1, 0)]
        if index == 3:
            metrics.append(_m("odd", math.nan, 1, 0))
        tracking.log_batch(
            run_id,
            metrics=metrics,
            params=[Param("depth", str(index % 3)), Param("kind", "tree")],
            tags=[RunTag("note", f"n{index}")] if index % 3 else [],
        )
        ids.append(run_id)
    tracking.log_inputs(
        ids[2],
        datasets=[
            DatasetInput(
                Dataset("churn", "d1", "local", "file:///data/churn.csv"),
                [InputTag("mlflow.data.context", "training")],
            )
        ],
    )
    model = tracking.create_logged_model(experiment, "clf", source_run_id=ids[4])
    tracking.log_outputs(ids[4], [LoggedModelOutput(model.model_id, 3)])
    tracking.delete_run(ids[7])
    tracking.set_tag(ids[5], RunTag("mlflow.runName", "from-tag"))
    with tracking.engine.begin() as conn:  # a run named only by its tag (MLflow 1's way)
        conn.execute(text("UPDATE runs SET name = '' WHERE run_uuid = :r"), {"r": ids[5]})
    return experiment


def _comparable(runs: list[Any]) -> list[Any]:
    """Runs as their JSON, each list of metrics, params and tags in key order (neither store
    orders them)."""
    out = []
    for run in runs:
        data = json.loads(message_to_json(run.to_proto()))
        for name in ("metrics", "params", "tags"):
            data.get("data", {}).get(name, []).sort(key=lambda item: item["key"])
        out.append(data)
    return out


SEARCHES: list[dict[str, Any]] = [
    {},
    {"order_by": ["metrics.acc DESC"]},
    {"order_by": ["params.depth ASC", "attributes.start_time DESC"]},
    {"filter_string": "metrics.acc > 0.25 and params.kind = 'tree'"},
    {"filter_string": "tags.team = 'a'", "order_by": ["tags.note DESC"]},
    {"filter_string": "datasets.name = 'churn'"},
    {"filter_string": "attributes.run_name = 'from-tag'"},
    {"run_view_type": ViewType.DELETED_ONLY},
    {"run_view_type": ViewType.ALL, "order_by": ["metrics.odd ASC"]},
    {"max_results": 3, "order_by": ["attributes.start_time ASC"]},
]


@pytest.mark.parametrize("search", SEARCHES, ids=[str(i) for i in range(len(SEARCHES))])
def test_search_runs_answers_what_mlflows_own_code_answers(
    tracking: TrackingStore, search: dict[str, Any]
) -> None:
    experiment = _searchable(tracking)
    args = {
        "filter_string": "",
        "run_view_type": ViewType.ACTIVE_ONLY,
        "max_results": 1000,
        "order_by": None,
        **search,
    }
    token: str | None = None
    pages = 0
    while True:
        ours, our_token = tracking._search_runs([experiment], page_token=token, **args)
        stock, stock_token = StockStore._search_runs(
            tracking, [experiment], page_token=token, **args
        )
        assert _comparable(ours) == _comparable(stock)
        assert our_token == stock_token
        pages += 1
        if not our_token:
            break
        token = our_token
    assert pages == (3 if args["max_results"] == 3 else 1)  # 7 active runs, 3 a page
    everything, _ = tracking._search_runs([experiment], "", ViewType.ALL, 1000, None, None)
    by_name = {run.info.run_name: run for run in everything}
    assert math.isnan(by_name["r3"].data.metrics["odd"])
    assert by_name["r2"].inputs.dataset_inputs[0].dataset.name == "churn"
    assert by_name["r4"].outputs.model_outputs[0].step == 3
    assert "from-tag" in by_name and by_name["r1"].data.params == {"depth": "1", "kind": "tree"}


def test_concurrent_writers_of_one_run_leave_each_keys_newest_value(
    tracking: TrackingStore,
) -> None:
    """Four threads log the same keys of one run at once (a job's training loop and its
    callbacks): every value is kept and each key's latest is the newest of all, including
    keys two writers create at the same moment (one insert loses, MLflow's code finishes)."""
    import threading

    experiment = tracking.create_experiment("concurrent")
    run_id = tracking.create_run(experiment, "u", 0, [], "busy").info.run_id
    errors: list[BaseException] = []
    together = threading.Barrier(4)

    def writer(offset: int) -> None:
        try:
            together.wait(timeout=60)  # the first batches create the keys at once
            for batch in range(10):
                step = batch * 4 + offset
                tracking.log_batch(
                    run_id,
                    metrics=[_m(f"key{k}", float(step), 1000 + step, step) for k in range(5)],
                    params=[],
                    tags=[],
                )
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(offset,)) for offset in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    history, latest = _rows(tracking, run_id)
    assert len(history) == 4 * 10 * 5
    assert latest == [(f"key{k}", 39.0, 1039, 39, False) for k in range(5)]
