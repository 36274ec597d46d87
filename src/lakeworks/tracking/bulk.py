"""MLflow's store work on many rows, done with SQLAlchemy Core statements (``stores``).

MLflow's SQL store reads and writes a run's metrics, params and tags as ORM objects, one per
row: ``log_batch`` of 1,000 metrics built one per metric (~70 ms of CPU, the statements ~5
of those), and ``search_runs`` over 1,000 runs loaded ~5,000 (~190 ms, the queries ~20).
These functions give the stores the same rows, in the same transactions, as plain rows;
what they return is what MLflow's code returns (``tests/tracking/test_store_fast_paths.py``
runs both on one database and compares).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy
from mlflow.entities import Metric, Param, Run, RunData, RunInfo, RunTag
from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlParam, SqlTag
from mlflow.utils.mlflow_tags import _get_run_name_from_tags
from mlflow.utils.validation import _validate_metric
from sqlalchemy.orm import Session

# MLflow's batch of keys per latest-value read (``_update_latest_metrics_if_necessary``).
_KEYS_PER_READ = 500


def metric_rows(
    run_id: str, metrics: Sequence[Metric], sanitize: Callable[[float], tuple[bool, float]]
) -> list[dict[str, Any]]:
    """The rows of ``metrics`` as MLflow's ``_log_metrics_once`` makes them: each validated
    (MLflow's messages), a metric given twice kept once, NaN stored as 0 with ``is_nan`` and
    infinities as the largest floats (``sanitize``: the store's ``sanitize_metric_value``)."""
    rows: list[dict[str, Any]] = []
    seen: set[Metric] = set()
    single = len(metrics) == 1
    for index, metric in enumerate(metrics):
        path = "" if single else f"metrics[{index}]"
        _validate_metric(metric.key, metric.value, metric.timestamp, metric.step, path=path)
        if metric in seen:
            continue
        seen.add(metric)
        is_nan, value = sanitize(metric.value)
        rows.append(
            {
                "run_uuid": run_id,
                "key": metric.key,
                "value": value,
                "timestamp": metric.timestamp,
                "step": metric.step,
                "is_nan": is_nan,
            }
        )
    return rows


def _newer(row: dict[str, Any], than: dict[str, Any]) -> bool:
    """MLflow's order of a run's values of one metric: by step, then timestamp, then value."""
    return (row["step"], row["timestamp"], row["value"]) > (
        than["step"],
        than["timestamp"],
        than["value"],
    )


def update_latest_metrics(session: Session, run_id: str, rows: list[dict[str, Any]]) -> None:
    """MLflow's ``_update_latest_metrics_if_necessary`` on plain rows: each key's latest value
    becomes the newest of the stored one and ``rows`` (``_newer``). As in MLflow, the keys are
    read in sorted batches, then the stored rows among them locked (``FOR UPDATE``, in key
    order) before they are compared, so concurrent writers of one run cannot interleave or
    deadlock; keys not stored yet are never locked (no gap locks)."""
    table = SqlLatestMetric.__table__
    stored: dict[str, dict[str, Any]] = {}
    keys = sorted({row["key"] for row in rows})
    for start in range(0, len(keys), _KEYS_PER_READ):
        batch = keys[start : start + _KEYS_PER_READ]
        present = list(
            session.execute(
                sqlalchemy.select(table.c.key).where(
                    table.c.run_uuid == run_id, table.c.key.in_(batch)
                )
            ).scalars()
        )
        if not present:
            continue
        locked = session.execute(
            sqlalchemy.select(table.c.key, table.c.value, table.c.timestamp, table.c.step)
            .where(table.c.run_uuid == run_id, table.c.key.in_(present))
            .order_by(table.c.run_uuid, table.c.key)
            .with_for_update()
        )
        stored.update({found.key: found._asdict() for found in locked})
    added: dict[str, dict[str, Any]] = {}
    changed: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = row["key"]
        if key in stored:
            if _newer(row, changed.get(key, stored[key])):
                changed[key] = row
        elif key not in added or _newer(row, added[key]):
            added[key] = row
    if added:
        session.execute(sqlalchemy.insert(table), list(added.values()))
    if changed:
        session.execute(
            sqlalchemy.update(table)
            .where(
                table.c.run_uuid == sqlalchemy.bindparam("row_run_uuid"),
                table.c.key == sqlalchemy.bindparam("row_key"),
            )
            .values(
                value=sqlalchemy.bindparam("row_value"),
                timestamp=sqlalchemy.bindparam("row_timestamp"),
                step=sqlalchemy.bindparam("row_step"),
                is_nan=sqlalchemy.bindparam("row_is_nan"),
            ),
            [{f"row_{name}": value for name, value in row.items()} for row in changed.values()],
        )


def run_entities(session: Session, runs: Sequence[Any]) -> list[Run]:
    """``[run.to_mlflow_entity() for run in runs]`` (MLflow's ``SqlRun.to_mlflow_entity``)
    with each run's latest metrics, params and tags read in one plain query per table instead
    of MLflow's eager loading into ORM objects. ``runs`` (``SqlRun``) were loaded without
    those."""
    ids = [run.run_uuid for run in runs]
    metrics: dict[str, list[Metric]] = defaultdict(list)
    params: dict[str, list[Param]] = defaultdict(list)
    tags: dict[str, list[RunTag]] = defaultdict(list)
    if ids:
        latest = SqlLatestMetric.__table__
        for row in session.execute(
            sqlalchemy.select(
                latest.c.run_uuid,
                latest.c.key,
                latest.c.value,
                latest.c.timestamp,
                latest.c.step,
                latest.c.is_nan,
            ).where(latest.c.run_uuid.in_(ids))
        ):
            value = float("nan") if row.is_nan else row.value
            metrics[row.run_uuid].append(Metric(row.key, value, row.timestamp, row.step))
        for row in _children(session, SqlParam.__table__, ids):
            params[row.run_uuid].append(Param(row.key, row.value))
        for row in _children(session, SqlTag.__table__, ids):
            tags[row.run_uuid].append(RunTag(row.key, row.value))
    entities = []
    for run in runs:
        info = RunInfo(
            run_id=run.run_uuid,
            run_name=run.name,
            experiment_id=str(run.experiment_id),
            user_id=run.user_id,
            status=run.status,
            start_time=run.start_time,
            end_time=run.end_time,
            lifecycle_stage=run.lifecycle_stage,
            artifact_uri=run.artifact_uri,
        )
        run_tags = tags.get(run.run_uuid, [])
        data = RunData(
            metrics=metrics.get(run.run_uuid, []),
            params=params.get(run.run_uuid, []),
            tags=run_tags,
        )
        if not info.run_name and (run_name := _get_run_name_from_tags(run_tags)):
            info._set_run_name(run_name)
        entities.append(Run(run_info=info, run_data=data))
    return entities


def _children(session: Session, table: Any, ids: list[str]) -> Any:
    """The (run_uuid, key, value) rows of ``table`` (params, tags) for the runs ``ids``."""
    return session.execute(
        sqlalchemy.select(table.c.run_uuid, table.c.key, table.c.value).where(
            table.c.run_uuid.in_(ids)
        )
    )
