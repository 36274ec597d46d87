"""``cml.metrics_v1``: metrics of the current workload and the model metrics store (compat
§3.2, §4).

- ``track_metric(key, value)``: inside a metrics-enabled model call, sets ``metrics[key]`` on
  the prediction's record (dicts stay nested); in a job run, records a run metric
  (``$LAKEWORKS_OUTPUT_DIR/metrics.jsonl``); elsewhere a note on stderr.
- ``track_delayed_metrics(metrics, prediction_uuid)``: merge keys (e.g. ground truth) into
  the stored record of an earlier prediction.
- ``track_aggregate_metrics(metrics, start_timestamp_ms, end_timestamp_ms, crn)``: add a
  window record (``predictionUuid == ""``).
- ``read_metrics(crn, start_timestamp_ms, end_timestamp_ms)``: ``{"metrics": [record...]}``.

With ``dev=True`` the last three use an in-memory store that lives as long as the process; so
do calls that name no deployment from a session (or outside Lakeworks). Inside a model
replica a ``None`` deployment CRN means the replica's own deployment.

Example::

    from cml.metrics_v1 import track_metric, track_delayed_metrics, read_metrics
    track_metric("input_data", {"age": 37, "gender": "f"})
    track_delayed_metrics({"actual": 1}, "3f0c...-uuid")
    records = read_metrics(model_deployment_crn=crn)["metrics"]
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from cml._model_context import current_metrics
from cml._run import _jsonable, record_metric

# Set in model replicas by Lakeworks (compat §2: internal variables use a LAKEWORKS_ prefix).
DEPLOYMENT_CRN_VARIABLES = ("LAKEWORKS_MODEL_DEPLOYMENT_CRN", "LAKEWORKS_DEPLOYMENT_CRN")
DEPLOYMENT_ID_VARIABLES = ("LAKEWORKS_MODEL_DEPLOYMENT_ID", "LAKEWORKS_DEPLOYMENT_ID")
DEV_CRN_PREFIX = "crn:cdp:ml:dev:00000000-0000-0000-0000-000000000000:workspace:dev/"
REQUEST_TIMEOUT_SECONDS = 300


def track_metric(key: str, value: Any) -> None:
    """Record ``value`` (str, bool, int, float, dict or list) under ``key``.

    Inside a metrics-enabled model call it goes on the prediction's record; in a job run it
    is kept with the run's output; elsewhere a note on stderr says it was not recorded.

    Example::

        track_metric("probability", 0.82)
        track_metric("input_data", {"age": 37})
    """
    metrics = current_metrics()
    if metrics is not None:
        if not isinstance(key, str):
            raise TypeError(f"metric key must be a string, not {type(key).__name__}")
        metrics[key] = value
        return
    record_metric(key, value)


# The dev store ------------------------------------------------------------------------------

_dev_lock = threading.Lock()
_dev_records: list[dict[str, Any]] = []


def _now_ms() -> int:
    return int(time.time() * 1000)


def _dev_crn(crn: str | None, kind: str) -> str:
    return crn or DEV_CRN_PREFIX + kind


def _dev_add(record: dict[str, Any]) -> None:
    with _dev_lock:
        _dev_records.append(record)


def _dev_track_prediction(
    prediction_uuid: str, metrics: dict[str, Any], start_ms: int, end_ms: int
) -> None:
    """Add a prediction record to the dev store (for decorators called outside a replica)."""
    _dev_add(
        {
            "modelDeploymentCrn": _dev_crn(None, "deployment"),
            "modelBuildCrn": _dev_crn(None, "build"),
            "modelCrn": _dev_crn(None, "model"),
            "startTimeStampMs": int(start_ms),
            "endTimeStampMs": int(end_ms),
            "predictionUuid": prediction_uuid,
            "metrics": dict(metrics),
        }
    )


# Talking to Lakeworks -------------------------------------------------------------------------


def _deployment_crn() -> str | None:
    """The deployment this process serves (a model replica), else None."""
    for name in DEPLOYMENT_CRN_VARIABLES:
        value = os.environ.get(name)
        if value:
            return value
    for name in DEPLOYMENT_ID_VARIABLES:
        value = os.environ.get(name)
        if value:
            return value  # the server accepts a plain id where a CRN is expected
    return None


def _dev_by_default() -> bool:
    """Calls that name no deployment use the dev store in a session, or off the platform
    (compat §4: "any call from a session without a deployment")."""
    if _deployment_crn():
        return False
    return os.environ.get("CDSW_ENGINE_TYPE") == "session" or not os.environ.get("CDSW_API_URL")


def _api_base() -> str:
    api_url = os.environ.get("CDSW_API_URL", "").rstrip("/")
    if not api_url:
        raise RuntimeError(
            "CDSW_API_URL is not set: not running in a Lakeworks workload (use dev=True)."
        )
    return api_url[:-1] + "2"  # .../api/v1 -> .../api/v2 (compat §2)


def _post(path: str, body: dict[str, Any]) -> Any:
    data = json.dumps(body, default=_jsonable).encode("utf-8")
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    key = os.environ.get("CDSW_APIV2_KEY", "")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(_api_base() + path, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as error:
        raw = error.read().decode("utf-8", "replace")
        try:
            message = json.loads(raw).get("message") or raw
        except (ValueError, AttributeError):
            message = raw
        if error.code in (400, 404):
            raise ValueError(message) from None
        if error.code in (401, 403):
            raise PermissionError(message) from None
        raise RuntimeError(f"Lakeworks answered {error.code}: {message}") from None


def _check_metrics(metrics: Any) -> dict[str, Any]:
    if not isinstance(metrics, dict):
        raise TypeError(f"metrics must be a dict, not {type(metrics).__name__}")
    return metrics


# The model metrics store ------------------------------------------------------------------------


def track_delayed_metrics(metrics: dict[str, Any], prediction_uuid: str, dev: bool = False) -> None:
    """Merge ``metrics`` into the stored record of an earlier prediction (same record).

    Raises ``ValueError`` for a uuid that no stored prediction has.

    Example::

        out = cdsw.call_model(access_key, {"tenure": 3})
        uuid = out["response"]["uuid"]
        # ... later, when the truth is known:
        track_delayed_metrics({"actual": 1}, uuid)
    """
    metrics = _check_metrics(metrics)
    if not isinstance(prediction_uuid, str) or not prediction_uuid:
        raise ValueError("prediction_uuid must be a non-empty string")
    if dev or not os.environ.get("CDSW_API_URL"):
        with _dev_lock:
            for record in _dev_records:
                if record["predictionUuid"] == prediction_uuid:
                    record["metrics"].update(metrics)
                    return
        raise ValueError(f"No prediction with uuid {prediction_uuid!r} in the dev store.")
    _post("/modelmetrics/trackDelayed", {"prediction_uuid": prediction_uuid, "metrics": metrics})


def track_aggregate_metrics(
    metrics: dict[str, Any],
    start_timestamp_ms: int,
    end_timestamp_ms: int,
    model_deployment_crn: str | None = None,
    dev: bool = False,
) -> None:
    """Add a window record (``predictionUuid == ""``) to a deployment.

    Inside a model replica, ``model_deployment_crn=None`` means the replica's deployment.

    Example::

        track_aggregate_metrics({"accuracy": 0.79}, start_ms, end_ms,
                                model_deployment_crn=crn)
    """
    metrics = _check_metrics(metrics)
    if dev:
        _dev_add(
            {
                "modelDeploymentCrn": _dev_crn(model_deployment_crn, "deployment"),
                "modelBuildCrn": _dev_crn(None, "build"),
                "modelCrn": _dev_crn(None, "model"),
                "startTimeStampMs": int(start_timestamp_ms),
                "endTimeStampMs": int(end_timestamp_ms),
                "predictionUuid": "",
                "metrics": dict(metrics),
            }
        )
        return
    crn = model_deployment_crn or _deployment_crn()
    if not crn and _dev_by_default():
        return track_aggregate_metrics(metrics, start_timestamp_ms, end_timestamp_ms, dev=True)
    if not crn:
        raise ValueError(
            "model_deployment_crn is required outside a model replica "
            "(or pass dev=True for the in-memory dev store)."
        )
    _post(
        "/modelmetrics/trackAggregate",
        {
            "model_deployment_crn": crn,
            "metrics": metrics,
            "start_timestamp_ms": start_timestamp_ms,
            "end_timestamp_ms": end_timestamp_ms,
        },
    )


def read_metrics(
    model_deployment_crn: str | None = None,
    start_timestamp_ms: int | None = None,
    end_timestamp_ms: int | None = None,
    model_crn: str | None = None,
    model_build_crn: str | None = None,
    dev: bool = False,
) -> dict[str, Any]:
    """Records of a deployment (or model, or build): ``{"metrics": [record, ...]}``.

    Each record has ``modelDeploymentCrn``, ``modelBuildCrn``, ``modelCrn``,
    ``startTimeStampMs``, ``endTimeStampMs``, ``predictionUuid`` and ``metrics``. Start
    defaults to 0 and end to now; records with ``startTimeStampMs >= start`` and
    ``endTimeStampMs <= end`` come back by start time, then insertion.

    Example::

        import pandas as pd
        df = pd.json_normalize(read_metrics(model_deployment_crn=crn)["metrics"])
    """
    if not (dev or model_deployment_crn or model_crn or model_build_crn):
        dev = _dev_by_default()
    start = 0 if start_timestamp_ms is None else int(start_timestamp_ms)
    end = _now_ms() if end_timestamp_ms is None else int(end_timestamp_ms)
    if dev:
        with _dev_lock:
            chosen = [
                json.loads(json.dumps(r, default=_jsonable))
                for r in _dev_records
                if r["startTimeStampMs"] >= start
                and r["endTimeStampMs"] <= end
                and (not model_deployment_crn or r["modelDeploymentCrn"] == model_deployment_crn)
                and (not model_crn or r["modelCrn"] == model_crn)
                and (not model_build_crn or r["modelBuildCrn"] == model_build_crn)
            ]
        chosen.sort(key=lambda r: r["startTimeStampMs"])  # stable: insertion order kept
        return {"metrics": chosen}
    if not (model_deployment_crn or model_crn or model_build_crn):
        model_deployment_crn = _deployment_crn()
        if not model_deployment_crn:
            raise ValueError(
                "Give model_deployment_crn (or model_crn or model_build_crn); outside a "
                "model replica there is no current deployment."
            )
    body: dict[str, Any] = {"start_timestamp_ms": start, "end_timestamp_ms": end}
    if model_deployment_crn:
        body["model_deployment_crn"] = model_deployment_crn
    if model_crn:
        body["model_crn"] = model_crn
    if model_build_crn:
        body["model_build_crn"] = model_build_crn
    result = _post("/modelmetrics/read", body)
    return result if isinstance(result, dict) else {"metrics": []}
