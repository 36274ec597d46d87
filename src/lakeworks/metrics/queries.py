"""Reads of the model metrics store: ``read_metrics`` records (compat §4) and the monitoring
aggregates (requests, latency percentiles, errors and 429s per time bucket; a tracked metric
over time; accuracy over time from delayed ground truth).

The functions here take records already loaded by the service (which checks permissions) and
never touch the database themselves, except ``render_read_metrics`` which only formats.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from lakeworks.entities.models import crn
from lakeworks.store.model_metrics import StoredPrediction, StoredRequest

# Bucket sizes the charts step through, so a window gets about 60 points.
BUCKETS_MS = (
    10_000,
    60_000,
    5 * 60_000,
    15 * 60_000,
    60 * 60_000,
    3 * 60 * 60_000,
    24 * 60 * 60_000,
)

# Defaults for the accuracy chart: the first of these keys found in the records.
PREDICTION_KEYS = ("prediction", "predicted", "pred", "predicted_label", "predicted_class", "score")
TRUTH_KEYS = ("actual", "ground_truth", "truth", "label", "target", "actual_label", "y_true")


def bucket_for(window_ms: int, points: int = 60) -> int:
    for size in BUCKETS_MS:
        if window_ms / size <= points:
            return size
    return BUCKETS_MS[-1]


# read_metrics -------------------------------------------------------------------------------


def record_json(record: StoredPrediction) -> dict[str, Any]:
    """One element of ``read_metrics(...)["metrics"]`` with exactly the compat §4 keys."""
    return {
        "modelDeploymentCrn": crn(record.deployment_id),
        "modelBuildCrn": crn(record.build_id),
        "modelCrn": crn(record.model_id),
        "startTimeStampMs": record.start_ms,
        "endTimeStampMs": record.end_ms,
        "predictionUuid": record.prediction_uuid,
        "metrics": record.metrics(),
    }


def render_read_metrics(records: Sequence[StoredPrediction]) -> bytes:
    """``{"metrics": [...]}`` as JSON bytes, splicing each record's stored metrics text in
    without decoding it (100k records in well under a second)."""
    crns: dict[str, str] = {}

    def crn_of(object_id: str) -> str:
        text = crns.get(object_id)
        if text is None:
            text = crns[object_id] = json.dumps(crn(object_id))
        return text

    parts = []
    dumps = json.dumps
    for r in records:
        parts.append(
            '{"modelDeploymentCrn":'
            + crn_of(r.deployment_id)
            + ',"modelBuildCrn":'
            + crn_of(r.build_id)
            + ',"modelCrn":'
            + crn_of(r.model_id)
            + ',"startTimeStampMs":'
            + str(int(r.start_ms))
            + ',"endTimeStampMs":'
            + str(int(r.end_ms))
            + ',"predictionUuid":'
            + dumps(r.prediction_uuid)
            + ',"metrics":'
            + (r.metrics_json or "{}")
            + "}"
        )
    return ('{"metrics":[' + ",".join(parts) + "]}").encode()


# Flattening and values ----------------------------------------------------------------------


def flatten(metrics: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts become dotted keys, as ``pd.json_normalize`` names them (``a.b``)."""
    flat: dict[str, Any] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def as_number(value: Any) -> float | None:
    """A finite float for numbers and booleans; None for anything else."""
    kind = type(value)  # exact types first: this runs for every value of every record
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is int:
        return float(value)
    if kind is bool:
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


class FlatRecord(NamedTuple):
    """A record decoded once, its metrics flattened (``a.b``), for the aggregates below."""

    start_ms: int
    prediction_uuid: str
    metrics: dict[str, Any]


def flat_records(records: Iterable[StoredPrediction]) -> list[FlatRecord]:
    loads = json.loads
    out = []
    for r in records:
        metrics = loads(r.metrics_json or "{}")
        out.append(
            FlatRecord(
                r.start_ms, r.prediction_uuid, flatten(metrics) if isinstance(metrics, dict) else {}
            )
        )
    return out


def numeric_keys(records: Iterable[FlatRecord]) -> list[str]:
    keys: set[str] = set()
    for record in records:
        for key, value in record.metrics.items():
            if as_number(value) is not None:
                keys.add(key)
    return sorted(keys)


def all_keys(records: Iterable[FlatRecord]) -> list[str]:
    keys: set[str] = set()
    for record in records:
        keys.update(record.metrics)
    return sorted(keys)


# Monitoring aggregates ----------------------------------------------------------------------


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (q in 0..100)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class RequestSeries:
    """Per-bucket request statistics, each a list of ``[bucket_start_ms, value]``."""

    bucket_ms: int
    requests: list[list[float]] = field(default_factory=list)
    requests_per_minute: list[list[float]] = field(default_factory=list)
    p50_ms: list[list[float | None]] = field(default_factory=list)
    p95_ms: list[list[float | None]] = field(default_factory=list)
    errors: list[list[float]] = field(default_factory=list)
    throttled: list[list[float]] = field(default_factory=list)  # 429 model.busy
    total: int = 0
    total_errors: int = 0
    total_throttled: int = 0
    p50_all_ms: float | None = None
    p95_all_ms: float | None = None


def is_error(status: int) -> bool:
    """A failed request other than a 429 (which is counted on its own)."""
    return status >= 400 and status != 429


