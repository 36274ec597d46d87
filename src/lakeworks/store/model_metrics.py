"""The model metrics store: prediction/aggregate records and gateway request samples.

Records keep their ``metrics`` as JSON text: ``read_metrics`` hands 100k records out without
decoding and re-encoding each one. Reads are ordered by start time, then insertion (``seq``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.orm import Session

from lakeworks.entities.metrics import PredictionRecord, RequestSample
from lakeworks.store.tables import ModelPredictionRow, ModelRequestRow


class StoredPrediction(NamedTuple):
    """A record as stored: ``metrics_json`` is the JSON text of the metrics object."""

    seq: int
    deployment_id: str
    build_id: str
    model_id: str
    prediction_uuid: str  # "" for an aggregate record
    start_ms: int
    end_ms: int
    metrics_json: str

    def metrics(self) -> dict[str, Any]:
        value = json.loads(self.metrics_json or "{}")
        return value if isinstance(value, dict) else {}


class StoredRequest(NamedTuple):
    at_ms: int
    latency_ms: float
    status: int
    code: str | None
    deployment_id: str | None
    replica_id: str | None


def dump_metrics(metrics: dict[str, Any]) -> str:
    """JSON text of a metrics object; values JSON cannot hold are stored as their text."""
    return json.dumps(metrics, separators=(",", ":"), default=str, allow_nan=False)


def _prediction_values(record: PredictionRecord) -> dict[str, Any]:
    return {
        "deployment_id": record.deployment_id,
        "build_id": record.build_id,
        "model_id": record.model_id,
        "prediction_uuid": record.prediction_uuid or None,
        "start_ms": int(record.start_ms),
        "end_ms": int(record.end_ms),
        "metrics": dump_metrics(record.metrics),
    }


# The Core tables: executemany on them skips the ORM's per-row bookkeeping.
_PREDICTIONS = cast(Table, ModelPredictionRow.__table__)
_REQUESTS = cast(Table, ModelRequestRow.__table__)

_PREDICTION_COLUMNS = (
    ModelPredictionRow.seq,
    ModelPredictionRow.deployment_id,
    ModelPredictionRow.build_id,
    ModelPredictionRow.model_id,
    func.coalesce(ModelPredictionRow.prediction_uuid, ""),
    ModelPredictionRow.start_ms,
    ModelPredictionRow.end_ms,
    ModelPredictionRow.metrics,
)


class ModelMetricsRepo:
    def __init__(self, session: Session) -> None:
        self.session = session

    # Writes ----------------------------------------------------------------------------

    def add_predictions(self, records: Sequence[PredictionRecord]) -> None:
        """Insert records in one statement (executemany)."""
        if records:
            self.session.execute(insert(_PREDICTIONS), [_prediction_values(r) for r in records])

    def add_prediction(self, record: PredictionRecord) -> int:
        """Insert one record; return its insertion sequence number."""
        seq = self.session.execute(
            insert(ModelPredictionRow)
            .values(**_prediction_values(record))
            .returning(ModelPredictionRow.seq)
        ).scalar_one()
        return int(seq)

    def add_requests(self, samples: Sequence[RequestSample]) -> None:
        if samples:
            self.session.execute(
                insert(_REQUESTS),
                [
                    {
                        "model_id": s.model_id,
                        "deployment_id": s.deployment_id,
                        "replica_id": s.replica_id,
                        "at_ms": int(s.at_ms),
                        "latency_ms": float(s.latency_ms),
                        "status": int(s.status),
                        "code": s.code,
                    }
                    for s in samples
                ],
            )

    def by_uuid(self, prediction_uuid: str, *, for_update: bool = False) -> StoredPrediction | None:
        query = select(*_PREDICTION_COLUMNS).where(
            ModelPredictionRow.prediction_uuid == prediction_uuid
        )
        if for_update:
            query = query.with_for_update()
        row = self.session.execute(query).first()
        return StoredPrediction(*row) if row else None

    def set_metrics(self, seq: int, metrics: dict[str, Any]) -> None:
        self.session.execute(
            update(ModelPredictionRow)
            .where(ModelPredictionRow.seq == seq)
            .values(metrics=dump_metrics(metrics))
        )

    # Reads -----------------------------------------------------------------------------

    def read(
        self,
        *,
        deployment_id: str | None = None,
        build_id: str | None = None,
        model_id: str | None = None,
        start_ms: int = 0,
        end_ms: int | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[StoredPrediction]:
        """Records with ``start_ms >= start`` and ``end_ms <= end`` for the ids given (all
        given ids must match), ordered by start time then insertion (or the reverse)."""
        query = select(*_PREDICTION_COLUMNS)
        if deployment_id is not None:
            query = query.where(ModelPredictionRow.deployment_id == deployment_id)
        if build_id is not None:
            query = query.where(ModelPredictionRow.build_id == build_id)
        if model_id is not None:
            query = query.where(ModelPredictionRow.model_id == model_id)
        query = query.where(ModelPredictionRow.start_ms >= int(start_ms))
        if end_ms is not None:
            query = query.where(ModelPredictionRow.end_ms <= int(end_ms))
        if newest_first:
            query = query.order_by(
                ModelPredictionRow.start_ms.desc(), ModelPredictionRow.seq.desc()
            )
        else:
            query = query.order_by(ModelPredictionRow.start_ms, ModelPredictionRow.seq)
        if limit is not None:
            query = query.limit(limit)
        return [StoredPrediction._make(row) for row in self.session.execute(query).tuples()]

    def count(self, *, model_id: str) -> int:
        return int(
            self.session.scalar(select(func.count()).where(ModelPredictionRow.model_id == model_id))
            or 0
        )

    def requests(
        self, *, model_id: str, start_ms: int, end_ms: int, deployment_id: str | None = None
    ) -> list[StoredRequest]:
        query = select(
            ModelRequestRow.at_ms,
            ModelRequestRow.latency_ms,
            ModelRequestRow.status,
            ModelRequestRow.code,
            ModelRequestRow.deployment_id,
            ModelRequestRow.replica_id,
        ).where(
            ModelRequestRow.model_id == model_id,
            ModelRequestRow.at_ms >= int(start_ms),
            ModelRequestRow.at_ms <= int(end_ms),
        )
        if deployment_id is not None:
            query = query.where(ModelRequestRow.deployment_id == deployment_id)
        rows = self.session.execute(query.order_by(ModelRequestRow.at_ms, ModelRequestRow.seq))
        return [StoredRequest._make(row) for row in rows.tuples()]

    def delete_model(self, model_ids: Iterable[str]) -> None:
        """Forget every record of these models (when a model is deleted)."""
        ids = list(model_ids)
        if ids:
            self.session.execute(
                delete(ModelPredictionRow).where(ModelPredictionRow.model_id.in_(ids))
            )
            self.session.execute(delete(ModelRequestRow).where(ModelRequestRow.model_id.in_(ids)))
