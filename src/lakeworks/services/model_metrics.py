"""The model metrics store as people and workloads use it (compat §3.2, §4).

- ``read_metrics``: READ on the model's project.
- ``track_delayed`` / ``track_aggregate``: the project's workload key (a job or session of the
  project), or contributor and above. Both are written synchronously in one audited command,
  so a following ``read_metrics`` sees them (read-your-writes).
- ``monitoring``: the aggregates behind the model's monitoring page.

The gateway's own records go through ``metrics.writer.MetricsWriter`` instead (not audited:
they are traffic, not actions).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from lakeworks.entities.audit import Outcome
from lakeworks.entities.metrics import PredictionRecord
from lakeworks.entities.models import Model, crn_id
from lakeworks.entities.projects import Project, Role
from lakeworks.errors import InvalidInput, NotFound, PermissionDenied
from lakeworks.metrics import queries
from lakeworks.metrics.writer import MetricsWriter
from lakeworks.services.permissions import Action, effective_role, require, role_allows
from lakeworks.services.platform import Platform, Principal
from lakeworks.store.model_metrics import StoredPrediction, dump_metrics
from lakeworks.store.uow import UnitOfWork

MAX_METRICS_BYTES = 1_000_000  # one record's metrics, as JSON
TRACK_DELAYED = "model.metrics.track_delayed"  # its audit events name the keys it merged
DELAYED_EVENTS = 50  # how many of the newest such events name the ground-truth key


def now_ms() -> int:
    return int(time.time() * 1000)


def _id_of(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} must be a CRN or id string.")
    return crn_id(value.strip())


def _ms(value: Any, what: str, default: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise InvalidInput(f"{what} must be epoch milliseconds (an integer).")
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} must be epoch milliseconds (an integer).") from exc
    if not math.isfinite(number):
        raise InvalidInput(f"{what} must be epoch milliseconds (an integer).")
    return int(number)


def _check_metrics(metrics: Any) -> dict[str, Any]:
    if not isinstance(metrics, dict):
        raise InvalidInput("metrics must be a JSON object (a dict of key to value).")
    for key in metrics:
        if not isinstance(key, str) or not key:
            raise InvalidInput("metric keys must be non-empty strings.")
    try:
        text = dump_metrics(metrics)
    except ValueError as exc:
        raise InvalidInput(f"metrics cannot be stored as JSON: {exc}") from exc
    if len(text) > MAX_METRICS_BYTES:
        raise InvalidInput(f"metrics are larger than {MAX_METRICS_BYTES} bytes as JSON.")
    return metrics


@dataclass(frozen=True)
class Scope:
    """What a read or write is about, resolved to plain ids and the owning project."""

    project_id: str
    model_id: str
    build_id: str | None = None
    deployment_id: str | None = None


def _model(uow: UnitOfWork, model_id: str) -> Model:
    model = uow.models.get(model_id)
    if model is None:
        raise NotFound(f"Model {model_id!r} not found.")
    return model


def _scope(
    uow: UnitOfWork,
    *,
    deployment_id: str | None = None,
    build_id: str | None = None,
    model_id: str | None = None,
) -> Scope:
    """Resolve the given ids (at least one) to one model and its project."""
    models: set[str] = set()
    if deployment_id is not None:
        deployment = uow.models.get_deployment(deployment_id)
        if deployment is None:
            raise NotFound(f"Model deployment {deployment_id!r} not found.")
        models.add(deployment.model_id)
        if build_id is None:
            build_id = deployment.build_id
    if build_id is not None:
        build = uow.models.get_build(build_id)
        if build is None:
            raise NotFound(f"Model build {build_id!r} not found.")
        models.add(build.model_id)
    if model_id is not None:
        models.add(model_id)
    if not models:
        raise InvalidInput(
            "Give a model deployment CRN (or a model or build CRN) to read metrics from."
        )
    if len(models) > 1:
        raise InvalidInput("The CRNs given belong to different models.")
    model = _model(uow, models.pop())
    return Scope(model.project_id, model.id, build_id, deployment_id)


def _require_track(uow: UnitOfWork, principal: Principal, project_id: str) -> Project:
    """The project's workload key, or contributor and above, may track metrics."""
    project = require(uow, principal, project_id, Action.READ)
    if principal.project_scope == project_id:
        return project
    role = effective_role(uow, principal, project)
    if not role_allows(role, Action.WRITE_FILES):
        raise PermissionDenied(
            f"Your role on project {project.name!r} is {role.value if role else 'none'}; "
            f"tracking model metrics needs {Role.CONTRIBUTOR.value} or above, or the "
            "project's workload key (from a job or session of the project)."
        )
    return project


# read_metrics -------------------------------------------------------------------------------