def request_series(
    samples: Sequence[StoredRequest], start_ms: int, end_ms: int, bucket_ms: int | None = None
) -> RequestSeries:
    bucket = bucket_ms or bucket_for(end_ms - start_ms)
    first = start_ms - start_ms % bucket
    count = max(1, (end_ms - first) // bucket + 1)
    latencies: list[list[float]] = [[] for _ in range(count)]
    errors = [0] * count
    throttled = [0] * count
    every: list[float] = []
    for s in samples:
        index = (s.at_ms - first) // bucket
        if not 0 <= index < count:
            continue
        latencies[index].append(s.latency_ms)
        every.append(s.latency_ms)
        if s.status == 429:
            throttled[index] += 1
        elif is_error(s.status):
            errors[index] += 1
    series = RequestSeries(bucket_ms=bucket)
    for i in range(count):
        t = first + i * bucket
        values = sorted(latencies[i])
        n = len(values)
        series.requests.append([t, n])
        series.requests_per_minute.append([t, round(n * 60_000 / bucket, 3)])
        series.p50_ms.append([t, round(_percentile(values, 50), 2) if n else None])
        series.p95_ms.append([t, round(_percentile(values, 95), 2) if n else None])
        series.errors.append([t, errors[i]])
        series.throttled.append([t, throttled[i]])
    series.total = len(every)
    series.total_errors = sum(errors)
    series.total_throttled = sum(throttled)
    if every:
        every.sort()
        series.p50_all_ms = round(_percentile(every, 50), 2)
        series.p95_all_ms = round(_percentile(every, 95), 2)
    return series


def metric_series(records: Iterable[FlatRecord], key: str) -> list[list[float]]:
    """``[start_ms, value]`` of every record whose flattened metrics hold a number at ``key``."""
    points: list[list[float]] = []
    for record in records:
        value = as_number(record.metrics.get(key))
        if value is not None:
            points.append([record.start_ms, value])
    return points


def metric_mean_series(
    points: Iterable[list[float]], start_ms: int, end_ms: int, bucket_ms: int
) -> list[list[float | None]]:
    """The mean per time bucket of ``metric_series`` points (``None`` where a bucket has no
    value)."""
    first = start_ms - start_ms % bucket_ms
    sums: dict[int, list[float]] = {}
    for t, value in points:
        index = int((t - first) // bucket_ms)
        sums.setdefault(index, []).append(value)
    count = max(1, (end_ms - first) // bucket_ms + 1)
    out: list[list[float | None]] = []
    for i in range(count):
        values = sums.get(i)
        out.append([first + i * bucket_ms, sum(values) / len(values) if values else None])
    return out


def _same(prediction: Any, truth: Any) -> bool:
    """Is the prediction right? Labels compare equal; a probability against a 0/1 (or bool)
    truth is right when it falls on the truth's side of 0.5."""
    p, t = as_number(prediction), as_number(truth)
    if p is not None and t is not None:
        if t in (0.0, 1.0) and not float(p).is_integer() and 0.0 <= p <= 1.0:
            return (p >= 0.5) == (t == 1.0)
        return p == t
    if isinstance(prediction, str) and isinstance(truth, str):
        return prediction.strip().lower() == truth.strip().lower()
    return bool(prediction == truth)


@dataclass
class AccuracySeries:
    prediction_key: str
    truth_key: str
    bucket_ms: int
    points: list[list[float | None]] = field(default_factory=list)  # [t, accuracy 0..1]
    counts: list[list[float]] = field(default_factory=list)  # [t, labelled predictions]
    labelled: int = 0
    correct: int = 0

    @property
    def overall(self) -> float | None:
        return self.correct / self.labelled if self.labelled else None


def accuracy_series(
    records: Iterable[FlatRecord],
    prediction_key: str,
    truth_key: str,
    start_ms: int,
    end_ms: int,
    bucket_ms: int,
) -> AccuracySeries:
    """Accuracy per bucket over the predictions that have both keys (ground truth usually
    arrives later, through ``track_delayed_metrics``)."""
    first = start_ms - start_ms % bucket_ms
    count = max(1, (end_ms - first) // bucket_ms + 1)
    hits = [0] * count
    totals = [0] * count
    result = AccuracySeries(prediction_key, truth_key, bucket_ms)
    for record in records:
        if not record.prediction_uuid:
            continue
        flat = record.metrics
        if prediction_key not in flat or truth_key not in flat:
            continue
        index = int((record.start_ms - first) // bucket_ms)
        if not 0 <= index < count:
            continue
        totals[index] += 1
        if _same(flat[prediction_key], flat[truth_key]):
            hits[index] += 1
    for i in range(count):
        t = first + i * bucket_ms
        result.points.append([t, round(hits[i] / totals[i], 4) if totals[i] else None])
        result.counts.append([t, totals[i]])
    result.labelled = sum(totals)
    result.correct = sum(hits)
    return result


def default_accuracy_keys(
    keys: Sequence[str], delayed: Sequence[str] = ()
) -> tuple[str | None, str | None]:
    """The likely prediction and ground-truth keys among ``keys`` (None where none fits).

    The ground truth is what was tracked later (``delayed``, newest first: the keys
    ``track_delayed_metrics`` merged into these records), a usual name among them first;
    else a key with a usual ground-truth name. The prediction is a key with a usual
    prediction name that was not tracked later.
    """
    present = set(keys)
    late = [k for k in delayed if k in present]
    truth = (
        next((k for k in TRUTH_KEYS if k in late), None)
        or (late[0] if late else None)
        or next((k for k in TRUTH_KEYS if k in present), None)
    )
    prediction = next(
        (k for k in PREDICTION_KEYS if k in present and k != truth and k not in late), None
    )
    return prediction, truth