def read_metrics(
    platform: Platform,
    principal: Principal,
    *,
    model_deployment_crn: str | None = None,
    model_crn: str | None = None,
    model_build_crn: str | None = None,
    start_timestamp_ms: Any = None,
    end_timestamp_ms: Any = None,
) -> list[StoredPrediction]:
    """Records of one deployment (or build, or model) with ``startTimeStampMs >= start`` and
    ``endTimeStampMs <= end``, by start time then insertion. Start defaults to 0, end to now."""
    deployment_id = _id_of(model_deployment_crn, "model_deployment_crn")
    build_id = _id_of(model_build_crn, "model_build_crn")
    model_id = _id_of(model_crn, "model_crn")
    start = _ms(start_timestamp_ms, "start_timestamp_ms", 0)
    end = _ms(end_timestamp_ms, "end_timestamp_ms", now_ms())
    with platform.read() as uow:
        scope = _scope(uow, deployment_id=deployment_id, build_id=build_id, model_id=model_id)
        require(uow, principal, scope.project_id, Action.READ)
        return uow.model_metrics.read(
            deployment_id=deployment_id,
            build_id=build_id,
            model_id=model_id,
            start_ms=start,
            end_ms=end,
        )


def _delayed_keys(uow: UnitOfWork, model: Model) -> list[str]:
    """The keys delayed tracking merged into this model's records lately, newest first: the
    ground truth, whatever it is named. Each ``track_delayed`` call records its keys in its
    audit event, so this needs no bookkeeping of its own."""
    events, _ = uow.audit.query(
        project_id=model.project_id, action_prefix=TRACK_DELAYED, limit=DELAYED_EVENTS
    )
    keys: list[str] = []
    for event in events:
        detail = event.detail or {}
        if (
            event.action != TRACK_DELAYED
            or event.outcome is not Outcome.SUCCESS
            or detail.get("model_id") != model.id
        ):
            continue
        for key in detail.get("keys") or []:
            if isinstance(key, str) and key not in keys:
                keys.append(key)
    return keys


# Delayed and aggregate writes ---------------------------------------------------------------


def track_delayed(
    platform: Platform,
    principal: Principal,
    prediction_uuid: Any,
    metrics: Any,
    *,
    writer: MetricsWriter | None = None,
) -> StoredPrediction:
    """Merge ``metrics`` into the stored record of ``prediction_uuid`` (same row).

    A record the gateway has queued but not yet written is flushed first, never lost.
    """
    if not isinstance(prediction_uuid, str) or not prediction_uuid.strip():
        raise InvalidInput("prediction_uuid must be a non-empty string.")
    uuid = prediction_uuid.strip()
    metrics = _check_metrics(metrics)
    with platform.read() as uow:
        found = uow.model_metrics.by_uuid(uuid)
    if found is None and writer is not None:
        writer.flush()
    with platform.command(principal, TRACK_DELAYED, target=uuid) as cmd:
        record = cmd.uow.model_metrics.by_uuid(uuid, for_update=True)
        if record is None:
            raise NotFound(f"No prediction with uuid {uuid!r} is stored.")
        model = _model(cmd.uow, record.model_id)
        cmd.project_id = model.project_id
        _require_track(cmd.uow, principal, model.project_id)
        merged = record.metrics()
        merged.update(metrics)
        _check_metrics(merged)
        cmd.uow.model_metrics.set_metrics(record.seq, merged)
        cmd.detail = {"model_id": model.id, "keys": sorted(metrics)[:50]}
    return record._replace(metrics_json=dump_metrics(merged))


def track_aggregate(
    platform: Platform,
    principal: Principal,
    *,
    model_deployment_crn: Any,
    metrics: Any,
    start_timestamp_ms: Any,
    end_timestamp_ms: Any,
) -> StoredPrediction:
    """Add a window record (``predictionUuid == ""``) to a deployment."""
    deployment_id = _id_of(model_deployment_crn, "model_deployment_crn")
    if deployment_id is None:
        raise InvalidInput("model_deployment_crn is required (or call from a model replica).")
    metrics = _check_metrics(metrics)
    if start_timestamp_ms is None or end_timestamp_ms is None:
        raise InvalidInput("start_timestamp_ms and end_timestamp_ms are required.")
    start = _ms(start_timestamp_ms, "start_timestamp_ms", 0)
    end = _ms(end_timestamp_ms, "end_timestamp_ms", 0)
    if end < start:
        raise InvalidInput("end_timestamp_ms is before start_timestamp_ms.")
    with platform.command(principal, "model.metrics.track_aggregate", target=deployment_id) as cmd:
        scope = _scope(cmd.uow, deployment_id=deployment_id)
        cmd.project_id = scope.project_id
        _require_track(cmd.uow, principal, scope.project_id)
        record = PredictionRecord(
            deployment_id=deployment_id,
            build_id=scope.build_id or "",
            model_id=scope.model_id,
            prediction_uuid="",
            start_ms=start,
            end_ms=end,
            metrics=metrics,
        )
        seq = cmd.uow.model_metrics.add_prediction(record)
        cmd.detail = {"model_id": scope.model_id, "keys": sorted(metrics)[:50]}
    return StoredPrediction(
        seq, deployment_id, record.build_id, scope.model_id, "", start, end, dump_metrics(metrics)
    )


# Monitoring ---------------------------------------------------------------------------------

WINDOWS_MS = {
    "15m": 15 * 60_000,
    "1h": 60 * 60_000,
    "6h": 6 * 60 * 60_000,
    "24h": 24 * 60 * 60_000,
    "7d": 7 * 24 * 60 * 60_000,
}
MAX_MONITORED_RECORDS = 50_000
MAX_CHART_POINTS = 2_000  # dots of a tracked metric drawn per chart


@dataclass
class Monitoring:
    """Everything the monitoring page draws for one model and time window."""

    model: Model
    window: str
    start_ms: int
    end_ms: int
    bucket_ms: int
    requests: queries.RequestSeries
    metric_keys: list[str]
    all_keys: list[str]
    metric_key: str | None
    metric_points: list[list[float]]
    metric_means: list[list[float | None]]
    accuracy: queries.AccuracySeries | None
    prediction_key: str | None
    truth_key: str | None
    records_in_window: int
    capped: bool
    recent: list[dict[str, Any]] = field(default_factory=list)
    deployment_id: str | None = None


def monitoring(
    platform: Platform,
    principal: Principal,
    model_id: str,
    *,
    window: str = "1h",
    metric_key: str | None = None,
    prediction_key: str | None = None,
    truth_key: str | None = None,
    deployment_id: str | None = None,
    recent_limit: int = 25,
    end_ms: int | None = None,
) -> Monitoring:
    if window not in WINDOWS_MS:
        raise InvalidInput(f"Unknown window {window!r}; use one of {', '.join(WINDOWS_MS)}.")
    end = end_ms if end_ms is not None else now_ms()
    start = end - WINDOWS_MS[window]
    with platform.read() as uow:
        model = _model(uow, model_id)
        require(uow, principal, model.project_id, Action.READ)
        samples = uow.model_metrics.requests(
            model_id=model.id, start_ms=start, end_ms=end, deployment_id=deployment_id
        )
        # The newest records of the window, at most MAX_MONITORED_RECORDS of them.
        newest = uow.model_metrics.read(
            model_id=model.id,
            deployment_id=deployment_id,
            start_ms=start,
            end_ms=None,
            limit=MAX_MONITORED_RECORDS,
            newest_first=True,
        )
        recent = uow.model_metrics.read(
            model_id=model.id, deployment_id=deployment_id, limit=recent_limit, newest_first=True
        )
        delayed = _delayed_keys(uow, model)
    records = queries.flat_records(reversed(newest))
    bucket = queries.bucket_for(end - start)
    requests = queries.request_series(samples, start, end, bucket)
    numeric = queries.numeric_keys(records)
    every = queries.all_keys(records)
    # By default a key the model tracked itself, not the ground truth tracked later.
    own = [k for k in numeric if k not in delayed] or numeric
    chosen = metric_key if metric_key in numeric else (own[0] if own else None)
    points = queries.metric_series(records, chosen) if chosen else []
    means = queries.metric_mean_series(points, start, end, bucket) if chosen else []
    if len(points) > MAX_CHART_POINTS:  # the mean line keeps every value; dots are a sample
        stride = len(points) / MAX_CHART_POINTS
        points = [points[int(i * stride)] for i in range(MAX_CHART_POINTS)]
    default_pred, default_truth = queries.default_accuracy_keys(every, delayed)
    pred = prediction_key if prediction_key in every else default_pred
    truth = truth_key if truth_key in every else default_truth
    accuracy = None
    if pred and truth and pred != truth:
        accuracy = queries.accuracy_series(records, pred, truth, start, end, bucket)
        if not accuracy.labelled:
            accuracy = None if not (prediction_key or truth_key) else accuracy
    return Monitoring(
        model=model,
        window=window,
        start_ms=start,
        end_ms=end,
        bucket_ms=bucket,
        requests=requests,
        metric_keys=numeric,
        all_keys=every,
        metric_key=chosen,
        metric_points=points,
        metric_means=means,
        accuracy=accuracy,
        prediction_key=pred,
        truth_key=truth,
        records_in_window=len(records),
        capped=len(records) >= MAX_MONITORED_RECORDS,
        recent=[queries.record_json(r) for r in recent],
        deployment_id=deployment_id,
    )
